package scheduler

import (
	"time"

	"github.com/bulkget/bulkget/segment"
)

// shedLocked ends up to n of h's running requests soon, those
// with the most left first, and puts what they had left back as waiting
// segments, so that a lowered level takes effect now rather than when its
// requests end: a request may hold a large range for the rest of the file.
// Only requests that would run on for minLeft or more are cut. Call with
// mu held.
func (r *run) shedLocked(h *host, n int, now time.Time, minLeft time.Duration) {
	for ; n > 0; n-- {
		var victim *seg
		for _, f := range r.active {
			if f.state != active || !f.probed || !f.ranged {
				continue
			}
			for _, s := range f.segs {
				if s.running && s.src.host == h && !s.hedged && s.hedgeOf == nil && s.left(now) >= minLeft &&
					(victim == nil || s.cur.Splittable() > victim.cur.Splittable()) {
					victim = s
				}
			}
		}
		if victim == nil {
			return
		}
		// What a second of its rate brings may already be on its way:
		// it is let in rather than thrown away and fetched again.
		keep := int64(float64(victim.got.Load()) / now.Sub(victim.began).Seconds())
		from, end, ok := r.cutAfter(victim, keep)
		if !ok {
			return
		}
		victim.hedged = true // its attempt is over once it reaches the cut
		f := victim.f
		rest := r.newSeg(f, segment.NewCursor(from, from, end))
		f.segs = append(f.segs, rest)
		f.all = append(f.all, rest)
	}
	r.notify()
}

// left is how long s's request will still run at its rate so far; 0 when
// too young to tell. Call with mu held.
func (s *seg) left(now time.Time) time.Duration {
	age, got := now.Sub(s.began), s.got.Load()
	if age < 500*time.Millisecond || got <= 0 {
		return 0
	}
	return time.Duration(float64(s.cur.Splittable()) / float64(got) * float64(age))
}
