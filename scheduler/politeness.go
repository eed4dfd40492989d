package scheduler

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/bulkget/bulkget/segment"
)

// Host politeness is AIMD, as in TCP congestion control: a 429 or 503
// halves the connections allowed to that host, and quiet periods add one
// back. Like TCP's one cut per window, refusals of requests sent before
// the last cut do not cut again: they answer the old level, not the new.
const (
	raiseAfter   = 2 * time.Second  // quiet time before the first raise
	raiseSpacing = time.Second      // between raises
	probeAfter   = 30 * time.Second // quiet time before trying the refused level again
)

// overloaded reports whether err is the host saying "too many".
func overloaded(err error) bool {
	var se *segment.StatusError
	return errors.As(err, &se) && (se.Code == http.StatusTooManyRequests || se.Code == http.StatusServiceUnavailable)
}

// cutHostLocked lowers h's limit after a refusal of a request sent at
// sent, and returns the event.
func (r *run) cutHostLocked(h *host, sent, now time.Time, err error) (Event, bool) {
	if sent.Before(h.lastCut) {
		return Event{}, false
	}
	refused := min(h.limit, h.conns+1) // the concurrency that was too much
	h.ceiling = refused
	h.limit = max(1, refused/2)
	h.lastCut = now
	return Event{Kind: HostLimit, Time: now, Name: h.name, Conns: h.limit, Total: -1,
		Err: fmt.Errorf("server refused %d connections (%v); now at most %d", refused, err, h.limit)}, true
}

// raiseHostsLocked gives back one connection to hosts that have been quiet.
func (r *run) raiseHostsLocked(now time.Time) []Event {
	var events []Event
	for _, h := range r.hosts {
		if h.limit >= r.opts.MaxPerHost || now.Sub(h.lastCut) < raiseAfter || now.Sub(h.lastRaise) < raiseSpacing {
			continue
		}
		if h.limit+1 >= h.ceiling && now.Sub(h.lastCut) < probeAfter {
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
func (r *run) pickHedge(now time.Time) *seg {
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
	for _, f := range r.active {
		if f.state != active || !f.probed || !f.ranged {
			continue
		}
		for _, s := range f.segs {
			if !s.running || s.hedged || s.cur.Splittable() <= 0 {
				continue
			}
			age := now.Sub(s.began).Seconds()
			rate := float64(s.got.Load()) / max(age, 1e-3)
			if age >= 1 {
				rates = append(rates, rate)
			}
			if r.hasRoom(f) {
				quiet := time.Duration(nowNS-s.alive.Load()) >= r.opts.HedgeAfter
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
	f.segs = append(f.segs, s)
	f.all = append(f.all, s)
	return s
}
