package scheduler

import (
	"context"
	"slices"
	"time"

	"github.com/bulkget/bulkget/segment"
)

// next blocks until there is work for one connection and returns it marked
// running, or returns nil when the run is over.
func (r *run) next(ctx context.Context) *seg {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		if ctx.Err() != nil || r.remaining == 0 {
			return nil
		}
		now := time.Now()
		rested := r.endRestsLocked(now)
		s, wake := r.pickWaiting(now)
		if s == nil {
			s = r.pickNewFile()
		}
		if s == nil {
			// A connection that has gone quiet holds its whole remainder
			// hostage; taking that over comes before splitting healthy ones.
			s = r.pickHedge(now, true)
		}
		if s == nil {
			s = r.pickSteal(now)
		}
		if s == nil {
			s = r.pickHedge(now, false)
		}
		if s != nil {
			s.src = r.sourceWithRoom(s.f)
			s.running = true
			s.began = now
			s.answered = false
			s.got.Store(0)
			s.stalled.Store(false)
			s.tooSlow = nil
			s.winStart, s.winRecv = int64(now.Sub(r.epoch)), s.recv.Load()
			s.attemptFrom, s.attemptRecv = s.cur.Pos(), s.recv.Load()
			s.burstAt.Store(s.attemptFrom)
			s.burstLen.Store(0)
			s.alive.Store(int64(time.Since(r.epoch)))
			s.f.conns++
			s.src.conns++
			s.src.host.conns++
			s.awaiting = true
			s.src.host.awaiting++
			r.beginTrialLocked(s)
			return s
		}
		if !rested.IsZero() && (wake.IsZero() || rested.Before(wake)) {
			wake = rested // a connection comes back then
		}
		ch := r.changed
		r.idle++
		r.mu.Unlock()
		var timer <-chan time.Time
		if !wake.IsZero() {
			t := time.NewTimer(time.Until(wake))
			timer = t.C
			select {
			case <-ch:
			case <-timer:
			case <-ctx.Done():
			}
			t.Stop()
		} else {
			select {
			case <-ch:
			case <-ctx.Done():
			}
		}
		r.mu.Lock()
		r.idle--
	}
}

// hasRoom says whether f may have one more connection: one of its
// sources has room, and f is below Options.MaxPerFile.
func (r *run) hasRoom(f *file) bool {
	return (r.opts.MaxPerFile == 0 || f.conns < r.opts.MaxPerFile) && !f.awaitsTrial() && r.sourceWithRoom(f) != nil
}

// pickWaiting returns a segment whose retry time has come, or the earliest
// time one will.
func (r *run) pickWaiting(now time.Time) (*seg, time.Time) {
	var wake time.Time
	for _, f := range r.active {
		if !f.accepting() || !r.hasRoom(f) {
			continue
		}
		for _, s := range f.segs {
			if s.running {
				continue
			}
			if !s.notBefore.After(now) {
				return s, time.Time{}
			}
			if wake.IsZero() || s.notBefore.Before(wake) {
				wake = s.notBefore
			}
		}
	}
	return nil, wake
}

// pickNewFile opens the next file in list order whose host has room.
func (r *run) pickNewFile() *seg {
	if r.opts.MaxFiles > 0 && r.openFiles >= r.opts.MaxFiles {
		return nil
	}
	var best *host
	for _, h := range r.hosts {
		h.prunePending()
		if len(h.pending) == 0 || r.room(h) <= 0 {
			continue
		}
		if best == nil || h.pending[0].index < best.pending[0].index {
			best = h
		}
	}
	if best == nil {
		return nil
	}
	f := best.pending[0]
	best.pending[0] = nil
	best.pending = best.pending[1:]
	f.state = active
	f.started = time.Now()
	r.openFiles++
	r.active = append(r.active, f)
	r.restartLocked(f)
	return f.segs[0]
}

// pickSteal splits the running segment with the most bytes left, anywhere
// in the run, and returns its second half as new work.
func (r *run) pickSteal(now time.Time) *seg {
	var victim *seg
	var most int64
	var longest float64
	for _, f := range r.active {
		if !f.accepting() || !f.probed || !f.ranged || !r.hasRoom(f) {
			continue
		}
		for _, s := range f.segs {
			// A segment waiting out its backoff is split too: its first
			// half keeps the wait, the second goes to this connection
			// now. A server that is really down fails the new halves as
			// well and they back off in turn, so that costs a handful
			// of requests, while a server with sporadic faults no longer
			// leaves connections idle behind one unlucky range.
			rest := s.cur.Splittable()
			if rest < 2*r.opts.MinSegment {
				continue
			}
			if _, _, paced, ok := r.pacedSplit(s, r.opts.MinSegment); paced && !ok {
				continue // its next burst brings the whole rest (bursts.go)
			}
			// Among sources, the one that will take longest goes first:
			// the slowest source's rest is split before a fast one's.
			if eta := float64(rest) / sourceSpeed(s); eta > longest {
				victim, most, longest = s, rest, eta
			}
		}
	}
	min := r.opts.MinSegment
	if victim == nil || most < 2*min {
		if victim = r.tailVictim(now); victim == nil {
			return nil
		}
		min = tailMinSegment
	}
	mid, end, ok := r.split(victim, min)
	if !ok {
		return nil
	}
	f := victim.f
	s := r.newSeg(f, segment.NewCursor(mid, mid, end))
	f.segs = append(f.segs, s)
	f.all = append(f.all, s)
	return s
}

// sourceSpeed is what a connection to s's source delivers, for comparing
// segments across sources: 1 until measured (a single source's segments
// then compare by size alone); a waiting segment has no source yet.
func sourceSpeed(s *seg) float64 {
	if s.src == nil || !s.f.mirrored() || s.src.host.rate <= 0 {
		return 1
	}
	return s.src.host.rate / float64(max(s.src.host.conns, 1))
}

// tailMinSegment is the smallest piece the end of a run still splits off.
const tailMinSegment = 64 << 10

// tailQuiet is how long a request may stay silent at the end of the run
// before a free connection splits or takes over its range.
const tailQuiet = 200 * time.Millisecond

// atTail: no file is waiting to start, so a free connection has nothing to
// do but help the segments still running; call with mu held.
func (r *run) atTail() bool {
	for _, h := range r.hosts {
		if h.prunePending(); len(h.pending) > 0 {
			return false
		}
	}
	return true
}

// tailVictim handles the end of the run, when no file is waiting and no
// segment has 2 × MinSegment left: the connections that are done would idle
// while the last segments crawl home, each at one connection's speed (most
// servers cap each connection). It picks the segment that will take longest
// to finish and splits it if that time is well above the cost of a new
// request (a few times the observed time to first byte), so the last
// seconds of a run use every connection too.
//
// Two kinds of segment make no progress at all and are the longest of all:
// one waiting out a backoff (its whole rest waits, then crawls), and one
// whose request has not delivered a byte for a while (a
// stall the hedge would only take over after HedgeAfter). Splitting them
// puts the idle connections on their rest at once.
func (r *run) tailVictim(now time.Time) *seg {
	if !r.atTail() {
		return nil
	}
	ttfb := time.Duration(r.ttfb.Load())
	patience := 4 * max(ttfb, 25*time.Millisecond)
	var rates []float64 // bytes/s of the connections that are moving
	for _, f := range r.active {
		for _, s := range f.segs {
			if age := now.Sub(s.began); s.running && age >= 200*time.Millisecond && s.got.Load() > 0 {
				rates = append(rates, float64(s.got.Load())/age.Seconds())
			}
		}
	}
	crawl := func(rest int64) time.Duration { // at a typical connection's speed
		if len(rates) == 0 {
			return 0
		}
		slices.Sort(rates)
		return time.Duration(float64(rest) / rates[len(rates)/2] * float64(time.Second))
	}
	const stuck = time.Duration(1 << 62)
	var victim *seg
	var longest time.Duration
	for _, f := range r.active {
		if !f.accepting() || !f.probed || !f.ranged || !r.hasRoom(f) {
			continue
		}
		for _, s := range f.segs {
			rest := s.cur.Splittable()
			if rest < 2*tailMinSegment {
				continue
			}
			var left time.Duration
			age, got := now.Sub(s.began), s.got.Load()
			switch {
			case !s.running:
				left = s.notBefore.Sub(now) + crawl(rest)
			case got == 0 && age >= max(tailQuiet, 2*patience, 2*time.Duration(s.src.host.pause.Load())):
				// Nothing yet, for longer than the host's own pacing
				// explains: a paced connection's next request may wait out
				// the rest of its pause for its first byte.
				left = stuck
			case age < 200*time.Millisecond || got == 0:
				continue
			default:
				left = time.Duration(float64(rest) / float64(got) * float64(age))
			}
			if _, _, paced, ok := r.pacedSplit(s, tailMinSegment); paced && !ok {
				continue // its next burst brings the whole rest
			} else if !paced && s.src != nil && left < 2*time.Duration(s.src.host.pause.Load()) {
				// A host that sends in bursts not yet measured delivers
				// such a rest in a burst or two; a split would end its
				// request mid-burst and throw away what the server had
				// already sent.
				continue
			}
			if left > longest {
				victim, longest = s, left
			}
		}
	}
	if victim == nil || longest < patience {
		return nil
	}
	return victim
}

func (r *run) newSeg(f *file, cur *segment.Cursor) *seg {
	_, pos, _ := cur.Bounds()
	s := &seg{f: f, gen: f.gen, cur: cur, best: pos, epoch: r.epoch, bytes: &r.bytes}
	s.sum.at = pos
	return s
}

// restartLocked (re)starts f from byte zero as a single unprobed segment.
// Transfers of the previous generation are cancelled and their outcome
// ignored; they write into the old .part inode, which the new probe unlinks.
func (r *run) restartLocked(f *file) {
	f.cancelRunning()
	if f.out != nil {
		f.out.Abort()
		f.out = nil
	}
	f.gen++
	f.faults = faultStreak{}
	f.probed, f.ranged, f.size = false, false, -1
	for _, src := range f.sources {
		src.forget()
	}
	f.unconfirmed = false
	f.digests = nil
	f.crc, f.sums = nil, nil
	f.written.Store(0)
	f.segs = []*seg{r.newSeg(f, segment.NewCursor(0, 0, -1))}
	f.all = slices.Clone(f.segs)
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
	// A silence a host's requests share is the host's (pacing not yet
	// learnt, or trouble a new request would meet too): every request is
	// silent, or at least two and half of those old enough to have fallen
	// silent are, while younger ones get their first bursts. One request
	// silent while its elders deliver is that connection's. A host's lone
	// request may be stuck on its own.
	silence := func(s *seg) time.Duration {
		return max(quietAfter, 2*time.Duration(s.src.host.pause.Load()))
	}
	type hostActivity struct {
		running     int
		latest      int64 // ns since the run's start of its latest byte
		old, silent int   // requests older than their silence; of them, silent
	}
	activity := map[*host]*hostActivity{}
	for _, f := range r.active {
		for _, s := range f.segs {
			if s.running {
				a := activity[s.src.host]
				if a == nil {
					a = &hostActivity{}
					activity[s.src.host] = a
				}
				a.running++
				a.latest = max(a.latest, s.alive.Load())
				if now.Sub(s.began) >= silence(s) {
					a.old++
					if time.Duration(nowNS-s.alive.Load()) >= silence(s) {
						a.silent++
					}
				}
			}
		}
	}
	for _, f := range r.active {
		if !f.accepting() || !f.probed || !f.ranged {
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
				// Silence counts only beyond the host's own pacing.
				quiet := time.Duration(nowNS-s.alive.Load()) >= silence(s)
				a := activity[s.src.host]
				if quiet && a.running > 1 && (time.Duration(nowNS-a.latest) >= quietAfter || a.silent >= 2 && 2*a.silent >= a.old) {
					quiet = false
				}
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
	from, end, ok := victim.cur.Truncate(0)
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

// accepting says whether f may get a new request: it is in progress and
// one of its sources is usable. Call with mu held.
func (f *file) accepting() bool {
	return f.state == active && slices.ContainsFunc(f.sources, (*source).usable)
}
