package scheduler

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/bulkget/bulkget/segment"
)

// With Options.Adaptive, each host's connections find their own level by
// hill climbing on the host's measured throughput, as hf_xet's adaptive
// concurrency and TCP Vegas do with their windows:
//
//	measure the rate at level L for a window in which all L are busy;
//	raise to 2L; keep it and go on if the rate rose nearly in proportion;
//	if it rose by less, settle between, where the gains stopped (the
//	share of the new connections that paid); if not at all, go back;
//	settled, every reprobe try a quarter fewer (kept if the rate holds:
//	they did not pay) and, the next time, more again.
//
// Only windows in which the host had work for every allowed connection
// count: a host short of work says nothing about what more would give.
// A window whose rate held steady closes early when its answer is clear
// (steady, decide); one that is bursty or still ramping up runs its full
// length. A host found to pace its connections in bursts is raised at
// once by how far its peak rate exceeds its mean (pacedLocked).
// Refusals still cut the level at once (host.go); the climb never passes
// the lowest level ever refused.
const (
	tuneStart     = 4                      // connections a host starts with
	tuneLimited   = 16                     // from this level up a raise adds at most half
	tuneWindowMin = 900 * time.Millisecond // shortest measuring window
	tuneMin       = 2                      // never settles below
	tuneReprobe   = 20 * time.Second       // settled: time before trying another level
	// A raise that gained this share of what the new connections would
	// add were the host capped per connection is kept, and doubled; one
	// that gained less, but at least tuneMinGain, shows the host's limit
	// lies between: the level settles where the gains stopped.
	tuneFull    = 0.8
	tuneMinGain = 0.08
	// A lowered level is kept if the rate stays above this share.
	tuneKeep = 0.93
)

type tunePhase int

const (
	tuneMeasure tunePhase = iota // rate at base unknown
	tuneRaised                   // trying a level above base
	tuneSettled                  // base is the level; waiting for reprobe
	tuneLowered                  // trying a level below base
)

// tuner is a host's hill climber; fields guarded by run.mu.
type tuner struct {
	phase    tunePhase
	base     int       // the level whose rate is known
	baseRate float64   // bytes/s at base
	upNext   bool      // settled: the next probe goes up, not down
	start    time.Time // when the window began (marks[0]); zero: none running
	reached  time.Time // when the level was first fully busy, before start
	// seenPause is the host's learnt pause at the last tick.
	seenPause int64
	next      time.Time // settled: when to probe again
	// raisedOK counts the answers, not refusals, while a raise is tried:
	// the slow start's allowance of requests awaiting an answer (room).
	raisedOK int
	// marks holds what had been received, and the connections at work, at
	// the window's start and at each tick.
	marks []mark
	// began is when the host first delivered; hist holds the last second
	// of ticks, whatever the window, and histN how many were recorded.
	began time.Time
	hist  [tuneHist]mark
	histN int
	// rebase: the level was raised on the evidence of a paced host, not
	// of a measured gain, so its window measures the base anew.
	rebase bool
	// steep: the last raise gained in proportion, so the host is capped
	// per connection so far and the next raise may be larger.
	steep bool
}

// tuneWindow is how long h's level is measured: many round trips, and
// two of the pauses of a host that sends in bursts, so that each window
// averages whole bursts.
func (r *run) tuneWindow(h *host) time.Duration {
	return max(tuneWindowMin, 10*time.Duration(r.ttfb.Load()), 2*time.Duration(h.pause.Load()))
}

// tuneLocked advances h's climb at now and returns an event when the
// level changed. Call with mu held.
func (r *run) tuneLocked(h *host, now time.Time) (Event, bool) {
	t := &h.tune
	recv := h.recv.Load()
	t.hist[t.histN%tuneHist] = mark{now, recv, min(h.conns, h.want)}
	t.histN++
	if pause := h.pause.Load(); 2*t.seenPause < pause && r.paces(h) &&
		(t.phase == tuneMeasure || t.phase == tuneRaised) {
		// The host's pacing was just learnt: the window, if any, started
		// with bursts it did not wait out.
		t.seenPause = pause
		return r.pacedLocked(h, now)
	}
	t.seenPause = h.pause.Load()
	if t.phase == tuneSettled {
		if now.Before(t.next) {
			return Event{}, false
		}
		if t.upNext || t.base <= tuneMin {
			t.phase = tuneMeasure
		} else {
			// The lower level is measured once it is in effect: requests
			// that would hold it off for long are cut, as for a raise
			// given back.
			e, ok := r.setLevelLocked(h, max(tuneMin, t.base-max(1, t.base/4)), tuneLowered, now)
			if h.conns > h.limit {
				r.shedLocked(h, h.conns-h.limit, now, shedUseless)
			}
			return e, ok
		}
	}
	// Only a window in which the allowed connections had work counts: it
	// starts with all of them busy and none beyond them (a lowered level
	// takes effect as requests end), and the moments between one range
	// and the next may not add up to more than a tenth of it. A request
	// awaiting its answer counts as busy: on a host of small files most
	// are.
	if h.limit < h.want || t.start.IsZero() && h.conns != h.want {
		t.start, t.reached = time.Time{}, time.Time{}
		return Event{}, false
	}
	if t.began.IsZero() {
		if recv == 0 {
			return Event{}, false // the first window starts with the first answers
		}
		t.began = now
	}
	if t.start.IsZero() {
		// Connections just opened on a host that sends in bursts get
		// their first burst at once: a window starting with them would
		// count one burst too many. It starts half a pause later. A
		// pause too short to be pacing (the wait for an answer) is no
		// reason to wait.
		if t.reached.IsZero() {
			t.reached = now
		}
		if r.paces(h) && now.Sub(t.reached) < time.Duration(h.pause.Load())/2 {
			return Event{}, false
		}
		t.start, t.reached = now, time.Time{}
		t.marks = append(t.marks[:0], mark{now, recv, h.conns})
		return Event{}, false
	}
	t.marks = append(t.marks, mark{now, recv, h.conns})
	span := now.Sub(t.start)
	// A window is closed when it has lasted long enough to average out
	// any pacing, or sooner when its rate held steady and says clearly
	// what to do (decide).
	full := span >= r.tuneWindow(h)
	if !full && (span < r.tuneEarly() || !t.steady()) {
		return Event{}, false
	}
	if t.busyShare(h.want) < 0.9 {
		if full {
			t.start = time.Time{}
		}
		return Event{}, false // short of work: says nothing about the level
	}
	rate := rateOf(t.marks[0], t.marks[len(t.marks)-1])
	if t.phase == tuneRaised && t.rebase {
		t.phase = tuneMeasure
	}
	if !full && t.phase == tuneRaised && (t.baseRate <= 0 || now.Sub(t.began) < tunePaceShown &&
		rate/t.baseRate-1 < tuneFull*float64(h.want-t.base)/float64(t.base)) {
		// Early, a raise that did not pay in full waits until the host
		// has had time to show its pacing: first bursts make any level
		// look full. (New connections still ramping up over a long path
		// would make a raise look worse early; steady rules them out.)
		return Event{}, false
	}
	t.start = time.Time{}
	switch t.phase {
	case tuneMeasure:
		t.base, t.baseRate = h.want, rate
		return r.raiseLocked(h, now)
	case tuneRaised:
		proportional := float64(h.want-t.base) / float64(t.base)
		gain := rate/t.baseRate - 1
		if t.baseRate > 0 && gain >= tuneFull*proportional {
			t.base, t.baseRate = h.want, rate
			t.steep = true
			return r.raiseLocked(h, now)
		}
		t.upNext, t.steep = false, false
		// The connections beyond the new level go now rather than when
		// their ranges end, which on a large file may be the end of the
		// run. Cutting a request wastes what it has in flight and puts its
		// rest behind the others, so only those that would run on for a
		// while are cut: sooner when they gave nothing at all, later at a
		// knee, where they still deliver and the host is merely full.
		minLeft := shedUseless
		if t.baseRate > 0 && gain >= tuneMinGain {
			// Some of the new connections paid: the host's limit lies
			// between. Where the gain per connection fell from full to
			// nothing, the knee is at the share of them that paid.
			knee := t.base + int(math.Ceil(float64(h.want-t.base)*gain/proportional))
			if knee > t.base {
				minLeft = shedAtKnee
			}
			t.base, t.baseRate = knee, t.baseRate*(1+gain*float64(knee-t.base)/float64(h.want-t.base))
		}
		e, ok := r.setLevelLocked(h, t.base, tuneSettled, now)
		if h.conns > h.limit {
			r.shedLocked(h, h.conns-h.limit, now, minLeft)
		}
		return e, ok
	case tuneLowered:
		t.upNext = true
		if rate >= tuneKeep*t.baseRate {
			t.base, t.baseRate = h.want, rate
			t.phase, t.next = tuneSettled, now.Add(tuneReprobe)
			return Event{}, false
		}
		return r.setLevelLocked(h, t.base, tuneSettled, now)
	}
	return Event{}, false
}

// pacedLocked hears, while h's level is measured, that h sends in bursts
// with silences between them. Silences on a link that could carry the
// bursts at their peak mean each connection is held back by the host, not
// by the path: the level is raised at once by the ratio of the last
// second's peak to its mean rate (at most 4 ×), and measured anew there.
// Without that evidence the level is measured again: a base measured
// before the pacing showed may have been one of the first bursts. Call
// with mu held.
func (r *run) pacedLocked(h *host, now time.Time) (Event, bool) {
	t := &h.tune
	t.start = time.Time{}
	if t.phase == tuneRaised {
		t.rebase = true
	}
	peak, mean, conns := t.lastSecond()
	if mean <= 0 || peak < 1.5*mean {
		return Event{}, false
	}
	level := min(4*h.want, int(math.Ceil(conns*peak/mean)))
	level = min(level, min(r.opts.MaxPerHost, r.opts.Connections), h.ceiling-1)
	if level <= h.want {
		return Event{}, false
	}
	t.base, t.baseRate = h.want, 0 // the level to go back to if refused
	e, ok := r.setLevelLocked(h, level, tuneRaised, now)
	t.rebase = true
	return e, ok
}

// paces reports whether h paces its connections: its learnt pause is a
// silence longer than the gaps of ordinary traffic (two tuner ticks, four
// times the time to first byte).
func (r *run) paces(h *host) bool {
	return time.Duration(h.pause.Load()) >= max(2*tuneTick, 4*time.Duration(r.ttfb.Load()))
}

// raiseLocked tries the next level above the base, or settles at the cap.
func (r *run) raiseLocked(h *host, now time.Time) (Event, bool) {
	t := &h.tune
	if now.Sub(h.lastCut) >= probeAfter {
		h.ceiling = r.opts.MaxPerHost + 1 // time to find out again
	}
	step := max(2, t.base) // double
	if t.steep {
		step = 3 * t.base // quadruple: each connection added so far paid in full
	}
	if t.base >= tuneLimited {
		// Limited slow start (as TCP's for large windows, RFC 3742): the
		// higher the level, the more connections an overshoot costs the
		// host until it is given back, so each raise adds at most half.
		step = min(step, t.base/2)
	}
	next := min(t.base+step, min(r.opts.MaxPerHost, r.opts.Connections), h.ceiling-1)
	if next <= t.base {
		t.upNext = false
		t.phase, t.next = tuneSettled, now.Add(tuneReprobe)
		return Event{}, false
	}
	return r.setLevelLocked(h, next, tuneRaised, now)
}

// setLevelLocked makes level h's connections, entering phase.
func (r *run) setLevelLocked(h *host, level int, phase tunePhase, now time.Time) (Event, bool) {
	t := &h.tune
	t.phase, t.start, t.reached, t.raisedOK, t.rebase = phase, time.Time{}, time.Time{}, 0, false
	if phase == tuneSettled {
		t.next = now.Add(tuneReprobe)
		t.steep = false
	}
	if level == h.want {
		return Event{}, false
	}
	if h.limit >= h.want {
		h.limit = min(level, max(1, h.ceiling-1))
	} else {
		h.limit = min(h.limit, level) // a refusal's cut stands
	}
	e := Event{Kind: HostLimit, Time: now, Name: h.name, Conns: h.limit, Total: -1}
	if level < h.want && phase == tuneSettled { // a raise given back
		e.Err = fmt.Errorf("%d connections gave no more throughput than %d; now at most %d", h.want, level, h.limit)
	}
	h.want = level
	return e, true
}

// shedLocked ends up to n of h's running requests soon, those
// with the most left first, and puts what they had left back as waiting
// segments, so that a lowered level takes effect now rather than when its
// requests end: a request may hold a large range for the rest of the file.
// Only requests that would run on for minLeft or more are cut. Call with
// mu held.
func (r *run) shedLocked(h *host, n int, now time.Time, minLeft time.Duration) {
	for ; n > 0; n-- {
		var victim *seg
		for _, f := range r.active {
			if f.state != active || !f.probed || !f.ranged {
				continue
			}
			for _, s := range f.segs {
				if s.running && s.src.host == h && !s.hedged && s.hedgeOf == nil && s.left(now) >= minLeft &&
					(victim == nil || s.cur.Splittable() > victim.cur.Splittable()) {
					victim = s
				}
			}
		}
		if victim == nil {
			return
		}
		// What a second of its rate brings may already be on its way:
		// it is let in rather than thrown away and fetched again.
		keep := int64(float64(victim.got.Load()) / now.Sub(victim.began).Seconds())
		from, end, ok := r.cutAfter(victim, keep)
		if !ok {
			return
		}
		victim.hedged = true // its attempt is over once it reaches the cut
		f := victim.f
		rest := r.newSeg(f, segment.NewCursor(from, from, end))
		f.segs = append(f.segs, rest)
		f.all = append(f.all, rest)
	}
	r.notify()
}

// refusedLocked hears that h refused a request for load. A raise being
// tried is what the host could not take: it is given back at once, and the
// level that was refused becomes the ceiling, rather than waiting for the
// refusals to add up to a cut. Call with mu held.
func (r *run) refusedLocked(h *host, now time.Time) (Event, bool) {
	t := &h.tune
	if !r.opts.Adaptive || t.phase != tuneRaised {
		return Event{}, false
	}
	h.ceiling = min(h.ceiling, h.want)
	h.lastCut = now
	t.upNext = false
	return r.setLevelLocked(h, t.base, tuneSettled, now)
}

// The least time a request must still have to run at its rate for a
// lowered level to cut it (shedLocked): after a raise that gave nothing,
// and at a knee.
const (
	shedUseless = 6 * time.Second
	shedAtKnee  = 15 * time.Second
)

// left is how long s's request will still run at its rate so far; 0 when
// too young to tell. Call with mu held.
func (s *seg) left(now time.Time) time.Duration {
	age, got := now.Sub(s.began), s.got.Load()
	if age < 500*time.Millisecond || got <= 0 {
		return 0
	}
	return time.Duration(float64(s.cur.Splittable()) / float64(got) * float64(age))
}

// tuneTick is how often the tuner looks at its windows: often enough that
// a window is closed soon after it has lasted long enough.
const tuneTick = 50 * time.Millisecond

// tuneHosts runs every host's tuner until ctx is done (Options.Adaptive).
func (r *run) tuneHosts(ctx context.Context) {
	every(ctx, tuneTick, nil, func() {
		var events []Event
		r.mu.Lock()
		for _, h := range r.hosts {
			if e, ok := r.tuneLocked(h, time.Now()); ok {
				events = append(events, e)
			}
		}
		if len(events) > 0 {
			r.notify()
		}
		r.mu.Unlock()
		for _, e := range events {
			r.rep.Report(e)
		}
	})
}
