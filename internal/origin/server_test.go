package origin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type result struct {
	resp *http.Response
	body []byte
	err  error // error while reading the body
}

func do(t *testing.T, c *http.Client, method, url string, hdr map[string]string) result {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return result{resp, body, err}
}

func content(name string, version int, off, n int64) []byte {
	b := make([]byte, n)
	Content(name, version, off, b)
	return b
}

func startServer(t *testing.T, opts Options) *Server {
	t.Helper()
	s := New(opts)
	t.Cleanup(s.Close)
	return s
}

func TestFullGetMatchesSHA256(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run("tls="+strconv.FormatBool(tls), func(t *testing.T) {
			s := New(Options{})
			if tls {
				s = NewTLS(Options{})
			}
			t.Cleanup(s.Close)
			for _, size := range []int64{0, 1, 1<<20 + 13} {
				name := "sub dir/f" + strconv.FormatInt(size, 10)
				s.Add(name, size)
				r := do(t, s.Client(), "GET", s.URL(name), nil)
				if r.err != nil || r.resp.StatusCode != 200 {
					t.Fatalf("size %d: status %d err %v", size, r.resp.StatusCode, r.err)
				}
				if tls && r.resp.ProtoMajor != 2 {
					t.Errorf("TLS server negotiated %s, want HTTP/2", r.resp.Proto)
				}
				sum := sha256.Sum256(r.body)
				if got, want := hex.EncodeToString(sum[:]), SHA256Hex(name, 0, size); got != want {
					t.Errorf("size %d: body hash %s, want %s", size, got, want)
				}
				if r.resp.ContentLength != size {
					t.Errorf("size %d: Content-Length %d", size, r.resp.ContentLength)
				}
				h := r.resp.Header
				if h.Get("Accept-Ranges") != "bytes" || h.Get("Content-Type") != "application/octet-stream" ||
					h.Get("ETag") != ETag(name, 0, size) || h.Get("Last-Modified") == "" {
					t.Errorf("size %d: unexpected headers %v", size, h)
				}
			}
		})
	}
}

func TestRangesAreAnsweredAsRFC9110SaysOrIgnored(t *testing.T) {
	const size = 1000
	s := startServer(t, Options{})
	s.Add("r", size)
	s.Add("empty", 0)
	for _, tc := range []struct {
		name, file, rng string
		status          int
		first, last     int64 // expected body range, inclusive
		contentRange    string
	}{
		{"a-b", "r", "bytes=10-19", 206, 10, 19, "bytes 10-19/1000"},
		{"single byte", "r", "bytes=999-999", 206, 999, 999, "bytes 999-999/1000"},
		{"a-", "r", "bytes=990-", 206, 990, 999, "bytes 990-999/1000"},
		{"b past end", "r", "bytes=900-5000", 206, 900, 999, "bytes 900-999/1000"},
		{"suffix", "r", "bytes=-7", 206, 993, 999, "bytes 993-999/1000"},
		{"suffix longer than file", "r", "bytes=-5000", 206, 0, 999, "bytes 0-999/1000"},
		{"spaces and unit case", "r", "Bytes = 1-2", 206, 1, 2, "bytes 1-2/1000"},
		{"start at size", "r", "bytes=1000-", 416, 0, -1, "bytes */1000"},
		{"start past size", "r", "bytes=2000-3000", 416, 0, -1, "bytes */1000"},
		{"zero suffix", "r", "bytes=-0", 416, 0, -1, "bytes */1000"},
		{"empty file", "empty", "bytes=0-", 416, 0, -1, "bytes */0"},
		{"reversed", "r", "bytes=5-3", 200, 0, 999, ""},
		{"garbage", "r", "bytes=abc", 200, 0, 999, ""},
		{"other unit", "r", "items=0-1", 200, 0, 999, ""},
		{"multi range", "r", "bytes=0-1,5-6", 200, 0, 999, ""},
		{"no dash", "r", "bytes=5", 200, 0, 999, ""},
		{"sign", "r", "bytes=+5-6", 200, 0, 999, ""},
		{"overflow", "r", "bytes=99999999999999999999-", 200, 0, 999, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, s.Client(), "GET", s.URL(tc.file), map[string]string{"Range": tc.rng})
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", r.resp.StatusCode, tc.status)
			}
			if got := r.resp.Header.Get("Content-Range"); got != tc.contentRange {
				t.Errorf("Content-Range %q, want %q", got, tc.contentRange)
			}
			want := content(tc.file, 0, tc.first, tc.last-tc.first+1)
			if !bytes.Equal(r.body, want) {
				t.Errorf("body of %d bytes does not match [%d,%d]", len(r.body), tc.first, tc.last)
			}
			if tc.status != 416 && r.resp.ContentLength != int64(len(want)) {
				t.Errorf("Content-Length %d, want %d", r.resp.ContentLength, len(want))
			}
		})
	}
}

func TestIfRangeHonoursOnlyAMatchingStrongValidator(t *testing.T) {
	s := startServer(t, Options{})
	s.Add("f", 100)
	etag := ETag("f", 0, 100)
	lm := LastModified(0).Format(http.TimeFormat)
	for _, tc := range []struct {
		name, ifRange string
		status        int
	}{
		{"etag match", etag, 206},
		{"date match", lm, 206},
		{"etag mismatch", `"nope"`, 200},
		{"weak etag", "W/" + etag, 200},
		{"date mismatch", LastModified(1).Format(http.TimeFormat), 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, s.Client(), "GET", s.URL("f"), map[string]string{"Range": "bytes=10-", "If-Range": tc.ifRange})
			if r.resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", r.resp.StatusCode, tc.status)
			}
			if tc.status == 200 && len(r.body) != 100 {
				t.Fatalf("got %d bytes, want whole file", len(r.body))
			}
		})
	}
}

func TestNewVersionHasNewContentAndValidators(t *testing.T) {
	s := startServer(t, Options{})
	s.Add("f", 4096)
	r0 := do(t, s.Client(), "GET", s.URL("f"), nil)
	s.SetVersion("f", 1)
	r1 := do(t, s.Client(), "GET", s.URL("f"), nil)
	if r0.resp.Header.Get("ETag") == r1.resp.Header.Get("ETag") {
		t.Error("ETag did not change")
	}
	if r0.resp.Header.Get("Last-Modified") == r1.resp.Header.Get("Last-Modified") {
		t.Error("Last-Modified did not change")
	}
	if bytes.Equal(r0.body, r1.body) || !bytes.Equal(r1.body, content("f", 1, 0, 4096)) {
		t.Error("body is not version 1")
	}
	// The old validator must no longer select a range.
	r := do(t, s.Client(), "GET", s.URL("f"), map[string]string{"Range": "bytes=0-9", "If-Range": r0.resp.Header.Get("ETag")})
	if r.resp.StatusCode != 200 {
		t.Errorf("stale If-Range gave %d, want 200", r.resp.StatusCode)
	}
}

func TestHeadMissingFilesAndOtherMethodsGetTheirStatus(t *testing.T) {
	s := startServer(t, Options{})
	s.Add("f", 123)
	for _, tc := range []struct {
		method, name string
		hdr          map[string]string
		status       int
		length       int64
	}{
		{"HEAD", "f", nil, 200, 123},
		{"HEAD", "f", map[string]string{"Range": "bytes=3-"}, 206, 120},
		{"GET", "missing", nil, 404, -2},
		{"POST", "f", nil, 405, -2},
		{"DELETE", "f", nil, 405, -2},
	} {
		t.Run(tc.method+" "+tc.name, func(t *testing.T) {
			r := do(t, s.Client(), tc.method, s.URL(tc.name), tc.hdr)
			if r.resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", r.resp.StatusCode, tc.status)
			}
			if tc.length != -2 && r.resp.ContentLength != tc.length {
				t.Errorf("Content-Length %d, want %d", r.resp.ContentLength, tc.length)
			}
			if tc.method == "HEAD" && len(r.body) != 0 {
				t.Errorf("HEAD returned a body")
			}
		})
	}
	s.WaitIdle(2 * time.Second)
	st := s.Stats()
	if st.HeadRequests != 2 || st.Requests != 1 || st.ByStatus[405] != 2 || st.ByStatus[404] != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestNoRangesAndNoLengthServeTheWholeFileAs200(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		size int64
	}{
		{"NoRanges", Options{NoRanges: true}, 5000},
		{"NoLength small", Options{NoLength: true}, 10},
		{"NoLength large", Options{NoLength: true}, 300_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, tc.opts)
			s.Add("f", tc.size)
			r := do(t, s.Client(), "GET", s.URL("f"), map[string]string{"Range": "bytes=1-2"})
			if r.err != nil || r.resp.StatusCode != 200 {
				t.Fatalf("status %d err %v", r.resp.StatusCode, r.err)
			}
			if !bytes.Equal(r.body, content("f", 0, 0, tc.size)) {
				t.Fatal("body is not the whole file")
			}
			if r.resp.Header.Get("Accept-Ranges") != "" || r.resp.Header.Get("Content-Range") != "" {
				t.Errorf("range headers present: %v", r.resp.Header)
			}
			if tc.opts.NoLength {
				if r.resp.ContentLength != -1 || r.resp.Header.Get("Content-Length") != "" {
					t.Errorf("length was sent: %d", r.resp.ContentLength)
				}
				h := do(t, s.Client(), "HEAD", s.URL("f"), nil)
				if h.resp.ContentLength > 0 {
					t.Errorf("HEAD sent length %d", h.resp.ContentLength)
				}
			}
		})
	}
}

func TestURLEscapesEveryAwkwardNameAndServesIt(t *testing.T) {
	s := startServer(t, Options{})
	name := "a b/c%d/é?#.bin"
	s.Add(name, 10)
	u := s.URL(name)
	if !strings.HasPrefix(u, "http://"+s.Addr()+"/a%20b/c%25d/") {
		t.Errorf("URL %s", u)
	}
	r := do(t, s.Client(), "GET", u, nil)
	if r.resp.StatusCode != 200 || !bytes.Equal(r.body, content(name, 0, 0, 10)) {
		t.Fatalf("status %d", r.resp.StatusCode)
	}
}

func TestLatencyDelaysTheResponse(t *testing.T) {
	s := startServer(t, Options{Latency: 150 * time.Millisecond})
	s.Add("f", 1)
	start := time.Now()
	do(t, s.Client(), "GET", s.URL("f"), nil)
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("response after %v, want ≥150ms", d)
	}
}

func TestStatsCountRequestsBytesAndPeaks(t *testing.T) {
	const clients, size = 6, 50_000
	// The hook holds every GET until all of them are in flight, so the peak
	// is exact however slowly the goroutines get scheduled.
	var arrived atomic.Int64
	all := make(chan struct{})
	s := startServer(t, Options{Fault: func(r Request) Fault {
		if r.Method == "GET" {
			if arrived.Add(1) == clients {
				close(all)
			}
			select {
			case <-all:
			case <-time.After(5 * time.Second):
			}
		}
		return Fault{}
	}})
	s.Add("f", size)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			// A transport per client forces one connection per request.
			c := &http.Client{Transport: &http.Transport{}}
			defer c.CloseIdleConnections()
			r := do(t, c, "GET", s.URL("f"), nil)
			if r.err != nil || len(r.body) != size {
				t.Errorf("got %d bytes, err %v", len(r.body), r.err)
			}
		})
	}
	wg.Wait()
	do(t, s.Client(), "HEAD", s.URL("f"), nil)
	if !s.WaitIdle(2 * time.Second) {
		t.Fatal("requests still in flight")
	}
	st := s.Stats()
	want := Stats{Requests: clients, HeadRequests: 1, BytesServed: clients * size, ConnsAccepted: clients + 1,
		PeakConns: clients, PeakRequests: clients}
	if st.Requests != want.Requests || st.HeadRequests != want.HeadRequests || st.BytesServed != want.BytesServed ||
		st.ConnsAccepted != want.ConnsAccepted || st.PeakConns < want.PeakConns || st.PeakRequests != want.PeakRequests ||
		st.ByStatus[200] != clients+1 {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	if n := s.FileRequests("f"); n != clients+1 {
		t.Errorf("FileRequests %d", n)
	}
	s.ResetStats()
	st = s.Stats()
	if st.Requests != 0 || st.BytesServed != 0 || len(st.ByStatus) != 0 || s.FileRequests("f") != 0 || st.PeakRequests != 0 {
		t.Errorf("after reset %+v", st)
	}
}

// The pacing is measured over one second. The tolerance is loose and a
// measurement is retried because a loaded machine (other test binaries, the
// race detector) can freeze the process for a while; a wrong limiter fails
// every attempt.
func TestRatesHoldPerConnectionAndTotal(t *testing.T) {
	const rate = 1 << 20
	measure := func(s *Server, c *http.Client, name string) (float64, error) {
		resp, err := c.Get(s.URL(name))
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		buf := make([]byte, 32<<10)
		// Start the clock at the first byte so dial and headers do not count.
		if _, err := io.ReadAtLeast(resp.Body, buf, 1); err != nil {
			return 0, err
		}
		start := time.Now()
		var got int64
		for time.Since(start) < time.Second {
			n, err := resp.Body.Read(buf)
			got += int64(n)
			if err != nil {
				return 0, err
			}
		}
		return float64(got) / time.Since(start).Seconds(), nil
	}
	for _, tc := range []struct {
		name string
		opts Options
		run  func(s *Server) (float64, error)
	}{
		{"per connection", Options{PerConnRate: rate}, func(s *Server) (float64, error) {
			return measure(s, s.Client(), "f")
		}},
		{"total across connections", Options{TotalRate: rate}, func(s *Server) (float64, error) {
			var mu sync.Mutex
			var sum float64
			var firstErr error
			var wg sync.WaitGroup
			for range 2 {
				wg.Go(func() {
					c := &http.Client{Transport: &http.Transport{}}
					defer c.CloseIdleConnections()
					r, err := measure(s, c, "f")
					mu.Lock()
					defer mu.Unlock()
					sum += r
					if firstErr == nil {
						firstErr = err
					}
				})
			}
			wg.Wait()
			return sum, firstErr
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for attempt := 1; ; attempt++ {
				s := startServer(t, tc.opts)
				s.Add("f", 8*rate)
				got, err := tc.run(s)
				s.Close()
				if err != nil {
					t.Fatal(err)
				}
				if got >= rate*0.75 && got <= rate*1.25 {
					t.Logf("rate %.0f B/s (%.1f%% of target), attempt %d", got, 100*got/rate, attempt)
					return
				}
				if attempt == 3 {
					t.Fatalf("rate %.0f B/s, want %d ±25%%", got, rate)
				}
				t.Logf("rate %.0f B/s off target, retrying", got)
			}
		})
	}
}

// The per-connection budget is shared
// by sequential keep-alive requests rather than restarting with each one.
func TestPerConnectionRateIsSharedByKeepAliveRequests(t *testing.T) {
	const rate, file, n = 2 << 20, 128 << 10, 16 // 2 MiB over one connection: ~1 s
	s := startServer(t, Options{PerConnRate: rate})
	s.Add("f", file)
	start := time.Now()
	for range n {
		if r := do(t, s.Client(), "GET", s.URL("f"), nil); r.err != nil || len(r.body) != file {
			t.Fatalf("got %d bytes, err %v", len(r.body), r.err)
		}
	}
	if d := time.Since(start); d < 800*time.Millisecond {
		t.Errorf("%d KiB took %v at %d KiB/s", n*file>>10, d, rate>>10)
	}
	if c := s.Stats().ConnsAccepted; c != 1 {
		t.Errorf("%d connections, want 1 (keep-alive)", c)
	}
}

func TestCloseDoesNotWaitForAStalledHandler(t *testing.T) {
	s := New(Options{Fault: func(Request) Fault { return Fault{StallAfter: 10} }})
	s.Add("f", 1000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL("f"), nil)
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadFull(resp.Body, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v", d)
	}
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Error("body completed after Close")
	}
	if n := s.st.inflight.Load(); n != 0 {
		t.Errorf("%d handlers still running after Close", n)
	}
	if _, err := s.Client().Get(s.URL("f")); err == nil {
		t.Error("server still answers after Close")
	}
}

func TestReplicasTakeTurnsWithTheirOwnValidators(t *testing.T) {
	const size = 4096
	for _, differ := range []bool{false, true} {
		s := startServer(t, Options{Replicas: 2, ReplicaBytesDiffer: differ})
		s.Add("r.bin", size)
		etags := map[string]bool{}
		for i := range 4 {
			r := do(t, s.Client(), http.MethodGet, s.URL("r.bin"), nil)
			replica := i % 2
			version, etag := 0, ETag("r.bin", 0, size)
			switch {
			case replica == 1 && differ:
				version, etag = 1, ETag("r.bin", 1, size)
			case replica == 1:
				etag = ReplicaETag("r.bin", 0, 1, size)
			}
			if got := r.resp.Header.Get("ETag"); got != etag {
				t.Errorf("differ %v, answer %d: ETag %s, want replica %d's %s", differ, i, got, replica, etag)
			}
			if !bytes.Equal(r.body, content("r.bin", version, 0, size)) {
				t.Errorf("differ %v, answer %d: not version %d's bytes", differ, i, version)
			}
			etags[r.resp.Header.Get("ETag")] = true
		}
		if len(etags) != 2 {
			t.Errorf("differ %v: %d ETags, want one per replica", differ, len(etags))
		}
	}
}

func TestIfMatchOfAnotherVersionIsRefusedUnlessIgnored(t *testing.T) {
	for _, ignore := range []bool{false, true} {
		s := startServer(t, Options{IgnoreIfMatch: ignore})
		s.Add("m.bin", 100)
		want := http.StatusPreconditionFailed
		if ignore {
			want = http.StatusPartialContent
		}
		r := do(t, s.Client(), http.MethodGet, s.URL("m.bin"), map[string]string{"Range": "bytes=0-9", "If-Match": `"other"`})
		if r.resp.StatusCode != want || (want == http.StatusPreconditionFailed && r.resp.Header.Get("ETag") != "") {
			t.Errorf("ignore %v: %d with ETag %q, want %d (and no ETag on a 412)", ignore, r.resp.StatusCode, r.resp.Header.Get("ETag"), want)
		}
		r = do(t, s.Client(), http.MethodGet, s.URL("m.bin"), map[string]string{"Range": "bytes=0-9", "If-Match": ETag("m.bin", 0, 100)})
		if r.resp.StatusCode != http.StatusPartialContent {
			t.Errorf("ignore %v: %d to an If-Match of the version served", ignore, r.resp.StatusCode)
		}
	}
}
