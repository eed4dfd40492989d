package scheduler

import "time"

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

// burstMargin is how far before a burst's estimated end a request is cut:
// a burst a little longer than measured then costs the difference, not
// the next burst.
const burstMargin = 16 << 10

// burstEdge returns the end of one of s's coming bursts nearest to at and
// within [lo, hi], or at if s's host does not pace its connections, s's
// bursts are not known, or none ends there. Call for a running s.
func (r *run) burstEdge(s *seg, at, lo, hi int64) int64 {
	h := s.src.host
	if time.Duration(h.pause.Load()) < r.pacing() {
		return at
	}
	b := s.burstLen.Load()
	if b <= 0 {
		b = h.burst.Load() // a burst of another of the host's connections
	}
	if b <= 2*burstMargin {
		return at
	}
	base := s.burstAt.Load() - burstMargin
	k := max(1, (at-base+b/2)/b)
	edge := base + k*b
	if edge < lo {
		edge += (lo - edge + b - 1) / b * b
	}
	if edge > hi {
		edge -= (edge - hi + b - 1) / b * b
	}
	if edge < lo || edge <= base+burstMargin {
		return at
	}
	return edge
}

// split moves victim's end to the middle of its rest, or for a running
// request on a paced host to the burst edge nearest the middle, and
// returns the rest [mid, end) for a new segment.
func (r *run) split(victim *seg, min int64) (mid, end int64, ok bool) {
	if victim.running {
		if rest := victim.cur.Splittable(); rest > 0 {
			last := victim.cur.End()
			from := last - rest
			if at := r.burstEdge(victim, from+rest/2, from+min, last-min); at != from+rest/2 {
				if end, ok := victim.cur.SplitAt(at, min); ok {
					return at, end, true
				}
			}
		}
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
		if at := r.burstEdge(victim, pos+keep, pos+1, last-1); at != pos+keep {
			if end, ok := victim.cur.SplitAt(at, 1); ok {
				return at, end, true
			}
		}
	}
	return victim.cur.Truncate(keep)
}
