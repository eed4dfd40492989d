package h1

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// counted is an httptest server that counts the TCP connections it
// accepted and how many were open at once.
type counted struct {
	*httptest.Server
	conns, open, peak atomic.Int64
}

func newCounted(t *testing.T, h http.Handler) *counted {
	c := &counted{}
	c.Server = httptest.NewUnstartedServer(h)
	c.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			c.conns.Add(1)
			n := c.open.Add(1)
			for p := c.peak.Load(); n > p && !c.peak.CompareAndSwap(p, n); p = c.peak.Load() {
			}
		case http.StateClosed, http.StateHijacked:
			c.open.Add(-1)
		}
	}
	c.Start()
	t.Cleanup(c.Close)
	return c
}

func newTransport(t *testing.T, o Options) *Transport {
	fb := http.DefaultTransport.(*http.Transport).Clone()
	fb.Proxy = nil
	tr := New(fb, o)
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// payload is n deterministic bytes.
func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func get(t *testing.T, c *http.Client, u string) []byte {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", u, resp.StatusCode)
	}
	return b
}

func TestKeepAliveReusesOneConnection(t *testing.T) {
	data := payload(100_000)
	srv := newCounted(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "f", time.Time{}, strings.NewReader(string(data)))
	}))
	tr := newTransport(t, Options{ReadBufferSize: 64 << 10})
	c := &http.Client{Transport: tr}
	want := sha256.Sum256(data)
	for i := range 50 {
		if got := sha256.Sum256(get(t, c, srv.URL)); got != want {
			t.Fatalf("request %d: wrong content", i)
		}
	}
	// A range, HEAD and 304 leave the connection reusable too.
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Range", "bytes=10-19")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || string(b) != string(data[10:20]) {
		t.Fatalf("range: status %d, %d bytes", resp.StatusCode, len(b))
	}
	resp, err = c.Head(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ContentLength != int64(len(data)) {
		t.Fatalf("HEAD: length %d", resp.ContentLength)
	}
	get(t, c, srv.URL)
	if n := srv.conns.Load(); n != 1 {
		t.Fatalf("%d connections for sequential requests, want 1", n)
	}
	if len(tr.hosts) != 1 {
		t.Fatalf("the requests did not go through h1: %d hosts pooled", len(tr.hosts))
	}
}

func TestChunkedAndCloseDelimitedBodies(t *testing.T) {
	data := payload(70_000)
	srv := newCounted(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/close" {
			w.Header().Set("Connection", "close")
		}
		// No Content-Length and several flushes: chunked on HTTP/1.1.
		for off := 0; off < len(data); off += 10_000 {
			w.Write(data[off:min(off+10_000, len(data))])
			w.(http.Flusher).Flush()
		}
	}))
	c := &http.Client{Transport: newTransport(t, Options{})}
	for _, path := range []string{"/chunked", "/chunked", "/close", "/chunked"} {
		if got := get(t, c, srv.URL+path); string(got) != string(data) {
			t.Fatalf("%s: %d bytes, wrong content", path, len(got))
		}
	}
	// The two chunked requests before /close shared a connection; the
	// server closed it after /close, so the last one needed a new one.
	if n := srv.conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
}

// rawServer answers each connection with handle, for answers net/http's
// server would never give.
func rawServer(t *testing.T, handle func(n int, c net.Conn)) (addr string, conns *atomic.Int64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns = new(atomic.Int64)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(conns.Add(1))
			wg.Go(func() {
				defer c.Close()
				handle(n, c)
			})
		}
	})
	return "http://" + ln.Addr().String(), conns
}

func TestServerClosedIdleConnectionIsRetried(t *testing.T) {
	// Every connection answers one request as keep-alive and then closes,
	// the way a server with a short idle timeout does.
	u, conns := rawServer(t, func(_ int, c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
	})
	c := &http.Client{Transport: newTransport(t, Options{})}
	for i := range 3 {
		if got := get(t, c, u); string(got) != "hello" {
			t.Fatalf("request %d: %q", i, got)
		}
		// Let the server's close arrive before the next request takes the
		// connection from the pool.
		time.Sleep(20 * time.Millisecond)
	}
	if n := conns.Load(); n != 3 {
		t.Fatalf("%d connections, want 3", n)
	}
}

func TestInformationalResponsesAreSkipped(t *testing.T) {
	u, _ := rawServer(t, func(_ int, c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"+
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	c := &http.Client{Transport: newTransport(t, Options{})}
	if got := get(t, c, u); string(got) != "ok" {
		t.Fatalf("got %q", got)
	}
}

func TestShortBodyIsAnError(t *testing.T) {
	u, _ := rawServer(t, func(_ int, c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
	})
	c := &http.Client{Transport: newTransport(t, Options{})}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) || string(b) != "only this" {
		t.Fatalf("got %q, %v; want the 9 bytes and io.ErrUnexpectedEOF", b, err)
	}
}

func TestAbandonedBodyClosesTheConnectionWithoutDraining(t *testing.T) {
	// 1 GiB at most 1 MiB per 10 ms: draining it would take seconds.
	var served atomic.Int64
	srv := newCounted(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(1<<30))
		chunk := make([]byte, 1<<20)
		for range 1 << 10 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			served.Add(int64(len(chunk)))
			time.Sleep(10 * time.Millisecond)
		}
	}))
	tr := newTransport(t, Options{})
	c := &http.Client{Transport: tr}
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, err := resp.Body.Read(make([]byte, 1)); err == nil {
		t.Fatal("Read after Close succeeded")
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv.open.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := srv.open.Load(); n != 0 {
		t.Fatalf("%d connections still open after the body was abandoned", n)
	}
	if s := served.Load(); s > 256<<20 {
		t.Fatalf("server wrote %d MiB: the body was drained", s>>20)
	}
	tr.mu.Lock()
	idle := tr.idle
	tr.mu.Unlock()
	if idle != 0 {
		t.Fatalf("%d idle connections pooled after an abandoned body", idle)
	}
}

func TestCloseUnblocksARead(t *testing.T) {
	stall := make(chan struct{})
	u, _ := rawServer(t, func(_ int, c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab")
		<-stall
	})
	defer close(stall)
	c := &http.Client{Transport: newTransport(t, Options{})}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(resp.Body)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	resp.Body.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("read of a closed body ended without an error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end a blocked Read")
	}
}

func TestCancelEndsTheWaitAndTheBodyWithTheCause(t *testing.T) {
	stall := make(chan struct{})
	u, _ := rawServer(t, func(n int, c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		if n == 2 { // the second connection sends part of a body
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab")
		}
		<-stall
	})
	defer close(stall)
	c := &http.Client{Transport: newTransport(t, Options{})}
	cause := errors.New("stalled")

	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(20*time.Millisecond, func() { cancel(cause) })
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if _, err := c.Do(req); !errors.Is(err, cause) {
		t.Fatalf("waiting for the header: %v, want the cause", err)
	}

	ctx, cancel = context.WithCancelCause(context.Background())
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	time.AfterFunc(20*time.Millisecond, func() { cancel(cause) })
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, cause) {
		t.Fatalf("reading the body: %v, want the cause", err)
	}
}

func TestResponseHeaderTimeout(t *testing.T) {
	stall := make(chan struct{})
	u, _ := rawServer(t, func(_ int, c net.Conn) {
		http.ReadRequest(bufio.NewReader(c))
		<-stall
	})
	defer close(stall)
	c := &http.Client{Transport: newTransport(t, Options{ResponseHeaderTimeout: 50 * time.Millisecond})}
	start := time.Now()
	_, err := c.Get(u)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("got %v, want a timeout", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("timed out after %v", d)
	}
}

func TestMaxConnsPerHostQueuesRequests(t *testing.T) {
	srv := newCounted(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
		io.WriteString(w, r.URL.Path)
	}))
	c := &http.Client{Transport: newTransport(t, Options{MaxConnsPerHost: 2, MaxIdleConnsPerHost: 2})}
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for i := range 12 {
		wg.Go(func() {
			path := fmt.Sprintf("/%d", i)
			resp, err := c.Get(srv.URL + path)
			if err != nil {
				errs <- err
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(b) != path {
				errs <- fmt.Errorf("%s: got %q, %v", path, b, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if p := srv.peak.Load(); p > 2 {
		t.Fatalf("%d connections open at once, cap 2", p)
	}
	if n := srv.conns.Load(); n != 2 {
		t.Fatalf("%d connections for 12 requests, want the 2 reused", n)
	}

	// A request waiting for room gives up when its context ends.
	hold := make([]*http.Response, 2)
	for i := range hold {
		resp, err := c.Get(srv.URL + "/held")
		if err != nil {
			t.Fatal(err)
		}
		hold[i] = resp // body unread: the connection stays busy
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	if _, err := c.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("over the cap: %v, want the deadline", err)
	}
	for _, r := range hold {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	get(t, c, srv.URL)
}

func TestIdleConnections(t *testing.T) {
	srv := newCounted(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "x")
	}))
	tr := newTransport(t, Options{IdleConnTimeout: 30 * time.Millisecond})
	c := &http.Client{Transport: tr}
	get(t, c, srv.URL)
	time.Sleep(60 * time.Millisecond)
	get(t, c, srv.URL)
	if n := srv.conns.Load(); n != 2 {
		t.Fatalf("%d connections; one idle past the timeout must not be reused", n)
	}
	tr.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	for srv.open.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := srv.open.Load(); n != 0 {
		t.Fatalf("%d connections open after CloseIdleConnections", n)
	}
}

func TestOtherRequestsGoToTheFallback(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.Method, b)
	})
	plain := newCounted(t, h)
	tls := httptest.NewTLSServer(h)
	defer tls.Close()

	fb := tls.Client().Transport.(*http.Transport).Clone()
	proxied := false
	fb.Proxy = func(r *http.Request) (*url.URL, error) {
		if r.URL.Path == "/via-proxy" {
			proxied = true
			return nil, errors.New("no proxy here")
		}
		return nil, nil
	}
	tr := New(fb, Options{})
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}

	resp, err := c.Post(plain.URL, "text/plain", strings.NewReader("body"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "POST body" {
		t.Fatalf("POST: %q", b)
	}
	if got := get(t, c, tls.URL); string(got) != "GET " {
		t.Fatalf("HTTPS GET: %q", got)
	}
	if _, err := c.Get(plain.URL + "/via-proxy"); err == nil || !proxied {
		t.Fatalf("a request with a proxy did not go to the fallback: %v", err)
	}
	// A header net/http would refuse is refused, not sent.
	req, _ := http.NewRequest(http.MethodGet, plain.URL, nil)
	req.Header.Set("X-Token", "a\r\nInjected: yes")
	if _, err := c.Do(req); err == nil || !strings.Contains(err.Error(), "invalid header") {
		t.Fatalf("a header with CR LF: %v, want net/http's refusal", err)
	}
	if len(tr.hosts) != 0 {
		t.Fatalf("h1 handled %d hosts, want none", len(tr.hosts))
	}
}

func TestEndlessHeadersAreCut(t *testing.T) {
	// One server sends header lines without end, the other informational
	// responses without end: neither may hold the client or its memory.
	u, _ := rawServer(t, func(n int, c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\n")
		line := "X-Filler: " + strings.Repeat("a", 1000) + "\r\n"
		for {
			if _, err := io.WriteString(c, line); err != nil {
				return
			}
		}
	})
	c := &http.Client{Transport: newTransport(t, Options{MaxResponseHeaderBytes: 64 << 10})}
	if _, err := c.Get(u); err == nil || !strings.Contains(err.Error(), "header") {
		t.Fatalf("endless header: %v, want an error about the header", err)
	}

	u, _ = rawServer(t, func(n int, c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		for {
			if _, err := io.WriteString(c, "HTTP/1.1 103 Early Hints\r\n\r\n"); err != nil {
				return
			}
		}
	})
	if _, err := c.Get(u); err == nil || !strings.Contains(err.Error(), "informational") {
		t.Fatalf("endless 1xx: %v, want an error about informational responses", err)
	}
}

func TestIPv6AndIdleCaps(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback here")
	}
	var conns atomic.Int64
	srv := &httptest.Server{Listener: ln, Config: &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(10 * time.Millisecond)
			io.WriteString(w, "six")
		}),
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				conns.Add(1)
			}
		},
	}}
	srv.Start()
	defer srv.Close()
	tr := newTransport(t, Options{MaxIdleConnsPerHost: 1})
	c := &http.Client{Transport: tr}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			resp, err := c.Get(srv.URL)
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "six" {
				t.Errorf("got %q", b)
			}
		})
	}
	wg.Wait()
	tr.mu.Lock()
	idle := tr.idle
	tr.mu.Unlock()
	if idle != 1 {
		t.Fatalf("%d idle connections kept, cap 1", idle)
	}
	before := conns.Load()
	if got := get(t, c, srv.URL); string(got) != "six" {
		t.Fatalf("got %q", got)
	}
	if conns.Load() != before {
		t.Fatal("the idle [::1] connection was not reused")
	}
}

// hostPort returns u.Host itself when it already has a port; that must be
// exactly the address JoinHostPort would build, or two requests for one
// server would use two pools.
func TestHostPortMatchesJoinHostPort(t *testing.T) {
	for _, raw := range []string{
		"http://127.0.0.1:8080/a", "http://example.com/a", "http://example.com:/a",
		"http://[::1]:9000/a", "http://[::1]/a", "http://[fe80::1%25eth0]:80/a",
		"http://Example.COM:080/a",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		port := u.Port()
		if port == "" {
			port = "80"
		}
		if got, want := hostPort(u), net.JoinHostPort(u.Hostname(), port); got != want {
			t.Errorf("hostPort(%s) = %q, want %q", raw, got, want)
		}
	}
}
