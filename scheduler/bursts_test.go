package scheduler

import (
	"testing"
	"time"

	"github.com/bulkget/bulkget/pick"
	"github.com/bulkget/bulkget/segment"
)

// pacedRun is a run at its end whose host paces its connections in bursts
// of 1 MiB with 900 ms between them, with s its one running request.
func pacedRun(t *testing.T, s *seg) *run {
	r := tailRun(t, s)
	s.epoch = r.epoch
	r.hosts[0].pause.Store(int64(900 * time.Millisecond))
	return r
}

func TestBurstsAreMeasuredBetweenPauses(t *testing.T) {
	s := runningSeg(0, 64<<20, 3*time.Second, 0)
	r := pacedRun(t, s)
	h := r.hosts[0]
	after := func(gap time.Duration, n int) {
		s.alive.Store(int64(time.Since(s.epoch) - gap))
		s.Received(n)
	}
	// The attempt's first burst, then a pause.
	after(20*time.Millisecond, 512<<10)
	after(time.Millisecond, 512<<10)
	after(900*time.Millisecond, 256<<10)
	if s.burstAt.Load() != 1<<20 || s.burstLen.Load() != 0 || h.burst.Load() != 1<<20 {
		t.Fatalf("after a first burst of 1 MiB: burst at %d, its length %d, the host's %d; want 1 MiB, 0 (maybe not whole), 1 MiB",
			s.burstAt.Load(), s.burstLen.Load(), h.burst.Load())
	}
	after(time.Millisecond, 768<<10)
	after(800*time.Millisecond, 1) // a shorter pause still ends a burst
	if s.burstAt.Load() != 2<<20 || s.burstLen.Load() != 1<<20 {
		t.Errorf("after a burst between two pauses: burst at %d, its length %d; want 2 MiB, 1 MiB", s.burstAt.Load(), s.burstLen.Load())
	}
	after(100*time.Millisecond, 1) // a gap within a burst does not end it
	if s.burstAt.Load() != 2<<20 {
		t.Errorf("a gap of 100 ms between pauses of 900 ms moved the burst's start to %d", s.burstAt.Load())
	}
}

func TestSplitsOnAPacedHostEndWhereABurstEnds(t *testing.T) {
	// 2 MiB written, bursts of 1 MiB starting at 2 MiB, 14 MiB to go: the
	// middle (9 MiB) falls where a burst ends.
	paced := func() *seg {
		s := &seg{cur: segment.NewCursor(0, 2<<20, 16<<20), running: true, began: time.Now().Add(-3 * time.Second)}
		s.burstAt.Store(2 << 20)
		s.burstLen.Store(1 << 20)
		return s
	}
	s := paced()
	r := pacedRun(t, s)
	mid, end, ok := r.split(s, 1<<20)
	if want := int64(9 << 20); !ok || mid != want || end != 16<<20 || s.cur.End() != want {
		t.Errorf("split = %d, %d, %v; want %d, %d: the end of a burst", mid, end, ok, want, 16<<20)
	}
	// Off the middle: 5.3 MiB in, the nearest burst ends at 5 MiB.
	s = paced()
	s.cur = segment.NewCursor(0, 2<<20, 8<<20+600<<10)
	r = pacedRun(t, s)
	if mid, _, _ := r.split(s, 1<<20); mid != 5<<20 {
		t.Errorf("split of 2 MiB to 8.6 MiB at %d, want %d", mid, 5<<20)
	}
	// A lowered level's cut lets in about 1.5 MiB more: up to the end of
	// the second burst on.
	s = paced()
	r = pacedRun(t, s)
	if from, _, ok := r.cutAfter(s, 1536<<10); !ok || from != 4<<20 {
		t.Errorf("cut with 1.5 MiB let in at %d, want %d", from, 4<<20)
	}
	// On a smooth host the split is in the middle.
	s = paced()
	r = pacedRun(t, s)
	r.hosts[0].pause.Store(int64(20 * time.Millisecond))
	if mid, _, _ := r.split(s, 1<<20); mid != 9<<20 {
		t.Errorf("split on a smooth host at %d, want the middle, %d", mid, 9<<20)
	}
	// A burst not yet measured on s is taken from the host's others.
	s = paced()
	s.burstLen.Store(0)
	r = pacedRun(t, s)
	r.hosts[0].burst.Store(1 << 20)
	if mid, _, _ := r.split(s, 1<<20); mid != 9<<20 || s.cur.End() != 9<<20 {
		t.Errorf("split with the host's burst at %d, want %d", mid, 9<<20)
	}
	// In its first burst, where its bursts start is known only roughly:
	// the cut leaves a margin, which waits as a request of its own.
	s = paced()
	s.burstLen.Store(0)
	s.attemptFrom = 2 << 20
	r = pacedRun(t, s)
	r.hosts[0].burst.Store(1 << 20)
	mid, _, _ = r.split(s, 1<<20)
	if f := s.f; s.cur.End() != 9<<20-burstMargin || mid != 9<<20 || len(f.segs) != 2 ||
		f.segs[1].cur.Start() != 9<<20-burstMargin || f.segs[1].cur.End() != 9<<20 || f.segs[1].running {
		t.Errorf("split in the first burst: s ends at %d, the rest starts at %d; want %d, and the margin between waiting on its own",
			s.cur.End(), mid, 9<<20-burstMargin)
	}
}

func TestTailSplitsAPacedRestOnlyWhereABurstEnds(t *testing.T) {
	now := time.Now()
	// In a pause after a burst of 1 MiB that ended at 2 MiB, delivering
	// 1 MiB/s on average.
	paced := func(end int64) *seg {
		s := runningSeg(0, end, 2*time.Second, 2<<20)
		s.cur = segment.NewCursor(0, 2<<20, end)
		s.burstAt.Store(2 << 20)
		s.burstLen.Store(1 << 20)
		return s
	}
	// 1.75 MiB to go, 1.75 s: its next burst ends inside it, and a new
	// connection takes the rest at once instead of a second later.
	s := paced(3<<20 + 768<<10)
	r := pacedRun(t, s)
	if v := tailVictim(r, now); v != s {
		t.Fatalf("a rest of 1.75 bursts was not split")
	}
	mid, _, ok := r.split(s, pick.DefaultParams(0, 0, 0).TailMinSegment)
	if want := int64(3 << 20); !ok || mid != want {
		t.Errorf("a rest of 1.75 bursts was split at %d, want %d, where its next burst ends", mid, want)
	}
	// 0.75 MiB to go: the next burst brings it all.
	s = paced(2<<20 + 768<<10)
	r = pacedRun(t, s)
	if v := tailVictim(r, now); v != nil {
		t.Errorf("a rest of 0.75 bursts was split")
	}
}
