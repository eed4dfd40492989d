package origin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options control how the server (mis)behaves. They can be changed while the
// server runs with SetOptions.
type Options struct {
	PerConnRate int64                 // bytes/s per TCP connection, 0 = unlimited
	TotalRate   int64                 // bytes/s across the server, 0 = unlimited
	Latency     time.Duration         // delay before the response headers of every request
	NoRanges    bool                  // ignore Range headers: always 200 with the whole body
	NoLength    bool                  // no Content-Length/Content-Range, streamed 200 body; implies NoRanges
	Fault       func(r Request) Fault // optional per-request fault injection, called concurrently
	// MaxInFlight, if positive, answers every request beyond that many in
	// flight with OverloadStatus (429 if zero) and OverloadRetryAfter, as
	// servers with a per-client concurrency limit do.
	MaxInFlight        int
	OverloadStatus     int
	OverloadRetryAfter string
	// BurstPacing, with PerConnRate, paces each connection in one-second
	// bursts as nginx's limit_rate does: a connection sends PerConnRate
	// bytes as fast as it can, then pauses until its next second begins,
	// so that the long-run rate is still PerConnRate. False keeps the
	// smooth pacing.
	BurstPacing bool
	// Replicas, if above 1, serves every file as a farm of that many
	// replicas behind one address would: each answer comes from one
	// replica, in turn per request, or per TCP connection with
	// ReplicaPerConn (an L4 balancer). Replica i > 0 sends its own ETag
	// and a Last-Modified i days later for the same bytes, as nginx
	// replicas deployed apart do; with ReplicaBytesDiffer it serves
	// version+i instead (a deploy half done).
	Replicas           int
	ReplicaPerConn     bool
	ReplicaBytesDiffer bool
	// IgnoreIfMatch answers as if If-Match were absent, as some servers
	// do; otherwise an If-Match that names no ETag of the version served
	// is answered 412 with no body.
	IgnoreIfMatch bool
}

// Request is what the fault hook sees.
type Request struct {
	Name   string      // file name (URL path without the leading "/")
	N      int         // 1-based count of requests for this file so far, including this one
	Start  int64       // requested range start (0 if not Ranged)
	End    int64       // requested range end, exclusive; -1 if open-ended or not Ranged
	Ranged bool        // the server intends to honour a Range header (see doc.go)
	Header http.Header // request headers; do not modify
	Method string      // "GET" or "HEAD"
	// Replica is the replica answering (0 unless Options.Replicas > 1).
	Replica int
}

// Fault describes how to break one response. The zero value is a normal
// response.
type Fault struct {
	Status      int           // if nonzero: answer this status with a short body and nothing else
	RetryAfter  string        // with Status: value for the Retry-After header
	ResetAfter  int64         // if >0: after this many body bytes, reset the TCP connection (RST)
	StallAfter  int64         // if >0: after this many body bytes, stop sending for StallFor
	StallFor    time.Duration // 0 = until the client goes away or the server closes
	ShortBy     int64         // if >0: declare the normal length but send this many bytes fewer, then close
	IgnoreRange bool          // answer 200 with the whole file
	WrongRange  bool          // answer 206 with Content-Range and body shifted by +1 byte
}

// Stats is a snapshot of the server counters.
type Stats struct {
	Requests      int64 // GET requests answered (incl. faults and errors)
	HeadRequests  int64
	BytesServed   int64 // body bytes written to clients
	ConnsAccepted int64 // TCP connections accepted
	PeakConns     int64 // peak concurrently open TCP connections
	PeakRequests  int64 // peak concurrently in-flight requests
	// Busy is the time every request spent in the handler, added up:
	// divided by a run's wall time, the mean number of requests in flight.
	Busy     time.Duration
	ByStatus map[int]int64
}

type file struct {
	size    int64
	version atomic.Int64
	reqs    atomic.Int64
}

type counters struct {
	requests, heads, bytes    atomic.Int64
	accepted, open, peakConns atomic.Int64
	inflight, peakReqs        atomic.Int64
	busy                      atomic.Int64 // ns
	status                    [600]atomic.Int64
}

// Server is a deterministic test origin listening on 127.0.0.1.
type Server struct {
	opts   atomic.Pointer[Options]
	optsMu sync.Mutex // serialises SetOptions read-modify-write

	mu    sync.RWMutex
	files map[string]*file

	ln     net.Listener
	hs     *http.Server
	ctx    context.Context
	cancel context.CancelFunc
	scheme string
	pool   *x509.CertPool

	clientOnce sync.Once
	client     *http.Client

	total bucket
	st    counters
	// turn counts answers, and conns connections, for choosing replicas
	// in turn.
	turn, conns atomic.Int64
	closeOnce   sync.Once
	served      chan struct{}
}

type connKey struct{}

// connInfo lives for one TCP connection; keeping the bucket here (rather than
// per request) is what makes the per-connection rate span keep-alive requests
// and multiplexed HTTP/2 streams.
type connInfo struct {
	conn    net.Conn
	bucket  bucket
	burst   burstWindow
	replica int // the replica a per-connection balancer sent it to
}

// New starts a plain HTTP/1.1 server on 127.0.0.1:0.
func New(opts Options) *Server {
	s := newServer(opts, "http")
	go func() {
		defer close(s.served)
		s.hs.Serve(s.ln)
	}()
	return s
}

// NewTLS starts an HTTPS server on 127.0.0.1:0 with a self-signed certificate
// that offers HTTP/2 and HTTP/1.1 via ALPN. Use Client or CertPool to trust it.
func NewTLS(opts Options) *Server {
	s := newServer(opts, "https")
	cert, pool := testCert()
	s.pool = pool
	s.hs.TLSConfig = &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2", "http/1.1"},
	}
	go func() {
		defer close(s.served)
		s.hs.ServeTLS(s.ln, "", "")
	}()
	return s
}

func newServer(opts Options, scheme string) *Server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		// A test origin that cannot listen on loopback leaves nothing to test.
		panic("origin: listen: " + err.Error())
	}
	s := &Server{
		files:  make(map[string]*file),
		ln:     ln,
		scheme: scheme,
		served: make(chan struct{}),
	}
	o := opts
	s.opts.Store(&o)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.hs = &http.Server{
		Handler:     s,
		BaseContext: func(net.Listener) context.Context { return s.ctx },
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, &connInfo{conn: c, replica: int(s.conns.Add(1) - 1)})
		},
		ConnState: s.connState,
		// Clients that hang up mid-body are the point of this server; its
		// complaints would only clutter test output.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	return s
}

func (s *Server) connState(_ net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		s.st.accepted.Add(1)
		raise(&s.st.peakConns, s.st.open.Add(1))
	case http.StateClosed, http.StateHijacked:
		s.st.open.Add(-1)
	}
}

// raise lifts peak to at least v.
func raise(peak *atomic.Int64, v int64) {
	for {
		p := peak.Load()
		if v <= p || peak.CompareAndSwap(p, v) {
			return
		}
	}
}

// Add registers (or replaces) a file of the given size at version 0.
func (s *Server) Add(name string, size int64) {
	if size < 0 {
		panic("origin: negative size")
	}
	s.mu.Lock()
	s.files[name] = &file{size: size}
	s.mu.Unlock()
}

// SetVersion changes a registered file's content, ETag and Last-Modified.
// Responses already under way keep the version they started with.
func (s *Server) SetVersion(name string, version int) {
	f := s.lookup(name)
	if f == nil {
		panic("origin: SetVersion of unregistered file " + name)
	}
	f.version.Store(int64(version))
}

func (s *Server) lookup(name string) *file {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.files[name]
}

// URL returns the URL of a file, escaping each path segment.
func (s *Server) URL(name string) string {
	segs := strings.Split(name, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return s.scheme + "://" + s.Addr() + "/" + strings.Join(segs, "/")
}

// Addr returns "127.0.0.1:PORT".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// CertPool returns a pool trusting the TLS certificate, or nil for a plain
// server.
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// Client returns an http.Client (the same one on every call) that trusts the
// server certificate, never uses a proxy, and negotiates HTTP/2 on TLS
// servers.
func (s *Server) Client() *http.Client {
	s.clientOnce.Do(func() {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil
		if s.pool != nil {
			tr.TLSClientConfig = &tls.Config{RootCAs: s.pool}
			tr.ForceAttemptHTTP2 = true
		}
		s.client = &http.Client{Transport: tr}
	})
	return s.client
}

// SetOptions applies fn to a copy of the current options and installs the
// result. Running responses pick up rate changes on their next chunk; other
// fields apply to requests that arrive afterwards.
func (s *Server) SetOptions(fn func(*Options)) {
	s.optsMu.Lock()
	defer s.optsMu.Unlock()
	o := *s.opts.Load()
	fn(&o)
	s.opts.Store(&o)
}

func (s *Server) options() *Options { return s.opts.Load() }

// Close stops the server and closes every connection. Stalled or throttled
// handlers are woken through the server context, so Close returns promptly.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.cancel()
		s.hs.Close()
		<-s.served
		// Give woken handlers a moment to unwind so that tests do not see
		// them running after Close; they only wait on the cancelled context.
		s.WaitIdle(2 * time.Second)
		s.clientOnce.Do(func() {}) // synchronise with a concurrent Client call
		if s.client != nil {
			s.client.CloseIdleConnections()
		}
	})
}

// WaitIdle waits up to timeout for all in-flight requests to finish and
// reports whether they did. A client can finish reading a body before the
// handler has returned and counted the last bytes, so call this before
// asserting on Stats.
func (s *Server) WaitIdle(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for s.st.inflight.Load() > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// Stats returns a snapshot of the counters. Requests still in flight may not
// be fully counted yet; see WaitIdle.
func (s *Server) Stats() Stats {
	st := Stats{
		Requests:      s.st.requests.Load(),
		HeadRequests:  s.st.heads.Load(),
		BytesServed:   s.st.bytes.Load(),
		ConnsAccepted: s.st.accepted.Load(),
		PeakConns:     s.st.peakConns.Load(),
		PeakRequests:  s.st.peakReqs.Load(),
		Busy:          time.Duration(s.st.busy.Load()),
		ByStatus:      make(map[int]int64),
	}
	for code := range s.st.status {
		if n := s.st.status[code].Load(); n != 0 {
			st.ByStatus[code] = n
		}
	}
	return st
}

// ResetStats zeroes the counters, including FileRequests and therefore the
// Request.N seen by fault hooks. Peaks restart from what is open right now.
func (s *Server) ResetStats() {
	s.st.requests.Store(0)
	s.st.heads.Store(0)
	s.st.bytes.Store(0)
	s.st.accepted.Store(0)
	s.st.peakConns.Store(s.st.open.Load())
	s.st.peakReqs.Store(s.st.inflight.Load())
	s.st.busy.Store(0)
	for i := range s.st.status {
		s.st.status[i].Store(0)
	}
	s.mu.RLock()
	for _, f := range s.files {
		f.reqs.Store(0)
	}
	s.mu.RUnlock()
}

// FileRequests returns how many GET and HEAD requests one file has seen.
func (s *Server) FileRequests(name string) int64 {
	if f := s.lookup(name); f != nil {
		return f.reqs.Load()
	}
	return 0
}
