package hostsim

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/bulkget/bulkget/hostlimit"
	"github.com/bulkget/bulkget/pick"
)

// Host is a modelled server.
type Host struct {
	// PerConn caps each connection and Total the host in all, bytes/s
	// (0: no cap); the link carries LinkRate at most.
	PerConn, Total float64
	// MaxConns refuses (503, Retry-After 1 s) a request that would make
	// more than this many at once (0: no limit).
	MaxConns int
	// Bursts gives each connection its PerConn in one burst at the start
	// of each second from its first byte, as nginx's limit_rate does.
	Bursts bool
	// RTT is what a request waits for its first byte.
	RTT time.Duration
	// Changes set new caps from a time on.
	Changes []Change
}

// Change is a host's caps from At on.
type Change struct {
	At             time.Duration
	PerConn, Total float64
}

// Shape is a download to model: Bytes from every host at once (the
// hosts are mirrors of the same file).
type Shape struct {
	Name  string
	Hosts []Host
	Bytes int64
}

// Result is how a modelled download went.
type Result struct {
	Time       time.Duration
	MeanConns  float64 // connections at work, over the whole run
	PeakConns  int
	Requests   int
	Refusals   int
	FetchedTwo int64 // bytes received and thrown away by ended requests
}

// The run's settings, as bulkget's defaults: its connection budget, the
// smallest range split off, and how the learnt pause is forgotten.
const (
	Budget        = 64
	LinkRate      = 1 << 30
	minSegment    = 4 << 20 // --min-segment
	hedgeAfter    = time.Second
	retries       = 5
	pauseHalfLife = 11 * time.Second // as the scheduler forgets a pause
	retryAfter    = time.Second
	// Step is the virtual clock's step.
	Step = 10 * time.Millisecond
	// giveUp ends a model that never finishes.
	giveUp = 30 * time.Minute
)

// Adaptive runs s with a real adaptive controller per host.
func Adaptive(s Shape) Result {
	return run(s, func() *hostlimit.Controller { return hostlimit.New(hostlimit.DefaultParams(Budget, true)) })
}

// Fixed runs s at level connections per host, as bulkget does without
// adaptive connections (refusals still cut the level).
func Fixed(s Shape, level int) Result {
	return run(s, func() *hostlimit.Controller { return hostlimit.New(hostlimit.DefaultParams(level, false)) })
}

type request struct {
	host      int
	pos, end  int64
	sent      time.Duration
	firstByte time.Duration // when its answer arrives
	refused   bool
	answered  bool
	got       int64
	// A paced connection's credit of this second, the start of that
	// second, and since when it has received nothing (-1: it has).
	credit float64
	period time.Duration
	silent time.Duration
	rate   float64 // bytes/s in the last step
	// lastByte is when it last received a byte (-1: never).
	lastByte time.Duration
}

type span struct {
	pos, end  int64
	notBefore time.Duration
}

type hostState struct {
	Host
	ctl     *hostlimit.Controller
	running []*request
	resting []time.Duration
	recv    int64
	pause   time.Duration
	// rate is what the host delivers in all, bytes/s, a moving average
	// over ticks, as the scheduler keeps it for choosing among mirrors.
	rate     float64
	rateRecv int64
}

func (h *hostState) caps(now time.Duration) (perConn, total float64) {
	perConn, total = h.PerConn, h.Total
	for _, c := range h.Changes {
		if now >= c.At {
			perConn, total = c.PerConn, c.Total
		}
	}
	if total == 0 {
		total = LinkRate
	}
	return perConn, total
}

func (h *hostState) awaiting(now time.Duration) int {
	n := 0
	for _, r := range h.running {
		if now < r.firstByte {
			n++
		}
	}
	return n
}

func run(s Shape, newCtl func() *hostlimit.Controller) Result {
	hosts := make([]*hostState, len(s.Hosts))
	for i, h := range s.Hosts {
		hosts[i] = &hostState{Host: h, ctl: newCtl()}
	}
	tick := hostlimit.DefaultParams(1, true).Tick
	forget := math.Pow(0.5, float64(Step)/float64(pauseHalfLife))
	epoch := time.Unix(1e9, 0)
	waiting := []span{{0, s.Bytes, 0}}
	var res Result
	var connSteps int64
	var done int64
	now := time.Duration(0)
	for ; done < s.Bytes && now < giveUp; now += Step {
		for _, h := range hosts {
			h.resting = slices.DeleteFunc(h.resting, func(t time.Duration) bool { return t <= now })
		}
		waiting = fill(hosts, waiting, now, &res)
		conns := 0
		for _, h := range hosts {
			conns += len(h.running)
		}
		connSteps += int64(conns)
		res.PeakConns = max(res.PeakConns, conns)
		for _, h := range hosts {
			done += deliver(h, now)
		}
		for _, h := range hosts {
			waiting = settle(h, waiting, now, epoch, &res)
		}
		for _, h := range hosts {
			h.pause = time.Duration(float64(h.pause) * forget)
		}
		if (now+Step)%tick == 0 {
			for _, h := range hosts {
				inst := float64(h.recv-h.rateRecv) / tick.Seconds()
				h.rate += (inst - h.rate) / 4
				h.rateRecv = h.recv
				d := h.ctl.Tick(epoch.Add(now+Step), hostlimit.Sample{Recv: h.recv, Conns: len(h.running),
					Pause: h.pause, Paces: h.pause >= max(2*tick, 4*h.RTT), RTT: h.RTT})
				if d.Shed > 0 {
					waiting = shed(h, waiting, d.Shed, d.ShedMinLeft, now, &res)
				}
			}
		}
	}
	res.Time = now
	if steps := now / Step; steps > 0 {
		res.MeanConns = float64(connSteps) / float64(steps)
	}
	return res
}

// fill gives every free connection work: a range waiting, or half of the
// largest one running; hosts are filled in turn, the most capable first.
func fill(hosts []*hostState, waiting []span, now time.Duration, res *Result) []span {
	for {
		total := 0
		for _, h := range hosts {
			total += len(h.running)
		}
		if total >= Budget {
			return waiting
		}
		var h *hostState
		best := -1.0
		for _, c := range hosts {
			room := min(c.ctl.Level(), Budget-len(c.resting)) - len(c.running)
			if room <= 0 || !c.ctl.Admits(len(c.running), c.awaiting(now)) {
				continue
			}
			perConn, all := c.caps(now)
			share := all / float64(len(c.running)+1)
			if perConn > 0 && (all == 0 || perConn < share) {
				share = perConn
			}
			if share > best {
				h, best = c, share
			}
		}
		if h == nil {
			return waiting
		}
		var sp span
		var ok bool
		if sp, waiting, ok = take(hosts, waiting, now, res); !ok {
			return waiting
		}
		r := &request{host: slices.Index(hosts, h), pos: sp.pos, end: sp.end, sent: now,
			firstByte: now + h.RTT, silent: -1, lastByte: -1}
		r.refused = h.MaxConns > 0 && len(h.running) >= h.MaxConns
		h.running = append(h.running, r)
		res.Requests++
	}
}

// take returns the work for a new request: the largest range waiting
// whose backoff is over, else what the work policy (package pick) chooses
// over the ranges in progress, applied as the scheduler applies it.
func take(hosts []*hostState, waiting []span, now time.Duration, res *Result) (span, []span, bool) {
	best := -1
	for i, w := range waiting {
		if w.notBefore <= now && (best < 0 || w.end-w.pos > waiting[best].end-waiting[best].pos) {
			best = i
		}
	}
	if best >= 0 {
		sp := waiting[best]
		return sp, slices.Delete(waiting, best, best+1), true
	}
	p := pick.DefaultParams(minSegment, hedgeAfter, retries)
	snap := pick.Snapshot{AtTail: true} // one file: nothing waits to start
	var reqs []*request
	for hi, h := range hosts {
		snap.TTFB = max(snap.TTFB, h.RTT)
		for _, r := range h.running {
			if r.refused {
				continue
			}
			q := pick.Request{Host: hi, Eligible: true, Room: true, Running: true, HasSource: true,
				Splittable: r.end - r.pos, Age: now - r.sent, Got: r.got, Pause: h.pause, Speed: 1}
			q.Silent = q.Age
			if r.lastByte >= 0 {
				q.Silent = now - r.lastByte
			}
			if len(hosts) > 1 && h.rate > 0 {
				q.Speed = h.rate / float64(max(len(h.running), 1))
			}
			snap.Requests = append(snap.Requests, q)
			reqs = append(reqs, r)
		}
	}
	for i, w := range waiting {
		snap.Requests = append(snap.Requests, pick.Request{Host: -1, Eligible: true, Room: true,
			Splittable: w.end - w.pos, Wait: w.notBefore - now, Speed: 1})
		reqs = append(reqs, &request{pos: w.pos, end: w.end, host: -1 - i})
	}
	for _, c := range pick.Choose(snap, p) {
		victim := reqs[c.Victim]
		if c.Kind == pick.Hedge && victim.host >= 0 {
			// The victim stops where it is; what it had in flight is lost.
			res.FetchedTwo += min(int64(victim.rate*hosts[victim.host].RTT.Seconds()), victim.end-victim.pos)
			sp := span{victim.pos, victim.end, now}
			victim.end = victim.pos
			return sp, waiting, true
		}
		// A split; a waiting range's first half keeps waiting.
		end := &victim.end
		if victim.host < 0 {
			end = &waiting[-1-victim.host].end
		}
		if *end-victim.pos < 2*c.Min {
			continue
		}
		mid := victim.pos + (*end-victim.pos)/2
		sp := span{mid, *end, now}
		*end = mid
		return sp, waiting, true
	}
	return span{}, waiting, false
}

// deliver moves a step's bytes to h's answered requests and returns them.
func deliver(h *hostState, now time.Duration) int64 {
	perConn, total := h.caps(now)
	var live []*request
	for _, r := range h.running {
		r.rate = 0
		if !r.refused && now >= r.firstByte {
			live = append(live, r)
		}
	}
	if len(live) == 0 {
		return 0
	}
	dt := Step.Seconds()
	want := make([]float64, len(live))
	var sum float64
	for i, r := range live {
		switch {
		case h.Bursts:
			if r.period == 0 && r.got == 0 || now-r.period >= time.Second {
				r.period, r.credit = now, perConn
			}
			want[i] = r.credit
		case perConn > 0:
			want[i] = perConn * dt
		default:
			want[i] = math.Inf(1)
		}
		want[i] = min(want[i], float64(r.end-r.pos))
		sum += want[i]
	}
	share := 1.0
	if total > 0 && sum > total*dt {
		share = total * dt / sum
	}
	var moved int64
	for i, r := range live {
		n := int64(want[i] * share)
		if math.IsInf(want[i], 1) {
			n = min(r.end-r.pos, int64(total*dt/float64(len(live))))
		}
		n = min(n, r.end-r.pos)
		if h.Bursts {
			r.credit -= float64(n)
		}
		switch {
		case n > 0 && r.silent >= 0:
			h.pause = max(h.pause, now-r.silent)
			r.silent = -1
		case n == 0 && r.silent < 0:
			r.silent = now
		}
		r.pos += n
		r.got += n
		r.rate = float64(n) / dt
		if n > 0 {
			r.lastByte = now
		}
		moved += n
	}
	h.recv += moved
	return moved
}

// settle answers the requests whose answer came, retires those refused and
// those done.
func settle(h *hostState, waiting []span, now time.Duration, epoch time.Time, res *Result) []span {
	keep := h.running[:0]
	for _, r := range h.running {
		if now+Step < r.firstByte {
			keep = append(keep, r)
			continue
		}
		if r.refused {
			res.Refusals++
			h.ctl.Refused(epoch.Add(now+Step), epoch.Add(r.sent), len(h.running))
			h.resting = append(h.resting, now+retryAfter)
			waiting = append(waiting, span{r.pos, r.end, now})
			continue
		}
		if !r.answered {
			r.answered = true
			h.ctl.Answered()
		}
		if r.pos < r.end {
			keep = append(keep, r)
		}
	}
	clear(h.running[len(keep):])
	h.running = keep
	return waiting
}

// shed ends up to n of h's requests that would run on for minLeft or more,
// those with the most left first; what the host had in flight for them is
// thrown away.
func shed(h *hostState, waiting []span, n int, minLeft, now time.Duration, res *Result) []span {
	for ; n > 0; n-- {
		var victim *request
		for _, r := range h.running {
			age := now - r.sent
			if r.refused || r.got == 0 || age < 500*time.Millisecond {
				continue
			}
			left := time.Duration(float64(r.end-r.pos) / float64(r.got) * float64(age))
			if left >= minLeft && (victim == nil || r.end-r.pos > victim.end-victim.pos) {
				victim = r
			}
		}
		if victim == nil {
			break
		}
		inFlight := int64(victim.rate * h.RTT.Seconds())
		if h.Bursts {
			inFlight = int64(max(victim.credit, 0))
		}
		res.FetchedTwo += min(inFlight, victim.end-victim.pos)
		waiting = append(waiting, span{victim.pos, victim.end, now})
		h.running = slices.DeleteFunc(h.running, func(r *request) bool { return r == victim })
	}
	return waiting
}

// String is a result in a table row's words.
func (r Result) String() string {
	return fmt.Sprintf("%v, mean %.1f, peak %d connections, %d requests, %d refused, %d bytes twice",
		r.Time, r.MeanConns, r.PeakConns, r.Requests, r.Refusals, r.FetchedTwo)
}
