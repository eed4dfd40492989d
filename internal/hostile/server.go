// Package hostile is an HTTP/1.1 origin for tests that misbehaves on
// purpose: a server that lies about sizes and ranges, trickles, stalls,
// loops redirects, sends headers without end or bytes after the body.
//
// It is deliberately not net/http: it accepts on a net.Listener on
// 127.0.0.1, reads each request line and header block with
// bufio/textproto, and writes every response byte as the behaviour
// configured for the request's path scripts it, so that answers net/http
// would never produce can be produced. Connections are kept alive for as
// long as the behaviour says, several requests each, and the server counts
// the connections it accepted and the requests it read, per path and in
// all, so that a test can tell that a client did not retry.
//
// Content is deterministic (see Byte): a test checks every file a client
// wrote against SHA256Hex.
package hostile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Request is one request as read off the wire.
type Request struct {
	Method string
	Target string // as on the request line: path and query
	Path   string // Target without the query
	Proto  string
	Header textproto.MIMEHeader
	// N counts the requests for Path so far, this one included (1 for the
	// first).
	N int
	// OnConn counts the requests on this connection, this one included.
	OnConn int
}

// Behavior answers one request by writing raw bytes to c. It returns
// whether the connection may carry another request; false closes it.
type Behavior interface {
	Serve(c *Conn, r *Request) (keepAlive bool)
}

// BehaviorFunc adapts a function to Behavior.
type BehaviorFunc func(c *Conn, r *Request) bool

// Serve implements Behavior.
func (f BehaviorFunc) Serve(c *Conn, r *Request) bool { return f(c, r) }

// Conn is the connection a behaviour answers on. Writes are buffered until
// Flush (or until the buffer is full); Sleep waits unless the server is
// closing.
type Conn struct {
	nc   net.Conn
	bw   *bufio.Writer
	done <-chan struct{}
}

// Write buffers p.
func (c *Conn) Write(p []byte) (int, error) { return c.bw.Write(p) }

// WriteString buffers s.
func (c *Conn) WriteString(s string) (int, error) { return c.bw.WriteString(s) }

// Flush sends what is buffered.
func (c *Conn) Flush() error { return c.bw.Flush() }

// Sleep waits for d and reports true, or returns false at once when the
// server is closing.
func (c *Conn) Sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.done:
		return false
	}
}

// Closing is closed when the server closes.
func (c *Conn) Closing() <-chan struct{} { return c.done }

// WaitClientClose blocks until the client closes the connection (or the
// server closes), reading and discarding anything it sends: for a
// behaviour that answers nothing and keeps the connection open.
func (c *Conn) WaitClientClose() {
	go func() {
		<-c.done
		c.nc.Close()
	}()
	io.Copy(io.Discard, c.nc)
}

// Server is a running hostile origin. Build one with New.
type Server struct {
	ln   net.Listener
	done chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	routes   map[string]Behavior
	fallback Behavior
	conns    map[net.Conn]struct{}
	accepted int
	total    int
	perPath  map[string]int
	closed   bool
}

// New starts a server on a free port of 127.0.0.1. Every path answers 404
// until Handle says otherwise.
func New() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("hostile: %w", err)
	}
	s := &Server{ln: ln, done: make(chan struct{}), routes: map[string]Behavior{},
		conns: map[net.Conn]struct{}{}, perPath: map[string]int{}}
	s.fallback = BehaviorFunc(func(c *Conn, r *Request) bool {
		(&Reply{Status: 404, Body: []byte("not found\n")}).WriteTo(c)
		return true
	})
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the address of path on the server ("/" is added if missing).
func (s *Server) URL(path string) string {
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	return "http://" + s.Addr() + path
}

// Handle makes b answer every request for path (the query is ignored).
func (s *Server) Handle(path string, b Behavior) {
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	s.mu.Lock()
	s.routes[path] = b
	s.mu.Unlock()
}

// Requests is how many requests for path were read.
func (s *Server) Requests(path string) int {
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.perPath[path]
}

// TotalRequests is how many requests were read, for any path.
func (s *Server) TotalRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// Connections is how many connections were accepted.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Close stops accepting, cuts every connection, wakes every sleeping
// behaviour and waits for them to return.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.done)
	s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return
		}
		s.conns[nc] = struct{}{}
		s.accepted++
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(nc)
	}
}

// maxRequestHead bounds a request's line and headers: this server answers
// a test's client, but a runaway one must not exhaust the test's memory.
const maxRequestHead = 1 << 20

func (s *Server) serve(nc net.Conn) {
	defer s.wg.Done()
	defer func() {
		nc.Close()
		s.mu.Lock()
		delete(s.conns, nc)
		s.mu.Unlock()
	}()
	lim := &io.LimitedReader{R: nc, N: maxRequestHead}
	tr := textproto.NewReader(bufio.NewReader(lim))
	c := &Conn{nc: nc, bw: bufio.NewWriterSize(nc, 64<<10), done: s.done}
	for n := 1; ; n++ {
		lim.N = maxRequestHead
		r, err := readRequest(tr)
		if err != nil {
			return
		}
		if cl := r.Header.Get("Content-Length"); cl != "" {
			// GETs carry no body; skip one if a client sends it anyway.
			size, err := strconv.ParseInt(cl, 10, 64)
			if err != nil || size < 0 || size > maxRequestHead {
				return
			}
			if _, err := io.CopyN(io.Discard, tr.R, size); err != nil {
				return
			}
		}
		r.OnConn = n
		s.mu.Lock()
		s.total++
		s.perPath[r.Path]++
		r.N = s.perPath[r.Path]
		b, ok := s.routes[r.Path]
		if !ok {
			b = s.fallback
		}
		s.mu.Unlock()
		keep := b.Serve(c, r)
		if c.Flush() != nil || !keep || strings.EqualFold(r.Header.Get("Connection"), "close") {
			return
		}
	}
}

var errBadRequest = errors.New("hostile: malformed request line")

// readRequest reads a request line and its header block.
func readRequest(tr *textproto.Reader) (*Request, error) {
	line, err := tr.ReadLine()
	if err != nil {
		return nil, err
	}
	method, rest, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || method == "" || target == "" || !strings.HasPrefix(proto, "HTTP/") {
		return nil, fmt.Errorf("%w: %q", errBadRequest, line)
	}
	h, err := tr.ReadMIMEHeader()
	if err != nil {
		return nil, err
	}
	path, _, _ := strings.Cut(target, "?")
	return &Request{Method: method, Target: target, Path: path, Proto: proto, Header: h}, nil
}
