package scheduler

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bulkget/bulkget/checksum"
	"github.com/bulkget/bulkget/state"
	"github.com/bulkget/bulkget/store"
)

// finalizeAsync hands a complete file to a finalizer so that this
// connection can start its next request while the file is verified, synced
// and renamed: for lists of small files the fsyncs would otherwise add to
// every request's latency. At most maxFinalizing files wait at once; beyond
// that the connection waits too (the disk is the bottleneck then).
//
// A small file goes to the batch committer (see store.Part.CommitAsync),
// which completes it once it is durable under its name: no goroutine per file is parked on
// a round. It is handed over from here unless its checksums still need a
// read of the file, which is left to a goroutine of its own.
func (r *run) finalizeAsync(f *file) {
	r.finalizing <- struct{}{}
	r.finWG.Add(1)
	switch {
	case !r.batched(f):
		go func() { r.complete(f, r.finalize(f)) }()
	case r.needsRead(f):
		go r.finalizeBatched(f)
	default:
		r.finalizeBatched(f)
	}
}

const maxFinalizing = 512

// batched says whether f is made durable in a batch sharing one sync
// (see store.Part.Batched). f is finalizing, so its fields are no one
// else's.
func (r *run) batched(f *file) bool {
	return f.out.Batched(f.size)
}

// finalizeBatched finalizes a batched file: it checks the checksums and
// hands the file to the committer, which completes it.
func (r *run) finalizeBatched(f *file) {
	f.ckMu.Lock()
	out := f.out
	err := r.verify(f)
	if err == nil {
		f.out = nil
		err = out.CommitAsync(func(err error) {
			if err == nil {
				err = r.forgetState(f)
			}
			r.complete(f, err)
		})
		if err != nil {
			f.out = out // closed: failing it only aborts it
		}
	}
	f.ckMu.Unlock()
	if err != nil {
		r.complete(f, err)
	}
}

// complete records how f's finalization ended (ferr) and releases its
// place among the finalizing files.
func (r *run) complete(f *file, ferr error) {
	defer func() {
		<-r.finalizing
		r.finWG.Done()
	}()
	var events []Event
	if ferr == nil && f.record != nil {
		// The file is durable under its name: record what was verified,
		// so that a later run trusts it without reading it. Without the
		// record a later run only hashes it again.
		if err := r.disk.WriteRecord(f.entry.Name, *f.record); err != nil {
			events = append(events, Event{Kind: Warning, Time: time.Now(), Line: f.entry.Line, Name: f.entry.Name,
				Total: f.size, Err: redact(fmt.Errorf("record the verification: %w", err))})
		}
	}
	r.mu.Lock()
	var ce *checksum.MismatchError
	switch {
	case errors.As(ferr, &ce) && !f.checkRetried:
		// Fetch it once more: a bad byte in transit or on a flaky server
		// is more likely than a wrong list. From several sources, once
		// more from the one that gave the most, alone: if that passes,
		// the others disagreed.
		f.checkRetried = true
		f.state = active
		again := fmt.Errorf("%w; fetching it again", ferr)
		if keep, others := soleSourceLocked(f); keep != nil {
			again = fmt.Errorf("%w after a download from %s and %s; fetching it again from %s alone",
				ferr, keep.host.name, strings.Join(others, ", "), keep.host.name)
			f.suspects = others
		}
		events = append(events, fileEvent(f, Warning, again))
		r.restartLocked(f)
	case ferr != nil:
		events = append(events, r.failLocked(f, ferr))
	default:
		r.closeLocked(f)
		r.done++
		if len(f.suspects) > 0 {
			events = append(events, fileEvent(f, Warning, fmt.Errorf("verified from %s alone: %s served bytes that differ",
				f.sources[slices.IndexFunc(f.sources, (*source).usable)].host.name, strings.Join(f.suspects, ", "))))
		}
		e := fileEvent(f, Done, nil)
		e.Elapsed = time.Since(f.started)
		e.Verified = f.verified
		r.verified = append(r.verified, Verified{Line: f.entry.Line, Name: f.entry.Name, What: f.verified})
		events = append(events, e)
	}
	gaveUp := f.state == failed && f.out != nil
	r.notify()
	r.mu.Unlock()
	if gaveUp {
		r.keepFailed(f)
	}
	for _, e := range events {
		r.rep.Report(e)
	}
}

// keepFailed saves what a failed file got, for a later run to resume, and
// then closes its .part (failLocked left it open for this).
func (r *run) keepFailed(f *file) {
	r.checkpoint(f)
	r.mu.Lock()
	defer r.mu.Unlock()
	if f.out != nil {
		f.out.Abort()
		f.out = nil
	}
}

// finalize makes a complete file that is not batched durable under its
// final name (see store.Part.Commit).
func (r *run) finalize(f *file) error {
	f.ckMu.Lock()
	defer f.ckMu.Unlock()
	if err := r.verify(f); err != nil {
		return err
	}
	if err := f.out.Commit(); err != nil {
		return err
	}
	f.out = nil
	return r.forgetStateLocked(f)
}

// verify checks f's complete data against the list's checksums or, when
// the list has none, against what the server vouched for, and records
// what it checked in f.verified; call with f.ckMu held. f is finalizing:
// its fields are no one else's.
func (r *run) verify(f *file) error {
	s := sumsFor(f.entry, r.digestsOf(f))
	f.verified, f.record = s.Label(), nil
	etag, lastModified := r.primaryValidators(f)
	if s == nil {
		// Nothing to check, but the server's validators name the version
		// fetched: recorded, a later run with Options.Update can ask
		// whether it is still current.
		if etag != "" || lastModified != "" {
			f.record = &store.Record{ETag: etag, LastModified: lastModified}
		}
		return nil
	}
	wants := s.Wants()
	c := wants[0]
	f.record = &store.Record{Algo: c.Algo, Digest: c.Hex, Source: c.Source, ETag: etag, LastModified: lastModified}
	if f.crc != nil && len(wants) == 1 && c.Algo == f.crc.Algo() {
		if crc, ok := r.combinedCRC(f); ok {
			if got := f.crc.Hex(crc); got != c.Hex {
				return &checksum.MismatchError{Algo: c.Algo, Want: c.Hex, Got: got, Source: c.Source}
			}
			return nil
		}
	}
	if f.sums != nil && f.sums.Label() == s.Label() {
		s = f.sums // its in-order prefix is hashed already
	}
	n, err := s.HashRest(f.out, f.size)
	r.readBack.Add(n)
	if err != nil {
		return fmt.Errorf("%s: %w", f.entry.Name, err)
	}
	return s.Check()
}

// needsRead says whether verifying f will read some of it back: it has a
// checksum to meet that was not computed whole as it arrived.
func (r *run) needsRead(f *file) bool {
	s := sumsFor(f.entry, r.digestsOf(f))
	switch {
	case s == nil:
		return false
	case f.crc != nil && f.crc.Algo() == s.Wants()[0].Algo:
		return false
	case f.sums != nil && f.sums.Label() == s.Label():
		return f.sums.Next() < f.size
	}
	return true
}

// combinedCRC is the CRC of f's whole content, combined from its
// segments' CRCs; ok is false unless they cover the file exactly.
func (r *run) combinedCRC(f *file) (crc uint64, ok bool) {
	type part struct {
		start, end, n int64
		crc           uint64
	}
	r.mu.Lock()
	all := slices.Clone(f.all)
	size := f.size
	r.mu.Unlock()
	parts := make([]part, 0, len(all))
	for _, s := range all {
		start, _, end := s.cur.Bounds()
		if start == end {
			continue // taken over before it wrote anything
		}
		at, n, c, ok := s.sum.Get()
		if !ok || at != start || n != end-start {
			return 0, false
		}
		parts = append(parts, part{start, end, n, c})
	}
	slices.SortFunc(parts, func(a, b part) int { return cmp.Compare(a.start, b.start) })
	var next int64
	for _, p := range parts {
		if p.start != next {
			return 0, false
		}
		crc = f.crc.Combine(crc, p.crc, p.n)
		next = p.end
	}
	return crc, next == size
}

// forgetState removes f's sidecar state once f is durable under its name.
func (r *run) forgetState(f *file) error {
	f.ckMu.Lock()
	defer f.ckMu.Unlock()
	return r.forgetStateLocked(f)
}

func (r *run) forgetStateLocked(f *file) error {
	f.madePart = false
	if f.clean && !f.madeState {
		return nil
	}
	// Only now is the state useless; a crash before this line leaves a
	// state without its .part, which the next run ignores and removes.
	if err := state.Remove(r.disk.FS(), store.StateName(f.entry.Name)); err != nil {
		return err
	}
	f.madeState = false
	return nil
}
