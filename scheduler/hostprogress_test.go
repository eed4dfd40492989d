package scheduler

import (
	"sync"
	"testing"
	"time"

	"github.com/bulkget/bulkget/internal/origin"
	"github.com/bulkget/bulkget/pick"
)

// TestProgressCountsEachHostsRequests checks that Progress events carry
// each busy host's requests and limit, counting the requests that await
// their first answer (a report's connections chart depends on them).
func TestProgressCountsEachHostsRequests(t *testing.T) {
	fx := newFixture(t, origin.Options{Latency: 100 * time.Millisecond, PerConnRate: 4 << 20})
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		fx.add(n, 64<<10)
	}
	opts := testOptions(t.TempDir())
	opts.Connections, opts.MaxPerHost, opts.ProgressInterval = 4, 4, 10*time.Millisecond
	var mu sync.Mutex
	var looks [][]HostProgress
	opts.Reporter = ReporterFunc(func(e Event) {
		if e.Kind == Progress {
			mu.Lock()
			looks = append(looks, e.Hosts)
			mu.Unlock()
		}
	})
	runFixture(t, fx, opts)
	mu.Lock()
	defer mu.Unlock()
	most := 0
	for _, hs := range looks {
		for _, h := range hs {
			if h.Host != fx.srv.Addr() || h.Limit != 4 || h.Conns < 1 || h.Conns > 4 {
				t.Fatalf("host line %+v, want %s with 1 to 4 requests and a limit of 4", h, fx.srv.Addr())
			}
			most = max(most, h.Conns)
		}
	}
	// Six files of one 64 KiB request each, behind 100 ms before any
	// answer: four are awaited at once.
	if most != 4 {
		t.Errorf("at most %d requests seen in flight, want 4 (%d looks)", most, len(looks))
	}
}

// TestProgressCountsHedges checks that a request taken over by a hedge
// counts in its host's line of the Progress events.
func TestProgressCountsHedges(t *testing.T) {
	tailMin := pick.DefaultParams(256<<10, time.Second, 5).TailMinSegment
	// A latency keeps the hedge running until the next Progress: the
	// events are snapshots, and the run's end takes none.
	fx := newFixture(t, origin.Options{Latency: 50 * time.Millisecond})
	fx.srv.SetOptions(func(o *origin.Options) {
		o.Fault = func(r origin.Request) origin.Fault {
			if r.N == 1 {
				// Silent until cut or taken over, with too little left
				// for the tail to split (2 × tailMinSegment).
				return origin.Fault{StallAfter: 400<<10 - tailMin}
			}
			return origin.Fault{}
		}
	})
	// Under twice MinSegment: never split, so only a hedge can take the
	// silent rest over before the stall timeout.
	fx.add("h.bin", 400<<10)
	opts := testOptions(t.TempDir())
	opts.Connections, opts.ProgressInterval = 4, 10*time.Millisecond
	opts.StallTimeout, opts.HedgeAfter = 10*time.Second, 200*time.Millisecond
	var mu sync.Mutex
	hedges := 0
	opts.Reporter = ReporterFunc(func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		for _, h := range e.Hosts {
			hedges = max(hedges, h.Hedges)
		}
	})
	if sum := runFixture(t, fx, opts); sum.Done != 1 {
		t.Fatalf("%+v", sum)
	}
	mu.Lock()
	defer mu.Unlock()
	if hedges < 1 {
		t.Errorf("no hedge counted for a request silent for 50 × HedgeAfter")
	}
}
