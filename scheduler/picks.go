package scheduler

import (
	"context"
	"slices"
	"time"

	"github.com/bulkget/bulkget/pick"
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
			s = r.pickWork(now)
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

func (r *run) newSeg(f *file, cur *segment.Cursor) *seg {
	_, pos, _ := cur.Bounds()
	s := &seg{f: f, gen: f.gen, cur: cur, best: pos, epoch: r.epoch, bytes: &r.bytes}
	s.sum.Set(pos, 0, 0)
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

// pickWork asks the work policy (package pick) what a free connection
// does once no retry is due and no file can start, and applies the first
// of its choices that can be: a takeover of a request's whole rest, or a
// split of a range.
func (r *run) pickWork(now time.Time) *seg {
	p := r.pickParams()
	snap, segs := r.snapshot(now, p)
	for _, c := range pick.Choose(snap, p) {
		victim := segs[c.Victim]
		f := victim.f
		var s *seg
		switch c.Kind {
		case pick.Hedge:
			from, end, ok := victim.cur.Truncate(0)
			if !ok {
				continue
			}
			victim.hedged = true
			victim.src.host.hedges++
			s = r.newSeg(f, segment.NewCursor(from, from, end))
			s.hedgeOf = victim
			// A takeover counts as a failed attempt of the range, unless
			// the victim made real progress before it slowed.
			s.attempts = victim.attempts + 1
			if victim.got.Load() >= p.TailMinSegment {
				s.attempts = 1
			}
		case pick.Split:
			mid, end, ok := r.split(victim, c.Min)
			if !ok {
				continue
			}
			s = r.newSeg(f, segment.NewCursor(mid, mid, end))
		}
		f.segs = append(f.segs, s)
		f.all = append(f.all, s)
		return s
	}
	return nil
}

// pickParams are the work policy's settings for this run.
func (r *run) pickParams() pick.Params {
	return pick.DefaultParams(r.opts.MinSegment, r.opts.HedgeAfter, r.opts.Retries)
}

// snapshot is the run's ranges as the work policy sees them, with the
// segment each stands for. Call with mu held.
func (r *run) snapshot(now time.Time, p pick.Params) (pick.Snapshot, []*seg) {
	snap := pick.Snapshot{AtTail: r.atTail(), TTFB: time.Duration(r.ttfb.Load())}
	var segs []*seg
	nowNS := int64(now.Sub(r.epoch))
	hostIndex := make(map[*host]int, len(r.hosts))
	for i, h := range r.hosts {
		hostIndex[h] = i
	}
	for _, f := range r.active {
		eligible := f.accepting() && f.probed && f.ranged
		room := eligible && r.hasRoom(f)
		for _, s := range f.segs {
			q := pick.Request{Host: -1, Eligible: eligible, Room: room, Running: s.running, Hedged: s.hedged,
				Attempts: s.attempts, Splittable: s.cur.Splittable(), Speed: sourceSpeed(s), HasSource: s.src != nil}
			if s.src != nil {
				q.Host, q.Pause = hostIndex[s.src.host], time.Duration(s.src.host.pause.Load())
			}
			if s.running {
				q.Age, q.Got, q.Silent = now.Sub(s.began), s.got.Load(), time.Duration(nowNS-s.alive.Load())
			} else {
				q.Wait = s.notBefore.Sub(now)
			}
			if room {
				q.Steal = r.edge(s, p.MinSegment)
				q.Tail = r.edge(s, p.TailMinSegment)
			}
			snap.Requests = append(snap.Requests, q)
			segs = append(segs, s)
		}
	}
	return snap, segs
}

// edge is what s's host's bursts allow for a split of s with pieces of at
// least min bytes (pacedSplit).
func (r *run) edge(s *seg, min int64) pick.Edge {
	_, _, paced, ok := r.pacedSplit(s, min)
	return pick.Edge{Paced: paced, OK: ok}
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

// accepting says whether f may get a new request: it is in progress and
// one of its sources is usable. Call with mu held.
func (f *file) accepting() bool {
	return f.state == active && slices.ContainsFunc(f.sources, (*source).usable)
}
