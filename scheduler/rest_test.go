package scheduler

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bulkget/bulkget/hostlimit"
	"github.com/bulkget/bulkget/internal/origin"
)

// requestLog records when the origin saw each request, and which it
// refused.
type requestLog struct {
	mu      sync.Mutex
	times   []time.Time
	names   []string
	refused []bool
}

func (l *requestLog) add(name string, refused bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.times = append(l.times, time.Now())
	l.names = append(l.names, name)
	l.refused = append(l.refused, refused)
}

// refuseFirst makes the origin answer the first request for every file but
// spare with 429 and a Retry-After of ra seconds, and logs every request.
func refuseFirst(fx *fixture, log *requestLog, ra, spare string) {
	fx.srv.SetOptions(func(o *origin.Options) {
		o.Fault = func(r origin.Request) origin.Fault {
			refuse := r.N == 1 && r.Name != spare
			log.add(r.Name, refuse)
			if refuse {
				return origin.Fault{Status: 429, RetryAfter: ra}
			}
			return origin.Fault{}
		}
	})
}

// A Retry-After rests the connection that was told to wait: with every
// connection told to wait, the host hears nothing until the wait is over.
func TestRetryAfterRestsTheConnections(t *testing.T) {
	fx := newFixture(t, origin.Options{})
	var log requestLog
	refuseFirst(fx, &log, "1", "r2.bin")
	for i := range 3 {
		fx.add(fmt.Sprintf("r%d.bin", i), 64<<10)
	}
	dir := t.TempDir()
	opts := testOptions(dir)
	opts.Connections = 2
	opts.Backoff.RetryAfterCap = 5 * time.Second
	if sum := runFixture(t, fx, opts); sum.Done != 3 {
		t.Fatalf("%+v", sum)
	}
	fx.verify(t, dir, nil)
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.times) != 5 {
		t.Fatalf("%d requests (%v), want 2 refused and 3 answered", len(log.times), log.names)
	}
	// r0 and r1 are refused. Once both connections have been told to wait
	// a second, the host hears nothing until the first wait is over. (A
	// connection that starts late may fetch a retried range first, while
	// only one of them rests.)
	var first time.Time
	for i, refused := range log.refused {
		if !refused {
			continue
		}
		if first.IsZero() {
			first = log.times[i]
			continue
		}
		if i+1 < len(log.times) {
			if gap := log.times[i+1].Sub(first); gap < 900*time.Millisecond {
				t.Errorf("%s was requested %v after the first of two connections was told to wait 1 s", log.names[i+1], gap)
			}
		}
		break
	}
}

// The refused range is not held back: with connections to spare, another
// one fetches it while the refused one rests.
func TestRefusedRangeGoesToAnotherConnection(t *testing.T) {
	fx := newFixture(t, origin.Options{})
	var log requestLog
	refuseFirst(fx, &log, "30", "")
	fx.add("x.bin", 64<<10)
	dir := t.TempDir()
	opts := testOptions(dir)
	opts.Connections = 4
	opts.Backoff.RetryAfterCap = time.Minute
	start := time.Now()
	if sum := runFixture(t, fx, opts); sum.Done != 1 {
		t.Fatalf("%+v", sum)
	}
	fx.verify(t, dir, nil)
	// Generous: the point is that the 30 s are not waited out.
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("took %v: the range waited out the Retry-After", d)
	}
}

// Rests take connections from the host's share of the budget; a cut of the
// limit by the same refusals does not take them a second time.
func TestRoomCountsRestsAgainstTheBudgetNotTheLimit(t *testing.T) {
	rest := func(n int) []time.Time { return make([]time.Time, n) }
	cases := []struct {
		name                        string
		conns, maxPerHost           int
		limit, inUse, resting, want int
	}{
		{"no rests", 16, 16, 16, 3, 0, 13},
		{"rests within the budget", 16, 16, 16, 3, 8, 5},
		{"cut to 2 with 8 resting", 16, 16, 2, 0, 8, 2},
		{"cut to 2 with 8 resting, 1 in use", 16, 16, 2, 1, 8, 1},
		{"every connection resting", 16, 16, 8, 0, 16, 0},
		{"the host's share resting", 16, 4, 4, 0, 4, 0},
		{"more resting than the share", 16, 4, 2, 0, 6, -2},
	}
	for _, c := range cases {
		r := &run{opts: Options{Connections: c.conns, MaxPerHost: c.maxPerHost}}
		h := &host{ctl: hostlimit.New(hostlimit.DefaultParams(c.limit, false)), conns: c.inUse, resting: rest(c.resting)}
		if got := r.room(h); got != c.want {
			t.Errorf("%s: room %d, want %d", c.name, got, c.want)
		}
	}
}
