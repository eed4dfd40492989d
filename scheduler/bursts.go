package scheduler

import "github.com/bulkget/bulkget/segment"

// A host that paces its connections (nginx's limit_rate) sends each a
// burst, then nothing until the next one. A request whose end is moved, by
// a split or by a lowered level, reads up to its new end and hangs up, and
// what the server had already sent of the burst beyond that end is thrown
// away. On such a host ends are moved to where one of the request's
// bursts ends instead; each connection's bursts are measured between the
// pauses it sees.

// noteBurst hears that a byte arrived on s's connection after a silence of
// gap ns, before the byte is counted: a silence of half the host's pause
// or more ends a burst.
func (s *seg) noteBurst(h *host, gap int64) {
	if gap < h.pause.Load()/2 || gap <= 0 {
		return
	}
	at := s.attemptFrom + s.recv.Load() - s.attemptRecv
	prev := s.burstAt.Swap(at)
	if at <= prev {
		return
	}
	// The attempt's first burst may have shared its connection's
	// allowance with the request before it: only a burst between two
	// pauses is surely a whole one. The host's is the longest seen, as a
	// part of a burst is never longer than a whole one.
	if prev != s.attemptFrom {
		s.burstLen.Store(at - prev)
	}
	for b := h.burst.Load(); at-prev > b && !h.burst.CompareAndSwap(b, at-prev); b = h.burst.Load() {
	}
}

// burstMargin is how far before a burst's estimated end a request is cut
// while it is in its first burst, whose start is the response's first
// byte only roughly (nginx counts the headers against it): a burst that
// ends a little early then costs a few bytes fetched twice rather than a
// wait for the next burst. The margin goes to a request of its own, so
// that the rest does not need a burst of its own for those few bytes
// either. After a pause, bursts start where the pause ended and the cut is
// on the edge.
const burstMargin = 8 << 10

// burstEdge returns where to end s so that it ends with one of its coming
// bursts, the one nearest to at within [lo, hi]: cut, and the margin
// between cut and that burst's estimated end, which is for a request of
// its own. paced is false when s's host does not pace its connections or
// s's bursts are not known; ok is false when none of its bursts ends
// there. Call for a running s.
func (r *run) burstEdge(s *seg, at, lo, hi int64) (cut, margin int64, paced, ok bool) {
	h := s.src.host
	if !r.paces(h) {
		return 0, 0, false, false
	}
	b := s.burstLen.Load()
	if b <= 0 {
		b = h.burst.Load() // another connection's
	}
	if b <= 2*burstMargin {
		return 0, 0, false, false
	}
	base := s.burstAt.Load()
	if base == s.attemptFrom {
		margin = burstMargin
	}
	k := max(1, (at-base+b/2)/b)
	edge := base + k*b
	if edge-margin < lo {
		edge += (lo - edge + margin + b - 1) / b * b
	}
	if edge > hi {
		edge -= (edge - hi + b - 1) / b * b
	}
	return edge - margin, margin, true, edge-margin >= lo && edge > base
}

// pacedSplit is where a split ends victim on a host that paces it (paced):
// at the end of the burst nearest the middle of its rest, with at least
// min bytes on either side. ok is false when none of its bursts ends
// there: its next burst brings the whole rest, and a split would gain no
// time and throw away what is sent beyond it.
func (r *run) pacedSplit(victim *seg, min int64) (cut, margin int64, paced, ok bool) {
	rest := victim.cur.Splittable()
	if !victim.running || victim.src == nil || rest < 2*min {
		return 0, 0, false, false
	}
	last := victim.cur.End()
	from := last - rest
	return r.burstEdge(victim, from+rest/2, from+min, last-min)
}

// split moves victim's end to the middle of its rest, or to pacedSplit,
// and returns the rest [mid, end) for a new segment.
func (r *run) split(victim *seg, min int64) (mid, end int64, ok bool) {
	if cut, margin, paced, ok := r.pacedSplit(victim, min); paced {
		if !ok {
			return 0, 0, false
		}
		end, ok := victim.cur.SplitAt(cut, min)
		if !ok {
			return 0, 0, false
		}
		return r.setMarginAside(victim.f, cut, margin), end, true
	}
	return victim.cur.Split(min)
}

// cutAfter ends victim's running request about keep bytes on, at the end
// of a burst on a paced host, and returns the rest [from, end) for a new
// segment.
func (r *run) cutAfter(victim *seg, keep int64) (from, end int64, ok bool) {
	if rest := victim.cur.Splittable(); rest > 0 {
		last := victim.cur.End()
		pos := last - rest
		if cut, margin, _, ok := r.burstEdge(victim, pos+keep, pos+1, last-1); ok {
			if end, ok := victim.cur.SplitAt(cut, 1); ok {
				return r.setMarginAside(victim.f, cut, margin), end, true
			}
		}
	}
	return victim.cur.Truncate(keep)
}

// setMarginAside makes [cut, cut+margin) a waiting segment of f and
// returns where the rest after it begins. Call with mu held.
func (r *run) setMarginAside(f *file, cut, margin int64) int64 {
	if margin <= 0 {
		return cut
	}
	s := r.newSeg(f, segment.NewCursor(cut, cut, cut+margin))
	f.segs = append(f.segs, s)
	f.all = append(f.all, s)
	r.notify()
	return cut + margin
}
