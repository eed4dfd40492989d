package scheduler

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sync/atomic"
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

type host struct {
	name    string
	conns   int
	pending []*file // in list order; head is next
	// AIMD politeness (see the top of this file): limit is the connections
	// currently allowed, ceiling the lowest concurrency ever refused.
	limit   int
	ceiling int
	// want is the level the host may recover to after a cut: MaxPerHost,
	// or with Options.Adaptive what its tuner found (tune.go).
	want int
	tune tuner
	// recv counts the bytes received from the host, for the tuner.
	recv atomic.Int64
	// awaiting counts its requests sent and not yet answered (tune.go).
	awaiting int
	// written counts the bytes from the host written to disk, for the
	// summary.
	written atomic.Int64
	// rate is what the host delivers in all, bytes/s, a moving average
	// over the watchdog's ticks (0: not measured yet), for choosing among
	// a file's sources; rateRecv and rateAt are recv and the time (ns
	// since the run's start) at the last tick.
	rate     float64
	rateRecv int64
	rateAt   int64
	// pause is the longest silence (ns) after which one of the host's
	// requests went on delivering, decaying with time: a host that sends
	// in bursts pauses between them, and a hedge must not take such a
	// pause for a stall. Pauses of pauseCap or more are stalls, not pacing.
	pause    atomic.Int64
	pauseCap int64
	// burst is the longest burst one of its connections received
	// (bursts.go).
	burst     atomic.Int64
	lastCut   time.Time
	lastRaise time.Time
	recent    outcomes
	lastOK    time.Time // last answer that was not a refusal
	// hedges counts its requests taken over by a hedge, for Progress.
	hedges int
	// answers counts the answers from h with data, redirected those that
	// came from another host; told holds the notices given.
	answers, redirected int
	told                map[notice]bool
	// resting holds, for each refusal that came with a Retry-After, when
	// that wait ends: until then the host has one connection fewer (see
	// restLocked).
	resting []time.Time
}

// newHost starts a host at its full share, or with Options.Adaptive at a
// few connections that its tuner then raises.
func (r *run) newHost(name string) *host {
	h := &host{name: name, limit: r.opts.MaxPerHost, ceiling: r.opts.MaxPerHost + 1, want: r.opts.MaxPerHost,
		pauseCap: int64(r.opts.StallTimeout / 2)}
	if r.opts.Adaptive {
		h.limit = min(tuneStart, r.opts.MaxPerHost, r.opts.Connections)
		h.want = h.limit
	}
	return h
}

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
	if r.opts.Adaptive {
		// The climb restarts from the cut, upwards, once it has rested.
		h.want = h.limit
		h.tune = tuner{phase: tuneSettled, base: h.limit, upNext: true, next: now.Add(tuneReprobe)}
	}
	return Event{Kind: HostLimit, Time: now, Name: h.name, Conns: h.limit, Total: -1,
		Err: fmt.Errorf("server refused requests at %d connections (%v); now at most %d", level, err, h.limit)}, true
}

// raiseHostsLocked gives back one connection to hosts that have been quiet.
func (r *run) raiseHostsLocked(now time.Time) []Event {
	var events []Event
	for _, h := range r.hosts {
		if h.limit >= h.want || now.Sub(h.lastCut) < raiseAfter || now.Sub(h.lastRaise) < raiseSpacing {
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

// room is how many more connections h may have now, less those in use:
// no more than its limit, and no more than its share of the budget less
// those resting; call with mu held.
//
// The rests come off the budget, not off the limit: the refusals that
// rested connections have usually cut the limit too, and counting them
// twice would leave a host with no connection at all until the rests end.
// A host that tells every connection to wait still hears nothing until
// the first wait is over.
func (r *run) room(h *host) int {
	budget := min(r.opts.MaxPerHost, r.opts.Connections)
	n := min(h.limit, budget-len(h.resting)) - h.conns
	if n > 0 && h.tune.phase == tuneRaised && h.conns >= h.tune.base && h.awaiting >= h.tune.firstAdmits()+2*h.tune.raisedOK {
		// A raise is tried by slow start: a few requests awaiting an
		// answer at first, and each answer admits two more, so the new
		// connections triple every round trip and a host with a fixed
		// limit refuses a few requests, not the whole raise.
		return 0
	}
	return n
}

// firstAdmits is how many of a raise's requests may await an answer
// before the first answer: a quarter of the base (one from a small base),
// or half after a raise that paid in full, the host having just taken
// twice its connections without a refusal.
func (t *tuner) firstAdmits() int {
	if t.steep {
		return max(1, t.base/2)
	}
	return max(1, t.base/4)
}

// answered records an answer from h that was not a refusal.
func (r *run) answered(s *seg, resp *segment.Response) {
	h := s.src.host
	r.mu.Lock()
	if s.awaiting {
		s.awaiting = false
		h.awaiting--
		if h.tune.phase == tuneRaised {
			h.tune.raisedOK++
			r.notify() // the slow start admits more (room)
		}
	}
	h.recent.add(false)
	h.lastOK = time.Now()
	var e Event
	var tell bool
	if resp != nil {
		h.answers++
		if resp.RedirectedTo != "" {
			h.redirected++
		}
		if h.answers == redirectNotice && h.redirected == h.answers {
			e, tell = r.noticeLocked(h, noticeRedirects, fmt.Sprintf(
				"redirects every request (to %s): each costs a round trip more; listing the final URLs saves it", resp.RedirectedTo))
		}
	}
	r.mu.Unlock()
	if tell {
		r.rep.Report(e)
	}
}

// notice is something a host does that the user should hear of once.
type notice int

const (
	noticeNoRanges notice = iota
	noticeNoParallel
	noticeRedirects
)

// redirectNotice is how many answers, every one redirected, make a host one
// that redirects every request.
const redirectNotice = 8

// noticeLocked returns the warning about h that says what, once per host and
// kind. Call with mu held.
func (r *run) noticeLocked(h *host, kind notice, what string) (Event, bool) {
	if h.told[kind] {
		return Event{}, false
	}
	if h.told == nil {
		h.told = map[notice]bool{}
	}
	h.told[kind] = true
	return Event{Kind: Warning, Time: time.Now(), Total: -1, Err: fmt.Errorf("server %s %s", h.name, what)}, true
}

// prunePending takes off the head of h's queue the files another of their
// sources' hosts has opened already.
func (h *host) prunePending() {
	for len(h.pending) > 0 && h.pending[0].state != pending {
		h.pending[0] = nil
		h.pending = h.pending[1:]
	}
}

// hostBytesLocked is what each host delivered, for the summary of a run
// where some file had mirrors; nil otherwise. Call with mu held.
func (r *run) hostBytesLocked() []HostBytes {
	if !r.mirrored {
		return nil
	}
	out := make([]HostBytes, len(r.hosts))
	for i, h := range r.hosts {
		out[i] = HostBytes{Host: h.name, Bytes: h.written.Load()}
	}
	return out
}

// measureLocked folds what h delivered since the last tick into its rate.
// Call with mu held.
func (h *host) measureLocked(now int64) {
	recv := h.recv.Load()
	if h.conns == 0 && recv == h.rateRecv {
		// Idle: what it delivered last is still the best guess.
		h.rateAt = now
		return
	}
	if h.rateAt > 0 && now > h.rateAt {
		inst := float64(recv-h.rateRecv) / time.Duration(now-h.rateAt).Seconds()
		if h.rate == 0 {
			h.rate = inst
		} else {
			h.rate += (inst - h.rate) / 4
		}
	}
	h.rateRecv, h.rateAt = recv, now
}

// perConn is what one more connection to h can expect, bytes/s: its share
// of what h delivers now, counting itself, so that a host that has just
// been given connections looks less attractive at once (a host capped in
// total gives each connection less); +Inf for a host never measured.
func (h *host) perConn() float64 {
	if h.rate == 0 && h.conns == 0 {
		return math.Inf(1)
	}
	return h.rate / float64(h.conns+1)
}
