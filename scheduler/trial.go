package scheduler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/bulkget/bulkget/segment"
)

// A 200 to the probe's "bytes=0-" is not proof that a server ignores
// ranges: that range is the whole file, which RFC 9110 lets a server answer
// with the whole file, as Tornado's StaticFileHandler and older Werkzeug do.
// Unless the answer says "Accept-Ranges: none", or the host has already
// been caught ignoring ranges, such a file is split on trust: the probe's
// body goes on as segment 0, and the first answer to a range that does not
// start at 0 is the trial. A 206 as asked settles that ranges work. A 200,
// or a 206 with another range, settles that they do not, for the file and
// its host: the range is given back to the probe's stream if that still
// runs (or the 200 carries the file on from where the probe ended), so the
// lesson costs one request; the host's other files go as one stream each
// without a trial. While a host has a trial in flight, none of its files on
// trial is split again, and a file on trial has at most two requests.
//
// The trial holds back the splits that a 206 would have let happen at once,
// while the probe's stream reads on: the later splits would then halve what
// is left past its head start, and leave its request the largest, which a
// server that paces each request in bursts (nginx's limit_rate and the
// like) makes the last to end. So when a connection is idle at the probe's
// answer, the trial is split off at once and the probe's stream holds its
// reads until the trial is answered, at most trialPatience: the data waits
// in the socket, and the splits that follow fall where they would have.

// trialPatience bounds how long the probe's stream waits for its trial.
const trialPatience = time.Second

// verdict is what the answer to a trial request decides.
type verdict int

const (
	// notJudged: not a trial, or an answer that says nothing about ranges
	// (a fault, a changed file); the request goes on or fails as usual.
	notJudged verdict = iota
	// served: a 206 as asked; ranges work and the answer is used.
	served
	// givenBack: no ranges; the range went back to the probe's stream,
	// which still runs, and this request ends with nothing to write.
	givenBack
	// takenOver: no ranges; this 200 carries the file on as its one
	// stream, after the bytes already written are read past.
	takenOver
	// startOver: no ranges, and nothing can carry the file on: it
	// restarts as one stream.
	startOver
)

// awaitsTrial says whether f, on trial, must not get another request now:
// it has two already (its stream and its trial), its trial is still
// awaiting its verdict (even once the probe's stream has ended: a split of
// the trial's range would be a third request to a server that may ignore
// ranges), or another file of its host is being tried. A file on trial
// has one source. Call with mu held.
func (f *file) awaitsTrial() bool {
	if !f.probed || !f.rangesOnTrial {
		return false
	}
	if f.conns >= 2 || slices.ContainsFunc(f.segs, func(s *seg) bool { return s.trial }) {
		return true
	}
	t := f.sources[0].host.trying
	return t != nil && t != f && t.rangesOnTrial && t.state == active
}

// beginTrialLocked marks s, about to run, as its file's trial if it asks
// for a range past 0 of a file on trial. Call with mu held.
func (r *run) beginTrialLocked(s *seg) {
	if f := s.f; f.probed && f.rangesOnTrial && s.cur.Pos() > 0 {
		s.trial = true
		f.sources[0].host.trying = f
	}
}

// endTrialLocked forgets that s is a trial in flight, and frees the
// probe's stream waiting on it. Call with mu held.
func (r *run) endTrialLocked(s *seg) {
	if s.trial {
		s.trial = false
		if f := s.f; f.trialDecided != nil && s.gen == f.gen {
			close(f.trialDecided)
			f.trialDecided = nil
		}
	}
}

// tryRangesNowLocked splits the trial off probe s at once when its file is
// on trial and a connection is idle to take it, and returns what the
// probe's stream is to wait for (nil: nothing). Call with mu held, once
// s's end is the file's size.
func (r *run) tryRangesNowLocked(s *seg) <-chan struct{} {
	f := s.f
	if !f.rangesOnTrial || r.idle == 0 || !r.hasRoom(f) {
		return nil
	}
	mid, end, ok := s.cur.Split(r.opts.MinSegment)
	if !ok {
		return nil
	}
	t := r.newSeg(f, segment.NewCursor(mid, mid, end))
	f.segs = append(f.segs, t)
	f.all = append(f.all, t)
	s.src.host.trying = f
	f.trialDecided = make(chan struct{})
	return f.trialDecided
}

// splitHeldBackLocked makes at once the splits of f that its trial held
// back, one for each idle connection the host and the file have room for
// (Options.MaxPerFile), each of the
// segment with the most left: the probe's stream still waits and the
// trial's has not begun, so they fall where a 206 would have let them fall,
// not past what those streams would read while the connections wake. Call
// with mu held.
func (r *run) splitHeldBackLocked(f *file) {
	n := min(r.idle, r.room(f.sources[0].host))
	if r.opts.MaxPerFile > 0 {
		n = min(n, r.opts.MaxPerFile-f.conns)
	}
	for ; n > 0; n-- {
		var victim *seg
		for _, o := range f.segs {
			if victim == nil || o.cur.Splittable() > victim.cur.Splittable() {
				victim = o
			}
		}
		if victim == nil {
			return
		}
		mid, end, ok := victim.cur.Split(r.opts.MinSegment)
		if !ok {
			return
		}
		t := r.newSeg(f, segment.NewCursor(mid, mid, end))
		f.segs = append(f.segs, t)
		f.all = append(f.all, t)
	}
}

// waitForTrial waits until decided is closed, for at most trialPatience.
func waitForTrial(ctx context.Context, decided <-chan struct{}) {
	if decided == nil {
		return
	}
	t := time.NewTimer(trialPatience)
	defer t.Stop()
	select {
	case <-decided:
	case <-t.C:
	case <-ctx.Done():
	}
}

// mayRange says whether a probe answered with the whole file may still
// come from a server that serves ranges: the answer does not deny it, and
// the host has not been caught ignoring them.
func mayRange(h *host, resp *segment.Response) bool {
	return !h.noRanges && !strings.EqualFold(strings.TrimSpace(resp.AcceptRanges), "none")
}

// judge reads the answer to s's request, a range from pos of a file that
// was on trial when the request was sent: resp and err are what
// segment.Open returned; validator and size are the file's. A 200 of
// another size or version says nothing of ranges. For takenOver, skip is
// how many bytes of the body to read past.
func (r *run) judge(s *seg, pos int64, resp *segment.Response, err error, validator string, size int64) (v verdict, skip int64) {
	var seen string
	switch {
	case err == nil && resp.Partial:
		r.mu.Lock()
		if s.gen == s.f.gen && s.f.rangesOnTrial {
			s.f.rangesOnTrial = false
			r.splitHeldBackLocked(s.f)
		}
		if h := s.f.sources[0].host; h.trying == s.f {
			h.trying = nil
		}
		r.endTrialLocked(s)
		r.notify() // the file, and its host's others, may be split now
		r.mu.Unlock()
		return served, 0
	case err == nil && !resp.NotModified && resp.Total == size && (validator == "" || resp.Validator() == validator):
		seen = fmt.Sprintf("asked for %s, it sent 200 and the whole file", segment.RangeHeader(pos, -1))
	case errors.Is(err, segment.ErrBadRange), errors.Is(err, errRangesIgnored):
		seen = fmt.Sprintf("asked for %s, it answered %v", segment.RangeHeader(pos, -1), err)
	default:
		return notJudged, 0
	}
	r.mu.Lock()
	v, skip, events := r.rangesRefusedLocked(s, err == nil, seen)
	r.notify()
	r.mu.Unlock()
	for _, e := range events {
		r.rep.Report(e)
	}
	return v, skip
}

// rangesRefusedLocked records that s's server does not serve ranges, as
// seen says, and decides how s's file goes on as one stream; whole says
// s's answer is the whole file. Call with mu held.
func (r *run) rangesRefusedLocked(s *seg, whole bool, seen string) (verdict, int64, []Event) {
	f, h := s.f, s.src.host
	r.endTrialLocked(s)
	if s.gen != f.gen || f.state != active || !f.rangesOnTrial {
		return notJudged, 0, nil // the file moved on; today's rules apply
	}
	h.noRanges, h.trying = true, nil
	var events []Event
	if e, ok := r.noticeLocked(h, noticeNoRanges, "does not serve byte ranges ("+seen+"): each of its files comes over one connection"); ok {
		events = append(events, e)
	}
	// The host's other files on trial have not been split (a host has one
	// trial at a time): each goes on as the one stream it is.
	for _, g := range r.active {
		if g != f && g.rangesOnTrial && g.sources[0].host == h && len(g.segs) == 1 && g.segs[0].cur.Start() == 0 {
			g.rangesOnTrial, g.ranged, g.noRanges = false, false, true
		}
	}
	f.rangesOnTrial, f.ranged, f.noRanges = false, false, true
	// The segments other than s and the probe's have not written a byte:
	// a file on trial is split only by its trial.
	var probe *seg
	var rest []*seg
	first := s.cur.Start() // of the segments left after the probe's
	for _, o := range f.segs {
		switch {
		case o == s:
		case o.cur.Start() == 0:
			probe = o
		default:
			rest = append(rest, o)
			first = min(first, o.cur.Start())
		}
	}
	if slices.ContainsFunc(rest, func(o *seg) bool { return o.running || o.cur.Pos() != o.cur.Start() }) {
		return startOver, 0, events
	}
	drop := func(o *seg) {
		o.cur.SetEnd(o.cur.Start()) // empty: no checkpoint or CRC counts it
		f.segs = slices.DeleteFunc(f.segs, func(x *seg) bool { return x == o })
	}
	switch {
	case probe != nil && probe.running && (!probe.hedged || s.hedgeOf == probe) && probe.cur.End() == first:
		probe.cur.SetEnd(f.size)
		probe.hedged, s.hedgeOf = false, nil
		drop(s)
		for _, o := range rest {
			drop(o)
		}
		return givenBack, 0, events
	case probe == nil && whole && first == s.cur.Start():
		// Everything before s is written: the whole file in s's answer
		// carries on from there.
		s.cur.SetEnd(f.size)
		for _, o := range rest {
			drop(o)
		}
		return takenOver, s.cur.Pos(), events
	}
	return startOver, 0, events
}

// readPast reads n bytes of body into nothing, telling s of them (they show
// the link alive) and paying limit (may be nil) for them, with buf, no
// larger than limit's burst, as scratch.
func readPast(ctx context.Context, body io.Reader, n int64, s *seg, buf []byte, limit segment.Waiter) error {
	for n > 0 {
		m, err := body.Read(buf[:min(int64(len(buf)), n)])
		n -= int64(m)
		if m > 0 {
			s.Received(m)
			if limit != nil {
				if err := limit.WaitN(ctx, m); err != nil {
					return err
				}
			}
		}
		if err != nil && n > 0 {
			return fmt.Errorf("%w: the whole file ended %d bytes before the range: %v", segment.ErrShortBody, n, err)
		}
	}
	return nil
}
