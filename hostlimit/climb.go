package hostlimit

import (
	"math"
	"time"
)

type phase int

const (
	measure phase = iota // rate at base unknown
	raised               // trying a level above base
	settled              // base is the level; waiting for the next probe
	lowered              // trying a level below base
)

// climb is the state of the adaptive climb.
type climb struct {
	phase    phase
	base     int       // the level whose rate is known
	baseRate float64   // bytes/s at base
	upNext   bool      // settled: the next probe goes up, not down
	start    time.Time // when the window began (marks[0]); zero: none running
	reached  time.Time // when the level was first fully busy, before start
	// seenPause is the host's pause at the last tick.
	seenPause time.Duration
	next      time.Time // settled: when to probe again
	// raisedOK counts the answers, not refusals, while a raise is tried:
	// the slow start's allowance of requests awaiting an answer (Admits).
	raisedOK int
	// marks holds what had been received, and the connections at work, at
	// the window's start and at each tick.
	marks []mark
	// began is when the host first delivered; hist holds the last second
	// of ticks, whatever the window, and histN how many were recorded.
	began time.Time
	hist  []mark
	histN int
	// rebase: the level was raised on the evidence of a paced host, not
	// of a measured gain, so its window measures the base anew.
	rebase bool
	// steep: the last raise gained in proportion, so the host is capped
	// per connection so far and the next raise may be larger.
	steep bool
	// movedSince is when a settled level's rate was first seen far from
	// its base, in a run of ticks that all saw it so (moved).
	movedSince time.Time
}

// mark is the bytes received from a host by a moment, and the connections
// it had then.
type mark struct {
	at    time.Time
	recv  int64
	conns int
}

// firstAdmits is how many of a raise's requests may await an answer
// before the first answer: a quarter of the base (one from a small base),
// or half after a raise that paid in full, the host having just taken
// twice its connections without a refusal.
func (t *climb) firstAdmits() int {
	if t.steep {
		return max(1, t.base/2)
	}
	return max(1, t.base/4)
}

// window is how long a level is measured: many round trips, and two of the
// pauses of a host that sends in bursts, so that each window averages
// whole bursts.
func (c *Controller) window(s Sample) time.Duration {
	return max(c.p.WindowMin, 10*s.RTT, 2*s.Pause)
}

// early is the shortest window that may be closed early: several round
// trips, and ticks enough to compare its halves.
func (c *Controller) early(s Sample) time.Duration {
	return max(c.p.EarlyMin, 3*s.RTT)
}

// tune advances the climb at now.
func (c *Controller) tune(now time.Time, s Sample) Decision {
	t := &c.climb
	if t.hist == nil {
		t.hist = make([]mark, int(time.Second/c.p.Tick)+1)
	}
	t.hist[t.histN%len(t.hist)] = mark{now, s.Recv, min(s.Conns, c.want)}
	t.histN++
	if 2*t.seenPause < s.Pause && s.Paces && (t.phase == measure || t.phase == raised) {
		// The host's pacing was just learnt: the window, if any, started
		// with bursts it did not wait out.
		t.seenPause = s.Pause
		return c.paced(now)
	}
	t.seenPause = s.Pause
	if t.phase == settled {
		if c.moved(now) {
			t.next, t.upNext = now, true // the host changed: find its level again
		}
		if now.Before(t.next) {
			return c.unchanged()
		}
		if t.upNext || t.base <= c.p.Min {
			t.phase = measure
		} else {
			// The lower level is measured once it is in effect: requests
			// that would hold it off for long are ended, as for a raise
			// given back.
			d := c.setLevel(max(c.p.Min, t.base-max(1, t.base/4)), lowered, now)
			return c.shed(d, s.Conns, c.p.ShedUseless)
		}
	}
	// Only a window in which the allowed connections had work counts: it
	// starts with all of them busy and none beyond them (a lowered level
	// takes effect as requests end), and the moments between one range
	// and the next may not add up to more than a tenth of it. A request
	// awaiting its answer counts as busy: on a host of small files most
	// are.
	if c.level < c.want || t.start.IsZero() && s.Conns != c.want {
		t.start, t.reached = time.Time{}, time.Time{}
		return c.unchanged()
	}
	if t.began.IsZero() {
		if s.Recv == 0 {
			return c.unchanged() // the first window starts with the first answers
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
		if s.Paces && now.Sub(t.reached) < s.Pause/2 {
			return c.unchanged()
		}
		t.start, t.reached = now, time.Time{}
		t.marks = append(t.marks[:0], mark{now, s.Recv, s.Conns})
		return c.unchanged()
	}
	t.marks = append(t.marks, mark{now, s.Recv, s.Conns})
	span := now.Sub(t.start)
	// A window is closed when it has lasted long enough to average out
	// any pacing, or sooner when its rate held steady and says clearly
	// what to do.
	full := span >= c.window(s)
	if !full && (span < c.early(s) || !t.steady(c.p)) {
		return c.unchanged()
	}
	if t.busyShare(c.want) < 0.9 {
		if full {
			t.start = time.Time{}
		}
		return c.unchanged() // short of work: says nothing about the level
	}
	rate := rateOf(t.marks[0], t.marks[len(t.marks)-1])
	if t.phase == raised && t.rebase {
		t.phase = measure
	}
	if !full && t.phase == raised && (t.baseRate <= 0 || now.Sub(t.began) < c.p.PaceShown &&
		rate/t.baseRate-1 < c.p.Full*float64(c.want-t.base)/float64(t.base)) {
		// Early, a raise that did not pay in full waits until the host
		// has had time to show its pacing: first bursts make any level
		// look full. (New connections still ramping up over a long path
		// would make a raise look worse early; steady rules them out.)
		return c.unchanged()
	}
	t.start = time.Time{}
	switch t.phase {
	case measure:
		t.base, t.baseRate = c.want, rate
		return c.raise(now)
	case raised:
		proportional := float64(c.want-t.base) / float64(t.base)
		gain := rate/t.baseRate - 1
		if t.baseRate > 0 && gain >= c.p.Full*proportional {
			t.base, t.baseRate = c.want, rate
			t.steep = true
			return c.raise(now)
		}
		t.upNext, t.steep = false, false
		// The connections beyond the new level go now rather than when
		// their ranges end, which on a large file may be the end of the
		// run. Ending a request wastes what it has in flight and puts its
		// rest behind the others, so only those that would run on for a
		// while are ended: sooner when they gave nothing at all, later at
		// a knee, where they still deliver and the host is merely full.
		minLeft := c.p.ShedUseless
		if t.baseRate > 0 && gain >= c.p.MinGain {
			// Some of the new connections paid: the host's limit lies
			// between. Where the gain per connection fell from full to
			// nothing, the knee is at the share of them that paid.
			knee := t.base + int(math.Ceil(float64(c.want-t.base)*gain/proportional))
			if knee > t.base {
				minLeft = c.p.ShedAtKnee
			}
			t.base, t.baseRate = knee, t.baseRate*(1+gain*float64(knee-t.base)/float64(c.want-t.base))
		}
		return c.shed(c.setLevel(t.base, settled, now), s.Conns, minLeft)
	case lowered:
		t.upNext = true
		if rate >= c.p.Keep*t.baseRate {
			t.base, t.baseRate = c.want, rate
			t.phase, t.next = settled, now.Add(c.p.Reprobe)
			return c.unchanged()
		}
		return c.setLevel(t.base, settled, now)
	}
	return c.unchanged()
}

// moved reports whether a settled level's rate has stayed a factor of
// Params.Moved away from the base it settled at for Params.MovedFor, with
// every allowed connection at work: the host changed, and waiting for the
// next Reprobe would follow it late.
func (c *Controller) moved(now time.Time) bool {
	t := &c.climb
	_, mean, conns := t.lastSecond(c.p)
	far := t.baseRate > 0 && conns >= float64(c.want)-0.5 &&
		(mean*c.p.Moved < t.baseRate || mean > c.p.Moved*t.baseRate)
	switch {
	case !far:
		t.movedSince = time.Time{}
	case t.movedSince.IsZero():
		t.movedSince = now
	case now.Sub(t.movedSince) >= c.p.MovedFor:
		t.movedSince = time.Time{}
		return true
	}
	return false
}

// paced hears, while the level is measured, that the host sends in bursts
// with silences between them. Silences on a link that could carry the
// bursts at their peak mean each connection is held back by the host, not
// by the path: the level is raised at once by the ratio of the last
// second's peak to its mean rate (at most PacedMaxJump times), and
// measured anew there. Without that evidence the level is measured again:
// a base measured before the pacing showed may have been one of the first
// bursts.
func (c *Controller) paced(now time.Time) Decision {
	t := &c.climb
	t.start = time.Time{}
	if t.phase == raised {
		t.rebase = true
	}
	peak, mean, conns := t.lastSecond(c.p)
	if mean <= 0 || peak < c.p.PacedJump*mean {
		return c.unchanged()
	}
	level := min(c.p.PacedMaxJump*c.want, int(math.Ceil(conns*peak/mean)))
	level = min(level, c.p.Max, c.ceiling-1)
	if level <= c.want {
		return c.unchanged()
	}
	t.base, t.baseRate = c.want, 0 // the level to go back to if refused
	d := c.setLevel(level, raised, now)
	t.rebase = true
	return d
}

// raise tries the next level above the base, or settles at the cap.
func (c *Controller) raise(now time.Time) Decision {
	t := &c.climb
	if now.Sub(c.lastCut) >= c.p.ProbeAfter {
		c.ceiling = c.p.Max + 1 // time to find out again
	}
	step := max(2, t.base) // double
	if t.steep {
		step = 3 * t.base // quadruple: each connection added so far paid in full
	}
	if t.base >= c.p.Limited {
		step = min(step, t.base/2)
	}
	next := min(t.base+step, c.p.Max, c.ceiling-1)
	if next <= t.base {
		t.upNext = false
		t.phase, t.next = settled, now.Add(c.p.Reprobe)
		return c.unchanged()
	}
	return c.setLevel(next, raised, now)
}

// steady reports whether the window's rate held: its two halves agree and
// no span of DipSpan fell far below the mean, as neither a host sending in
// bursts nor connections still ramping up would show.
func (t *climb) steady(p Params) bool {
	n := len(t.marks) - 1
	if n < 4 {
		return false
	}
	first, last, mid := t.marks[0], t.marks[n], t.marks[n/2]
	mean := rateOf(first, last)
	a, b := rateOf(first, mid), rateOf(mid, last)
	if mean <= 0 || math.Abs(a-b) > p.SteadyDiff*max(a, b) {
		return false
	}
	// A single short tick may fall between two of a paced sender's writes.
	from := first
	for i, m := range t.marks[1:] {
		if m.at.Sub(from.at) < p.DipSpan && i+1 < n {
			continue
		}
		if rateOf(from, m) < p.SteadyDip*mean {
			return false
		}
		from = m
	}
	return true
}

// busyShare is the share of the window's ticks × want during which want
// connections were at work.
func (t *climb) busyShare(want int) float64 {
	busy := 0
	for _, m := range t.marks[1:] {
		busy += min(m.conns, want)
	}
	return float64(busy) / float64((len(t.marks)-1)*want)
}

// lastSecond gives, over the ticks of the last second, the peak rate over
// any span of DipSpan, the mean rate and the mean number of connections.
func (t *climb) lastSecond(p Params) (peak, mean, conns float64) {
	n := min(t.histN, len(t.hist))
	if n < 3 {
		return 0, 0, 0
	}
	at := func(i int) mark { return t.hist[(t.histN-n+i)%len(t.hist)] }
	from := 0
	for i := 1; i < n; i++ {
		conns += float64(at(i).conns)
		for from < i-1 && at(i).at.Sub(at(from+1).at) >= p.DipSpan {
			from++
		}
		peak = max(peak, rateOf(at(from), at(i)))
	}
	return peak, rateOf(at(0), at(n-1)), conns / float64(n-1)
}
