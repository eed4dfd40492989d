package hostile

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func newServer(t *testing.T) *Server {
	t.Helper()
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// client is one raw keep-alive connection, read with net/http's parser.
type client struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, s *Server) *client {
	t.Helper()
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// get sends a GET with the extra header lines and reads the whole answer.
func (c *client) get(path string, header ...string) (*http.Response, []byte) {
	c.t.Helper()
	req := "GET " + path + " HTTP/1.1\r\nHost: x\r\n"
	for _, h := range header {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(c.nc, req+"\r\n"); err != nil {
		c.t.Fatal(err)
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("GET %s: body: %v", path, err)
	}
	return resp, body
}

func TestContentIsDeterministicAndDiffersByName(t *testing.T) {
	a := Content("a.bin", 0, 4096)
	if !bytes.Equal(a, Content("a.bin", 0, 4096)) {
		t.Fatal("same name, different bytes")
	}
	if bytes.Equal(a, Content("b.bin", 0, 4096)) {
		t.Fatal("different names, same bytes")
	}
	if !bytes.Equal(a[1000:1100], Content("a.bin", 1000, 100)) {
		t.Fatal("a slice differs from the same bytes read at an offset")
	}
	for i := int64(0); i < 64; i++ {
		if Byte("a.bin", i) != a[i] {
			t.Fatalf("Byte(%d) differs from Content", i)
		}
	}
	if bytes.Equal(a[:2048], a[2048:]) {
		t.Fatal("content repeats")
	}
	var buf bytes.Buffer
	WriteContent(&buf, "a.bin", 0, 200<<10)
	if got, want := SHA256OfBytes(buf.Bytes()), SHA256Hex("a.bin", 200<<10); got != want {
		t.Fatal("SHA256Hex differs from the hash of the content")
	}
}

func TestRangesAreHonouredWithInclusiveEnd(t *testing.T) {
	s := newServer(t)
	const size = 100_000
	s.Handle("/f.bin", File{Name: "f.bin", Size: size, ETag: `"v1"`})
	c := dial(t, s)
	cases := []struct {
		rng, contentRange string
		start, end        int64
	}{
		{"bytes=0-", "bytes 0-99999/100000", 0, size},
		{"bytes=10-19", "bytes 10-19/100000", 10, 20},
		{"bytes=99990-200000", "bytes 99990-99999/100000", 99990, size},
		{"bytes=-5", "bytes 99995-99999/100000", 99995, size},
	}
	for _, tc := range cases {
		resp, body := c.get("/f.bin", "Range: "+tc.rng)
		if resp.StatusCode != 206 || resp.Header.Get("Content-Range") != tc.contentRange {
			t.Errorf("%s: %d %q, want 206 %q", tc.rng, resp.StatusCode, resp.Header.Get("Content-Range"), tc.contentRange)
		}
		if !bytes.Equal(body, Content("f.bin", tc.start, tc.end-tc.start)) {
			t.Errorf("%s: wrong bytes", tc.rng)
		}
	}
	if resp, body := c.get("/f.bin"); resp.StatusCode != 200 || int64(len(body)) != size {
		t.Errorf("no Range: %d, %d bytes", resp.StatusCode, len(body))
	}
	if resp, _ := c.get("/f.bin", "Range: bytes=100000-"); resp.StatusCode != 416 || resp.Header.Get("Content-Range") != "bytes */100000" {
		t.Errorf("past the end: %d %q", resp.StatusCode, resp.Header.Get("Content-Range"))
	}
	if resp, _ := c.get("/f.bin", "Range: bytes=0-9", `If-Range: "v0"`); resp.StatusCode != 200 {
		t.Errorf("If-Range with an old ETag: %d, want 200", resp.StatusCode)
	}
	if resp, _ := c.get("/f.bin", "Range: bytes=0-9", `If-Range: "v1"`); resp.StatusCode != 206 {
		t.Errorf("If-Range with the ETag: %d, want 206", resp.StatusCode)
	}
	if resp, _ := c.get("/f.bin", "Range: bytes=0-1,5-6"); resp.StatusCode != 200 {
		t.Errorf("two ranges: %d, want the whole file", resp.StatusCode)
	}
	if resp, _ := c.get("/nothing"); resp.StatusCode != 404 {
		t.Errorf("unknown path: %d", resp.StatusCode)
	}
	// All on one connection: keep-alive, and the counts.
	if got := s.Connections(); got != 1 {
		t.Errorf("%d connections, want 1", got)
	}
	if got := s.Requests("/f.bin"); got != 9 {
		t.Errorf("%d requests for /f.bin, want 9", got)
	}
	if got := s.TotalRequests(); got != 10 {
		t.Errorf("%d requests, want 10", got)
	}
}

func TestScriptedRepliesGoOutAsWritten(t *testing.T) {
	s := newServer(t)
	f := File{Name: "g.bin", Size: 1000}
	s.Handle("/after", f.With(func(r *Request, rp *Reply) bool {
		rp.After = []byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")
		return true
	}))
	s.Handle("/chunked", f.With(func(r *Request, rp *Reply) bool {
		rp.Chunked, rp.Trailer = true, []string{"X-Sum: 1"}
		return true
	}))
	s.Handle("/dup", f.With(func(r *Request, rp *Reply) bool {
		rp.Add("Content-Length", "1000")
		rp.Add("Content-Length", "999")
		return true
	}))
	s.Handle("/raw", f.With(func(r *Request, rp *Reply) bool {
		rp.RawHead = []byte("X-Raw-1: a\r\nX-Raw-2: b\r\n")
		return true
	}))
	c := dial(t, s)
	if resp, body := c.get("/raw"); resp.Header.Get("X-Raw-2") != "b" || !bytes.Equal(body, Content("g.bin", 0, 1000)) {
		t.Errorf("/raw: header %v, %d bytes", resp.Header, len(body))
	}
	if _, body := c.get("/after"); !bytes.Equal(body, Content("g.bin", 0, 1000)) {
		t.Error("/after: wrong body")
	}
	// The bytes after the body read as a response of their own.
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "abc" {
		t.Errorf("after the body: %q", b)
	}
	resp, body := c.get("/chunked", "Range: bytes=10-")
	if resp.StatusCode != 206 || !bytes.Equal(body, Content("g.bin", 10, 990)) || resp.Trailer.Get("X-Sum") != "1" {
		t.Errorf("/chunked: %d, %d bytes, trailer %v", resp.StatusCode, len(body), resp.Trailer)
	}
	d := dial(t, s)
	io.WriteString(d.nc, "GET /dup HTTP/1.1\r\nHost: x\r\n\r\n")
	head, _ := d.br.ReadString('\n')
	rest := ""
	for {
		l, err := d.br.ReadString('\n')
		if err != nil || l == "\r\n" {
			break
		}
		rest += l
	}
	if head != "HTTP/1.1 200 OK\r\n" || strings.Count(rest, "Content-Length") != 2 {
		t.Errorf("/dup head:\n%s%s", head, rest)
	}
}

func TestRateAndCloseStopSleepers(t *testing.T) {
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	s.Handle("/slow", File{Name: "s", Size: 1 << 20, Rate: 1})
	c := dial(t, s)
	io.WriteString(c.nc, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, err := http.ReadResponse(c.br, nil); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s.Close() // must not wait for 1 MiB at a byte a second
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v", d)
	}
}

func TestParseRangeTakesOneSatisfiableByteRange(t *testing.T) {
	for _, tc := range []struct {
		v          string
		start, end int64
		ok         bool
	}{
		{"bytes=0-0", 0, 1, true},
		{"bytes=5-", 5, 10, true},
		{"bytes=-3", 7, 10, true},
		{"bytes=-30", 0, 10, true},
		{"bytes=3-2", 0, 0, false},
		{"bytes=1-2,4-5", 0, 0, false},
		{"items=1-2", 0, 0, false},
		{"bytes=x-", 0, 0, false},
	} {
		s, e, ok := ParseRange(tc.v, 10)
		if s != tc.start || e != tc.end || ok != tc.ok {
			t.Errorf("%q: %d %d %v", tc.v, s, e, ok)
		}
	}
}
