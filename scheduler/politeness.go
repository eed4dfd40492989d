package scheduler

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/bulkget/bulkget/segment"
)

// Host politeness is AIMD, as in TCP congestion control: when refusals
// (429, 503) become a sizeable share of a host's recent answers, the
// connections allowed to it are halved; quiet periods add one back.
//
// A lone refusal does not cut: servers under no load answer the odd 503 or
// 429 too (a flaky backend, a per-request quota), and halving on each would
// leave a long run crawling on one connection. Refusals for load come in
// bursts, because every request above the server's limit is refused. Like
// TCP's one cut per window, refusals of requests sent before the last cut
// do not cut again: they answer the old level, not the new one.
//
// Raises go quickly up to just below the lowest concurrency at which the
// host ever refused (the ceiling), and beyond it only after a long quiet
// time, so a host with a fixed limit sees its refusals stop.
const (
	raiseAfter    = 2 * time.Second  // quiet time before the first raise
	raiseSpacing  = time.Second      // between raises
	probeAfter    = 30 * time.Second // quiet time before trying the refused level again
	outcomeWindow = 20               // recent answers looked at
	minOutcomes   = 10               // answers needed before judging
	overloadShare = 0.5              // share of refusals that means "too many"
)

// overloaded reports whether err is the host saying "too many".
func overloaded(err error) bool {
	var se *segment.StatusError
	return errors.As(err, &se) && (se.Code == http.StatusTooManyRequests || se.Code == http.StatusServiceUnavailable)
}

// outcomes is a ring of a host's recent answers: refused or not.
type outcomes struct {
	ring    [outcomeWindow]bool
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

func (o *outcomes) overloaded() bool {
	return o.n >= minOutcomes && float64(o.refused) >= overloadShare*float64(o.n)
}

// answeredLocked records that a request to h sent at sent got an answer
// (refused or not) while conns requests were in flight to h, counting
// itself; on overload it cuts the host's limit and returns the event.
func (r *run) answeredLocked(h *host, refused bool, conns int, sent, now time.Time, err error) (Event, bool) {
	h.recent.add(refused)
	if !refused {
		return Event{}, false
	}
	h.ceiling = min(h.ceiling, conns)
	if !h.recent.overloaded() || sent.Before(h.lastCut) {
		return Event{}, false
	}
	level := min(h.limit, conns) // the concurrency that was too much
	h.limit = max(1, level/2)
	h.lastCut = now
	h.recent = outcomes{}
	return Event{Kind: HostLimit, Time: now, Name: h.name, Conns: h.limit, Total: -1,
		Err: fmt.Errorf("server refused requests at %d connections (%v); now at most %d", level, err, h.limit)}, true
}

// raiseHostsLocked gives back one connection to hosts that have been quiet.
func (r *run) raiseHostsLocked(now time.Time) []Event {
	var events []Event
	for _, h := range r.hosts {
		if h.limit >= r.opts.MaxPerHost || now.Sub(h.lastCut) < raiseAfter || now.Sub(h.lastRaise) < raiseSpacing {
			continue
		}
		if now.Sub(h.lastCut) >= probeAfter {
			h.ceiling = r.opts.MaxPerHost + 1 // time to find out again
		}
		if h.limit+1 >= h.ceiling {
			continue
		}
		h.limit++
		h.lastRaise = now
		events = append(events, Event{Kind: HostLimit, Time: now, Name: h.name, Conns: h.limit, Total: -1})
	}
	return events
}

// pickHedge is the last resort of a free connection once there is nothing
// left to split: take over the rest of a segment whose connection has gone
// quiet for HedgeAfter, or crawls far below the others, so the run does not
// wait on one bad connection while the rest sit idle. The slow request is
// cancelled as soon as the new one answers (see transfer).
//
// With quietOnly it considers only connections that have gone quiet: those
// are taken over before any healthy segment is split.
func (r *run) pickHedge(now time.Time, quietOnly bool) *seg {
	if r.opts.HedgeAfter < 0 {
		return nil
	}
	type cand struct {
		s     *seg
		rate  float64 // bytes/s of the current attempt
		quiet bool    // nothing received for HedgeAfter
	}
	var cands []cand
	var rates []float64
	nowNS := int64(now.Sub(r.epoch))
	// At the end of the run nothing else can use a free connection, and
	// a silent request may be all that is left: take it over as soon as
	// its silence is clearly abnormal rather than after HedgeAfter.
	quietAfter := r.opts.HedgeAfter
	if r.atTail() {
		quietAfter = min(quietAfter, max(tailQuiet, 8*time.Duration(r.ttfb.Load())))
	}
	for _, f := range r.active {
		if f.state != active || !f.probed || !f.ranged {
			continue
		}
		for _, s := range f.segs {
			// A takeover counts as a failed attempt of the range: one whose
			// attempts are spent is left to the watchdog, which fails it.
			if !s.running || s.hedged || s.cur.Splittable() <= 0 || s.attempts >= r.opts.Retries {
				continue
			}
			age := now.Sub(s.began).Seconds()
			rate := float64(s.got.Load()) / max(age, 1e-3)
			if age >= 1 {
				rates = append(rates, rate)
			}
			if r.hasRoom(f) {
				quiet := time.Duration(nowNS-s.alive.Load()) >= quietAfter
				cands = append(cands, cand{s, rate, quiet})
			}
		}
	}
	if len(cands) == 0 {
		return nil
	}
	slices.Sort(rates)
	median := 0.0
	if len(rates) > 0 {
		median = rates[len(rates)/2]
	}
	var victim *seg
	worst := 0.0
	for _, c := range cands {
		left := float64(c.s.cur.Splittable())
		var eta float64
		switch {
		case c.quiet:
			eta = 1e18 // the worst kind
		case quietOnly:
			continue
		case now.Sub(c.s.began) >= 2*time.Second && c.rate > 0 && c.rate*4 < median && left/c.rate > 2:
			eta = left / c.rate
		default:
			continue
		}
		if eta > worst {
			victim, worst = c.s, eta
		}
	}
	if victim == nil {
		return nil
	}
	from, end, ok := victim.cur.Truncate()
	if !ok {
		return nil
	}
	victim.hedged = true
	f := victim.f
	s := r.newSeg(f, segment.NewCursor(from, from, end))
	s.hedgeOf = victim
	s.attempts = victim.attempts + 1
	if victim.got.Load() >= tailMinSegment {
		s.attempts = 1 // the victim made real progress before it slowed
	}
	f.segs = append(f.segs, s)
	f.all = append(f.all, s)
	return s
}

// restLocked honours a Retry-After from h: the connection that was told to
// wait rests for that long, so the host gets one connection fewer until
// then, and a host that asks every connection to wait gets no requests
// until the first wait is over. The refused range itself may go to another
// connection at once: holding that one range back while the freed
// connection fetched another range from the same host would not lower the
// load on the host at all, and near the end of a run it would leave every
// connection idle behind it.
func (r *run) restLocked(h *host, until time.Time) {
	h.resting = append(h.resting, until)
}

// endRestsLocked gives back the connections whose rest is over and returns
// when the next one ends (zero if none rests).
func (r *run) endRestsLocked(now time.Time) time.Time {
	var next time.Time
	for _, h := range r.hosts {
		h.resting = slices.DeleteFunc(h.resting, func(t time.Time) bool { return !t.After(now) })
		for _, t := range h.resting {
			if next.IsZero() || t.Before(next) {
				next = t
			}
		}
	}
	return next
}
