package scheduler

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/bulkget/bulkget/checksum"
	"github.com/bulkget/bulkget/manifest"
	"github.com/bulkget/bulkget/segment"
	"github.com/bulkget/bulkget/state"
	"github.com/bulkget/bulkget/store"
)

var (
	// errChanged: the remote file is not the one the earlier requests saw.
	errChanged = errors.New("remote file changed")
	// errRangesIgnored: a ranged request was answered with the whole file.
	errRangesIgnored = errors.New("server stopped honouring byte ranges")
	// errStale: the file restarted or ended while this transfer ran.
	errStale = errors.New("transfer outdated")
	// errSizeMismatch: the server's size is not the one the list gives.
	errSizeMismatch = errors.New("size differs from the list")
)

// snapshot is what a transfer needs to know about its file, read under mu
// once so that the data path never takes the run's lock.
type snapshot struct {
	probed, ranged bool
	noRanges       bool
	unconfirmed    bool
	// onTrial: the file's ranges are on trial (trial.go).
	onTrial bool
	// The source's: where the request goes, whether it has answered in
	// this generation, and its validators then.
	target    *url.URL
	known     bool
	validator string
	etag      string
	size      int64
	// ifMatch is the If-Match of a ranged request (farm.go); suspect: the
	// source has met another version, which an answer of the kept one
	// may show to be another replica.
	ifMatch string
	suspect bool
	out     *store.Part
	sums    *checksum.Sums
	crc     *checksum.Kind
}

// worker is what a connection's loop keeps from one segment to the next:
// its buffers, and the context its transfers run under. The context is
// replaced only once something has cancelled it (a hedge, the watchdog, a
// restart, the end of the run), not for every transfer: a context per
// transfer costs an allocation and a lock in its parent per request, which
// lists of small files pay thousands of times.
type worker struct {
	bufs   *store.Buffers
	ctx    context.Context
	cancel context.CancelFunc
}

// context returns the context for the next transfer, a fresh one if the
// last was cancelled.
func (w *worker) context(parent context.Context) (context.Context, context.CancelFunc) {
	if w.ctx == nil || w.ctx.Err() != nil {
		w.stop()
		w.ctx, w.cancel = context.WithCancel(parent)
	}
	return w.ctx, w.cancel
}

func (w *worker) stop() {
	if w.cancel != nil {
		w.cancel()
	}
}

// cancelRunning stops every transfer of f's current generation; call with
// mu held.
func (f *file) cancelRunning() {
	for _, s := range f.all {
		if s.running && s.cancel != nil {
			s.cancel()
		}
	}
}

// exec runs one segment on this connection and records the outcome.
func (r *run) exec(ctx context.Context, s *seg, w *worker) {
	r.mu.Lock()
	f := s.f
	first := !f.probed && f.tryResume
	r.mu.Unlock()
	if first {
		if complete, err := r.resumeOrSkip(ctx, s); err != nil || complete {
			r.finish(ctx, s, err)
			return
		}
	}
	r.mu.Lock()
	if s.gen != f.gen || f.state != active {
		// The file restarted or ended between next and here.
		r.mu.Unlock()
		r.finish(ctx, s, errStale)
		return
	}
	src := s.src
	snap := snapshot{probed: f.probed, ranged: f.ranged, noRanges: f.noRanges, onTrial: f.rangesOnTrial, size: f.size, out: f.out, sums: f.sums,
		crc: f.crc, unconfirmed: f.unconfirmed, target: src.target, known: src.known, validator: src.validator, etag: src.etag,
		ifMatch: ifMatch(src), suspect: src.evidence.InQuestion()}
	reqCtx, cancel := w.context(ctx)
	s.cancel = cancel
	r.mu.Unlock()
	r.running.Add(1)
	err := r.transfer(reqCtx, s, snap, w.bufs)
	r.running.Add(-1)
	r.finish(ctx, s, err)
}

func (r *run) transfer(ctx context.Context, s *seg, snap snapshot, bufs *store.Buffers) error {
	f, src := s.f, s.src
	buf := bufs.Plain()[:r.chunk]
	_, pos, end := s.cur.Bounds()
	req := segment.Request{Target: snap.target, UserAgent: r.opts.UserAgent, Header: r.opts.Header,
		Start: pos, End: end, Total: snap.size, IfRange: snap.validator, IfMatch: snap.ifMatch}
	switch {
	case !snap.probed:
		// The probe is a real GET whose body is segment 0: no HEAD round trip.
		req.Start, req.End, req.Total, req.IfRange, req.IfMatch = 0, -1, -1, "", ""
		// A server that mangled ranges before is asked for the whole file.
		req.Whole = snap.noRanges
	case !snap.ranged && s.cur.Start() > 0:
		// A stream that took a file over past byte 0 (trial.go) cannot
		// start over alone.
		return fmt.Errorf("%w: its one stream broke", errRangesIgnored)
	case !snap.ranged:
		// A single stream from a server without ranges can only start over.
		f.written.Add(-pos)
		s.cur.Rewind(0)
		s.sum.Set(0, 0, 0)
		if snap.sums != nil {
			snap.sums.Reset()
		}
		req.Start, req.End, req.Total, req.IfRange, req.IfMatch = 0, -1, -1, "", ""
	}
	resp, err := segment.Open(ctx, r.http, req)
	err = ifMatchRefused(err, req)
	_, another := isOtherVersion(err)
	switch {
	case errors.Is(err, segment.ErrSizeChanged) && snap.probed && !snap.known:
		// A source's first answer: it is not the file the others serve.
		err = fmt.Errorf("%w: %v", errSourceSize, err)
	case errors.Is(err, segment.ErrSizeChanged):
		err = fmt.Errorf("%w: %v", errChanged, err)
	case errors.Is(err, segment.ErrMultipart):
		err = fmt.Errorf("%w: %v", errRangesIgnored, err)
	}
	if err == nil || errors.Is(err, segment.ErrBadRange) || errors.Is(err, errChanged) ||
		errors.Is(err, errRangesIgnored) || errors.Is(err, errSourceSize) || another {
		// An answer, even with the wrong bytes: the host is up.
		s.answered = true
		r.answered(s, resp)
	}
	var v verdict
	if snap.onTrial && snap.probed && req.Start > 0 {
		var skip int64
		v, skip = r.judge(s, req.Start, resp, err, snap.validator, snap.size)
		switch v {
		case givenBack:
			if resp != nil {
				resp.Body.Close()
			}
			return nil
		case startOver:
			if resp != nil {
				resp.Body.Close()
			}
			return fmt.Errorf("%w: the range was refused while no stream could carry the file on", errRangesIgnored)
		case takenOver:
			if err := readPast(ctx, resp.Body, skip, s, buf, r.waiter()); err != nil {
				resp.Body.Close()
				return err
			}
		}
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	src.urlWorked.Store(true)
	s.Received(0)
	r.noteTTFB(time.Since(s.began))
	out, sums, crc := snap.out, snap.sums, snap.crc
	switch {
	case !snap.probed:
		if out, sums, crc, err = r.onProbe(ctx, s, resp); err != nil {
			return err
		}
	case snap.ranged:
		// A 200 to a range that is the whole file is the range asked for,
		// and one a trial took over is the whole file from byte 0
		// (trial.go): neither means the server stopped honouring ranges.
		whole := v == takenOver || pos == 0 && end == snap.size && resp.Total == snap.size
		if err := checkVersion(snap, resp, whole); err != nil {
			return err
		}
		if snap.suspect {
			r.keptVersion(s)
		}
	case !snap.ranged && snap.size >= 0 && resp.Total != snap.size:
		return fmt.Errorf("%w: size %d is now %d", errChanged, snap.size, resp.Total)
	}
	if snap.probed && !snap.known {
		r.learnSource(s, resp)
	} else if snap.probed && len(resp.Digests) > 0 && resp.Validator() == snap.validator {
		r.noteDigests(f, s.gen, resp.Digests)
	}
	if snap.unconfirmed {
		r.confirmResume(f)
	}
	if s.hedgeOf != nil {
		// The new connection answers: the slow one is no longer needed.
		r.mu.Lock()
		if v := s.hedgeOf; v.running && v.cancel != nil {
			v.cancel()
		}
		s.hedgeOf = nil
		r.mu.Unlock()
	}
	dst := r.deps.writes(out)
	switch {
	case sums != nil:
		dst = sums.InOrder(dst)
	case crc != nil:
		dst = crc.Writer(dst, &s.sum)
	}
	if out.Direct() && r.limiter == nil {
		// Direct writes want larger pieces from aligned memory.
		buf = bufs.Direct()
	}
	_, err = segment.Copy(ctx, resp.Body, s.cur, dst, buf, r.waiter(), s)
	if err == nil && resp.End >= 0 && s.cur.Pos() == resp.End {
		segment.Drain(resp.Body) // lets the connection be reused
	}
	return err
}

// onProbe records what the first response says about the file and creates
// its part (see store.Dir.Create).
func (r *run) onProbe(ctx context.Context, s *seg, resp *segment.Response) (*store.Part, *checksum.Sums, *checksum.Kind, error) {
	f := s.f
	size := resp.Total
	if want := f.entry.Size; want >= 0 && size >= 0 && size != want {
		return nil, nil, nil, fmt.Errorf("%w: the list says %d bytes, the server %d", errSizeMismatch, want, size)
	}
	// Opened before taking the run's lock, which no system call should
	// hold up; direct I/O is dropped below in the rare case the file
	// cannot be split. A 200 may still come from a server with ranges: a
	// file large enough to split is then split on trial (trial.go).
	splits := size >= 2*r.opts.MinSegment
	part, err := r.openPart(f, size, resp.Partial || splits)
	if err != nil {
		return nil, nil, nil, err
	}
	r.mu.Lock()
	if f.gen != s.gen || f.state != active {
		r.mu.Unlock()
		part.Abort()
		return nil, nil, nil, errStale
	}
	h := s.src.host
	f.rangesOnTrial = !resp.Partial && splits && !f.noRanges && !f.mirrored() && mayRange(h, resp)
	f.ranged = size > 0 && !f.noRanges && (resp.Partial || f.rangesOnTrial)
	if !f.ranged {
		part.Sequential()
	}
	// One connection for a file that would have had several.
	notice, tell := Event{}, false
	if !f.ranged && (size < 0 || splits) {
		why := ""
		switch {
		case size < 0:
			why = " (its answer to bytes=0- has no length)"
		case !resp.Partial && !mayRange(h, resp) && !h.noRanges:
			why = fmt.Sprintf(" (its answer to bytes=0- says Accept-Ranges: %s)", resp.AcceptRanges)
		}
		notice, tell = r.noticeLocked(h, noticeNoRanges, "does not serve byte ranges"+why+": each of its files comes over one connection")
	}
	f.probed, f.size, f.out = true, size, part
	s.src.learn(resp.Validator(), resp.ETag, resp.LastModified)
	f.tryResume = false
	f.digests = resp.Digests
	f.sums, f.crc = inFlight(f.entry, f.digests, f.ranged)
	sums, crc := f.sums, f.crc
	s.cur.SetEnd(size)
	hold := r.tryRangesNowLocked(s)
	conns := f.conns
	r.notify()
	r.mu.Unlock()
	r.rep.Report(Event{Kind: Started, Time: time.Now(), Line: f.entry.Line, Name: f.entry.Name,
		Host: f.primary().host.name, Total: size, Conns: conns})
	if tell {
		r.rep.Report(notice)
	}
	if resp.Encoding != "" {
		r.rep.Report(Event{Kind: Warning, Time: time.Now(), Line: f.entry.Line, Name: f.entry.Name, Total: size,
			Err: fmt.Errorf("the server sent Content-Encoding %q though none was asked for; the file is stored as sent, not decoded", resp.Encoding)})
	}
	waitForTrial(ctx, hold)
	return part, sums, crc, nil
}

// learnSource records the validators of a source's first answer in this
// generation; its size has been checked against the file's.
func (r *run) learnSource(s *seg, resp *segment.Response) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.gen == s.f.gen && !s.src.known {
		s.src.learn(resp.Validator(), resp.ETag, resp.LastModified)
	}
}

// noteDigests keeps what a later answer vouches for, if the probe's
// vouched for nothing: the answer is for the same version of the file (its
// validator is the file's), so its digests are the file's.
func (r *run) noteDigests(f *file, gen int, ds []segment.Digest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f.gen == gen && len(f.digests) == 0 {
		f.digests = ds
	}
}

// inFlight decides how a file's checksum is computed as its bytes arrive:
// a CRC per segment for a segmented file checked by CRC (crc), else a hash
// of the in-order prefix (sums), which a single stream covers whole.
func inFlight(e manifest.Entry, digests []segment.Digest, ranged bool) (*checksum.Sums, *checksum.Kind) {
	s := sumsFor(e, digests)
	if s == nil {
		return nil, nil
	}
	if wants := s.Wants(); len(wants) == 1 && ranged {
		if k := checksum.CRC(wants[0].Algo); k != nil {
			return nil, k
		}
	}
	return s, nil
}

// digestsOf returns f's digests: a transfer that a hedge took over may
// still be answering while f finalizes.
func (r *run) digestsOf(f *file) []segment.Digest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return f.digests
}

// openPart creates f's part afresh. The old state describes the old .part:
// it is removed first, so that a crash in between leaves a .part without
// state (restarted), never a state that claims bytes of a file that no
// longer has them.
func (r *run) openPart(f *file, size int64, ranged bool) (*store.Part, error) {
	f.ckMu.Lock()
	defer f.ckMu.Unlock()
	if !f.clean || f.madeState {
		if err := state.Remove(r.disk.FS(), store.StateName(f.entry.Name)); err != nil {
			return nil, fmt.Errorf("remove old state of %s: %w", store.PartName(f.entry.Name), err)
		}
		f.madeState = false
	}
	p, err := r.deps.create(r.disk, f.entry.Name, size, f.clean && !f.madePart, ranged)
	if err != nil || !p.Unnamed() {
		f.madePart = true // a .part may exist now
	}
	return p, err
}

// noteTTFB folds one request's time to first byte into the run's moving
// average (weight 1/8), which tells the tail how small a split still pays.
func (r *run) noteTTFB(d time.Duration) {
	for {
		old := r.ttfb.Load()
		next := int64(d)
		if old > 0 {
			next = old + (int64(d)-old)/8
		}
		if r.ttfb.CompareAndSwap(old, next) {
			return
		}
	}
}

// waiter returns the run's rate limiter as a segment.Waiter, or nil. (A nil
// *rate.Limiter inside a non-nil interface would not be nil.)
func (r *run) waiter() segment.Waiter {
	if r.limiter == nil {
		return nil
	}
	return r.limiter
}
