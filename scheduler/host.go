package scheduler

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/bulkget/bulkget/hostlimit"
	"github.com/bulkget/bulkget/segment"
)

type host struct {
	name    string
	conns   int
	pending []*file // in list order; head is next
	// ctl decides how many connections the host gets (hostlimit).
	ctl *hostlimit.Controller
	// recv counts the bytes received from the host, for the tuner.
	recv atomic.Int64
	// awaiting counts its requests sent and not yet answered (hostlimit's
	// slow start of a raise).
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
	burst  atomic.Int64
	lastOK time.Time // last answer that was not a refusal
	// hedges counts its requests taken over by a hedge, for Progress.
	hedges int
	// answers counts the answers from h with data, redirected those that
	// came from another host; told holds the notices given.
	answers, redirected int
	told                map[notice]bool
	// farm: the host serves from replicas whose validators differ
	// (farm.go).
	farm bool
	// resting holds, for each refusal that came with a Retry-After, when
	// that wait ends: until then the host has one connection fewer (see
	// restLocked).
	resting []time.Time
	// noRanges: a range past byte 0 was answered with 200 or another
	// range; trying is the file whose ranges are being tried, while it is
	// on trial (trial.go).
	noRanges bool
	trying   *file
}

// newHost starts a host at the level its controller starts with.
func (r *run) newHost(name string) *host {
	return &host{name: name, ctl: hostlimit.New(r.limits), pauseCap: int64(r.opts.StallTimeout / 2)}
}

// overloaded reports whether err is the host saying "too many".
func overloaded(err error) bool {
	var se *segment.StatusError
	return errors.As(err, &se) && (se.Code == http.StatusTooManyRequests || se.Code == http.StatusServiceUnavailable)
}

// pauseHalfLife is how long a host's learnt pause takes to halve: old
// pacing is forgotten slowly, on the controller's clock, whatever the
// stall timeout.
const pauseHalfLife = 11 * time.Second

// limitEvent is the event of h's controller deciding d; err is the
// refusal that d answers, if any.
func limitEvent(h *host, d hostlimit.Decision, now time.Time, err error) Event {
	e := Event{Kind: HostLimit, Time: now, Name: h.name, Conns: d.Level, Total: -1}
	switch d.Reason {
	case hostlimit.Overload:
		e.Err = fmt.Errorf("server refused requests at %d connections (%v); now at most %d", d.From, err, d.Level)
	case hostlimit.NoGain:
		e.Err = fmt.Errorf("%d connections gave no more throughput than %d; now at most %d", d.From, d.Want, d.Level)
	}
	return e
}

// limitHosts runs every host's controller each tick until ctx is done,
// and ends the requests a lowered level sheds.
func (r *run) limitHosts(ctx context.Context) {
	forget := math.Pow(0.5, float64(r.limits.Tick)/float64(pauseHalfLife))
	every(ctx, r.limits.Tick, nil, func() {
		var events []Event
		r.mu.Lock()
		now := time.Now()
		for _, h := range r.hosts {
			h.pause.Store(int64(float64(h.pause.Load()) * forget))
			d := h.ctl.Tick(now, hostlimit.Sample{Recv: h.recv.Load(), Conns: h.conns,
				Pause: time.Duration(h.pause.Load()), Paces: r.paces(h), RTT: time.Duration(r.ttfb.Load())})
			if d.Shed > 0 {
				r.shedLocked(h, d.Shed, now, d.ShedMinLeft)
			}
			if d.Changed {
				events = append(events, limitEvent(h, d, now, nil))
			}
		}
		if len(events) > 0 {
			r.notify()
		}
		r.mu.Unlock()
		for _, e := range events {
			r.rep.Report(e)
		}
	})
}

// paces reports whether h paces its connections: its learnt pause is a
// silence longer than the gaps of ordinary traffic (two ticks, four
// times the time to first byte).
func (r *run) paces(h *host) bool {
	return time.Duration(h.pause.Load()) >= max(2*r.limits.Tick, 4*time.Duration(r.ttfb.Load()))
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
	n := min(h.ctl.Level(), budget-len(h.resting)) - h.conns
	if n > 0 && !h.ctl.Admits(h.conns, h.awaiting) {
		return 0
	}
	return n
}

// answered records an answer from h that was not a refusal.
func (r *run) answered(s *seg, resp *segment.Response) {
	h := s.src.host
	r.mu.Lock()
	if s.awaiting {
		s.awaiting = false
		h.awaiting--
	}
	if h.ctl.Answered() {
		r.notify() // a raise's slow start admits more (room)
	}
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
	noticeReplicas
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
