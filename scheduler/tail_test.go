package scheduler

import (
	"testing"
	"time"

	"github.com/bulkget/bulkget/hostlimit"
	"github.com/bulkget/bulkget/pick"
	"github.com/bulkget/bulkget/segment"
)

// tailRun is a run at its end: one ranged file, nothing pending, segments
// as given.
func tailRun(t *testing.T, segs ...*seg) *run {
	t.Helper()
	r := &run{epoch: time.Now().Add(-time.Minute), opts: Options{Connections: 16, MaxPerHost: 16, Retries: 5}}
	h := &host{name: "h", ctl: hostlimit.New(hostlimit.DefaultParams(16, false))}
	src := &source{host: h, known: true}
	f := &file{sources: []*source{src}, state: active, probed: true, ranged: true, size: 64 << 20}
	for _, s := range segs {
		s.f, s.src = f, src
		if s.running {
			f.conns++
			src.conns++
			h.conns++
		}
	}
	f.segs = segs
	r.hosts = []*host{h}
	r.active = []*file{f}
	return r
}

// tailVictim is the segment of r the work policy's tail rule would split,
// or nil.
func tailVictim(r *run, now time.Time) *seg {
	p := r.pickParams()
	snap, segs := r.snapshot(now, p)
	if v := pick.TailVictim(snap, p); v >= 0 {
		return segs[v]
	}
	return nil
}

// quietHedge is the segment of r the work policy would take over for its
// silence, or nil.
func quietHedge(r *run, now time.Time) *seg {
	p := r.pickParams()
	snap, segs := r.snapshot(now, p)
	if v := pick.HedgeVictim(snap, p, true); v >= 0 {
		return segs[v]
	}
	return nil
}

func runningSeg(start, end int64, age time.Duration, got int64) *seg {
	s := &seg{cur: segment.NewCursor(start, start, end), running: true, began: time.Now().Add(-age)}
	s.got.Store(got)
	return s
}

func TestTailSplitsWhatMakesNoProgress(t *testing.T) {
	now := time.Now()
	// A healthy connection with 1 MiB to go at 8 MiB/s: 125 ms left.
	healthy := func() *seg { return runningSeg(0, 1<<20, time.Second, 8<<20) }

	waiting := &seg{cur: segment.NewCursor(8<<20, 8<<20, 9<<20), notBefore: now.Add(time.Second)}
	if v := tailVictim(tailRun(t, healthy(), waiting), now); v != waiting {
		t.Errorf("a segment waiting out a backoff of 1 s was not chosen (got %p)", v)
	}

	stalled := runningSeg(16<<20, 17<<20, time.Second, 0)
	if v := tailVictim(tailRun(t, healthy(), stalled), now); v != stalled {
		t.Errorf("a request silent for 1 s was not chosen (got %p)", v)
	}

	justStarted := runningSeg(16<<20, 17<<20, 10*time.Millisecond, 0)
	if v := tailVictim(tailRun(t, justStarted), now); v != nil {
		t.Errorf("a request that has only just been sent was split")
	}

	tiny := &seg{cur: segment.NewCursor(8<<20, 8<<20, 8<<20+100<<10), notBefore: now.Add(time.Second)}
	if v := tailVictim(tailRun(t, tiny), now); v != nil {
		t.Errorf("a piece below 2 × %d bytes was split", pick.DefaultParams(0, 0, 0).TailMinSegment)
	}
}

func TestTailTakesOverSilentRequestsSooner(t *testing.T) {
	silentFor := func(r *run, s *seg, d time.Duration) {
		s.alive.Store(int64(time.Since(r.epoch) - d))
	}
	piece := func() *seg { return runningSeg(8<<20, 8<<20+64<<10, 400*time.Millisecond, 0) }

	s := piece()
	r := tailRun(t, s)
	r.opts.HedgeAfter = time.Second
	silentFor(r, s, 300*time.Millisecond)
	if h := quietHedge(r, time.Now()); h != s {
		t.Fatalf("at the end of the run, a request silent for 300 ms was not taken over")
	}

	// While files are waiting to start, silence has to last HedgeAfter.
	s = piece()
	r = tailRun(t, s)
	r.opts.HedgeAfter = time.Second
	r.hosts[0].pending = []*file{{}}
	silentFor(r, s, 300*time.Millisecond)
	if h := quietHedge(r, time.Now()); h != nil {
		t.Fatalf("a request silent for 300 ms was taken over while files wait")
	}
}

func TestTailLeavesABurstyHostsRestToItsNextBursts(t *testing.T) {
	now := time.Now()
	// 3 MiB to go at an average of 2 MiB/s: 1.5 s left.
	rest := func() *seg { return runningSeg(0, 3<<20, 2*time.Second, 4<<20) }

	r := tailRun(t, rest())
	if v := tailVictim(r, now); v == nil {
		t.Fatalf("a rest of 1.5 s on a smooth host was not split")
	}
	// The host pauses 900 ms between bursts: the rest comes in a burst
	// or two, and a split would end its request mid-burst.
	r = tailRun(t, rest())
	r.hosts[0].pause.Store(int64(900 * time.Millisecond))
	if v := tailVictim(r, now); v != nil {
		t.Errorf("a rest of 1.5 s on a host pausing 0.9 s between bursts was split")
	}
	// A rest of many bursts is still split.
	long := runningSeg(0, 16<<20, 2*time.Second, 4<<20)
	r = tailRun(t, long)
	r.hosts[0].pause.Store(int64(900 * time.Millisecond))
	if v := tailVictim(r, now); v != long {
		t.Errorf("a rest of 8 s on a bursty host was not split")
	}
}

func TestTailWaitsOutAPausedConnectionsFirstByte(t *testing.T) {
	now := time.Now()
	// A request sent 400 ms ago has nothing yet. On a smooth host that is
	// a stuck request; on a host pausing 900 ms between bursts its
	// connection may be waiting for its next burst, and a split would end
	// that burst's request after its first bytes.
	fresh := func() *seg { return runningSeg(16<<20, 20<<20, 400*time.Millisecond, 0) }
	s := fresh()
	if v := tailVictim(tailRun(t, s), now); v != s {
		t.Fatalf("on a smooth host, a request silent for 400 ms was not split")
	}
	r := tailRun(t, fresh())
	r.hosts[0].pause.Store(int64(900 * time.Millisecond))
	if v := tailVictim(r, now); v != nil {
		t.Errorf("on a host pausing 900 ms, a request waiting 400 ms for its first burst was split")
	}
	// Two pauses without a byte is no longer pacing.
	s = runningSeg(16<<20, 20<<20, 2*time.Second, 0)
	r = tailRun(t, s)
	r.hosts[0].pause.Store(int64(900 * time.Millisecond))
	if v := tailVictim(r, now); v != s {
		t.Errorf("on a host pausing 900 ms, a request silent for 2 s was not split")
	}
}

func TestHedgeLeavesASilenceTheHostsOlderRequestsShare(t *testing.T) {
	silentFor := func(r *run, s *seg, d time.Duration) {
		s.alive.Store(int64(time.Since(r.epoch) - d))
	}
	// Four requests 1.2 s old, each past its first burst, silent for
	// 700 ms: a host pacing them, before the pacing has been learnt. Two
	// requests of a raise, 100 ms old, are getting their first bursts.
	setup := func(silent int) (*run, []*seg) {
		var segs []*seg
		for i := range 4 {
			segs = append(segs, runningSeg(int64(i)<<24, int64(i+1)<<24, 1200*time.Millisecond, 4<<20))
		}
		for i := 4; i < 6; i++ {
			segs = append(segs, runningSeg(int64(i)<<24, int64(i+1)<<24, 100*time.Millisecond, 1<<20))
		}
		r := tailRun(t, segs...)
		r.opts.HedgeAfter = 500 * time.Millisecond
		r.hosts[0].pending = []*file{{}} // not at the end of the run
		for i, s := range segs {
			if i < silent {
				silentFor(r, s, 700*time.Millisecond)
			} else {
				silentFor(r, s, 10*time.Millisecond)
			}
		}
		return r, segs
	}
	r, _ := setup(4)
	if h := quietHedge(r, time.Now()); h != nil {
		t.Errorf("a silence four of the host's requests share was taken for a stall: %p taken over", h)
	}
	// One of four silent while its elders deliver: that connection's own.
	r, segs := setup(1)
	if h := quietHedge(r, time.Now()); h != segs[0] {
		t.Errorf("a request silent for 700 ms while the host's others deliver was not taken over")
	}
}
