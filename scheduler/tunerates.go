package scheduler

import (
	"math"
	"time"
)

// What the tuner reads from a host's ticks (tune.go): whether a window's
// rate held steady enough to close it early, and the last second's peak
// and mean, which show a host that paces its connections in bursts.

// mark is the bytes received from a host by a moment, and the
// connections it had then.
type mark struct {
	at    time.Time
	recv  int64
	conns int
}

// tuneHist is how many ticks the tuner remembers: a second's worth.
const tuneHist = int(time.Second/tuneTick) + 1

// The shortest window closed early (tuneEarly); the most the rates of its
// halves may differ, and the least any span of tuneDipSpan may get of the
// mean, for it to count as steady.
const (
	tuneEarlyMin   = 300 * time.Millisecond
	tuneSteadyDiff = 0.1
	tuneSteadyDip  = 0.5
	tuneDipSpan    = 100 * time.Millisecond
)

// tunePaceShown is how long a host must have been delivering before a
// raise that did not pay in full is judged early: hosts that pace their
// connections do it per second, and their first bursts look full.
const tunePaceShown = 1500 * time.Millisecond

// tuneEarly is the shortest window that may be closed early: several round
// trips, and ticks enough to compare its halves.
func (r *run) tuneEarly() time.Duration {
	return max(tuneEarlyMin, 3*time.Duration(r.ttfb.Load()))
}

// steady reports whether the window's rate held: its two halves agree and
// no tick fell far below the mean, as neither a host sending in bursts
// nor connections still ramping up would show.
func (t *tuner) steady() bool {
	n := len(t.marks) - 1
	if n < 4 {
		return false
	}
	first, last, mid := t.marks[0], t.marks[n], t.marks[n/2]
	mean := rateOf(first, last)
	a, b := rateOf(first, mid), rateOf(mid, last)
	if mean <= 0 || math.Abs(a-b) > tuneSteadyDiff*max(a, b) {
		return false
	}
	// Dips are looked for over spans of tuneDipSpan: a single short tick
	// may fall between two of a paced sender's writes.
	from := first
	for i, m := range t.marks[1:] {
		if m.at.Sub(from.at) < tuneDipSpan && i+1 < n {
			continue
		}
		if rateOf(from, m) < tuneSteadyDip*mean {
			return false
		}
		from = m
	}
	return true
}

// busyShare is the share of the window's ticks × want during which want
// connections were at work.
func (t *tuner) busyShare(want int) float64 {
	busy := 0
	for _, m := range t.marks[1:] {
		busy += min(m.conns, want)
	}
	return float64(busy) / float64((len(t.marks)-1)*want)
}

// lastSecond gives, over the ticks of the last second, the peak rate
// over any span of tuneDipSpan, the mean rate and the mean number of
// connections.
func (t *tuner) lastSecond() (peak, mean, conns float64) {
	n := min(t.histN, tuneHist)
	if n < 3 {
		return 0, 0, 0
	}
	at := func(i int) mark { return t.hist[(t.histN-n+i)%tuneHist] }
	from := 0
	for i := 1; i < n; i++ {
		conns += float64(at(i).conns)
		for from < i-1 && at(i).at.Sub(at(from+1).at) >= tuneDipSpan {
			from++
		}
		peak = max(peak, rateOf(at(from), at(i)))
	}
	return peak, rateOf(at(0), at(n-1)), conns / float64(n-1)
}

// rateOf is the rate in bytes/s between two marks.
func rateOf(a, b mark) float64 {
	d := b.at.Sub(a.at).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(b.recv-a.recv) / d
}
