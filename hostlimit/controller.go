package hostlimit

import "time"

// Sample is what the caller saw of the host at one tick.
type Sample struct {
	// Recv is the bytes received from the host so far.
	Recv int64
	// Conns is its requests at work, awaiting an answer or not.
	Conns int
	// Pause is the longest silence after which one of its requests went
	// on delivering (forgotten slowly), and Paces says it is the host's
	// pacing rather than the ordinary gaps of traffic.
	Pause time.Duration
	Paces bool
	// RTT is the time to a first byte, the round trip a request costs.
	RTT time.Duration
}

// Reason says why a level changed.
type Reason int

const (
	// Step is an ordinary step: a raise of the climb, or a connection
	// given back after a cut.
	Step Reason = iota
	// Overload: refusals cut the level; Decision.From were too many.
	Overload
	// NoGain: a raise to Decision.From gave no more than Decision.Want.
	NoGain
)

// Decision is what a Controller wants done.
type Decision struct {
	// Changed says Level changed; Level is the connections allowed now.
	Changed bool
	Level   int
	Reason  Reason
	// From is the level refused (Overload) or given back (NoGain), and
	// Want the level the climb settled at (NoGain), which a refusal's
	// cut may still hold Level below.
	From, Want int
	// Shed asks the caller to end that many running requests now, only
	// those that would run on for ShedMinLeft or more, so that a lowered
	// level takes effect before their ranges end.
	Shed        int
	ShedMinLeft time.Duration
}

// Controller holds one host's level; see the package doc.
type Controller struct {
	p Params
	// level is the connections allowed now; want the level the host may
	// recover to after a cut (Max, or what the climb found); ceiling the
	// lowest level ever refused.
	level, want, ceiling int
	lastCut, lastRaise   time.Time
	recent               outcomes
	climb                climb
}

// New returns a Controller for p, at Max, or at Start when adaptive.
func New(p Params) *Controller {
	c := &Controller{p: p, level: p.Max, want: p.Max, ceiling: p.Max + 1}
	c.recent.ring = make([]bool, p.Outcomes)
	if p.Adaptive {
		c.level = min(p.Start, p.Max)
		c.want = c.level
	}
	return c
}

// Level is the connections the host is allowed now.
func (c *Controller) Level() int { return c.level }

// Admits says whether one more request may be sent while conns are at
// work and awaiting of them have no answer yet. A raise is tried by slow
// start: a few requests awaiting an answer at first, and each answer
// admits two more, so the new connections triple every round trip and a
// host with a fixed limit refuses a few requests, not the whole raise.
func (c *Controller) Admits(conns, awaiting int) bool {
	t := &c.climb
	return t.phase != raised || conns < t.base || awaiting < t.firstAdmits()+2*t.raisedOK
}

// Answered hears an answer that was not a refusal, and says whether it
// admits more requests (Admits).
func (c *Controller) Answered() bool {
	c.recent.add(false)
	if c.climb.phase == raised {
		c.climb.raisedOK++
		return true
	}
	return false
}

// Refused hears that a request sent at sent was refused for load at now,
// while conns requests were at work, counting itself.
//
// A raise being tried is what the host could not take: it is given back
// at once and its level becomes the ceiling. Otherwise the level is cut
// in half once refusals are a sizeable share of the recent answers; like
// TCP's one cut per window, refusals of requests sent before the last cut
// answer the old level and do not cut again.
func (c *Controller) Refused(now, sent time.Time, conns int) Decision {
	if c.p.Adaptive && c.climb.phase == raised {
		c.ceiling = min(c.ceiling, c.want)
		c.lastCut = now
		c.climb.upNext = false
		from := c.want
		d := c.setLevel(c.climb.base, settled, now)
		d.Reason, d.From, d.Want = Overload, from, 0
		c.recent.add(true)
		c.ceiling = min(c.ceiling, conns)
		return d
	}
	c.recent.add(true)
	c.ceiling = min(c.ceiling, conns)
	if !c.recent.overloaded(c.p) || sent.Before(c.lastCut) {
		return c.unchanged()
	}
	from := min(c.level, conns)
	c.level = max(1, from/2)
	c.lastCut = now
	c.recent.clear()
	if c.p.Adaptive {
		// The climb restarts from the cut, upwards, once it has rested.
		c.want = c.level
		c.climb = climb{phase: settled, base: c.level, upNext: true, next: now.Add(c.p.Reprobe)}
	}
	return Decision{Changed: true, Level: c.level, Reason: Overload, From: from}
}

// Tick hears what the host delivered by now, every Params.Tick.
func (c *Controller) Tick(now time.Time, s Sample) Decision {
	back := c.recover(now)
	if !c.p.Adaptive {
		return back
	}
	d := c.tune(now, s)
	if back.Changed && !d.Changed {
		d.Changed, d.Level = true, c.level
	}
	return d
}

// recover gives back one connection a second after a cut, up to want and
// below the ceiling, which is forgotten after ProbeAfter.
func (c *Controller) recover(now time.Time) Decision {
	if c.level >= c.want || now.Sub(c.lastCut) < c.p.RaiseAfter || now.Sub(c.lastRaise) < c.p.RaiseSpacing {
		return c.unchanged()
	}
	if now.Sub(c.lastCut) >= c.p.ProbeAfter {
		c.ceiling = c.p.Max + 1
	}
	if c.level+1 >= c.ceiling {
		return c.unchanged()
	}
	c.level++
	c.lastRaise = now
	return Decision{Changed: true, Level: c.level}
}

func (c *Controller) unchanged() Decision { return Decision{Level: c.level} }

// setLevel makes level the climb's, entering phase.
func (c *Controller) setLevel(level int, phase phase, now time.Time) Decision {
	t := &c.climb
	t.phase, t.start, t.reached, t.raisedOK, t.rebase = phase, time.Time{}, time.Time{}, 0, false
	if phase == settled {
		t.next = now.Add(c.p.Reprobe)
		t.steep = false
	}
	if level == c.want {
		return c.unchanged()
	}
	if c.level >= c.want {
		c.level = min(level, max(1, c.ceiling-1))
	} else {
		c.level = min(c.level, level) // a refusal's cut stands
	}
	d := Decision{Changed: true, Level: c.level}
	if level < c.want && phase == settled {
		d.Reason, d.From, d.Want = NoGain, c.want, level
	}
	c.want = level
	return d
}

// shed asks for the requests beyond the level to end, those that would run
// on for minLeft or more.
func (c *Controller) shed(d Decision, conns int, minLeft time.Duration) Decision {
	if conns > c.level {
		d.Shed, d.ShedMinLeft = conns-c.level, minLeft
	}
	return d
}

// outcomes is a ring of a host's recent answers: refused or not.
type outcomes struct {
	ring    []bool
	n, next int
	refused int
}

func (o *outcomes) add(refused bool) {
	if o.n == len(o.ring) {
		if o.ring[o.next] {
			o.refused--
		}
	} else {
		o.n++
	}
	o.ring[o.next] = refused
	if refused {
		o.refused++
	}
	o.next = (o.next + 1) % len(o.ring)
}

func (o *outcomes) clear() {
	clear(o.ring)
	o.n, o.next, o.refused = 0, 0, 0
}

func (o *outcomes) overloaded(p Params) bool {
	return o.n >= p.MinOutcomes && float64(o.refused) >= p.OverloadShare*float64(o.n)
}

// rateOf is the rate in bytes/s between two marks.
func rateOf(a, b mark) float64 {
	d := b.at.Sub(a.at).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(b.recv-a.recv) / d
}
