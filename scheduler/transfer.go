package scheduler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

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
	size           int64
	validator      string
	etag           string
	out            *store.Part
	sums           *sums
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
	snap := snapshot{probed: f.probed, ranged: f.ranged, noRanges: f.noRanges, size: f.size, validator: f.validator,
		etag: f.etag, out: f.out, sums: f.sums, unconfirmed: f.unconfirmed}
	reqCtx, cancel := w.context(ctx)
	s.cancel = cancel
	r.mu.Unlock()
	r.running.Add(1)
	err := r.transfer(reqCtx, s, snap, w.bufs)
	r.running.Add(-1)
	r.finish(ctx, s, err)
}

func (r *run) transfer(ctx context.Context, s *seg, snap snapshot, bufs *store.Buffers) error {
	f := s.f
	buf := bufs.Plain()[:r.chunk]
	_, pos, end := s.cur.Bounds()
	req := segment.Request{URL: f.entry.URL, Target: f.target, UserAgent: r.opts.UserAgent, Header: r.opts.Header,
		Start: pos, End: end, Total: snap.size, IfRange: snap.validator}
	switch {
	case !snap.probed:
		// The probe is a real GET whose body is segment 0: no HEAD round trip.
		req.Start, req.End, req.Total, req.IfRange = 0, -1, -1, ""
		// A server that mangled ranges before is asked for the whole file.
		req.Whole = snap.noRanges
	case !snap.ranged:
		// A single stream from a server without ranges can only start over.
		f.written.Add(-pos)
		s.cur.Rewind(0)
		if snap.sums != nil {
			snap.sums.reset()
		}
		req.Start, req.End, req.Total, req.IfRange = 0, -1, -1, ""
	}
	resp, err := segment.Open(ctx, r.http, req)
	switch {
	case errors.Is(err, segment.ErrSizeChanged):
		err = fmt.Errorf("%w: %v", errChanged, err)
	case errors.Is(err, segment.ErrMultipart):
		err = fmt.Errorf("%w: %v", errRangesIgnored, err)
	}
	if err == nil || errors.Is(err, segment.ErrBadRange) || errors.Is(err, errChanged) || errors.Is(err, errRangesIgnored) {
		// An answer, even with the wrong bytes: the host is up.
		s.answered = true
		r.answered(f.host)
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	s.Received(0)
	r.noteTTFB(time.Since(s.began))
	out, sums := snap.out, snap.sums
	switch {
	case !snap.probed:
		if out, sums, err = r.onProbe(s, resp); err != nil {
			return err
		}
	case snap.ranged && !resp.Partial:
		if resp.Validator() != snap.validator {
			return fmt.Errorf("%w: validator %q is now %q", errChanged, snap.validator, resp.Validator())
		}
		return errRangesIgnored
	case snap.ranged && snap.etag != "" && resp.ETag != "" && resp.ETag != snap.etag:
		return fmt.Errorf("%w: ETag %s is now %s", errChanged, snap.etag, resp.ETag)
	case !snap.ranged && snap.size >= 0 && resp.Total != snap.size:
		return fmt.Errorf("%w: size %d is now %d", errChanged, snap.size, resp.Total)
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
	var dst io.WriterAt = out
	if sums != nil {
		dst = inOrder{w: out, s: sums}
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
func (r *run) onProbe(s *seg, resp *segment.Response) (*store.Part, *sums, error) {
	f := s.f
	size := resp.Total
	if want := f.entry.Size; want >= 0 && size >= 0 && size != want {
		return nil, nil, fmt.Errorf("%w: the list says %d bytes, the server %d", errSizeMismatch, want, size)
	}
	// Opened before taking the run's lock, which no system call should
	// hold up; direct I/O is dropped below in the rare case the file
	// cannot be split.
	part, err := r.openPart(f, size, resp.Partial)
	if err != nil {
		return nil, nil, err
	}
	r.mu.Lock()
	if f.gen != s.gen || f.state != active {
		r.mu.Unlock()
		part.Abort()
		return nil, nil, errStale
	}
	f.ranged = resp.Partial && size > 0 && !f.noRanges
	if !f.ranged {
		part.Sequential()
	}
	f.probed, f.size, f.out = true, size, part
	f.validator, f.etag, f.lastModified = resp.Validator(), resp.ETag, resp.LastModified
	f.tryResume = false
	f.sums = nil
	if !f.ranged {
		f.sums = newSums(f.entry)
	}
	sums := f.sums
	s.cur.SetEnd(size)
	conns := f.conns
	r.notify()
	r.mu.Unlock()
	r.rep.Report(Event{Kind: Started, Time: time.Now(), Line: f.entry.Line, Name: f.entry.Name,
		Total: size, Conns: conns})
	if resp.Encoding != "" {
		r.rep.Report(Event{Kind: Warning, Time: time.Now(), Line: f.entry.Line, Name: f.entry.Name, Total: size,
			Err: fmt.Errorf("the server sent Content-Encoding %q though none was asked for; the file is stored as sent, not decoded", resp.Encoding)})
	}
	return part, sums, nil
}

// openPart creates f's part afresh. The old state describes the old .part:
// it is removed first, so that a crash in between leaves a .part without
// state (restarted), never a state that claims bytes of a file that no
// longer has them.
func (r *run) openPart(f *file, size int64, ranged bool) (*store.Part, error) {
	f.ckMu.Lock()
	defer f.ckMu.Unlock()
	if !f.clean || f.madeState {
		if err := state.Remove(r.root, store.StateName(f.entry.Name)); err != nil {
			return nil, fmt.Errorf("remove old state of %s: %w", store.PartName(f.entry.Name), err)
		}
		f.madeState = false
	}
	p, err := r.disk.Create(f.entry.Name, size, f.clean && !f.madePart, ranged)
	if err != nil || !p.Unnamed() {
		f.madePart = true // a .part may exist now
	}
	return p, err
}

// finish records how a transfer ended: the segment is complete, to be
// retried, or the file is failed, restarted or complete.
func (r *run) finish(ctx context.Context, s *seg, err error) {
	var events []Event
	var finalizeNext *file
	r.mu.Lock()
	f := s.f
	s.running, s.cancel = false, nil
	f.conns--
	f.host.conns--
	defer func() {
		r.notify()
		gaveUp := f.state == failed && f.out != nil
		r.mu.Unlock()
		if finalizeNext != nil {
			r.finalizeAsync(finalizeNext)
		}
		if gaveUp {
			r.keepFailed(f)
		}
		for _, e := range events {
			r.rep.Report(e)
		}
	}()
	if s.gen != f.gen || f.state != active || errors.Is(err, errStale) {
		return
	}
	if err != nil && s.cur.Done() {
		// Every byte of the segment is written; how the request ended (a
		// hedge cancelled it, say) no longer matters.
		err = nil
	}
	if errors.Is(err, errSkipped) {
		r.closeLocked(f)
		r.skipped++
		events = append(events, fileEvent(f, Skipped, nil))
		return
	}
	if err == nil {
		if _, pos, end := s.cur.Bounds(); end < 0 {
			f.size = pos // a stream of unknown length ends at EOF
			s.cur.SetEnd(pos)
		}
		f.segs = slices.DeleteFunc(f.segs, func(x *seg) bool { return x == s })
		if len(f.segs) > 0 {
			r.requestCheckpoint()
			return
		}
		f.state = finalizing
		finalizeNext = f
		return
	}
	if ctx.Err() != nil {
		return // interrupted: leave everything as it is
	}
	if s.stalled.Load() {
		err = fmt.Errorf("%w: nothing received for %v", segment.ErrStalled, r.opts.StallTimeout)
	} else if s.tooSlow != nil {
		err = s.tooSlow
	}
	if overloaded(err) {
		if e, ok := r.answeredLocked(f.host, true, f.host.conns+1, s.began, time.Now(), err); ok {
			events = append(events, e)
		}
	}
	switch {
	case errors.Is(err, errChanged), errors.Is(err, errRangesIgnored):
		f.restarts++
		if f.restarts > r.opts.Retries {
			events = append(events, r.failLocked(f, fmt.Errorf("restarted %d times: %w", f.restarts-1, err)))
			return
		}
		if errors.Is(err, errRangesIgnored) {
			f.noRanges = true
		}
		events = append(events, fileEvent(f, Warning, fmt.Errorf("%w; restarting from zero", err)))
		r.restartLocked(f)
	case segment.Permanent(err), noSpace(err), fileSystemRefusal(err), errors.Is(err, errSizeMismatch):
		events = append(events, r.failLocked(f, err))
	default:
		// A trickle is progress of a kind that must not buy more attempts.
		if pos := s.cur.Pos(); pos > s.best && !errors.Is(err, segment.ErrTooSlow) {
			s.best, s.attempts = pos, 0
		}
		// A refusal for load counts against the retry budget only once the
		// host is down to one connection: until then, being politer (fewer
		// connections, see politeness.go) is the remedy, not giving up.
		if !overloaded(err) || r.room(f.host)+f.host.conns <= 1 {
			s.attempts++
		}
		if s.attempts > r.opts.Retries {
			events = append(events, r.failLocked(f, fmt.Errorf("gave up after %d attempts: %w", s.attempts, err)))
			return
		}
		// Exponential backoff is for a server in trouble. When the host
		// answered other requests while this one was failing, the fault
		// was this request's own (a reset, a bad range): retry soon. When
		// it answered this very request and the answer then broke (a
		// reset or stall mid-body, a short body, the wrong range), the
		// first retry goes at once, as aria2c and axel retry: a fresh
		// request rarely meets the same fault, and the segment may be
		// what the run is waiting for. A second failure in a row without
		// progress waits.
		attempt := max(s.attempts, 1)
		if !f.host.lastOK.Before(s.began) {
			attempt = 1
		}
		wait := segment.RetryAfter(err)
		if wait > 0 {
			r.restLocked(f.host, time.Now().Add(min(wait, r.opts.Backoff.RetryAfterCap)))
		}
		var delay time.Duration
		if !s.answered || s.attempts > 1 {
			delay = r.opts.Backoff.Delay(attempt, 0)
		}
		s.notBefore = time.Now().Add(delay)
		e := fileEvent(f, Retrying, err)
		e.Attempt, e.Delay = s.attempts, delay
		events = append(events, e)
	}
}

// answered records an answer from h that was not a refusal.
func (r *run) answered(h *host) {
	r.mu.Lock()
	h.recent.add(false)
	h.lastOK = time.Now()
	r.mu.Unlock()
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
	case hasSums(f.entry) && (f.sums == nil || f.sums.next != f.size):
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
	r.mu.Lock()
	var ce *ChecksumError
	switch {
	case errors.As(ferr, &ce) && !f.checkRetried:
		// Fetch it once more: a bad byte in transit or on a flaky server
		// is more likely than a wrong list.
		f.checkRetried = true
		f.state = active
		events = append(events, fileEvent(f, Warning, fmt.Errorf("%w; fetching it again", ferr)))
		r.restartLocked(f)
	case ferr != nil:
		events = append(events, r.failLocked(f, ferr))
	default:
		r.closeLocked(f)
		r.done++
		e := fileEvent(f, Done, nil)
		e.Elapsed = time.Since(f.started)
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

// verify checks f's complete data against the list's checksums, if any;
// call with f.ckMu held.
func (r *run) verify(f *file) error {
	s := newSums(f.entry)
	if s == nil {
		return nil
	}
	if f.sums != nil && f.sums.next == f.size {
		s = f.sums // hashed while it was written, in order
	} else if err := s.hashFile(f.out, f.size); err != nil {
		return fmt.Errorf("%s: %w", f.entry.Name, err)
	}
	return s.check(f.entry)
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
	if err := state.Remove(r.root, store.StateName(f.entry.Name)); err != nil {
		return err
	}
	f.madeState = false
	return nil
}

// fileEvent is an event about f as it stands; call with mu held.
func fileEvent(f *file, k Kind, err error) Event {
	return Event{Kind: k, Time: time.Now(), Line: f.entry.Line, Name: f.entry.Name,
		Bytes: f.written.Load(), Total: f.size, Conns: f.conns, Err: redact(err)}
}

// failLocked gives up on f and returns the event to report. The .part
// stays open for finish to checkpoint it.
func (r *run) failLocked(f *file, err error) Event {
	r.retireLocked(f, failed)
	e := fileEvent(f, Failed, err)
	r.failures = append(r.failures, Failure{Line: f.entry.Line, Name: f.entry.Name, Err: e.Err})
	return e
}

// closeLocked takes a finished (or skipped) file out of the active set.
func (r *run) closeLocked(f *file) {
	if f.out != nil {
		f.out.Abort()
		f.out = nil
	}
	r.retireLocked(f, finished)
}

// retireLocked takes f out of the active set in its final state. A failed
// file keeps its .part open for keepFailed to checkpoint it.
func (r *run) retireLocked(f *file, final fileState) {
	f.state = final
	f.cancelRunning()
	f.segs = nil
	r.active = slices.DeleteFunc(r.active, func(x *file) bool { return x == f })
	r.openFiles--
	r.remaining--
}
