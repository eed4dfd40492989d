package scheduler

import (
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkget/bulkget/hostlimit"
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

// adaptiveRun runs fx's n files with adaptive connections, up to 32,
// checks them, and returns the counter of requests at the client and the
// events; report, if not nil, also hears every event.
func adaptiveRun(t *testing.T, fx *fixture, n int, report func(*countingTransport, Event)) (*countingTransport, *recorder) {
	t.Helper()
	dir := t.TempDir()
	opts := testOptions(dir)
	opts.Adaptive, opts.Connections, opts.MaxPerHost = true, 32, 32
	ct, d := withCounter()
	rec := &recorder{}
	opts.Reporter = ReporterFunc(func(e Event) {
		rec.Report(e)
		if report != nil {
			report(ct, e)
		}
	})
	if sum := runFixtureWith(t, fx, opts, d); sum.Done != n {
		t.Fatalf("%+v", sum)
	}
	fx.verify(t, dir, nil)
	return ct, rec
}

func TestAdaptiveConnectionsClimbWhereEachConnectionIsCapped(t *testing.T) {
	fx := newFixture(t, origin.Options{PerConnRate: 1 << 20})
	for i := range 4 {
		fx.add(fmt.Sprintf("c%d.bin", i), 10<<20)
	}
	start := time.Now()
	ct, rec := adaptiveRun(t, fx, 4, nil)
	t.Logf("40 MiB in %v, at most %d requests at once, last level %d", time.Since(start).Round(time.Millisecond), ct.peak.Load(), rec.lastLevel(tuneStart))
	// At the start level the files would take 10 s; every raise pays.
	if p := ct.peak.Load(); p < 3*tuneStart {
		t.Errorf("at most %d requests at once: the level never climbed where every connection adds 1 MiB/s", p)
	}
}

func TestAdaptiveConnectionsClimbOnAHostOfSmallFiles(t *testing.T) {
	// Each request waits 20 ms for its answer and then takes no time:
	// most connections are awaiting an answer at any moment, and each
	// one more adds as much as the others.
	fx := newFixture(t, origin.Options{Latency: 20 * time.Millisecond})
	for i := range 600 {
		fx.add(fmt.Sprintf("s%03d.bin", i), 16<<10)
	}
	ct, rec := adaptiveRun(t, fx, 600, nil)
	t.Logf("at most %d requests at once, last level %d", ct.peak.Load(), rec.lastLevel(tuneStart))
	// At the start level the files take 3 s; a window that waited for
	// every connection to be answered would never start.
	if p := ct.peak.Load(); p < 2*tuneStart {
		t.Errorf("at most %d requests at once: the level never climbed on a host of small files", p)
	}
}

func TestAdaptiveConnectionsStayLowWhereTheHostIsCappedInTotal(t *testing.T) {
	// Long enough for a raise to be measured and given back, and for the
	// ranges of the connections given back to hold on for many seconds.
	fx := newFixture(t, origin.Options{TotalRate: 16 << 20})
	for i := range 4 {
		fx.add(fmt.Sprintf("t%d.bin", i), 40<<20)
	}
	// Requests in flight a moment after the raise is given back: the
	// useless connections go once they have filled the buffer they are
	// reading into (2 MiB at 2 MiB/s here), not when their ranges end.
	var after atomic.Int64
	after.Store(-1)
	ct, rec := adaptiveRun(t, fx, 4, func(ct *countingTransport, e Event) {
		if e.Kind == HostLimit && e.Err != nil {
			time.AfterFunc(1500*time.Millisecond, func() { after.Store(ct.inFlight.Load()) })
		}
	})
	t.Logf("at most %d requests at once, last level %d, %d in flight after the give-back", ct.peak.Load(), rec.lastLevel(tuneStart), after.Load())
	if n := after.Load(); n > tuneStart {
		t.Errorf("%d requests in flight 1.5 s after the level went back to %d", n, tuneStart)
	}
	// One raise is tried, and given back when it gains nothing.
	if p := ct.peak.Load(); p > 2*tuneStart {
		t.Errorf("at most %d requests at once: more connections were added though they gained nothing", p)
	}
	if l := rec.lastLevel(tuneStart); l != tuneStart {
		t.Errorf("settled at %d connections, want the %d that fill the host", l, tuneStart)
	}
}

func TestBurstsAreNotStallsAndAreNotFetchedTwice(t *testing.T) {
	const size, burst = 4 << 20, 64 << 10
	var served atomic.Int64
	m := &misbehave{body: content(size)}
	m.answer = func(w http.ResponseWriter, r *http.Request, _ int64, start, end int64) bool {
		// As nginx's limit_rate does: a burst, then a pause.
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end-1, size))
		w.Header().Set("Content-Length", strconv.FormatInt(end-start, 10))
		w.WriteHeader(http.StatusPartialContent)
		for off := start; off < end; off += burst {
			n, err := w.Write(m.body[off:min(off+burst, end)])
			served.Add(int64(n))
			if err != nil {
				return true
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return true
			case <-time.After(400 * time.Millisecond):
			}
		}
		return true
	}
	dir := t.TempDir()
	opts := testOptions(dir)
	opts.Connections = 8
	opts.MinSegment = 256 << 10
	opts.HedgeAfter = 250 * time.Millisecond // well below the pauses
	sum, rec, took := runOne(t, m, opts)
	if sum.Done != 1 {
		t.Fatalf("%+v", sum)
	}
	twice := served.Load() - size
	t.Logf("%v, %d requests, %d bytes served for %d (%.1f%% twice)", took, m.reqs.Load(), served.Load(), size, 100*float64(twice)/size)
	if twice > size/50 {
		t.Errorf("%d bytes fetched twice: pauses between bursts were taken for stalls", twice)
	}
	if n := rec.count(Retrying); n != 0 {
		t.Errorf("%d retries against a host that only paces", n)
	}
}

func TestAdaptiveConnectionsSettleAtTheKneeOfACappedHost(t *testing.T) {
	// Each connection gets 1 MiB/s until 12 share the host's 12 MiB/s.
	fx := newFixture(t, origin.Options{PerConnRate: 1 << 20, TotalRate: 12 << 20})
	for i := range 4 {
		fx.add(fmt.Sprintf("k%d.bin", i), 20<<20)
	}
	_, rec := adaptiveRun(t, fx, 4, nil)
	level := rec.lastLevel(tuneStart)
	t.Logf("settled at %d connections", level)
	if level < 10 || level > 16 {
		t.Errorf("settled at %d connections where 12 fill the host", level)
	}
}

func TestAdaptiveRaiseIsGivenBackAtTheFirstRefusal(t *testing.T) {
	fx := newFixture(t, origin.Options{PerConnRate: 2 << 20, MaxInFlight: tuneStart, OverloadStatus: 503, OverloadRetryAfter: "1"})
	for i := range 4 {
		fx.add(fmt.Sprintf("r%d.bin", i), 8<<20)
	}
	_, rec := adaptiveRun(t, fx, 4, nil)
	st := fx.srv.Stats()
	refused := st.ByStatus[503]
	t.Logf("%d requests, %d refused, last level %d", st.Requests, refused, rec.lastLevel(tuneStart))
	// The raise starts slow (one request awaiting an answer): the first
	// refusal gives it back. The origin counts a request as in flight a
	// moment after the client is done with it, so one more may be refused.
	if refused > 2 {
		t.Errorf("%d refusals: the raise was not given back at the first", refused)
	}
	if l := rec.lastLevel(tuneStart); l != tuneStart {
		t.Errorf("settled at %d connections, want the %d the host allows", l, tuneStart)
	}
}

// tuneStart is the level an adaptive host starts at.
const tuneStart = 4

func TestTuneStartIsTheControllers(t *testing.T) {
	if s := hostlimit.DefaultParams(1, true).Start; s != tuneStart {
		t.Fatalf("the controller starts at %d, these tests assume %d", s, tuneStart)
	}
}
