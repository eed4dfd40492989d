package origin

import (
	"math/rand/v2"
	"sync"
	"time"
)

// Chaos injects faults at random, each with its own probability per
// request, from a seeded generator so that a failing run can be replayed
// (with the same request order). At most one fault applies to a request;
// the probabilities are tried in the order of the fields.
type Chaos struct {
	Seed        uint64
	Reset       float64 // reset the connection somewhere in the body
	ServerError float64 // 500, 502 or 503
	TooMany     float64 // 429 with Retry-After: 1
	Stall       float64 // stop sending for StallFor somewhere in the body
	StallFor    time.Duration
	Short       float64 // close the body early
	WrongRange  float64 // shift the Content-Range by a byte
	IgnoreRange float64 // answer 200 with the whole file
	// Only, if set, limits the chaos to the requests it returns true for.
	Only func(Request) bool
}

// Hook returns a fault hook for Options.Fault. It is safe for concurrent
// use.
func (c Chaos) Hook() func(Request) Fault {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(c.Seed, c.Seed^0x5eed))
	return func(r Request) Fault {
		if c.Only != nil && !c.Only(r) {
			return Fault{}
		}
		mu.Lock()
		x := rng.Float64()
		at := rng.Int64N(256<<10) + 1
		pick := rng.IntN(3)
		mu.Unlock()
		for _, p := range []struct {
			p float64
			f Fault
		}{
			{c.Reset, Fault{ResetAfter: at}},
			{c.ServerError, Fault{Status: []int{500, 502, 503}[pick]}},
			{c.TooMany, Fault{Status: 429, RetryAfter: "1"}},
			{c.Stall, Fault{StallAfter: at, StallFor: c.StallFor}},
			{c.Short, Fault{ShortBy: at}},
			{c.WrongRange, Fault{WrongRange: r.Ranged}},
			{c.IgnoreRange, Fault{IgnoreRange: r.Ranged}},
		} {
			if x < p.p {
				return p.f
			}
			x -= p.p
		}
		return Fault{}
	}
}
