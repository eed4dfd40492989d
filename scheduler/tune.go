package scheduler

import (
	"fmt"
	"time"
)

// With Options.Adaptive, each host's connections find their own level by
// hill climbing on the host's measured throughput, as hf_xet's adaptive
// concurrency and TCP Vegas do with their windows:
//
//	measure the rate at level L for a window in which all L are busy;
//	raise to L' (double while gains are nearly proportional, else +50 %);
//	keep L' if the rate rose by a meaningful share of the proportional
//	gain, else go back to L and settle;
//	settled, every reprobe try a quarter fewer (kept if the rate holds:
//	they did not pay) and, the next time, more again.
//
// Only windows in which the host had work for every allowed connection
// count: a host short of work says nothing about what more would give.
// Refusals still cut the level at once (host.go); the climb never passes
// the lowest level ever refused.
const (
	tuneStart   = 4                // connections a host starts with
	tuneMin     = 2                // never settles below
	tuneReprobe = 20 * time.Second // settled: time before trying another level
	// A raise is kept if the rate rose by at least this share of what
	// the new connections would add were the host capped per connection,
	// and by at least tuneMinGain.
	tuneShare   = 0.4
	tuneMinGain = 0.08
	// A raise whose gain reached this share of proportional doubles next.
	tuneDouble = 0.7
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
	double    bool    // the last raise paid nearly in proportion
	upNext    bool    // settled: the next probe goes up, not down
	start     time.Time
	startRecv int64
	next      time.Time // settled: when to probe again
}

// tuneWindow is how long a level is measured: long enough to average a
// host that sends in one-second bursts, and many round trips.
func (r *run) tuneWindow() time.Duration {
	return max(time.Second+time.Second/2, 10*time.Duration(r.ttfb.Load()))
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
	if span < r.tuneWindow() {
		return Event{}, false
	}
	rate := float64(recv-t.startRecv) / span.Seconds()
	t.start = time.Time{}
	switch t.phase {
	case tuneMeasure:
		t.base, t.baseRate, t.double = h.want, rate, true
		return r.raiseLocked(h, now)
	case tuneRaised:
		proportional := float64(h.want-t.base) / float64(t.base)
		gain := rate/t.baseRate - 1
		if t.baseRate > 0 && gain >= max(tuneMinGain, tuneShare*proportional) {
			t.base, t.baseRate, t.double = h.want, rate, gain >= tuneDouble*proportional
			return r.raiseLocked(h, now)
		}
		t.upNext = false
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
	step := max(2, t.base/2)
	if t.double {
		step = max(2, t.base)
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
