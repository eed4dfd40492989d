package pick

import (
	"slices"
	"time"
)

// Params are the policy's settings; DefaultParams gives the fixed ones.
type Params struct {
	// MinSegment is the smallest piece an ordinary split leaves on
	// either side (--min-segment).
	MinSegment int64
	// HedgeAfter is how long a request may be silent before it is taken
	// over (--hedge-after); negative: never.
	HedgeAfter time.Duration
	// Retries is the attempts a range may fail (--retries): a takeover
	// counts as one, and a range with none left is not taken over.
	Retries int
	// TailMinSegment is the smallest piece the end of a run still
	// splits off: a request costs little beside one that crawls.
	TailMinSegment int64
	// TailQuiet is how long a request may stay silent at the tail
	// before it is split or taken over, and at least 8 times the run's
	// time to first byte.
	TailQuiet time.Duration
	// Patience, at least PatienceMin, times PatienceRTTs round trips is
	// what a tail split must save to be worth a new request.
	PatienceRTTs int
	PatienceMin  time.Duration
	// RatedAfter is the least age of a request whose rate joins the
	// run's median for the slow hedge; TailRatedAfter the same for the
	// tail's estimate of a crawl.
	RatedAfter     time.Duration
	TailRatedAfter time.Duration
	// A request is slow when, SlowAge or older, its rate is below the
	// median over SlowShare and its rest would take it more than SlowLeft.
	SlowAge   time.Duration
	SlowShare float64
	SlowLeft  time.Duration
}

// DefaultParams are the policy's settings for the given user settings.
func DefaultParams(minSegment int64, hedgeAfter time.Duration, retries int) Params {
	return Params{
		MinSegment:     minSegment,
		HedgeAfter:     hedgeAfter,
		Retries:        retries,
		TailMinSegment: 64 << 10,
		TailQuiet:      200 * time.Millisecond,
		PatienceRTTs:   4,
		PatienceMin:    25 * time.Millisecond,
		RatedAfter:     time.Second,
		TailRatedAfter: 200 * time.Millisecond,
		SlowAge:        2 * time.Second,
		SlowShare:      4,
		SlowLeft:       2 * time.Second,
	}
}

// Edge is what a paced host's bursts allow for a split with a given
// smallest piece: Paced says the host paces the request and its bursts
// are known; OK that one of them ends where a split may go.
type Edge struct{ Paced, OK bool }

// Request is one range of a file in progress, running or waiting.
type Request struct {
	// Host groups the requests of one host (any comparable key).
	Host int
	// Eligible: its file takes new requests and is split in ranges;
	// Room: the file may have one more connection now.
	Eligible, Room bool
	Running        bool
	// Hedged: it has been taken over or cut already.
	Hedged bool
	// Attempts is how many times in a row the range failed.
	Attempts int
	// Splittable is the bytes of its rest that may go to another request.
	Splittable int64
	// Running requests: the age of the current attempt, the bytes it
	// received, and how long since its last byte.
	Age    time.Duration
	Got    int64
	Silent time.Duration
	// Wait is how long a waiting range still backs off.
	Wait time.Duration
	// Pause is its host's learnt pause between bursts (0: none), and
	// HasSource says it has had a source (a waiting range may not).
	Pause     time.Duration
	HasSource bool
	// Speed is what a connection to its source delivers, to compare
	// ranges across mirrors; 1 when unknown or not mirrored.
	Speed float64
	// Steal and Tail are what its host's bursts allow for a split of
	// MinSegment and of TailMinSegment.
	Steal, Tail Edge
}

// Rate is the request's one rate estimate, bytes/s: what its current
// attempt received over its age.
func (r Request) Rate() float64 {
	return float64(r.Got) / max(r.Age.Seconds(), 1e-3)
}

// Snapshot is the run as the policy sees it.
type Snapshot struct {
	Requests []Request
	// AtTail: no file waits to start, so a free connection can only
	// help the ranges in progress.
	AtTail bool
	// TTFB is the run's time to first byte.
	TTFB time.Duration
}

// Kind is what to do with a Choice's victim.
type Kind int

const (
	// Hedge: take over the victim's whole rest; the victim's request
	// ends once the new one answers.
	Hedge Kind = iota
	// Split: split the victim's rest, Min bytes at least on either side.
	Split
)

// Choice is one thing a free connection may do.
type Choice struct {
	Kind   Kind
	Victim int // index in Snapshot.Requests
	Min    int64
}

// Choose returns what a free connection may do, best first; the caller
// applies the first it can.
func Choose(s Snapshot, p Params) []Choice {
	var out []Choice
	if v := HedgeVictim(s, p, true); v >= 0 {
		out = append(out, Choice{Hedge, v, 0})
	}
	if v := StealVictim(s, p); v >= 0 {
		out = append(out, Choice{Split, v, p.MinSegment})
	} else if v := TailVictim(s, p); v >= 0 {
		out = append(out, Choice{Split, v, p.TailMinSegment})
	}
	if v := HedgeVictim(s, p, false); v >= 0 && !slices.Contains(out, Choice{Hedge, v, 0}) {
		out = append(out, Choice{Hedge, v, 0})
	}
	return out
}

// StealVictim is the range with the most time left at its source's speed
// whose rest splits into two of MinSegment, or -1. A range waiting out its
// backoff is split too: a server with sporadic faults must not leave
// connections idle behind one unlucky range.
func StealVictim(s Snapshot, p Params) int {
	victim, longest := -1, 0.0
	for i, r := range s.Requests {
		if !r.Eligible || !r.Room || r.Splittable < 2*p.MinSegment {
			continue
		}
		if r.Steal.Paced && !r.Steal.OK {
			continue // its next burst brings the whole rest
		}
		if eta := float64(r.Splittable) / r.Speed; eta > longest {
			victim, longest = i, eta
		}
	}
	return victim
}

// TailVictim handles the end of the run, when no file waits and no range
// has 2 × MinSegment left: the connections that are done would idle while
// the last ranges crawl home at one connection's speed each. It returns
// the range that will take longest if that time is well above the cost of
// a new request, or -1. A range waiting out a backoff and a request that
// has received nothing for longer than its host's pacing explains are the
// longest of all.
func TailVictim(s Snapshot, p Params) int {
	if !s.AtTail {
		return -1
	}
	patience := time.Duration(p.PatienceRTTs) * max(s.TTFB, p.PatienceMin)
	median := medianRate(s.Requests, p.TailRatedAfter, func(r Request) bool { return r.Got > 0 })
	crawl := func(rest int64) time.Duration { // at a typical connection's speed
		if median <= 0 {
			return 0
		}
		return time.Duration(float64(rest) / median * float64(time.Second))
	}
	const stuck = time.Duration(1 << 62)
	victim, longest := -1, time.Duration(0)
	for i, r := range s.Requests {
		if !r.Eligible || !r.Room || r.Splittable < 2*p.TailMinSegment {
			continue
		}
		var left time.Duration
		switch {
		case !r.Running:
			left = r.Wait + crawl(r.Splittable)
		case r.Got == 0 && r.Age >= max(p.TailQuiet, 2*patience, 2*r.Pause):
			// Nothing yet, for longer than the host's own pacing
			// explains: a paced connection's next request may wait out
			// the rest of its pause for its first byte.
			left = stuck
		case r.Age < p.TailRatedAfter || r.Got == 0:
			continue
		default:
			left = time.Duration(float64(r.Splittable) / r.Rate() * float64(time.Second))
		}
		if r.Tail.Paced && !r.Tail.OK {
			continue // its next burst brings the whole rest
		} else if !r.Tail.Paced && r.HasSource && left < 2*r.Pause {
			// A host that sends in bursts not yet measured delivers such
			// a rest in a burst or two; a split would end its request
			// mid-burst and throw away what the server had already sent.
			continue
		}
		if left > longest {
			victim, longest = i, left
		}
	}
	if victim < 0 || longest < patience {
		return -1
	}
	return victim
}

// HedgeVictim is the request to take over, or -1: one gone quiet, the
// worst kind, or unless quietOnly one crawling far below the run's median
// rate with seconds left.
//
// A silence a host's requests share is the host's (pacing not yet learnt,
// or trouble a new request would meet too): every request of the host is
// silent, or at least two and half of those old enough to have fallen
// silent are, while younger ones get their first bursts. A host's lone
// request may be stuck on its own.
func HedgeVictim(s Snapshot, p Params, quietOnly bool) int {
	if p.HedgeAfter < 0 {
		return -1
	}
	quietAfter := p.HedgeAfter
	if s.AtTail {
		// Nothing else can use a free connection, and a silent request
		// may be all that is left: its silence counts as soon as it is
		// clearly abnormal.
		quietAfter = min(quietAfter, max(p.TailQuiet, 8*s.TTFB))
	}
	silence := func(r Request) time.Duration { return max(quietAfter, 2*r.Pause) }
	type activity struct {
		running     int
		latest      time.Duration // the shortest silence of its requests
		old, silent int           // requests older than their silence; of them, silent
	}
	hosts := map[int]*activity{}
	for _, r := range s.Requests {
		if !r.Running {
			continue
		}
		a := hosts[r.Host]
		if a == nil {
			a = &activity{latest: r.Silent}
			hosts[r.Host] = a
		}
		a.running++
		a.latest = min(a.latest, r.Silent)
		if r.Age >= silence(r) {
			a.old++
			if r.Silent >= silence(r) {
				a.silent++
			}
		}
	}
	// A takeover counts as a failed attempt of the range: one whose
	// attempts are spent is left to the watchdog, which fails it.
	hedgeable := func(r Request) bool {
		return r.Eligible && r.Running && !r.Hedged && r.Splittable > 0 && r.Attempts < p.Retries
	}
	median := medianRate(s.Requests, p.RatedAfter, hedgeable)
	victim, worst := -1, 0.0
	for i, r := range s.Requests {
		if !hedgeable(r) || !r.Room {
			continue
		}
		quiet := r.Silent >= silence(r)
		if a := hosts[r.Host]; quiet && a.running > 1 && (a.latest >= quietAfter || a.silent >= 2 && 2*a.silent >= a.old) {
			quiet = false
		}
		rate := r.Rate()
		var eta float64
		switch {
		case quiet:
			eta = 1e18
		case quietOnly:
			continue
		case r.Age >= p.SlowAge && rate > 0 && rate*p.SlowShare < median && float64(r.Splittable)/rate > p.SlowLeft.Seconds():
			eta = float64(r.Splittable) / rate
		default:
			continue
		}
		if eta > worst {
			victim, worst = i, eta
		}
	}
	return victim
}

// medianRate is the median Rate of the running requests of age minAge or
// more that also pass keep; 0 if none.
func medianRate(reqs []Request, minAge time.Duration, keep func(Request) bool) float64 {
	var rates []float64
	for _, r := range reqs {
		if r.Running && r.Age >= minAge && keep(r) {
			rates = append(rates, r.Rate())
		}
	}
	if len(rates) == 0 {
		return 0
	}
	slices.Sort(rates)
	return rates[len(rates)/2]
}
