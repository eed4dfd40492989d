package scheduler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/bulkget/bulkget/segment"
)

// action is what an ended transfer's error calls for.
type action int

const (
	// retry the range: at once or after a backoff (see retryLocked).
	retry action = iota
	// rest: the host refused for load; it gets fewer connections (see
	// host.go), and the range is retried like any other.
	rest
	// restart the file from zero: the remote file changed, or its server
	// mangles ranges (the restart then asks for the whole file).
	restart
	// failFile: asking again cannot help; the other files go on.
	failFile
	// refresh: the file's URL, which worked, is now refused: it expired.
	// Transfers still running go on; new requests wait for a fresh URL
	// (expire.go).
	refresh
	// another: the answer came from another version of the file than the
	// one its bytes come from: another replica behind the same name, or a
	// change, which the source's answers tell apart (farm.go).
	another
)

// malformedAttempts is how many answers with broken framing
// (segment.Malformed) a file gets before it fails: one retry may meet a
// healthy instance behind the same name, more only repeat a server's bug.
const malformedAttempts = 2

// classify is the one place that decides what an error means. Every error
// that reaches it is a failure of a transfer the run still cares about;
// urlWorked says an earlier request to the same URL was answered with data;
// malformed counts the file's answers with broken framing, this one
// included.
func classify(err error, urlWorked bool, malformed int) action {
	switch {
	case urlWorked && refusedAccess(err):
		return refresh
	case errors.As(err, new(*otherVersionError)):
		return another
	case errors.Is(err, errChanged), errors.Is(err, errRangesIgnored), errors.Is(err, errSourceSize):
		return restart
	case segment.Permanent(err), noSpace(err), fileSystemRefusal(err), errors.Is(err, errSizeMismatch):
		return failFile
	case segment.Malformed(err) && malformed >= malformedAttempts:
		return failFile
	case overloaded(err):
		return rest
	}
	return retry
}

// finish records how a transfer ended and applies what classify decides.
func (r *run) finish(ctx context.Context, s *seg, err error) {
	var events []Event
	var finalizeNext, refreshNext *file
	var refreshSrc *source
	r.mu.Lock()
	f, src := s.f, s.src
	s.running, s.cancel = false, nil
	r.endTrialLocked(s)
	f.conns--
	src.conns--
	src.host.conns--
	if s.awaiting { // never answered, or refused
		s.awaiting = false
		src.host.awaiting--
	}
	defer func() {
		if e, ok := r.strandIfIdleLocked(f); ok {
			events = append(events, e)
		}
		r.notify()
		gaveUp := (f.state == failed || f.state == expired) && f.out != nil
		r.mu.Unlock()
		if finalizeNext != nil {
			r.finalizeAsync(finalizeNext)
		}
		if refreshNext != nil {
			r.refreshWG.Go(func() { r.refresh(refreshNext, refreshSrc) })
		}
		if gaveUp {
			r.keepFailed(f)
		}
		for _, e := range events {
			r.rep.Report(e)
		}
	}()
	if s.gen != f.gen || f.state != active || errors.Is(err, errStale) {
		return // the file moved on while this transfer ran
	}
	err = s.outcome(err, r.opts.StallTimeout)
	switch {
	case errors.Is(err, errSkipped):
		r.closeLocked(f)
		r.skipped++
		e := fileEvent(f, Skipped, nil)
		e.Reason = f.skipReason
		if e.Verified = f.verified; f.verified != "" {
			r.verified = append(r.verified, Verified{Line: f.entry.Line, Name: f.entry.Name, What: f.verified})
		}
		events = append(events, e)
		return
	case err == nil:
		src.strikes = 0
		f.faults.progress(s.began)
		if r.segmentDoneLocked(s) {
			f.state = finalizing
			finalizeNext = f
		}
		return
	case ctx.Err() != nil:
		return // interrupted: leave everything as it is
	case src.dropped != nil:
		// Its source was dropped while it ran: another takes the range now.
		s.notBefore = time.Time{}
		return
	}
	if s.got.Load() > 0 {
		src.strikes = 0
	}
	h := src.host
	if segment.Malformed(err) {
		f.malformed++
		if f.malformed >= malformedAttempts {
			err = fmt.Errorf("%d answers with broken framing: %w", f.malformed, err)
		}
	}
	act := classify(err, src.urlWorked.Load(), f.malformed)
	if act == another {
		ov, _ := isOtherVersion(err)
		e, changed := r.otherVersionLocked(s, ov)
		events = append(events, e...)
		if changed == nil {
			return // retried at once
		}
		err, act = changed, restart
	}
	if act == restart || act == failFile {
		if e, ok := r.dropForLocked(s, err); ok {
			events = append(events, e...)
			return
		}
	}
	switch act {
	case refresh:
		e, again := r.expireLocked(s, err)
		events = append(events, e...)
		if again != nil {
			refreshNext, refreshSrc = f, again
		}
	case restart:
		events = append(events, r.restartForLocked(f, err))
	case failFile:
		if f.mirrored() && !noSpace(err) && !fileSystemRefusal(err) {
			events = append(events, r.dropSourceLocked(f, src, err)...) // the last: the file fails
		} else {
			events = append(events, r.failLocked(f, err))
		}
	case rest:
		now := time.Now()
		if d := h.ctl.Refused(now, s.began, h.conns+1); d.Changed {
			events = append(events, limitEvent(h, d, now, err))
			if d.Level == 1 {
				if e, ok := r.noticeLocked(h, noticeNoParallel, "refuses parallel connections: using one"); ok {
					events = append(events, e)
				}
			}
		}
		events = append(events, r.retryLocked(s, err)...)
	case retry:
		events = append(events, r.retryLocked(s, err)...)
	}
}

// dropForLocked drops s's source, whose answer err says it cannot serve
// this file (it is gone there, has another size or version, mangles
// ranges), if the file has another source to go on with; the range is
// then retried on that one at once. A change that no other source can
// contradict (none has answered) restarts the file instead, and a local
// failure (disk full) is not the source's. Call with mu held.
func (r *run) dropForLocked(s *seg, err error) ([]Event, bool) {
	f, src := s.f, s.src
	if !f.spareSource(src) || noSpace(err) || fileSystemRefusal(err) {
		return nil, false
	}
	if errors.Is(err, errChanged) {
		vouched := slices.ContainsFunc(f.sources, func(o *source) bool { return o != src && o.known && o.dropped == nil })
		if !vouched {
			return nil, false
		}
		src.changedAway = true
	}
	s.notBefore, s.attempts = time.Time{}, 0
	return r.dropSourceLocked(f, src, err), true
}

// outcome is how the transfer on s really ended, given the error it
// returned: nil once every byte of the segment is written, whatever cut
// the request (a hedge, say); the watchdog's reason when it cut it.
// Call with mu held.
func (s *seg) outcome(err error, stallTimeout time.Duration) error {
	switch {
	case err != nil && s.cur.Done():
		return nil
	case err == nil:
		return nil
	case s.stalled.Load():
		return fmt.Errorf("%w: nothing received for %v", segment.ErrStalled, stallTimeout)
	case s.tooSlow != nil:
		return s.tooSlow
	}
	return err
}

// segmentDoneLocked retires a complete segment and reports whether it was
// the file's last.
func (r *run) segmentDoneLocked(s *seg) bool {
	f := s.f
	if _, pos, end := s.cur.Bounds(); end < 0 {
		f.size = pos // a stream of unknown length ends at EOF
		s.cur.SetEnd(pos)
	}
	f.segs = slices.DeleteFunc(f.segs, func(x *seg) bool { return x == s })
	if len(f.segs) > 0 {
		r.requestCheckpoint()
		return false
	}
	return true
}

// restartForLocked starts f over from zero because of err, or fails it
// once it has restarted more than Options.Retries times.
func (r *run) restartForLocked(f *file, err error) Event {
	f.restarts++
	if f.restarts > r.opts.Retries {
		return r.failLocked(f, fmt.Errorf("restarted %d times: %w", f.restarts-1, err))
	}
	if errors.Is(err, errRangesIgnored) {
		f.noRanges = true
	}
	e := fileEvent(f, Warning, fmt.Errorf("%w; restarting from zero", err))
	r.restartLocked(f)
	return e
}

// retryLocked schedules s's range again after a transient failure, or
// fails its file once the range has failed Options.Retries times in a row
// without progress.
func (r *run) retryLocked(s *seg, err error) []Event {
	f, src := s.f, s.src
	// A trickle is progress of a kind that must not buy more attempts.
	if pos := s.cur.Pos(); pos > s.best && !errors.Is(err, segment.ErrTooSlow) {
		s.best, s.attempts = pos, 0
		f.faults.progress(s.began)
	}
	// A refusal for load counts against the retry budget only once the
	// host is down to one connection: until then, being politer (fewer
	// connections, see host.go) is the remedy, not giving up.
	rounds := 0
	if !overloaded(err) || r.room(src.host)+src.host.conns <= 1 {
		s.attempts++
		rounds = f.faults.fail(s.began, time.Now())
		if s.got.Load() == 0 {
			src.strikes++
		}
	}
	spent := s.attempts > r.opts.Retries || rounds > r.opts.Retries
	if (spent || src.strikes >= sourceStrikes) && f.spareSource(src) {
		// The range may be fine and the source not: the others take it.
		s.notBefore, s.attempts = time.Time{}, 0
		f.faults = faultStreak{}
		return r.dropSourceLocked(f, src, fmt.Errorf("failed %d times in a row: %w", src.strikes, err))
	}
	if spent {
		return []Event{r.failLocked(f, fmt.Errorf("gave up after %d attempts: %w", max(s.attempts, rounds), err))}
	}
	// Exponential backoff is for a server in trouble. When the host
	// answered other requests while this one was failing, the fault was
	// this request's own (a reset, a bad range): retry soon. When it
	// answered this very request and the answer then broke (a reset or
	// stall mid-body, a short body, the wrong range), the first retry goes
	// at once, as aria2c and axel retry: a fresh request rarely meets the
	// same fault, and the segment may be what the run is waiting for. A
	// second failure in a row without progress waits.
	attempt := max(s.attempts, 1)
	if !src.host.lastOK.Before(s.began) {
		attempt = 1
	}
	if wait := segment.RetryAfter(err); wait > 0 {
		r.restLocked(src.host, time.Now().Add(min(wait, r.opts.Backoff.RetryAfterCap)))
	}
	var delay time.Duration
	if !s.answered || s.attempts > 1 {
		delay = r.opts.Backoff.Delay(attempt, 0)
	}
	s.notBefore = time.Now().Add(delay)
	e := fileEvent(f, Retrying, err)
	e.Attempt, e.Delay = s.attempts, delay
	return []Event{e}
}

// fileEvent is an event about f as it stands; call with mu held.
func fileEvent(f *file, k Kind, err error) Event {
	e := Event{Kind: k, Time: time.Now(), Line: f.entry.Line, Name: f.entry.Name, Host: f.primary().host.name,
		Bytes: f.written.Load(), Total: f.size, Conns: f.conns, Err: redact(err)}
	if k == Done || k == Failed || k == Expired {
		e.Sources = sourcesProgress(f)
	}
	return e
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
