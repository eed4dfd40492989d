package segment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Request describes one ranged GET.
type Request struct {
	URL string
	// Target, if set, is the URL already parsed, which Open then uses
	// instead of URL: a caller that sends many requests for one URL parses
	// it once. Open copies it; it is never modified.
	Target *url.URL
	Start  int64
	End    int64 // exclusive; -1 asks for everything from Start on
	// Total is the file size learnt earlier, or -1 when this request is the
	// probe that is to learn it.
	Total int64
	// IfRange is the validator (strong ETag or Last-Modified) sent as
	// If-Range, so that a changed file is answered with 200 instead of a
	// range of new bytes spliced onto old ones.
	IfRange string
	// IfMatch, if set, is a strong ETag sent as If-Match beside If-Range:
	// a server with another version then answers 412 at once instead of
	// the whole file (see PreconditionFailed).
	IfMatch string
	// Whole asks for the whole file without a Range header (Start 0, End
	// -1), for a server whose range answers cannot be used.
	Whole bool
	// IfNoneMatch and IfModifiedSince, if set, make the request
	// conditional (see Revalidate): a 304 Not Modified is then an
	// accepted answer, with Response.NotModified set and no body.
	IfNoneMatch, IfModifiedSince string
	UserAgent                    string
	// Header holds extra request headers (tokens, say); Range,
	// Accept-Encoding, If-Range, If-Match and the conditionals above are
	// always set by Open.
	Header http.Header
}

// Response is a checked answer to a Request.
type Response struct {
	// Partial is true for a 206 whose range and total match the request.
	// False means a 200: the body is the whole file from byte 0.
	Partial      bool
	Start, End   int64 // the range the body covers; End is -1 when unknown
	Total        int64 // file size, -1 when unknown
	ETag         string
	LastModified string
	// Encoding is a Content-Encoding the server applied though none was
	// asked for ("" for none): the body is stored as sent, not decoded.
	Encoding string
	// RedirectedTo is the host that answered after redirects, "" when the
	// request was answered where it was sent.
	RedirectedTo string
	// Digests are what the response vouches for about the whole remote
	// file (see Digests): the version its validators name.
	Digests []Digest
	// NotModified: a 304 to a conditional request; the version its
	// validators name is current. Body is empty.
	NotModified bool
	// AcceptRanges is the Accept-Ranges header as sent ("" when absent):
	// "none" is the server saying it serves no ranges.
	AcceptRanges string
	Body         io.ReadCloser
}

// Validator returns the value to send as If-Range on later requests: the
// ETag if it is strong, else Last-Modified, else "".
func (r *Response) Validator() string { return Validator(r.ETag, r.LastModified) }

// Validator picks what If-Range may carry: a strong ETag, else the
// Last-Modified date (weak ETags are not allowed in If-Range).
func Validator(etag, lastModified string) string {
	if len(etag) > 2 && etag[:2] != "W/" {
		return etag
	}
	return lastModified
}

// Doer sends a request and returns the final response, redirects
// followed: an *http.Client.
type Doer interface {
	Do(req *http.Request) (*http.Response, error)
}

// Open sends req and checks the answer. On error the body is closed.
//
// Accepted answers: 206 whose Content-Range equals the range asked for and
// the known total (for a probe, any total, as long as it starts at Start and
// runs to its end); 200 (Partial false, the whole file); and for a probe
// from offset 0, 416 "bytes */0", which is an empty file. Every other
// status is a *StatusError, every mismatch ErrBadRange.
func Open(ctx context.Context, client Doer, req Request) (*Response, error) {
	hr, err := newRequest(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("segment: %w", err)
	}
	for k, vs := range req.Header {
		for _, v := range vs {
			hr.Header.Add(k, v)
		}
	}
	// The keys below are canonical already: set directly, they replace
	// whatever the extra headers said, as Header.Set would.
	if !req.Whole {
		hr.Header["Range"] = []string{RangeHeader(req.Start, req.End)}
	}
	// Ranges must be ranges of the stored bytes, never of a compressed form.
	hr.Header["Accept-Encoding"] = []string{"identity"}
	if req.IfRange != "" {
		hr.Header["If-Range"] = []string{req.IfRange}
	}
	if req.IfMatch != "" {
		hr.Header["If-Match"] = []string{req.IfMatch}
	}
	if req.IfNoneMatch != "" {
		hr.Header["If-None-Match"] = []string{req.IfNoneMatch}
	}
	if req.IfModifiedSince != "" {
		hr.Header["If-Modified-Since"] = []string{req.IfModifiedSince}
	}
	if req.UserAgent != "" {
		hr.Header["User-Agent"] = []string{req.UserAgent}
	}
	var conn *tracedConn
	if req.IfMatch != "" {
		hr, conn = traceConn(hr)
	}
	hresp, err := client.Do(hr)
	if err != nil {
		return nil, err
	}
	resp := &Response{
		Start:        -1,
		End:          -1,
		Total:        -1,
		ETag:         hresp.Header.Get("ETag"),
		LastModified: hresp.Header.Get("Last-Modified"),
		AcceptRanges: hresp.Header.Get("Accept-Ranges"),
		Body:         hresp.Body,
	}
	if final := hresp.Request; final != nil && final.URL.Host != hr.URL.Host {
		resp.RedirectedTo = final.URL.Hostname()
	}
	if enc := hresp.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		resp.Encoding = enc
	}
	if err := check(hresp, req, resp); err != nil {
		hresp.Body.Close()
		if conn != nil && hresp.StatusCode == http.StatusPreconditionFailed && hresp.ProtoMajor == 1 {
			conn.close()
		}
		return nil, err
	}
	// Content-MD5 is the MD5 of the body: of the whole file only when the
	// body is the whole file.
	full := hresp.StatusCode == http.StatusOK && resp.Total >= 0
	resp.Digests = Digests(hresp, full)
	return resp, nil
}

// tracedConn is the connection a request went over.
type tracedConn struct {
	mu   sync.Mutex
	conn net.Conn
}

// traceConn returns hr with a trace that records its connection.
func traceConn(hr *http.Request) (*http.Request, *tracedConn) {
	tc := &tracedConn{}
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		tc.mu.Lock()
		tc.conn = info.Conn
		tc.mu.Unlock()
	}}
	return hr.WithContext(httptrace.WithClientTrace(hr.Context(), trace)), tc
}

// close closes the connection of a 412 to If-Match: a balancer that keeps
// a connection on one replica would send every retry over it to the replica
// that has another version, and a 412 without a body leaves it idle in the
// client's pool. Only for HTTP/1: an HTTP/2 connection carries the other
// requests too.
func (tc *tracedConn) close() {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.conn != nil {
		tc.conn.Close()
	}
}

// newRequest builds the GET for req, from req.Target when the caller
// parsed the URL already: the request http.NewRequestWithContext makes of
// the same URL, whose Host is the URL's host without an empty port.
func newRequest(ctx context.Context, req Request) (*http.Request, error) {
	if req.Target == nil {
		return http.NewRequestWithContext(ctx, http.MethodGet, req.URL, nil)
	}
	// An empty URL costs no parsing; the request's own copy of the target
	// then takes its place.
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, "", nil)
	if err != nil {
		return nil, err
	}
	*hr.URL = *req.Target
	hr.URL.Host = strings.TrimSuffix(hr.URL.Host, ":")
	hr.Host = hr.URL.Host
	return hr, nil
}

func check(hresp *http.Response, req Request, resp *Response) error {
	switch hresp.StatusCode {
	case http.StatusPartialContent:
		if ct := hresp.Header.Get("Content-Type"); strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), "multipart/byteranges") {
			return ErrMultipart
		}
		cr, err := ParseContentRange(hresp.Header.Get("Content-Range"))
		if err != nil || cr.Start < 0 {
			return fmt.Errorf("%w: %q", ErrBadRange, hresp.Header.Get("Content-Range"))
		}
		wantEnd := req.End
		if wantEnd < 0 {
			wantEnd = req.Total
			if req.Total < 0 {
				wantEnd = cr.Total
			}
		}
		if req.Total >= 0 && cr.Total >= 0 && cr.Total != req.Total {
			return fmt.Errorf("%w: %d bytes are now %d (Content-Range %q)", ErrSizeChanged,
				req.Total, cr.Total, hresp.Header.Get("Content-Range"))
		}
		switch {
		case cr.Start != req.Start,
			wantEnd >= 0 && cr.End != wantEnd,
			req.Total >= 0 && cr.Total != req.Total,
			hresp.ContentLength >= 0 && hresp.ContentLength != cr.End-cr.Start:
			return fmt.Errorf("%w: asked %s of %d, got %q", ErrBadRange,
				RangeHeader(req.Start, req.End), req.Total, hresp.Header.Get("Content-Range"))
		}
		resp.Partial = true
		resp.Start, resp.End, resp.Total = cr.Start, cr.End, cr.Total
		return nil
	case http.StatusOK:
		resp.Start, resp.Total = 0, hresp.ContentLength
		if resp.Total >= 0 {
			resp.End = resp.Total
		}
		return nil
	case http.StatusNotModified:
		if req.IfNoneMatch != "" || req.IfModifiedSince != "" {
			resp.NotModified = true
			return nil
		}
	case http.StatusRequestedRangeNotSatisfiable:
		cr, err := ParseContentRange(hresp.Header.Get("Content-Range"))
		if err == nil && cr.Total == 0 && req.Start == 0 && req.Total <= 0 {
			resp.Partial = true
			resp.Start, resp.End, resp.Total = 0, 0, 0
			return nil
		}
	}
	return &StatusError{
		Code:       hresp.StatusCode,
		Status:     hresp.Status,
		RetryAfter: ParseRetryAfter(hresp.Header.Get("Retry-After"), time.Now()),
	}
}

// Waiter throttles reads; *rate.Limiter satisfies it. WaitN is never asked
// for more than the buffer size handed to Copy, which the caller keeps at
// or below the limiter's burst.
type Waiter interface {
	WaitN(ctx context.Context, n int) error
}

// Copy streams body into dst at cur's position until cur reaches its end
// (which may shrink meanwhile), or, for an unknown end, until EOF. It reads
// whole buffers before writing, so a fast link costs one pwrite per buffer.
// obs (may be nil) hears of every read and every write; it runs on the data
// path and must be cheap.
//
// With an Aligned destination (direct I/O) each read lands in buf at its
// file offset's position within a block, so that the write can go to the
// device straight from buf. Copy does not read while it writes: the
// socket's receive buffer absorbs a direct write of a whole buffer, and a
// writer goroutine cost more CPU in thread switches than it won in overlap
// (docs/design.md).
//
// It returns the bytes written. A body that ends before a known end gives
// ErrShortBody. The body is not closed.
func Copy(ctx context.Context, body io.Reader, cur *Cursor, dst io.WriterAt, buf []byte, limit Waiter, obs Observer) (int64, error) {
	c := copier{ctx: ctx, body: body, cur: cur, dst: dst, limit: limit, obs: obs}
	if a, ok := dst.(Aligned); ok {
		c.align = int64(a.Alignment())
	}
	return c.loop(buf)
}

type copier struct {
	ctx   context.Context
	body  io.Reader
	cur   *Cursor
	dst   io.WriterAt
	limit Waiter
	obs   Observer
	align int64 // 0: no alignment wanted
}

// chunk is the part of buf the bytes from file offset pos go into: at
// pos's offset within a block when the destination is aligned, so that
// every block boundary of the file falls on a block boundary of buf's
// memory, and no further than end (-1: unknown).
func (c *copier) chunk(buf []byte, pos, end int64) []byte {
	lead := int64(0)
	if c.align > 0 && int64(len(buf)) > 2*c.align {
		lead = pos % c.align
	}
	want := int64(len(buf)) - lead
	if end >= 0 {
		want = max(min(want, end-pos), 0)
	}
	return buf[lead : lead+want]
}

// read fills chunk from the body and pays the limiter for what came.
func (c *copier) read(chunk []byte) (n int, rerr, err error) {
	n, rerr = fill(c.body, chunk, c.obs)
	if n > 0 && c.limit != nil {
		err = c.limit.WaitN(c.ctx, n)
	}
	return n, rerr, err
}

// wrote records a finished write of n claimed bytes at off.
func (c *copier) wrote(n int, off int64, err error) error {
	c.cur.commit(int64(n))
	if c.obs != nil && n > 0 {
		c.obs.Written(int64(n))
	}
	if err != nil {
		return fmt.Errorf("segment: write at %d: %w", off, err)
	}
	return nil
}

// ended says how a read error ends the copy, once every byte read before
// it is written: nil for the end of a body that ran to the end.
func (c *copier) ended(rerr error) error {
	switch {
	case rerr == io.EOF:
		if c.cur.Remaining() > 0 {
			return ErrShortBody
		}
		return nil
	case errors.Is(rerr, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: %v", ErrShortBody, rerr)
	}
	return rerr
}

// loop reads a whole chunk, claims it, writes it, and goes on: one write
// at a time, each claimed only once the one before is committed, so that a
// split never cuts into bytes being written.
func (c *copier) loop(buf []byte) (int64, error) {
	var written int64
	for {
		_, pos, end := c.cur.Bounds()
		chunk := c.chunk(buf, pos, end)
		if len(chunk) == 0 {
			return written, nil
		}
		n, rerr, err := c.read(chunk)
		if err != nil {
			return written, err
		}
		off, allowed := c.cur.claim(int64(n))
		var w int
		if allowed > 0 {
			w, err = c.dst.WriteAt(chunk[:allowed], off)
		}
		written += int64(w)
		if err := c.wrote(w, off, err); err != nil {
			return written, err
		}
		if rerr != nil {
			return written, c.ended(rerr)
		}
	}
}

// Aligned is a destination that writes faster when the memory of every
// block-aligned file offset is block-aligned too (direct I/O). Copy then
// places data in buf accordingly; buf itself must start on a block
// boundary for that to help.
type Aligned interface {
	Alignment() int
}

// fill reads until p is full or the body ends or fails.
func fill(r io.Reader, p []byte, obs Observer) (int, error) {
	n := 0
	for n < len(p) {
		m, err := r.Read(p[n:])
		n += m
		if m > 0 && obs != nil {
			obs.Received(m)
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Observer hears of a transfer's progress. Received proves the connection
// is alive (bytes arrived, perhaps not yet written); Written counts bytes
// that are in the file.
type Observer interface {
	Received(n int)
	Written(n int64)
}

// Drain reads what is left of a body that should already be at its end, so
// the connection can be reused. It gives up after a few bytes: a body that
// still has data is not worth a connection.
func Drain(body io.Reader) {
	var b [1]byte
	_, _ = io.ReadFull(body, b[:])
}
