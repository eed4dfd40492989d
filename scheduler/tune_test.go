package scheduler

import (
	"fmt"
	"testing"
	"time"

	"github.com/bulkget/bulkget/internal/origin"
)

// lastLevel is the connections the last HostLimit event allowed, or start.
func (r *recorder) lastLevel(start int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	level := start
	for _, e := range r.events {
		if e.Kind == HostLimit {
			level = e.Conns
		}
	}
	return level
}

func TestAdaptiveConnectionsClimbWhereEachConnectionIsCapped(t *testing.T) {
	fx := newFixture(t, origin.Options{PerConnRate: 1 << 20})
	for i := range 4 {
		fx.add(fmt.Sprintf("c%d.bin", i), 10<<20)
	}
	dir := t.TempDir()
	opts := testOptions(dir)
	opts.Adaptive, opts.Connections, opts.MaxPerHost = true, 32, 32
	ct := withCounter(&opts)
	rec := &recorder{}
	opts.Reporter = rec
	start := time.Now()
	if sum := runFixture(t, fx, opts); sum.Done != 4 {
		t.Fatalf("%+v", sum)
	}
	fx.verify(t, dir, nil)
	t.Logf("40 MiB in %v, at most %d requests at once, last level %d", time.Since(start).Round(time.Millisecond), ct.peak.Load(), rec.lastLevel(tuneStart))
	// At the start level the files would take 10 s; every raise pays.
	if p := ct.peak.Load(); p < 3*tuneStart {
		t.Errorf("at most %d requests at once: the level never climbed where every connection adds 1 MiB/s", p)
	}
}

func TestAdaptiveConnectionsStayLowWhereTheHostIsCappedInTotal(t *testing.T) {
	// Long enough for a raise to be measured and given back.
	fx := newFixture(t, origin.Options{TotalRate: 8 << 20})
	for i := range 4 {
		fx.add(fmt.Sprintf("t%d.bin", i), 10<<20)
	}
	dir := t.TempDir()
	opts := testOptions(dir)
	opts.Adaptive, opts.Connections, opts.MaxPerHost = true, 32, 32
	ct := withCounter(&opts)
	rec := &recorder{}
	opts.Reporter = rec
	if sum := runFixture(t, fx, opts); sum.Done != 4 {
		t.Fatalf("%+v", sum)
	}
	fx.verify(t, dir, nil)
	t.Logf("at most %d requests at once, last level %d", ct.peak.Load(), rec.lastLevel(tuneStart))
	// One raise is tried, and given back when it gains nothing.
	if p := ct.peak.Load(); p > 2*tuneStart {
		t.Errorf("at most %d requests at once: more connections were added though they gained nothing", p)
	}
	if l := rec.lastLevel(tuneStart); l != tuneStart {
		t.Errorf("settled at %d connections, want the %d that fill the host", l, tuneStart)
	}
}
