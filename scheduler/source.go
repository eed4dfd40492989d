package scheduler

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bulkget/bulkget/replicas"
	"github.com/bulkget/bulkget/signedurl"
)

// A file may come from several sources: the list's url and its mirrors
// (manifest.Entry.Mirrors). There is no plan of who fetches what: every
// request goes to the source whose host has room and whose connections now
// deliver the most (sourceWithRoom), and work stealing does the rest, so a
// fast source ends up fetching more of the file and the slowest segment is
// split first. Each source's host keeps its own politeness (host.go), and
// its limit counts the connections of every file that uses it.
//
// The source that answers a file's first request (the probe) sets its size;
// every other source's first answer must give the same size, or the source
// is dropped at once. Each source has its own validators (every host has
// its own ETag), learnt from its first answer and sent in its If-Range.
//
// A source that fails for good (refuses, serves another size or version,
// expires, breaks sourceStrikes times in a row) is dropped for that file,
// and the ranges it held go to the others; the file fails only when it has
// none left, with the last source's error.

// sourceStrikes is how many failed attempts in a row, without a byte of
// progress, drop a source while the file has others.
const sourceStrikes = 3

// source is one place a file is fetched from. Fields are guarded by run.mu
// unless noted.
type source struct {
	index int // 0: the list's url; then the mirrors in list order
	// key names it in the saved state (sourceKey of its list URL).
	key  string
	host *host
	// target is the URL requests go to, parsed once: the list's, or the
	// fresh URL that replaced it when it expired (expire.go).
	target *url.URL
	// urlWorked: a request to target was answered with data, so a refusal
	// of a later one means the URL expired rather than the file is gone.
	urlWorked atomic.Bool
	// expired: target was refused after it had worked; no new request goes
	// to it until a fresh URL is found.
	expired    bool
	expiredErr error
	// expiresAt is when target says it expires (zero: it does not say);
	// renewing: a fresh URL is being asked for before then (expire.go).
	expiresAt time.Time
	renewing  bool
	// known: an answer of the file's current generation came from this
	// source, so its validators are known and its size checked.
	known        bool
	validator    string
	etag         string
	lastModified string
	conns        int
	strikes      int   // failed attempts in a row without progress
	dropped      error // why the file no longer uses this source
	// changedAway: dropped because it served another version; a restart
	// of the file from zero takes it back.
	changedAway bool
	// evidence is what its answers of another version than validator
	// taught (farm.go).
	evidence replicas.Evidence
	bytes    atomic.Int64 // written from this source in this run
	genBytes atomic.Int64 // written from it in the file's current generation
}

// usable says whether a new request may go to src; call with mu held.
func (src *source) usable() bool { return src.dropped == nil && !src.expired }

// setTarget makes u the URL of src's requests. Call with mu held.
func (src *source) setTarget(u *url.URL) {
	src.target = u
	src.urlWorked.Store(false)
	src.expiresAt, _ = signedurl.Expiry(u)
}

// forget drops what src's answers taught, for a file restarting from zero.
func (src *source) forget() {
	src.evidence.Forget(src.validator)
	src.known, src.validator, src.etag, src.lastModified = false, "", "", ""
	if src.changedAway {
		src.dropped, src.changedAway = nil, false
	}
	src.strikes = 0
	src.genBytes.Store(0)
}

// learn records what src's first answer of a generation says about it.
func (src *source) learn(validator, etag, lastModified string) {
	src.known = true
	src.validator, src.etag, src.lastModified = validator, etag, lastModified
}

// sourceKey names a source in the saved state without holding a secret: a
// hash of its scheme, host and path (a query may be a signature, a
// userinfo a password).
func sourceKey(u *url.URL) string {
	sum := sha256.Sum256([]byte(strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + u.EscapedPath()))
	return hex.EncodeToString(sum[:12])
}

// mirrored says whether f has more than one source.
func (f *file) mirrored() bool { return len(f.sources) > 1 }

// primary is the source of the list's url: its validators are the ones
// recorded with the finished file, for Options.Update.
func (f *file) primary() *source { return f.sources[0] }

// usableSources counts the sources a request may still go to, or may once
// a fresh URL comes; call with mu held.
func (f *file) usableSources() int {
	n := 0
	for _, src := range f.sources {
		if src.dropped == nil {
			n++
		}
	}
	return n
}

// sourceWithRoom returns the source f's next request should go to: among
// the usable ones whose host has room, the one where one more connection
// can expect the most (betterSource), so connections spread in proportion
// to what sources deliver. A source whose first answer is awaited gets no
// second request. Nil when none has room. Call with mu held.
func (r *run) sourceWithRoom(f *file) *source {
	var best *source
	for _, src := range f.sources {
		if !src.usable() || r.room(src.host) <= 0 {
			continue
		}
		if f.probed && !src.known && src.conns > 0 {
			continue // its first answer, on its way, says whether it serves this file
		}
		if best == nil || betterSource(src, best) {
			best = src
		}
	}
	return best
}

// betterSource: the one where one more connection can expect more
// (host.perConn); while rates are unknown, the one with fewer connections,
// so that every source is tried and measured.
func betterSource(a, b *source) bool {
	pa, pb := a.host.perConn(), b.host.perConn()
	if pa == pb || a.host.rate == 0 && a.host.conns > 0 || b.host.rate == 0 && b.host.conns > 0 {
		return a.host.conns < b.host.conns
	}
	return pa > pb
}

// dropSourceLocked stops using src for f because of err, and cancels its
// running requests (their ranges go to the other sources at once, see
// finish). With no source left, f fails. Call with mu held.
func (r *run) dropSourceLocked(f *file, src *source, err error) []Event {
	if src.dropped != nil {
		return nil
	}
	src.dropped = err
	for _, s := range f.all {
		if s.running && s.src == src && s.cancel != nil {
			s.cancel()
		}
	}
	left := f.usableSources()
	if left == 0 {
		return []Event{r.failLocked(f, fmt.Errorf("every source failed; the last, %s: %w", src.host.name, err))}
	}
	return []Event{fileEvent(f, Warning, fmt.Errorf("source %s dropped (%w); %d %s left", src.host.name, err,
		left, plural(left, "source", "sources")))}
}

// spareSource says whether f can do without src: another source is left.
func (f *file) spareSource(src *source) bool {
	for _, o := range f.sources {
		if o != src && o.dropped == nil {
			return true
		}
	}
	return false
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// errSourceSize: a source's size is not the one the file's first answer gave.
var errSourceSize = errors.New("its size differs from the other sources'")

// sourcesProgress is what each of f's sources delivered, for events; nil
// for a file with one source. Call with mu held.
func sourcesProgress(f *file) []SourceProgress {
	if !f.mirrored() {
		return nil
	}
	out := make([]SourceProgress, len(f.sources))
	for i, src := range f.sources {
		out[i] = SourceProgress{Index: src.index, Host: src.host.name, Bytes: src.bytes.Load(), Conns: src.conns}
		if src.dropped != nil {
			out[i].Dropped = redact(src.dropped).Error()
		}
	}
	return out
}

// primaryValidators are the validators the list's url answered with in
// this generation ("" if it did not answer): the ones recorded with the
// finished file, which Options.Update asks the list's url about.
func (r *run) primaryValidators(f *file) (etag, lastModified string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := f.primary(); p.known {
		return p.etag, p.lastModified
	}
	return "", ""
}

// soleSourceLocked prepares a mirrored file whose checksum failed to be
// fetched again from one source: the one that gave the most of it. The
// others that gave bytes are set aside and returned by host; keep is nil
// when one source gave everything (the file is fetched again as usual).
// Call with mu held.
func soleSourceLocked(f *file) (keep *source, others []string) {
	for _, src := range f.sources {
		if src.genBytes.Load() > 0 && (keep == nil || src.genBytes.Load() > keep.genBytes.Load()) {
			keep = src
		}
	}
	for _, src := range f.sources {
		if src != keep && src.genBytes.Load() > 0 {
			others = append(others, src.host.name)
		}
	}
	if len(others) == 0 {
		return nil, nil
	}
	for _, src := range f.sources {
		if src != keep && src.dropped == nil {
			src.dropped = fmt.Errorf("set aside: the file's checksum failed with its bytes, and is fetched again from %s alone", keep.host.name)
		}
	}
	return keep, others
}
