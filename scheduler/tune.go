package scheduler

import (
	"fmt"
	"math"
	"time"
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
// Refusals still cut the level at once (host.go); the climb never passes
// the lowest level ever refused.
const (
	tuneStart     = 4                      // connections a host starts with
	tuneWindowMin = 700 * time.Millisecond // shortest measuring window
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
	phase     tunePhase
	base      int     // the level whose rate is known
	baseRate  float64 // bytes/s at base
	upNext    bool    // settled: the next probe goes up, not down
	start     time.Time
	startRecv int64
	next      time.Time // settled: when to probe again
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
	if t.phase == tuneSettled {
		if now.Before(t.next) {
			return Event{}, false
		}
		if t.upNext || t.base <= tuneMin {
			t.phase = tuneMeasure
		} else {
			return r.setLevelLocked(h, max(tuneMin, t.base-max(1, t.base/4)), tuneLowered, now)
		}
	}
	// Only a window in which every allowed connection had work counts.
	if h.limit < h.want || h.conns < h.want {
		t.start = time.Time{}
		return Event{}, false
	}
	recv := h.recv.Load()
	if t.start.IsZero() {
		t.start, t.startRecv = now, recv
		return Event{}, false
	}
	span := now.Sub(t.start)
	if span < r.tuneWindow(h) {
		return Event{}, false
	}
	rate := float64(recv-t.startRecv) / span.Seconds()
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
			return r.raiseLocked(h, now)
		}
		t.upNext = false
		if t.baseRate > 0 && gain >= tuneMinGain {
			// Some of the new connections paid: the host's limit lies
			// between. Where the gain per connection fell from full to
			// nothing, the knee is at the share of them that paid.
			knee := t.base + int(math.Ceil(float64(h.want-t.base)*gain/proportional))
			t.base, t.baseRate = knee, t.baseRate*(1+gain*float64(knee-t.base)/float64(h.want-t.base))
			return r.setLevelLocked(h, t.base, tuneSettled, now)
		}
		return r.setLevelLocked(h, t.base, tuneSettled, now)
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

// raiseLocked tries the next level above the base, or settles at the cap.
func (r *run) raiseLocked(h *host, now time.Time) (Event, bool) {
	t := &h.tune
	if now.Sub(h.lastCut) >= probeAfter {
		h.ceiling = r.opts.MaxPerHost + 1 // time to find out again
	}
	next := min(t.base+max(2, t.base), min(r.opts.MaxPerHost, r.opts.Connections), h.ceiling-1)
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
	t.phase, t.start = phase, time.Time{}
	if phase == tuneSettled {
		t.next = now.Add(tuneReprobe)
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
