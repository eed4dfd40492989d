package scheduler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bulkget/bulkget/internal/origin"
	"github.com/bulkget/bulkget/manifest"
	"github.com/bulkget/bulkget/store"
)

// fixture is a test origin plus a list of files it serves.
type fixture struct {
	srv     *origin.Server
	entries []manifest.Entry
	sizes   map[string]int64
}

func newFixture(t *testing.T, opts origin.Options) *fixture {
	t.Helper()
	srv := origin.New(opts)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, sizes: map[string]int64{}}
}

func (fx *fixture) add(name string, size int64) {
	fx.srv.Add(name, size)
	fx.sizes[name] = size
	fx.entries = append(fx.entries, manifest.Entry{Line: len(fx.entries) + 2, Name: name, URL: fx.srv.URL(name), Size: -1})
}

// testOptions keeps retries fast and deterministic in their count.
func testOptions(dir string) Options {
	return Options{
		Dir:        dir,
		MinSegment: 256 << 10,
		BufferSize: 64 << 10,
		Backoff:    Backoff{Base: time.Millisecond, Max: 5 * time.Millisecond, RetryAfterCap: 50 * time.Millisecond},
	}
}

// recorder collects events.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) Report(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.Kind != Progress {
		r.events = append(r.events, e)
	}
}

func (r *recorder) count(k Kind) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Kind == k {
			n++
		}
	}
	return n
}

// countingTransport measures the run's own concurrency: requests from the
// moment they are sent until their body is closed. The origin's view lags
// (a connection closed early is seen to end a moment later), so budgets
// are checked here.
type countingTransport struct {
	base     http.RoundTripper
	inFlight atomic.Int64
	peak     atomic.Int64
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	n := c.inFlight.Add(1)
	for p := c.peak.Load(); n > p && !c.peak.CompareAndSwap(p, n); p = c.peak.Load() {
	}
	resp, err := c.base.RoundTrip(req)
	if err != nil {
		c.inFlight.Add(-1)
		return nil, err
	}
	resp.Body = &countedBody{ReadCloser: resp.Body, c: c}
	return resp, nil
}

type countedBody struct {
	io.ReadCloser
	c    *countingTransport
	once sync.Once
}

func (b *countedBody) Close() error {
	b.once.Do(func() { b.c.inFlight.Add(-1) })
	return b.ReadCloser.Close()
}

// withCounter returns the dependencies of a run whose concurrency is
// measured, and what measures it.
func withCounter() (*countingTransport, deps) {
	ct := &countingTransport{}
	return ct, deps{wrap: func(next http.RoundTripper) http.RoundTripper { ct.base = next; return ct }}
}

func fileHash(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open result: %v", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// verify checks every file of the fixture (except skip) against the
// origin's content, version 0 unless versions says otherwise, and that no
// .part is left behind for it.
func (fx *fixture) verify(t *testing.T, dir string, versions map[string]int, skip ...string) {
	t.Helper()
	for _, e := range fx.entries {
		if contains(skip, e.Name) {
			continue
		}
		path := filepath.Join(dir, filepath.FromSlash(e.Name))
		if got, want := fileHash(t, path), origin.SHA256Hex(e.Name, versions[e.Name], fx.sizes[e.Name]); got != want {
			t.Errorf("%s: sha256 %s, want %s", e.Name, got, want)
		}
		if _, err := os.Stat(path + store.PartSuffix); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: .part left behind (%v)", e.Name, err)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func runFixture(t *testing.T, fx *fixture, opts Options) Summary {
	t.Helper()
	return runFixtureWith(t, fx, opts, deps{})
}

// runFixtureWith is runFixture with the run's dependencies handed in.
func runFixtureWith(t *testing.T, fx *fixture, opts Options, d deps) Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sum, err := runWith(ctx, fx.entries, opts, d)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if sum.Interrupted {
		t.Fatalf("Run timed out")
	}
	return sum
}

func TestManySmallFilesOneRequestEach(t *testing.T) {
	fx := newFixture(t, origin.Options{Latency: time.Millisecond})
	for i := range 300 {
		fx.add(fmt.Sprintf("small/f%03d.bin", i), 32<<10+int64(i))
	}
	dir := t.TempDir()
	opts := testOptions(dir)
	opts.Connections = 8
	ct, d := withCounter()
	sum := runFixtureWith(t, fx, opts, d)
	if sum.Done != 300 || len(sum.Failed) != 0 {
		t.Fatalf("done %d, failed %v", sum.Done, sum.Failed)
	}
	fx.verify(t, dir, nil)
	st := fx.srv.Stats()
	if st.Requests != 300 {
		t.Errorf("origin saw %d requests for 300 files, want exactly one each", st.Requests)
	}
	if st.HeadRequests != 0 {
		t.Errorf("origin saw %d HEAD requests, want none", st.HeadRequests)
	}
	if p := ct.peak.Load(); p > 8 {
		t.Errorf("peak concurrent requests %d exceeds -c 8", p)
	}
	// net/http puts a connection back in its idle pool on its own goroutine
	// after the body's end was read; a request sent in that instant dials,
	// and the dialled connection joins the pool unused. So a few more than
	// 8 can be accepted; without reuse it would be one per file.
	if st.ConnsAccepted > 12 {
		t.Errorf("%d TCP connections for 300 small files over 8: connections are not being reused", st.ConnsAccepted)
	}
}

func TestLargeFilesUseSeveralConnectionsWithinBudgets(t *testing.T) {
	for _, c := range []struct {
		name                string
		conns, perHost, per int
	}{
		{"connections", 8, 16, 0},
		{"per-host", 16, 5, 0},
		{"per-file", 16, 16, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			fx := newFixture(t, origin.Options{PerConnRate: 8 << 20, Latency: 2 * time.Millisecond})
			for i := range 3 {
				fx.add(fmt.Sprintf("big%d.bin", i), 4<<20+int64(i)*12345)
			}
			dir := t.TempDir()
			opts := testOptions(dir)
			opts.Connections, opts.MaxPerHost, opts.MaxPerFile = c.conns, c.perHost, c.per
			ct, d := withCounter()
			sum := runFixtureWith(t, fx, opts, d)
			if sum.Done != 3 {
				t.Fatalf("done %d, failed %v", sum.Done, sum.Failed)
			}
			fx.verify(t, dir, nil)
			limit := int64(min(c.conns, c.perHost))
			if c.per > 0 {
				limit = int64(min(int(limit), 3*c.per))
			}
			st := fx.srv.Stats()
			if p := ct.peak.Load(); p > limit {
				t.Errorf("peak concurrent requests %d, limit %d", p, limit)
			}
			if p := ct.peak.Load(); p <= 3 {
				t.Errorf("peak concurrent requests %d: files were not split across connections", p)
			}
			if st.Requests <= 3 {
				t.Errorf("only %d requests for 3 large files: no segments", st.Requests)
			}
		})
	}
}

func TestWorkStealingKeepsConnectionsBusy(t *testing.T) {
	fx := newFixture(t, origin.Options{PerConnRate: 16 << 20})
	fx.add("one.bin", 16<<20)
	dir := t.TempDir()
	opts := testOptions(dir)
	// Three connections cannot split a file evenly by halving: the two
	// quarters finish first and must take over half of what is left.
	opts.Connections = 3
	opts.MinSegment = 512 << 10
	ct, d := withCounter()
	sum := runFixtureWith(t, fx, opts, d)
	fx.verify(t, dir, nil)
	st := fx.srv.Stats()
	if p := ct.peak.Load(); p != 3 {
		t.Errorf("peak concurrent requests %d, want all 3 connections on the one file", p)
	}
	if st.Requests < 5 {
		t.Errorf("%d requests: finished connections did not take over remaining work", st.Requests)
	}
	// A split never hands out bytes already claimed, so nothing is written
	// twice. What the origin pushed also counts what sat in the socket
	// buffers of a request cut short, which depends on timing: bounded
	// loosely.
	if sum.Bytes != 16<<20 {
		t.Errorf("wrote %d bytes for a 16 MiB file", sum.Bytes)
	}
	if st.BytesServed > 24<<20 {
		t.Errorf("origin served %d bytes for a 16 MiB file", st.BytesServed)
	}
}

func TestServersWithoutRangesOrLengthAndTinyFilesCostOneRequestPerFile(t *testing.T) {
	cases := []struct {
		name  string
		opts  origin.Options
		size  int64
		extra int64 // requests beyond one per file
	}{
		// A 200 to the probe is checked by one range past 0, once for
		// the host (trial.go).
		{"no ranges", origin.Options{NoRanges: true}, 3<<20 + 7, 1},
		{"no length", origin.Options{NoLength: true}, 2<<20 + 3, 0},
		{"empty file", origin.Options{}, 0, 0},
		{"one byte", origin.Options{}, 1, 0},
		{"no ranges, empty", origin.Options{NoRanges: true}, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fx := newFixture(t, c.opts)
			fx.add("a/b/file.bin", c.size)
			fx.add("other.bin", c.size)
			dir := t.TempDir()
			sum := runFixture(t, fx, testOptions(dir))
			if sum.Done != 2 {
				t.Fatalf("done %d, failed %v", sum.Done, sum.Failed)
			}
			fx.verify(t, dir, nil)
			if st := fx.srv.Stats(); st.Requests < 2 || st.Requests > 2+c.extra {
				t.Errorf("%d requests, want one per file and at most %d more", st.Requests, c.extra)
			}
		})
	}
}

func TestTransientFaultsAreRetriedAndPermanentOnesFailTheFile(t *testing.T) {
	const size = 3<<20 + 1234
	cases := []struct {
		name       string
		fault      func(r origin.Request) origin.Fault
		wantFail   string // substring of the error; "" means success
		maxReqs    int64  // for the faulty file; 0: no check
		minRetries int
		unsplit    bool // one segment per file, so every faulty request is reached
		everyFile  bool // the fault hits every file, so that some file is split for sure
	}{
		{"reset twice", func(r origin.Request) origin.Fault {
			if r.N <= 2 {
				return origin.Fault{ResetAfter: 100 << 10}
			}
			return origin.Fault{}
		}, "", 0, 2, false, false},
		{"503 with retry-after", func(r origin.Request) origin.Fault {
			if r.N <= 2 {
				return origin.Fault{Status: 503, RetryAfter: "0"}
			}
			return origin.Fault{}
		}, "", 0, 2, false, false},
		{"429", func(r origin.Request) origin.Fault {
			if r.N == 1 {
				return origin.Fault{Status: 429}
			}
			return origin.Fault{}
		}, "", 0, 1, false, false},
		{"short body", func(r origin.Request) origin.Fault {
			if r.N <= 2 {
				return origin.Fault{ShortBy: 1000}
			}
			return origin.Fault{}
		}, "", 0, 2, true, false},
		{"wrong range on later requests", func(r origin.Request) origin.Fault {
			if r.N > 1 && r.N <= 4 && r.Start > 0 {
				return origin.Fault{WrongRange: true}
			}
			return origin.Fault{}
		}, "", 0, 1, false, true},
		{"404 is permanent", func(origin.Request) origin.Fault { return origin.Fault{Status: 404} }, "404", 1, 0, false, false},
		{"403 is permanent", func(origin.Request) origin.Fault { return origin.Fault{Status: 403} }, "403", 1, 0, false, false},
		{"500 forever gives up", func(origin.Request) origin.Fault { return origin.Fault{Status: 500} }, "gave up after 4 attempts", 4, 3, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fx := newFixture(t, origin.Options{PerConnRate: 32 << 20})
			fx.srv.SetOptions(func(o *origin.Options) {
				o.Fault = func(r origin.Request) origin.Fault {
					if r.Name != "faulty.bin" && !c.everyFile {
						return origin.Fault{}
					}
					return c.fault(r)
				}
			})
			fx.add("good1.bin", size)
			fx.add("faulty.bin", size)
			fx.add("good2.bin", size)
			dir := t.TempDir()
			opts := testOptions(dir)
			opts.Connections = 4
			opts.Retries = 3
			if c.unsplit {
				// One connection: no steal or tail split can end a faulty
				// request's range before its fault is reached.
				opts.Connections = 1
				opts.MinSegment = size
			}
			rec := &recorder{}
			opts.Reporter = rec
			sum := runFixture(t, fx, opts)
			if c.wantFail == "" {
				if sum.Done != 3 || len(sum.Failed) != 0 {
					t.Fatalf("done %d, failed %v", sum.Done, sum.Failed)
				}
				fx.verify(t, dir, nil)
			} else {
				if sum.Done != 2 || len(sum.Failed) != 1 {
					t.Fatalf("done %d, failed %v", sum.Done, sum.Failed)
				}
				f := sum.Failed[0]
				if f.Name != "faulty.bin" || f.Line != 3 || !strings.Contains(f.Err.Error(), c.wantFail) {
					t.Errorf("failure %+v, want faulty.bin on line 3 with %q", f, c.wantFail)
				}
				fx.verify(t, dir, nil, "faulty.bin")
				if _, err := os.Stat(filepath.Join(dir, "faulty.bin")); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("failed file exists under its final name")
				}
			}
			if got := fx.srv.FileRequests("faulty.bin"); c.maxReqs > 0 && got > c.maxReqs {
				t.Errorf("%d requests for the faulty file, want at most %d", got, c.maxReqs)
			}
			if got := rec.count(Retrying); got < c.minRetries {
				t.Errorf("%d retry events, want at least %d", got, c.minRetries)
				for _, e := range rec.events {
					t.Logf("event %v %s %v", e.Kind, e.Name, e.Err)
				}
				t.Logf("faulty requests %d, stats %+v", fx.srv.FileRequests("faulty.bin"), fx.srv.Stats())
			}
		})
	}
}

func TestRangesIgnoredMidRunRestartsAsOneStream(t *testing.T) {
	fx := newFixture(t, origin.Options{PerConnRate: 8 << 20})
	fx.srv.SetOptions(func(o *origin.Options) {
		o.Fault = func(r origin.Request) origin.Fault {
			return origin.Fault{IgnoreRange: r.N > 1}
		}
	})
	fx.add("x.bin", 4<<20)
	dir := t.TempDir()
	rec := &recorder{}
	opts := testOptions(dir)
	opts.Reporter = rec
	sum := runFixture(t, fx, opts)
	if sum.Done != 1 {
		t.Fatalf("failed: %v", sum.Failed)
	}
	fx.verify(t, dir, nil)
	if rec.count(Warning) == 0 {
		t.Errorf("no warning about the server dropping ranges")
	}
}

func TestRemoteChangeMidRunRestarts(t *testing.T) {
	fx := newFixture(t, origin.Options{PerConnRate: 4 << 20})
	var changed atomic.Bool
	fx.srv.SetOptions(func(o *origin.Options) {
		o.Fault = func(r origin.Request) origin.Fault {
			if r.N == 3 && changed.CompareAndSwap(false, true) {
				fx.srv.SetVersion("x.bin", 1)
			}
			return origin.Fault{}
		}
	})
	fx.add("x.bin", 4<<20)
	dir := t.TempDir()
	rec := &recorder{}
	opts := testOptions(dir)
	opts.Reporter = rec
	sum := runFixture(t, fx, opts)
	if sum.Done != 1 {
		t.Fatalf("failed: %v", sum.Failed)
	}
	if !changed.Load() {
		t.Fatal("the test never changed the file")
	}
	fx.verify(t, dir, map[string]int{"x.bin": 1})
	if rec.count(Warning) == 0 {
		t.Errorf("no warning about the changed file")
	}
}

func TestStalledConnectionIsCut(t *testing.T) {
	fx := newFixture(t, origin.Options{})
	fx.srv.SetOptions(func(o *origin.Options) {
		o.Fault = func(r origin.Request) origin.Fault {
			if r.N == 1 {
				return origin.Fault{StallAfter: 64 << 10}
			}
			return origin.Fault{}
		}
	})
	fx.add("s.bin", 1<<20)
	dir := t.TempDir()
	opts := testOptions(dir)
	opts.StallTimeout = 300 * time.Millisecond
	// This is about the watchdog: at the end of a run a hedge would take
	// the silent range over first (see TestTailTakesOverSilentRequestsSooner).
	opts.HedgeAfter = -1
	rec := &recorder{}
	opts.Reporter = rec
	start := time.Now()
	sum := runFixture(t, fx, opts)
	if sum.Done != 1 {
		t.Fatalf("failed: %v", sum.Failed)
	}
	fx.verify(t, dir, nil)
	if rec.count(Retrying) == 0 {
		t.Errorf("no retry after the stall")
	}
	// Generous: the point is that the stall is not waited out forever.
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestCancelLeavesOnlyPartFiles(t *testing.T) {
	fx := newFixture(t, origin.Options{PerConnRate: 1 << 20})
	fx.add("slow.bin", 8<<20)
	dir := t.TempDir()
	opts := testOptions(dir)
	ctx, cancel := context.WithCancel(context.Background())
	opts.Reporter = ReporterFunc(func(e Event) {
		if e.Kind == Progress && e.BytesDone > 256<<10 {
			cancel()
		}
	})
	sum, err := Run(ctx, fx.entries, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Interrupted || sum.Done != 0 {
		t.Fatalf("summary %+v, want interrupted with nothing done", sum)
	}
	if _, err := os.Stat(filepath.Join(dir, "slow.bin")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("an incomplete file is under its final name")
	}
	if _, err := os.Stat(filepath.Join(dir, "slow.bin"+store.PartSuffix)); err != nil {
		t.Errorf("no .part kept: %v", err)
	}
}

func TestBackoffDoublesUpToItsMaxWithJitterAndHonoursRetryAfterUpToItsCap(t *testing.T) {
	full := func(d time.Duration) time.Duration { return d - 1 }
	b := Backoff{Base: 100 * time.Millisecond, Max: time.Second, RetryAfterCap: 3 * time.Second, Jitter: full}
	cases := []struct {
		attempt    int
		retryAfter time.Duration
		want       time.Duration
	}{
		{1, 0, 100*time.Millisecond - 1},
		{2, 0, 200*time.Millisecond - 1},
		{4, 0, 800*time.Millisecond - 1},
		{10, 0, time.Second - 1},
		{1, 2 * time.Second, 2 * time.Second},
		{1, time.Hour, 3 * time.Second},
	}
	for _, c := range cases {
		if got := b.Delay(c.attempt, c.retryAfter); got != c.want {
			t.Errorf("Delay(%d, %v) = %v, want %v", c.attempt, c.retryAfter, got, c.want)
		}
	}
	b.Jitter = nil
	for range 100 {
		if d := b.Delay(3, 0); d < 0 || d >= 400*time.Millisecond {
			t.Fatalf("jittered delay %v out of [0, 400ms)", d)
		}
	}
}

func TestInvalidOptionsAreRejectedBeforeTheRunStarts(t *testing.T) {
	for _, o := range []Options{
		{},
		{Dir: "x", Connections: -1},
		{Dir: "x", MaxPerHost: -2},
		{Dir: "x", MaxPerFile: -1},
		{Dir: "x", Retries: -1},
		{Dir: "x", BufferSize: 10},
	} {
		if _, err := Run(context.Background(), nil, o); err == nil {
			t.Errorf("Run accepted %+v", o)
		}
	}
}

func TestMaxFilesLimitsFilesInProgress(t *testing.T) {
	fx := newFixture(t, origin.Options{PerConnRate: 8 << 20})
	for i := range 5 {
		fx.add(fmt.Sprintf("m%d.bin", i), 512<<10)
	}
	dir := t.TempDir()
	opts := testOptions(dir)
	opts.MaxFiles = 2
	var mu sync.Mutex
	open, peak := 0, 0
	opts.Reporter = ReporterFunc(func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		switch e.Kind {
		case Started:
			open++
			peak = max(peak, open)
		case Done, Failed:
			open--
		}
	})
	if sum := runFixture(t, fx, opts); sum.Done != 5 {
		t.Fatalf("%+v", sum)
	}
	fx.verify(t, dir, nil)
	if peak != 2 {
		t.Errorf("%d files in progress at once, want 2", peak)
	}
}

func TestHTTP2IsOptIn(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("http2=%v", h2), func(t *testing.T) {
			srv := origin.NewTLS(origin.Options{PerConnRate: 8 << 20})
			t.Cleanup(srv.Close)
			fx := &fixture{srv: srv, sizes: map[string]int64{}}
			fx.add("a.bin", 2<<20)
			fx.add("b.bin", 2<<20)
			dir := t.TempDir()
			opts := testOptions(dir)
			opts.Connections = 4
			opts.HTTP2 = h2
			opts.Insecure = true // the test certificate; verification has its own test
			runFixture(t, fx, opts)
			fx.verify(t, dir, nil)
			conns := srv.Stats().ConnsAccepted
			// Two first requests at once may each dial before either
			// connection has negotiated h2; after that all share one.
			if h2 && conns > 2 {
				t.Errorf("HTTP/2: %d TCP connections, want them multiplexed on one", conns)
			}
			if !h2 && conns < 3 {
				t.Errorf("HTTP/1.1: %d TCP connections, want one per segment", conns)
			}
		})
	}
}

// A connection keeps its context from one transfer to the next until
// something cancels it; then the next transfer gets a fresh one, so a
// cancel aimed at one transfer never outlives it.
func TestWorkerContextIsReplacedOnlyAfterACancel(t *testing.T) {
	parent, stop := context.WithCancel(context.Background())
	defer stop()
	var w worker
	defer w.stop()
	first, cancel := w.context(parent)
	if again, _ := w.context(parent); again != first {
		t.Fatal("an uncancelled context was replaced")
	}
	cancel()
	second, _ := w.context(parent)
	if second == first || second.Err() != nil {
		t.Fatalf("after a cancel: got the same or a cancelled context (err %v)", second.Err())
	}
	stop()
	if second.Err() == nil {
		t.Fatal("the connection's context does not end with the run's")
	}
}

// A request the server answered and whose answer then broke is retried at
// once; a second failure in a row without progress waits, and so does a
// request the server refused or never answered.
func TestRetryDelayAfterABrokenAnswer(t *testing.T) {
	const size = 1 << 20
	const base = 20 * time.Millisecond
	cases := []struct {
		name  string
		fault func(r origin.Request) origin.Fault
		want  []time.Duration // delays of the retries, in order
	}{
		// Each reset comes after progress, so each is a first failure.
		{"reset mid-body twice", func(r origin.Request) origin.Fault {
			if r.N <= 2 {
				return origin.Fault{ResetAfter: 100 << 10}
			}
			return origin.Fault{}
		}, []time.Duration{0, 0}},
		// The probe's range is wrong: nothing is written, so the second
		// failure waits.
		{"wrong range twice", func(r origin.Request) origin.Fault {
			if r.N <= 2 {
				return origin.Fault{WrongRange: true}
			}
			return origin.Fault{}
		}, []time.Duration{0, base - 1}},
		{"short body", func(r origin.Request) origin.Fault {
			if r.N == 1 {
				return origin.Fault{ShortBy: 1000}
			}
			return origin.Fault{}
		}, []time.Duration{0}},
		{"500 twice", func(r origin.Request) origin.Fault {
			if r.N <= 2 {
				return origin.Fault{Status: 500}
			}
			return origin.Fault{}
		}, []time.Duration{base - 1, 2*base - 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fx := newFixture(t, origin.Options{})
			fx.srv.SetOptions(func(o *origin.Options) { o.Fault = c.fault })
			fx.add("f.bin", size)
			dir := t.TempDir()
			opts := testOptions(dir)
			opts.Connections = 1 // one request at a time: the order is the fault's
			opts.MinSegment = size
			opts.Retries = 3
			opts.Backoff = Backoff{Base: base, Max: time.Second, RetryAfterCap: time.Second,
				Jitter: func(d time.Duration) time.Duration { return d - 1 }}
			rec := &recorder{}
			opts.Reporter = rec
			if sum := runFixture(t, fx, opts); sum.Done != 1 {
				t.Fatalf("done %d, failed %v", sum.Done, sum.Failed)
			}
			fx.verify(t, dir, nil)
			var got []time.Duration
			for _, e := range rec.events {
				if e.Kind == Retrying {
					got = append(got, e.Delay)
				}
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("retry delays %v, want %v", got, c.want)
			}
		})
	}
}

// Something in the way of a listed name is a refusal no retry can change:
// the entry fails at once, with the file system's reason, and the rest of
// the list is fetched. A folder where the file itself must go fails it
// before anything is fetched: the download could never take its name.
func TestSomethingInTheWayFailsAtOnce(t *testing.T) {
	cases := []struct {
		name, listed string
		block        func(path string) error
		errno        syscall.Errno
		unfetched    bool // no request for it, nothing of it left
	}{
		{"a file where a folder must be", "sub/x.bin",
			func(p string) error { return os.WriteFile(p, []byte("a file, not a folder"), 0o644) },
			syscall.ENOTDIR, false},
		{"a folder where the file must go", "sub",
			func(p string) error { return os.Mkdir(p, 0o755) },
			syscall.EISDIR, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fx := newFixture(t, origin.Options{})
			fx.add(c.listed, 64<<10)
			fx.add("ok.bin", 64<<10)
			dir := t.TempDir()
			if err := c.block(filepath.Join(dir, "sub")); err != nil {
				t.Fatal(err)
			}
			opts := testOptions(dir)
			opts.Retries = 3
			rec := &recorder{}
			opts.Reporter = rec
			sum := runFixture(t, fx, opts)
			if sum.Done != 1 || len(sum.Failed) != 1 {
				t.Fatalf("done %d, failed %v", sum.Done, sum.Failed)
			}
			if f := sum.Failed[0]; f.Name != c.listed || !errors.Is(f.Err, c.errno) {
				t.Errorf("failure %+v, want %s with %v", f, c.listed, c.errno)
			}
			if n := rec.count(Retrying); n != 0 {
				t.Errorf("%d retries of a refusal, want none", n)
			}
			if c.unfetched {
				if n := fx.srv.FileRequests(c.listed); n != 0 {
					t.Errorf("%d requests for a file that could never be named", n)
				}
				if _, err := os.Stat(filepath.Join(dir, c.listed+".part")); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s.part left behind (%v)", c.listed, err)
				}
				if fi, err := os.Stat(filepath.Join(dir, "sub")); err != nil || !fi.IsDir() {
					t.Errorf("the folder sub was touched: %v %v", fi, err)
				}
			}
			fx.verify(t, dir, nil, c.listed)
		})
	}
}
