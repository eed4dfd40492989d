// Package h1 is a lean HTTP/1.1 client transport for the one kind of
// request bulkget sends by the thousand: a plain-HTTP GET or HEAD without a
// body, over a keep-alive connection, with no proxy in between.
//
// net/http's Transport gives every connection a reader and a writer
// goroutine and hands each request and response between them and the
// caller over channels. For a 4 KiB file that hand-off, and the thread
// wake-ups it causes, cost more CPU than the bytes. Transport here sends the
// request and reads the response in the caller's goroutine. The common
// request and response (a GET with a few headers; an HTTP/1.1 answer framed
// by Content-Length) are written and read here without net/http's
// allocations, held by fuzzing to be exactly what net/http writes and
// reads; everything else goes through (*http.Request).Write and
// http.ReadResponse, so odd framing (chunked, close-delimited, 1xx) is
// net/http's own. Everything else (HTTPS, proxies, other methods, request
// bodies) goes to the fallback transport, net/http's, unchanged.
package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Transport is an http.RoundTripper; the zero value is not usable, build
// one with New.
type Transport struct {
	fallback *http.Transport
	opts     Options

	mu    sync.Mutex
	hosts map[string]*host
	idle  int // idle connections over all hosts
}

// Options are a Transport's settings.
type Options struct {
	// Dial opens connections (net.Dialer.DialContext, say).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// ResponseHeaderTimeout bounds the wait for a response's header once
	// the request is sent; 0 is no bound.
	ResponseHeaderTimeout time.Duration
	// MaxConnsPerHost caps the connections (busy, dialing and idle) to one
	// host:port; a request waits for one to come free. 0 is no cap.
	MaxConnsPerHost int
	// MaxIdleConnsPerHost and MaxIdleConns cap the idle connections kept
	// for reuse, per host:port and in all.
	MaxIdleConnsPerHost int
	MaxIdleConns        int
	// IdleConnTimeout is how long an idle connection may be reused; an
	// older one is closed instead. 0 is no limit.
	IdleConnTimeout time.Duration
	// ReadBufferSize is each connection's read buffer (4 KiB if 0).
	ReadBufferSize int
	// MaxResponseHeaderBytes bounds what a response may send before its
	// body, informational responses included (10 MiB if 0, as net/http),
	// so that a server sending headers without end cannot exhaust memory.
	MaxResponseHeaderBytes int64
}

// max1xx is how many informational responses may precede the real one
// (net/http allows as many).
const max1xx = 5

// New returns a Transport that sends what it cannot handle to fallback,
// whose Proxy setting also decides which requests bypass it.
func New(fallback *http.Transport, o Options) *Transport {
	if o.Dial == nil {
		o.Dial = (&net.Dialer{}).DialContext
	}
	if o.ReadBufferSize <= 0 {
		o.ReadBufferSize = 4 << 10
	}
	if o.MaxResponseHeaderBytes <= 0 {
		o.MaxResponseHeaderBytes = 10 << 20
	}
	return &Transport{fallback: fallback, opts: o, hosts: make(map[string]*host)}
}

// host is the connection pool of one host:port.
type host struct {
	live int     // connections open or being dialed
	idle []*conn // most recently used last
	// free, made only while requests wait for room under MaxConnsPerHost,
	// is closed when a connection is released.
	free chan struct{}
}

type conn struct {
	addr   string
	nc     net.Conn
	in     *metered // between nc and br
	br     *bufio.Reader
	bw     *bufio.Writer
	idleAt time.Time
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.handles(req) {
		return t.fallback.RoundTrip(req)
	}
	addr := hostPort(req.URL)
	ctx := req.Context()
	for {
		c, reused, err := t.get(ctx, addr)
		if err != nil {
			return nil, err
		}
		resp, err := t.exchange(ctx, c, req)
		if err == nil {
			return resp, nil
		}
		t.discard(c)
		var we *wireError
		if reused && errors.As(err, &we) && we.stale && ctx.Err() == nil {
			// The server closed a kept-alive connection before it saw the
			// request; GET and HEAD are safe to send again, on another.
			continue
		}
		return nil, err
	}
}

// handles tells whether req is one this transport sends itself.
func (t *Transport) handles(req *http.Request) bool {
	if req.URL == nil || req.URL.Scheme != "http" || req.URL.Host == "" {
		return false
	}
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		return false
	}
	if req.Body != nil && req.Body != http.NoBody {
		return false
	}
	if !validHeader(req.Header) {
		return false // net/http refuses it with a proper error
	}
	if t.fallback.Proxy != nil {
		if p, err := t.fallback.Proxy(req); err != nil || p != nil {
			return false
		}
	}
	return true
}

// validHeader checks what net/http's Transport checks before it sends a
// request: names are tokens, values hold no control characters but tab.
func validHeader(h http.Header) bool {
	for k, vs := range h {
		if k == "" {
			return false
		}
		for i := 0; i < len(k); i++ {
			if !isTokenByte(k[i]) {
				return false
			}
		}
		for _, v := range vs {
			for i := 0; i < len(v); i++ {
				if b := v[i]; (b < ' ' && b != '\t') || b == 0x7f {
					return false
				}
			}
		}
	}
	return true
}

func isTokenByte(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0
}

func hostPort(u *url.URL) string {
	host, port := u.Hostname(), u.Port()
	switch {
	case port == "":
		port = "80"
	case !strings.Contains(host, ":") || strings.HasPrefix(u.Host, "["):
		// Already what JoinHostPort would write: no string to build per
		// request.
		return u.Host
	}
	return net.JoinHostPort(host, port)
}

// wireError is a failure of the connection itself. Stale ones happened
// before any byte of the response arrived, so the request may be sent
// again. It keeps Timeout, as net/http's errors do.
type wireError struct {
	op    string
	err   error
	stale bool
}

func (e *wireError) Error() string   { return "h1: " + e.op + ": " + e.err.Error() }
func (e *wireError) Unwrap() error   { return e.err }
func (e *wireError) Timeout() bool   { return isTimeout(e.err) }
func (e *wireError) Temporary() bool { return false }

// exchange sends req on c and reads the response header. On error c is
// no longer usable; the caller discards it.
func (t *Transport) exchange(ctx context.Context, c *conn, req *http.Request) (*http.Response, error) {
	// Closing the connection is what interrupts a blocked read or write
	// when the request is cancelled.
	stop := context.AfterFunc(ctx, func() { c.nc.Close() })
	fail := func(err error) (*http.Response, error) {
		stop()
		if cause := context.Cause(ctx); cause != nil {
			return nil, cause
		}
		return nil, err
	}
	var err error
	if !writePlain(c.bw, req) {
		err = req.Write(c.bw)
	}
	if err == nil {
		err = c.bw.Flush()
	}
	if err != nil {
		return fail(&wireError{"sending request", err, true})
	}
	if d := t.opts.ResponseHeaderTimeout; d > 0 {
		c.nc.SetReadDeadline(time.Now().Add(d))
	}
	// What is buffered already was read under the previous response's
	// (unlimited) body; the header's budget counts from here.
	c.in.left = t.opts.MaxResponseHeaderBytes
	if _, err := c.br.Peek(1); err != nil {
		return fail(&wireError{"reading response", err, !isTimeout(err)})
	}
	resp, plain := readPlain(c.br, req)
	for n1xx := 0; !plain; n1xx++ {
		resp, err = http.ReadResponse(c.br, req)
		if err != nil {
			if c.in.left <= 0 {
				err = fmt.Errorf("response header over %d bytes: %w", t.opts.MaxResponseHeaderBytes, err)
			}
			return fail(&wireError{"reading response", err, false})
		}
		// Informational answers (100 Continue, 103 Early Hints) precede
		// the real one; 101 would switch protocols, which a GET from us
		// never asks for.
		if resp.StatusCode < 100 || resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		if n1xx == max1xx {
			return fail(fmt.Errorf("h1: more than %d informational responses", max1xx))
		}
	}
	c.in.left = math.MaxInt64
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return fail(errors.New("h1: server switched protocols unasked"))
	}
	if t.opts.ResponseHeaderTimeout > 0 {
		c.nc.SetReadDeadline(time.Time{})
	}
	b := &body{t: t, c: c, src: resp.Body, stop: stop, ctx: ctx,
		reuse: !resp.Close && !req.Close}
	if resp.Body == http.NoBody {
		// HEAD, 204 and 304 have no body: the connection is free now.
		b.finish(true)
	}
	resp.Body = b
	return resp, nil
}

// body hands the connection back when the response has been read to its
// end, and closes it when the response is abandoned before that.
type body struct {
	t     *Transport
	c     *conn
	src   io.ReadCloser
	stop  func() bool
	ctx   context.Context
	reuse bool

	eof bool // only Read touches it
	// ended is set by whichever of Read (at the end or an error) and Close
	// comes first; Close may come from another goroutine, mid-Read.
	ended atomic.Bool
}

func (b *body) Read(p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	if b.ended.Load() {
		return 0, errors.New("h1: read on closed response body")
	}
	n, err := b.src.Read(p)
	switch {
	case err == io.EOF:
		b.eof = true
		b.finish(true)
	case err != nil:
		b.finish(false)
		if cause := context.Cause(b.ctx); cause != nil {
			err = cause
		}
	}
	return n, err
}

// Close never drains what is left: a range abandoned half-way may have
// gigabytes to go, and closing the connection is cheaper than reading them.
// Closing it also ends a Read blocked in another goroutine.
func (b *body) Close() error {
	b.finish(false)
	return nil
}

func (b *body) finish(complete bool) {
	if !b.ended.CompareAndSwap(false, true) {
		return
	}
	if !b.stop() {
		complete = false // cancelled: the connection is already closed
	}
	if complete && b.reuse {
		b.t.put(b.c)
	} else {
		b.t.discard(b.c)
	}
}

// get returns an idle connection to addr or dials a new one, waiting for
// room under MaxConnsPerHost.
func (t *Transport) get(ctx context.Context, addr string) (c *conn, reused bool, err error) {
	for {
		t.mu.Lock()
		h := t.hosts[addr]
		if h == nil {
			h = &host{}
			t.hosts[addr] = h
		}
		var stale []*conn
		for len(h.idle) > 0 {
			c = h.idle[len(h.idle)-1]
			h.idle = h.idle[:len(h.idle)-1]
			t.idle--
			if t.opts.IdleConnTimeout > 0 && time.Since(c.idleAt) > t.opts.IdleConnTimeout {
				h.live--
				stale = append(stale, c)
				c = nil
				continue
			}
			break
		}
		if len(stale) > 0 {
			t.wakeLocked(h)
		}
		if c != nil {
			t.mu.Unlock()
			closeAll(stale)
			return c, true, nil
		}
		if t.opts.MaxConnsPerHost <= 0 || h.live < t.opts.MaxConnsPerHost {
			h.live++
			t.mu.Unlock()
			closeAll(stale)
			c, err = t.dial(ctx, addr)
			if err != nil {
				t.mu.Lock()
				h.live--
				t.wakeLocked(h)
				t.mu.Unlock()
				return nil, false, err
			}
			return c, false, nil
		}
		if h.free == nil {
			h.free = make(chan struct{})
		}
		free := h.free
		t.mu.Unlock()
		closeAll(stale)
		select {
		case <-free:
		case <-ctx.Done():
			return nil, false, context.Cause(ctx)
		}
	}
}

func closeAll(cs []*conn) {
	for _, c := range cs {
		c.nc.Close()
	}
}

func (t *Transport) dial(ctx context.Context, addr string) (*conn, error) {
	nc, err := t.opts.Dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	in := &metered{r: nc, left: math.MaxInt64}
	return &conn{addr: addr, nc: nc, in: in,
		br: bufio.NewReaderSize(in, t.opts.ReadBufferSize),
		bw: bufio.NewWriterSize(nc, 4<<10)}, nil
}

// put makes c idle for the next request to its host, or closes it if the
// pool is full.
func (t *Transport) put(c *conn) {
	t.mu.Lock()
	h := t.hosts[c.addr]
	full := (t.opts.MaxIdleConnsPerHost > 0 && len(h.idle) >= t.opts.MaxIdleConnsPerHost) ||
		(t.opts.MaxIdleConns > 0 && t.idle >= t.opts.MaxIdleConns)
	if full {
		h.live--
	} else {
		c.idleAt = time.Now()
		h.idle = append(h.idle, c)
		t.idle++
	}
	t.wakeLocked(h)
	t.mu.Unlock()
	if full {
		c.nc.Close()
	}
}

// discard closes c and frees its place.
func (t *Transport) discard(c *conn) {
	c.nc.Close()
	t.mu.Lock()
	h := t.hosts[c.addr]
	h.live--
	t.wakeLocked(h)
	t.mu.Unlock()
}

// wakeLocked tells requests waiting on h that a connection came free.
func (t *Transport) wakeLocked(h *host) {
	if h.free != nil {
		close(h.free)
		h.free = nil
	}
}

// CloseIdleConnections closes the connections no request is using, here
// and in the fallback transport.
func (t *Transport) CloseIdleConnections() {
	var cs []*conn
	t.mu.Lock()
	for addr, h := range t.hosts {
		cs = append(cs, h.idle...)
		h.live -= len(h.idle)
		t.idle -= len(h.idle)
		h.idle = nil
		t.wakeLocked(h)
		if h.live == 0 {
			delete(t.hosts, addr)
		}
	}
	t.mu.Unlock()
	closeAll(cs)
	t.fallback.CloseIdleConnections()
}

// metered reads from r until left runs out, then fails: the bound on a
// response's header.
type metered struct {
	r    io.Reader
	left int64
}

var errHeaderTooLong = errors.New("h1: response header too long")

func (m *metered) Read(p []byte) (int, error) {
	if m.left <= 0 {
		return 0, errHeaderTooLong
	}
	if int64(len(p)) > m.left {
		p = p[:m.left]
	}
	n, err := m.r.Read(p)
	m.left -= int64(n)
	return n, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
