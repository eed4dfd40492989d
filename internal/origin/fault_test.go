package origin

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// newProtoServer starts a server and a client speaking proto: "h1" (plain),
// "h1-tls" (TLS with HTTP/2 refused by the client) or "h2".
func newProtoServer(t *testing.T, proto string, opts Options) (*Server, *http.Client) {
	t.Helper()
	if proto == "h1" {
		s := startServer(t, opts)
		return s, s.Client()
	}
	s := NewTLS(opts)
	t.Cleanup(s.Close)
	if proto == "h2" {
		return s, s.Client()
	}
	// A custom TLS config without ForceAttemptHTTP2 keeps the transport on
	// HTTP/1.1.
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CertPool()}}
	t.Cleanup(tr.CloseIdleConnections)
	return s, &http.Client{Transport: tr}
}

// withFault installs hook for the duration of a test; swapping it in through
// SetOptions also exercises runtime option changes.
func withFault(t *testing.T, s *Server, hook func(Request) Fault) {
	t.Helper()
	s.SetOptions(func(o *Options) { o.Fault = hook })
	t.Cleanup(func() { s.SetOptions(func(o *Options) { o.Fault = nil }) })
}

func TestStatusFaultAnswersThatStatusAndRetryAfterNotTheFile(t *testing.T) {
	s := startServer(t, Options{})
	s.Add("f", 100)
	for _, code := range []int{500, 503, 429, 404} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			withFault(t, s, func(Request) Fault { return Fault{Status: code, RetryAfter: "7"} })
			r := do(t, s.Client(), "GET", s.URL("f"), nil)
			if r.resp.StatusCode != code || r.resp.Header.Get("Retry-After") != "7" {
				t.Fatalf("status %d Retry-After %q", r.resp.StatusCode, r.resp.Header.Get("Retry-After"))
			}
			if r.resp.Header.Get("ETag") != "" || len(r.body) > 100 || len(r.body) == 0 {
				t.Errorf("fault response looks like a file: %v, %d bytes", r.resp.Header, len(r.body))
			}
		})
	}
	s.WaitIdle(2 * time.Second)
	if got := s.Stats().ByStatus[503]; got != 1 {
		t.Errorf("ByStatus[503] = %d", got)
	}
}

func TestFaultHookSeesEveryRequestNumberedWithItsRange(t *testing.T) {
	s := startServer(t, Options{})
	s.Add("f", 1000)
	var mu sync.Mutex
	var seen []Request
	withFault(t, s, func(r Request) Fault {
		mu.Lock()
		seen = append(seen, r)
		mu.Unlock()
		if r.N == 1 {
			return Fault{Status: 503}
		}
		return Fault{}
	})
	for _, rng := range []string{"", "bytes=10-19", "bytes=990-", "bytes=-5", "bytes=x"} {
		do(t, s.Client(), "GET", s.URL("f"), map[string]string{"Range": rng})
	}
	want := []Request{
		{N: 1, Start: 0, End: -1},
		{N: 2, Start: 10, End: 20, Ranged: true},
		{N: 3, Start: 990, End: -1, Ranged: true},
		{N: 4, Start: 995, End: -1, Ranged: true},
		{N: 5, Start: 0, End: -1},
	}
	for i, w := range want {
		g := seen[i]
		if g.Name != "f" || g.N != w.N || g.Start != w.Start || g.End != w.End || g.Ranged != w.Ranged || g.Method != "GET" {
			t.Errorf("request %d: got %+v, want %+v", i, g, w)
		}
	}
	if s.Stats().ByStatus[503] != 1 {
		t.Error("only the first request should have failed")
	}
}

func TestBodyFaultsCutOrShiftTheBodyAsConfigured(t *testing.T) {
	const size = 200_000
	for _, proto := range []string{"h1", "h1-tls", "h2"} {
		h2 := proto == "h2"
		s, c := newProtoServer(t, proto, Options{})
		s.Add("f", size)
		full := content("f", 0, 0, size)
		for _, tc := range []struct {
			name   string
			fault  Fault
			rng    string
			check  func(t *testing.T, r result)
			status int
		}{
			{"ResetAfter", Fault{ResetAfter: 12345}, "", func(t *testing.T, r result) {
				// HTTP/2 resets only the stream, so any error will do there.
				if r.err == nil || !h2 && !errors.Is(r.err, syscall.ECONNRESET) {
					t.Errorf("read error %v, want a connection reset", r.err)
				}
				if len(r.body) != 12345 || !bytes.Equal(r.body, full[:12345]) {
					t.Errorf("got %d bytes before the reset, want 12345", len(r.body))
				}
			}, 200},
			{"ResetAfter in range", Fault{ResetAfter: 100}, "bytes=1000-", func(t *testing.T, r result) {
				if r.err == nil || len(r.body) != 100 || !bytes.Equal(r.body, full[1000:1100]) {
					t.Errorf("got %d bytes, err %v", len(r.body), r.err)
				}
			}, 206},
			{"ResetAfter beyond body", Fault{ResetAfter: size}, "", func(t *testing.T, r result) {
				if r.err != nil || len(r.body) != size {
					t.Errorf("got %d bytes, err %v", len(r.body), r.err)
				}
			}, 200},
			{"ShortBy", Fault{ShortBy: 1000}, "", func(t *testing.T, r result) {
				if !errors.Is(r.err, io.ErrUnexpectedEOF) {
					t.Errorf("read error %v, want unexpected EOF", r.err)
				}
				if r.resp.ContentLength != size || len(r.body) != size-1000 || !bytes.Equal(r.body, full[:size-1000]) {
					t.Errorf("declared %d, got %d bytes", r.resp.ContentLength, len(r.body))
				}
			}, 200},
			{"IgnoreRange", Fault{IgnoreRange: true}, "bytes=10-19", func(t *testing.T, r result) {
				if r.err != nil || !bytes.Equal(r.body, full) {
					t.Errorf("got %d bytes, err %v", len(r.body), r.err)
				}
			}, 200},
			{"WrongRange", Fault{WrongRange: true}, "bytes=10-19", func(t *testing.T, r result) {
				if cr := r.resp.Header.Get("Content-Range"); cr != "bytes 11-20/200000" {
					t.Errorf("Content-Range %q", cr)
				}
				if !bytes.Equal(r.body, full[11:21]) {
					t.Errorf("body is not the shifted range")
				}
			}, 206},
			{"WrongRange at end", Fault{WrongRange: true}, "bytes=-1", func(t *testing.T, r result) {
				if cr := r.resp.Header.Get("Content-Range"); cr != "bytes 199998-199998/200000" {
					t.Errorf("Content-Range %q", cr)
				}
				if !bytes.Equal(r.body, full[size-2:size-1]) {
					t.Errorf("body is not the shifted range")
				}
			}, 206},
			{"StallAfter with StallFor", Fault{StallAfter: 5000, StallFor: 300 * time.Millisecond}, "", func(t *testing.T, r result) {
				if r.err != nil || !bytes.Equal(r.body, full) {
					t.Errorf("got %d bytes, err %v", len(r.body), r.err)
				}
			}, 200},
		} {
			t.Run(proto+"/"+tc.name, func(t *testing.T) {
				withFault(t, s, func(Request) Fault { return tc.fault })
				start := time.Now()
				r := do(t, c, "GET", s.URL("f"), map[string]string{"Range": tc.rng})
				if r.resp.ProtoMajor == 2 != h2 {
					t.Fatalf("protocol %s", r.resp.Proto)
				}
				if r.resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d", r.resp.StatusCode, tc.status)
				}
				tc.check(t, r)
				if tc.fault.StallFor > 0 && time.Since(start) < tc.fault.StallFor {
					t.Errorf("stalled response finished after %v", time.Since(start))
				}
			})
		}
	}
}

// An unbounded stall really stops the body at
// the stall point, and a client giving up frees the handler.
func TestUnboundedStallStopsTheBodyUntilTheClientGivesUp(t *testing.T) {
	s := startServer(t, Options{Fault: func(Request) Fault { return Fault{StallAfter: 777} }})
	s.Add("f", 100_000)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL("f"), nil)
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan int, 1)
	go func() {
		b, _ := io.ReadAll(resp.Body)
		got <- len(b)
	}()
	select {
	case n := <-got:
		t.Fatalf("body ended after %d bytes instead of stalling", n)
	case <-time.After(300 * time.Millisecond):
	}
	cancel()
	if n := <-got; n != 777 {
		t.Errorf("received %d bytes before the stall, want 777", n)
	}
	resp.Body.Close()
	if !s.WaitIdle(2 * time.Second) {
		t.Fatal("handler still running after the client left")
	}
	if b := s.Stats().BytesServed; b != 777 {
		t.Errorf("BytesServed %d", b)
	}
}

// The reset fires while the socket buffers are
// full: the promised bytes must still all arrive before the reset.
func TestResetDeliversThePromisedBytesToASlowReaderFirst(t *testing.T) {
	const n = 6 << 20
	s := startServer(t, Options{Fault: func(Request) Fault { return Fault{ResetAfter: n} }})
	s.Add("f", 2*n)
	resp, err := s.Client().Get(s.URL("f"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	time.Sleep(300 * time.Millisecond)
	b, err := io.ReadAll(resp.Body)
	if !errors.Is(err, syscall.ECONNRESET) || len(b) != n || !bytes.Equal(b[n-100:], content("f", 0, n-100, 100)) {
		t.Errorf("got %d bytes, err %v; want %d bytes then a reset", len(b), err, n)
	}
}

// Body faults are still detectable when the
// client has no length to compare against.
func TestBodyFaultsShowWithoutALength(t *testing.T) {
	const size = 100_000
	for _, proto := range []string{"h1", "h1-tls", "h2"} {
		for _, flt := range []Fault{{ShortBy: 1000}, {ResetAfter: 5000}} {
			t.Run(fmt.Sprintf("%s/%+v", proto, flt), func(t *testing.T) {
				s, c := newProtoServer(t, proto, Options{NoLength: true, Fault: func(Request) Fault { return flt }})
				s.Add("f", size)
				r := do(t, c, "GET", s.URL("f"), nil)
				if r.err == nil || r.resp.ContentLength != -1 {
					t.Errorf("length %d, got %d bytes with err %v; want an error", r.resp.ContentLength, len(r.body), r.err)
				}
			})
		}
	}
}
