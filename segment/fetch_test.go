package segment

import (
	"bytes"
	"context"
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
	"testing/iotest"
	"time"
	"unsafe"
)

// closeCounter is an http.RoundTripper that counts how many response bodies
// its caller closes.
type closeCounter struct {
	next   http.RoundTripper
	closed atomic.Int32
}

func (c *closeCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	if err == nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: &c.closed}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int32
}

func (b *countingBody) Close() error {
	b.n.Add(1)
	return b.ReadCloser.Close()
}

// reply builds a handler answering with the given status, headers and body.
// Headers are set before WriteHeader, so an explicit Content-Length wins.
func reply(code int, hdr map[string]string, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for k, v := range hdr {
			w.Header().Set(k, v)
		}
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

// chunked answers without a Content-Length.
func chunked(code int, hdr map[string]string, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for k, v := range hdr {
			w.Header().Set(k, v)
		}
		w.WriteHeader(code)
		w.(http.Flusher).Flush()
		io.WriteString(w, body)
	}
}

func cr(v string) map[string]string { return map[string]string{"Content-Range": v} }

func TestOpenAcceptsOnlyTheRangeAskedFor(t *testing.T) {
	hundred := strings.Repeat("0123456789", 10)
	probe := Request{Start: 0, End: -1, Total: -1}
	ranged := Request{Start: 10, End: 20, Total: 100}
	type want struct {
		partial           bool
		start, end, total int64
		body              string
	}
	tests := []struct {
		name    string
		req     Request
		handler http.HandlerFunc
		want    want
		wantErr error // checked with errors.Is; nil means success
		code    int   // for *StatusError
		retry   time.Duration
	}{
		{
			name: "probe answered 206", req: probe,
			handler: reply(206, cr("bytes 0-99/100"), hundred),
			want:    want{true, 0, 100, 100, hundred},
		},
		{
			name: "probe answered 206 with unknown total", req: probe,
			handler: reply(206, cr("bytes 0-99/*"), hundred),
			want:    want{true, 0, 100, -1, hundred},
		},
		{
			name: "probe answered 206 chunked", req: probe,
			handler: chunked(206, cr("bytes 0-99/100"), hundred),
			want:    want{true, 0, 100, 100, hundred},
		},
		{
			name: "probe answered 200", req: probe,
			handler: reply(200, nil, hundred),
			want:    want{false, 0, 100, 100, hundred},
		},
		{
			name: "probe answered 200 chunked", req: probe,
			handler: chunked(200, nil, hundred),
			want:    want{false, 0, -1, -1, hundred},
		},
		{
			name: "probe of empty file answered 416", req: probe,
			handler: reply(416, cr("bytes */0"), ""),
			want:    want{true, 0, 0, 0, ""},
		},
		{
			name: "probe answered 416 for non-empty file", req: probe,
			handler: reply(416, cr("bytes */100"), ""),
			wantErr: &StatusError{}, code: 416,
		},
		{
			name: "probe answered 416 without content-range", req: probe,
			handler: reply(416, nil, ""),
			wantErr: &StatusError{}, code: 416,
		},
		{
			name: "ranged request answered 416 bytes */0", req: ranged,
			handler: reply(416, cr("bytes */0"), ""),
			wantErr: &StatusError{}, code: 416,
		},
		{
			name: "probe from offset answered 416 bytes */0", req: Request{Start: 5, End: -1, Total: -1},
			handler: reply(416, cr("bytes */0"), ""),
			wantErr: &StatusError{}, code: 416,
		},
		{
			name: "probe with wrong start", req: probe,
			handler: reply(206, cr("bytes 1-99/100"), hundred[1:]),
			wantErr: ErrBadRange,
		},
		{
			name: "probe not running to the end", req: probe,
			handler: reply(206, cr("bytes 0-49/100"), hundred[:50]),
			wantErr: ErrBadRange,
		},
		{
			name: "ranged request answered 206", req: ranged,
			handler: reply(206, cr("bytes 10-19/100"), hundred[10:20]),
			want:    want{true, 10, 20, 100, hundred[10:20]},
		},
		{
			name: "ranged request with unknown total", req: Request{Start: 10, End: 20, Total: -1},
			handler: reply(206, cr("bytes 10-19/*"), hundred[10:20]),
			want:    want{true, 10, 20, -1, hundred[10:20]},
		},
		{
			name: "open-ended request with known total", req: Request{Start: 50, End: -1, Total: 100},
			handler: reply(206, cr("bytes 50-99/100"), hundred[50:]),
			want:    want{true, 50, 100, 100, hundred[50:]},
		},
		{
			name: "open-ended request answered short of total", req: Request{Start: 50, End: -1, Total: 100},
			handler: reply(206, cr("bytes 50-89/100"), hundred[50:90]),
			wantErr: ErrBadRange,
		},
		{
			name: "wrong start", req: ranged,
			handler: reply(206, cr("bytes 11-20/100"), hundred[11:21]),
			wantErr: ErrBadRange,
		},
		{
			name: "wrong end", req: ranged,
			handler: reply(206, cr("bytes 10-29/100"), hundred[10:30]),
			wantErr: ErrBadRange,
		},
		{
			name: "shorter end", req: ranged,
			handler: reply(206, cr("bytes 10-14/100"), hundred[10:15]),
			wantErr: ErrBadRange,
		},
		{
			name: "wrong total", req: ranged,
			handler: reply(206, cr("bytes 10-19/200"), hundred[10:20]),
			wantErr: ErrSizeChanged,
		},
		{
			name: "several ranges at once", req: ranged,
			handler: reply(206, map[string]string{"Content-Type": "multipart/byteranges; boundary=x"}, "--x--"),
			wantErr: ErrMultipart,
		},
		{
			name: "unknown total when one is known", req: ranged,
			handler: reply(206, cr("bytes 10-19/*"), hundred[10:20]),
			wantErr: ErrBadRange,
		},
		{
			name: "missing content-range", req: ranged,
			handler: reply(206, nil, hundred[10:20]),
			wantErr: ErrBadRange,
		},
		{
			name: "malformed content-range", req: ranged,
			handler: reply(206, cr("bytes 10-19"), hundred[10:20]),
			wantErr: ErrBadRange,
		},
		{
			name: "unsatisfied form on a 206", req: ranged,
			handler: reply(206, cr("bytes */100"), ""),
			wantErr: ErrBadRange,
		},
		{
			name: "content-length disagrees", req: ranged,
			handler: reply(206, map[string]string{"Content-Range": "bytes 10-19/100", "Content-Length": "5"}, hundred[10:15]),
			wantErr: ErrBadRange,
		},
		{
			name: "ranged request answered 200", req: ranged,
			handler: reply(200, nil, hundred),
			want:    want{false, 0, 100, 100, hundred},
		},
		{
			name: "404 with retry-after", req: ranged,
			handler: reply(404, map[string]string{"Retry-After": "120"}, "gone"),
			wantErr: &StatusError{}, code: 404, retry: 120 * time.Second,
		},
		{
			name: "503 with retry-after", req: ranged,
			handler: reply(503, map[string]string{"Retry-After": "7"}, "busy"),
			wantErr: &StatusError{}, code: 503, retry: 7 * time.Second,
		},
		{
			name: "500 without retry-after", req: ranged,
			handler: reply(500, nil, "oops"),
			wantErr: &StatusError{}, code: 500,
		},
		{
			name: "not modified though nothing was conditional", req: ranged,
			handler: reply(304, nil, ""),
			wantErr: &StatusError{}, code: 304,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			tr := &closeCounter{next: srv.Client().Transport}
			client := &http.Client{Transport: tr}
			req := tt.req
			req.URL = srv.URL + "/file"

			resp, err := Open(context.Background(), client, req)
			if tt.wantErr != nil {
				if resp != nil {
					t.Errorf("error path returned a response %+v", resp)
				}
				if err == nil {
					t.Fatal("no error")
				}
				if got := tr.closed.Load(); got != 1 {
					t.Errorf("body closed %d times on error, want 1", got)
				}
				var se *StatusError
				if _, isStatus := tt.wantErr.(*StatusError); isStatus {
					if !errors.As(err, &se) {
						t.Fatalf("error %v (%T) is not a *StatusError", err, err)
					}
					if se.Code != tt.code {
						t.Errorf("Code = %d, want %d", se.Code, tt.code)
					}
					if !strings.HasPrefix(se.Status, strconv.Itoa(tt.code)) {
						t.Errorf("Status = %q", se.Status)
					}
					if se.RetryAfter != tt.retry || RetryAfter(err) != tt.retry {
						t.Errorf("RetryAfter = %v, want %v", se.RetryAfter, tt.retry)
					}
					wantPermanent := tt.code >= 300 && tt.code < 500 && tt.code != 408 && tt.code != 425 && tt.code != 429
					if Permanent(err) != wantPermanent {
						t.Errorf("Permanent = %v, want %v", Permanent(err), wantPermanent)
					}
				} else {
					if !errors.Is(err, tt.wantErr) {
						t.Errorf("error %v, want %v", err, tt.wantErr)
					}
					if errors.As(err, &se) {
						t.Errorf("error %v is also a *StatusError", err)
					}
					if Permanent(err) {
						t.Errorf("%v classified permanent", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer resp.Body.Close()
			got := want{resp.Partial, resp.Start, resp.End, resp.Total, ""}
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("reading body: %v", err)
			}
			got.body = string(b)
			if got != tt.want {
				t.Errorf("response %+v, want %+v", got, tt.want)
			}
			if n := tr.closed.Load(); n != 0 {
				t.Errorf("body closed %d times on success, want 0", n)
			}
		})
	}
}

func TestOpenSendsTheInclusiveRangeTheValidatorAndTheUserAgent(t *testing.T) {
	tests := []struct {
		name          string
		req           Request
		wantRange     string
		wantIfRange   string // "" means the header must be absent
		wantUserAgent string // "" means Go's default
	}{
		{"probe", Request{Start: 0, End: -1, Total: -1}, "bytes=0-", "", ""},
		{"range", Request{Start: 10, End: 20, Total: 100}, "bytes=10-19", "", ""},
		{"open ended", Request{Start: 50, End: -1, Total: 100}, "bytes=50-", "", ""},
		{"etag validator", Request{Start: 0, End: 10, Total: 100, IfRange: `"abc"`}, "bytes=0-9", `"abc"`, ""},
		{"date validator", Request{Start: 0, End: 10, Total: 100, IfRange: "Wed, 21 Oct 2015 07:28:00 GMT"}, "bytes=0-9", "Wed, 21 Oct 2015 07:28:00 GMT", ""},
		{"user agent", Request{Start: 0, End: 10, Total: 100, UserAgent: "bulkget/1.0"}, "bytes=0-9", "", "bulkget/1.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				mu  sync.Mutex
				got http.Header
			)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				got = r.Header.Clone()
				mu.Unlock()
				if r.Method != http.MethodGet {
					t.Errorf("method %s", r.Method)
				}
				w.WriteHeader(500)
			}))
			defer srv.Close()
			req := tt.req
			req.URL = srv.URL
			_, err := Open(context.Background(), srv.Client(), req)
			var se *StatusError
			if !errors.As(err, &se) || se.Code != 500 {
				t.Fatalf("Open error %v, want status 500", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if v := got.Get("Range"); v != tt.wantRange {
				t.Errorf("Range = %q, want %q", v, tt.wantRange)
			}
			if v := got.Values("Accept-Encoding"); len(v) != 1 || v[0] != "identity" {
				t.Errorf("Accept-Encoding = %q, want [identity]", v)
			}
			if v, ok := got["If-Range"]; tt.wantIfRange == "" && ok {
				t.Errorf("If-Range sent: %q", v)
			} else if tt.wantIfRange != "" && got.Get("If-Range") != tt.wantIfRange {
				t.Errorf("If-Range = %q, want %q", got.Get("If-Range"), tt.wantIfRange)
			}
			ua := got.Get("User-Agent")
			if tt.wantUserAgent != "" && ua != tt.wantUserAgent {
				t.Errorf("User-Agent = %q, want %q", ua, tt.wantUserAgent)
			}
			if tt.wantUserAgent == "" && !strings.HasPrefix(ua, "Go-http-client/") {
				t.Errorf("User-Agent = %q, want Go's default", ua)
			}
		})
	}
}

func TestOpenKeepsTheETagAndLastModifiedOfTheAnswer(t *testing.T) {
	srv := httptest.NewServer(reply(206, map[string]string{
		"Content-Range": "bytes 0-3/4",
		"ETag":          `"v1"`,
		"Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT",
	}, "abcd"))
	defer srv.Close()
	resp, err := Open(context.Background(), srv.Client(), Request{URL: srv.URL, Start: 0, End: -1, Total: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ETag != `"v1"` || resp.LastModified != "Wed, 21 Oct 2015 07:28:00 GMT" {
		t.Errorf("ETag %q, Last-Modified %q", resp.ETag, resp.LastModified)
	}
	if v := resp.Validator(); v != `"v1"` {
		t.Errorf("Validator = %q", v)
	}
}

func TestTransportErrorsAreRetriedButACancelIsPermanent(t *testing.T) {
	srv := httptest.NewServer(reply(206, cr("bytes 0-3/4"), "abcd"))
	url := srv.URL
	client := srv.Client()
	srv.Close()

	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name      string
		ctx       context.Context
		url       string
		permanent bool
	}{
		{"server gone", context.Background(), url, false},
		{"bad url", context.Background(), "http://[::1", false},
		{"canceled", canceled, url, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := Open(tt.ctx, client, Request{URL: tt.url, Start: 0, End: -1, Total: -1})
			if err == nil || resp != nil {
				t.Fatalf("Open = %v, %v, want an error and no response", resp, err)
			}
			if Permanent(err) != tt.permanent {
				t.Errorf("Permanent(%v) = %v, want %v", err, Permanent(err), tt.permanent)
			}
		})
	}
}

func TestValidatorIsAStrongETagElseLastModified(t *testing.T) {
	const lm = "Wed, 21 Oct 2015 07:28:00 GMT"
	tests := []struct {
		name, etag, lastModified, want string
	}{
		{"strong etag", `"abc"`, lm, `"abc"`},
		{"strong etag alone", `"abc"`, "", `"abc"`},
		{"weak etag falls back", `W/"abc"`, lm, lm},
		{"weak etag alone", `W/"abc"`, "", ""},
		{"no etag", "", lm, lm},
		{"nothing", "", "", ""},
		{"empty quoted etag", `""`, lm, lm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Response{ETag: tt.etag, LastModified: tt.lastModified}
			if got := r.Validator(); got != tt.want {
				t.Errorf("Validator() = %q, want %q", got, tt.want)
			}
		})
	}
}

// errReader returns data, then err.
func errReader(data []byte, err error) io.Reader {
	return io.MultiReader(bytes.NewReader(data), iotest.ErrReader(err))
}

func TestCopyWritesExactlyItsRangeAndCallsAShortBodyShort(t *testing.T) {
	src := source(1000)
	errBoom := errors.New("boom")
	tests := []struct {
		name            string
		start, pos, end int64
		body            func() io.Reader
		buf             int
		wantN           int64
		wantErr         error
		wantPos         int64
	}{
		{"whole range", 0, 0, 1000, func() io.Reader { return bytes.NewReader(src) }, 64, 1000, nil, 1000},
		{"range at offset", 100, 100, 300, func() io.Reader { return bytes.NewReader(src[100:300]) }, 64, 200, nil, 300},
		{"buffer larger than range", 100, 100, 110, func() io.Reader { return bytes.NewReader(src[100:110]) }, 4096, 10, nil, 110},
		{"one byte reads", 10, 10, 90, func() io.Reader { return iotest.OneByteReader(bytes.NewReader(src[10:90])) }, 16, 80, nil, 90},
		{"data with EOF", 10, 10, 90, func() io.Reader { return iotest.DataErrReader(bytes.NewReader(src[10:90])) }, 7, 80, nil, 90},
		{"half reads", 0, 0, 500, func() io.Reader { return iotest.HalfReader(bytes.NewReader(src[:500])) }, 33, 500, nil, 500},
		{"body longer than range", 100, 100, 200, func() io.Reader { return bytes.NewReader(src[100:]) }, 64, 100, nil, 200},
		{"resumed cursor", 100, 150, 300, func() io.Reader { return bytes.NewReader(src[150:300]) }, 64, 150, nil, 300},
		{"empty range", 100, 100, 100, func() io.Reader { return iotest.ErrReader(errBoom) }, 64, 0, nil, 100},
		{"short body", 100, 100, 300, func() io.Reader { return bytes.NewReader(src[100:250]) }, 64, 150, ErrShortBody, 250},
		{"short body at buffer boundary", 0, 0, 256, func() io.Reader { return bytes.NewReader(src[:128]) }, 64, 128, ErrShortBody, 128},
		{"empty body", 0, 0, 256, func() io.Reader { return bytes.NewReader(nil) }, 64, 0, ErrShortBody, 0},
		{"unexpected EOF", 0, 0, 256, func() io.Reader { return errReader(src[:100], io.ErrUnexpectedEOF) }, 64, 100, ErrShortBody, 100},
		{"read error", 0, 0, 256, func() io.Reader { return errReader(src[:100], errBoom) }, 64, 100, errBoom, 100},
		{"timeout on second read", 0, 0, 256, func() io.Reader { return iotest.TimeoutReader(&chunkReader{data: src[:256], chunk: 16}) }, 64, 16, iotest.ErrTimeout, 16},
		{"unknown end reads to EOF", 200, 200, -1, func() io.Reader { return bytes.NewReader(src[200:]) }, 64, 800, nil, 1000},
		{"unknown end, empty body", 200, 200, -1, func() io.Reader { return bytes.NewReader(nil) }, 64, 0, nil, 200},
		{"unknown end, read error", 0, 0, -1, func() io.Reader { return errReader(src[:70], errBoom) }, 64, 70, errBoom, 70},
	}
	for _, mode := range copyModes {
		for _, tt := range tests {
			t.Run(mode.name+"/"+tt.name, func(t *testing.T) {
				dst := newMemFile(len(src))
				cur := NewCursor(tt.start, tt.pos, tt.end)
				n, err := Copy(context.Background(), tt.body(), cur, mode.wrap(dst), make([]byte, tt.buf), nil, nil)
				if tt.wantErr == nil && err != nil {
					t.Fatalf("Copy error: %v", err)
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Fatalf("Copy error %v, want %v", err, tt.wantErr)
				}
				if n != tt.wantN {
					t.Errorf("Copy wrote %d, want %d", n, tt.wantN)
				}
				if got := cur.Pos(); got != tt.wantPos {
					t.Errorf("Pos = %d, want %d", got, tt.wantPos)
				}
				dst.check(t, src, tt.pos, tt.pos+n)
			})
		}
	}
}

// The cursor is split from inside the body's first Read
// and Copy must stop exactly at the new end.
func TestCopyStopsExactlyAtAnEndSplitOffMidCopy(t *testing.T) {
	tests := []struct {
		name       string
		start, end int64
		buf        int
		min        int64
	}{
		{"split inside first buffer", 0, 1000, 4096, 100},
		{"split beyond first buffer", 0, 1000, 64, 10},
		{"aligned split", 0, 4 * splitAlign, 32 << 10, 1},
		{"offset range", 300, 700, 50, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := source(int(tt.end))
			dst := newMemFile(len(src))
			cur := NewCursor(tt.start, tt.start, tt.end)
			var mid, tail int64
			var split bool
			first := true
			body := &hookReader{r: bytes.NewReader(src[tt.start:tt.end]), hook: func() {
				if first {
					first = false
					return
				}
				if !split {
					mid, tail, split = cur.Split(tt.min)
					if !split {
						t.Fatal("Split refused")
					}
				}
			}}
			n, err := Copy(context.Background(), iotest.OneByteReader(body), cur, dst, make([]byte, tt.buf), nil, nil)
			if err != nil {
				t.Fatalf("Copy: %v", err)
			}
			if !split {
				t.Fatal("no split")
			}
			if tail != tt.end {
				t.Errorf("tail end %d, want %d", tail, tt.end)
			}
			// The first byte is read but not yet claimed when Split runs, so
			// the whole range is still the remainder.
			want := tt.start + (tt.end-tt.start)/2
			if a := want - want%splitAlign; a-tt.start >= max(tt.min, 1) {
				want = a
			}
			if mid != want {
				t.Errorf("mid %d, want %d", mid, want)
			}
			if n != mid-tt.start || cur.Pos() != mid || cur.End() != mid {
				t.Errorf("Copy wrote %d, pos %d, end %d; want stop at %d", n, cur.Pos(), cur.End(), mid)
			}
			dst.check(t, src, tt.start, mid)
		})
	}
}

type fakeLimiter struct {
	calls []int
	total int
	err   error // returned once total exceeds failAfter
	after int
}

func (l *fakeLimiter) WaitN(ctx context.Context, n int) error {
	l.calls = append(l.calls, n)
	l.total += n
	if l.err != nil && l.total > l.after {
		return l.err
	}
	return nil
}

type countObserver struct {
	received, written int64
	bad               bool
}

func (o *countObserver) Received(n int) {
	if n <= 0 {
		o.bad = true
	}
	o.received += int64(n)
}

func (o *countObserver) Written(n int64) {
	if n <= 0 {
		o.bad = true
	}
	o.written += n
	if o.written > o.received {
		o.bad = true // written before received
	}
}

func TestCopyWaitsForTheLimiterAndTellsTheObserverEveryByte(t *testing.T) {
	src := source(5000)
	errLimit := errors.New("rate: would exceed deadline")
	tests := []struct {
		name       string
		start, end int64
		body       func() io.Reader
		buf        int
		limitErr   error
		limitAfter int
		wantN      int64
		wantErr    error
		split      bool // split the cursor on the third read
	}{
		{"full copy", 0, 5000, func() io.Reader { return bytes.NewReader(src) }, 512, nil, 0, 5000, nil, false},
		{"small reads", 100, 4100, func() io.Reader { return iotest.HalfReader(bytes.NewReader(src[100:4100])) }, 300, nil, 0, 4000, nil, false},
		{"body longer than range", 0, 1000, func() io.Reader { return bytes.NewReader(src) }, 300, nil, 0, 1000, nil, false},
		{"unknown end", 0, -1, func() io.Reader { return bytes.NewReader(src) }, 777, nil, 0, 5000, nil, false},
		{"short body", 0, 5000, func() io.Reader { return bytes.NewReader(src[:1234]) }, 512, nil, 0, 1234, ErrShortBody, false},
		{"split mid copy", 0, 5000, func() io.Reader { return iotest.OneByteReader(bytes.NewReader(src)) }, 100, nil, 0, -1, nil, true},
		{"limiter fails", 0, 5000, func() io.Reader { return bytes.NewReader(src) }, 512, errLimit, 1024, 1024, errLimit, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := newMemFile(len(src))
			cur := NewCursor(tt.start, tt.start, tt.end)
			lim := &fakeLimiter{err: tt.limitErr, after: tt.limitAfter}
			obs := &countObserver{}
			body := tt.body()
			if tt.split {
				reads := 0
				body = &hookReader{r: body, hook: func() {
					if reads++; reads == 3 {
						if _, _, ok := cur.Split(10); !ok {
							t.Fatal("Split refused")
						}
					}
				}}
			}
			n, err := Copy(context.Background(), body, cur, dst, make([]byte, tt.buf), lim, obs)
			if tt.wantErr == nil && err != nil {
				t.Fatalf("Copy: %v", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Copy error %v, want %v", err, tt.wantErr)
			}
			wantN := tt.wantN
			if tt.split {
				wantN = cur.End() - tt.start
				if cur.End() == tt.end {
					t.Fatal("cursor did not shrink")
				}
			}
			if n != wantN {
				t.Errorf("Copy wrote %d, want %d", n, wantN)
			}
			for i, c := range lim.calls {
				if c <= 0 || c > tt.buf {
					t.Errorf("WaitN call %d asked for %d, buffer is %d", i, c, tt.buf)
				}
			}
			if len(lim.calls) == 0 {
				t.Error("limiter never consulted")
			}
			if int64(lim.total) != obs.received {
				t.Errorf("limiter asked for %d bytes, %d received", lim.total, obs.received)
			}
			if obs.bad {
				t.Error("observer saw a non-positive count or Written ahead of Received")
			}
			if obs.written != n {
				t.Errorf("observer Written sum %d, Copy returned %d", obs.written, n)
			}
			if obs.received < obs.written {
				t.Errorf("observer Received %d < Written %d", obs.received, obs.written)
			}
			dst.check(t, src, tt.start, tt.start+n)
		})
	}
}

// failingFile fails every write that reaches past limit.
type failingFile struct {
	*memFile
	limit int64
}

var errDiskFull = errors.New("no space left on device")

func (f failingFile) WriteAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.limit {
		n := max(f.limit-off, 0)
		if _, err := f.memFile.WriteAt(p[:n], off); err != nil {
			return 0, err
		}
		return int(n), errDiskFull
	}
	return f.memFile.WriteAt(p, off)
}

func TestFailedWriteEndsCopyNamingItsOffsetAndCountingWhatLanded(t *testing.T) {
	src := source(1000)
	tests := []struct {
		name       string
		start, end int64
		buf        int
		limit      int64
		wantOff    string
		wantN      int64
	}{
		{"fails at buffer boundary", 0, 1000, 100, 300, "write at 300", 300},
		{"fails mid buffer", 0, 1000, 100, 250, "write at 200", 250},
		{"fails on first write at offset", 500, 1000, 64, 500, "write at 500", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := failingFile{newMemFile(len(src)), tt.limit}
			cur := NewCursor(tt.start, tt.start, tt.end)
			obs := &countObserver{}
			n, err := Copy(context.Background(), bytes.NewReader(src[tt.start:tt.end]), cur, dst, make([]byte, tt.buf), nil, obs)
			if !errors.Is(err, errDiskFull) {
				t.Fatalf("error %v does not wrap the write error", err)
			}
			if !strings.Contains(err.Error(), tt.wantOff) {
				t.Errorf("error %q does not name the offset (%q)", err, tt.wantOff)
			}
			if n != tt.wantN || cur.Pos() != tt.start+tt.wantN || obs.written != tt.wantN {
				t.Errorf("wrote %d, pos %d, observed %d; want %d", n, cur.Pos(), obs.written, tt.wantN)
			}
			if got := cur.Splittable(); got != tt.end-cur.Pos() {
				t.Errorf("reservation not released: Splittable %d, want %d", got, tt.end-cur.Pos())
			}
			dst.check(t, src, tt.start, tt.start+tt.wantN)
		})
	}
}

func TestRangesOpenedAndCopiedRebuildTheFile(t *testing.T) {
	src := source(300000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "f", time.Time{}, bytes.NewReader(src))
	}))
	defer srv.Close()
	dst := newMemFile(len(src))
	ranges := [][2]int64{{0, 70000}, {70000, 70001}, {70001, 300000}}
	for _, rg := range ranges {
		resp, err := Open(context.Background(), srv.Client(), Request{URL: srv.URL, Start: rg[0], End: rg[1], Total: int64(len(src))})
		if err != nil {
			t.Fatalf("Open %v: %v", rg, err)
		}
		cur := NewCursor(rg[0], rg[0], rg[1])
		_, err = Copy(context.Background(), resp.Body, cur, dst, make([]byte, 8192), nil, nil)
		Drain(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("Copy %v: %v", rg, err)
		}
	}
	dst.check(t, src, 0, int64(len(src)))
}

func TestDrainReadsOneByteAtMost(t *testing.T) {
	r := bytes.NewReader(make([]byte, 100))
	Drain(r)
	if r.Len() != 99 {
		t.Errorf("Drain read %d bytes, want 1", 100-r.Len())
	}
	Drain(bytes.NewReader(nil))
}

// alignedSink records whether each write's memory and file offset agree
// modulo its alignment, as direct I/O needs.
type alignedSink struct {
	align int
	data  []byte
	bad   int
}

func (a *alignedSink) Alignment() int { return a.align }

func (a *alignedSink) WriteAt(p []byte, off int64) (int, error) {
	if len(p) > 0 && int(uintptr(unsafe.Pointer(&p[0]))%uintptr(a.align)) != int(off%int64(a.align)) {
		a.bad++
	}
	copy(a.data[off:], p)
	return len(p), nil
}

func TestCopyKeepsMemoryAlignedWithFileOffsets(t *testing.T) {
	const align = 4096
	raw := make([]byte, 64<<10+align)
	skip := (align - int(uintptr(unsafe.Pointer(&raw[0]))%align)) % align
	buf := raw[skip : skip+64<<10]
	src := make([]byte, 1<<20)
	for i := range src {
		src[i] = byte(i * 7)
	}
	for _, start := range []int64{0, 1, 4095, 4097, 100000} {
		sink := &alignedSink{align: align, data: make([]byte, len(src))}
		cur := NewCursor(start, start, int64(len(src)))
		if _, err := Copy(context.Background(), bytes.NewReader(src[start:]), cur, sink, buf, nil, nil); err != nil {
			t.Fatal(err)
		}
		if sink.bad > 0 {
			t.Errorf("start %d: %d writes had memory and file offset out of step", start, sink.bad)
		}
		if !bytes.Equal(sink.data[start:], src[start:]) {
			t.Errorf("start %d: content differs", start)
		}
	}
}

// endless serves chunk-sized reads of zeros without allocating.
type endless struct{ chunk int }

func (e endless) Read(p []byte) (int, error) {
	n := min(len(p), e.chunk)
	clear(p[:n])
	return n, nil
}

type discardAt struct{}

func (discardAt) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }

type countingObserver struct{ received, written atomic.Int64 }

func (o *countingObserver) Received(n int)  { o.received.Add(int64(n)) }
func (o *countingObserver) Written(n int64) { o.written.Add(n) }

// The data path allocates nothing per chunk: the allocations of one Copy
// do not grow with the bytes it moves.
func TestCopyDoesNotAllocatePerChunk(t *testing.T) {
	buf := make([]byte, 256<<10)
	obs := &countingObserver{}
	for _, dst := range []io.WriterAt{discardAt{}, alignedDiscard{}} {
		allocs := func(size int64) float64 {
			return testing.AllocsPerRun(5, func() {
				cur := NewCursor(0, 0, size)
				if _, err := Copy(context.Background(), endless{chunk: 64 << 10}, cur, dst, buf, nil, obs); err != nil {
					t.Fatal(err)
				}
			})
		}
		small, large := allocs(1<<20), allocs(256<<20) // 4 and 1,024 buffers
		if large > small {
			t.Errorf("%T: Copy of 256 MiB made %.0f allocations, of 1 MiB %.0f: something allocates per chunk", dst, large, small)
		}
	}
}

// alignedDiscard takes the aligned path.
type alignedDiscard struct{ discardAt }

func (alignedDiscard) Alignment() int { return 4096 }

func BenchmarkCopy(b *testing.B) {
	for _, dst := range []io.WriterAt{discardAt{}, alignedDiscard{}} {
		b.Run(fmt.Sprintf("%T", dst)[len("segment."):], func(b *testing.B) {
			buf := make([]byte, 256<<10)
			const size = 64 << 20
			b.SetBytes(size)
			for b.Loop() {
				cur := NewCursor(0, 0, size)
				if _, err := Copy(context.Background(), endless{chunk: 64 << 10}, cur, dst, buf, nil, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// alignedFailing is a failingFile that asks for alignment, as a direct-I/O
// destination does.
type alignedFailing struct{ failingFile }

func (alignedFailing) Alignment() int { return 8 }

// A failed write ends an aligned Copy with its error, after the bytes
// before it are counted, whatever block the failure falls in.
func TestFailedAlignedWriteEndsCopyAfterCountingWhatLanded(t *testing.T) {
	src := source(10000)
	for _, limit := range []int64{0, 100, 2500, 9999} {
		ff := failingFile{newMemFile(len(src)), limit}
		cur := NewCursor(0, 0, int64(len(src)))
		obs := &countObserver{}
		n, err := Copy(context.Background(), bytes.NewReader(src), cur, alignedFailing{ff}, make([]byte, 512), nil, obs)
		if !errors.Is(err, errDiskFull) {
			t.Fatalf("limit %d: error %v does not wrap the write error", limit, err)
		}
		if n != limit || cur.Pos() != limit || obs.written != limit {
			t.Errorf("limit %d: wrote %d, pos %d, observed %d", limit, n, cur.Pos(), obs.written)
		}
		if got := cur.Splittable(); got != int64(len(src))-limit {
			t.Errorf("limit %d: reservation not released: Splittable %d", limit, got)
		}
		ff.check(t, src, 0, limit)
	}
}

// A request built from a parsed Target must be the one NewRequestWithContext
// builds from the same URL string: same URL, same Host, a copy the caller's
// URL never sees changed.
func TestNewRequestFromTargetMatchesParsing(t *testing.T) {
	ctx := context.WithValue(context.Background(), struct{}{}, "marker")
	for _, raw := range []string{
		"http://127.0.0.1:8080/a/b%20c?x=1", "https://example.com:/path", "http://[::1]:9000/",
		"http://user:pw@example.com/f", "http://example.com/a#frag",
	} {
		want, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
		if err != nil {
			t.Fatal(err)
		}
		target, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		keep := *target
		got, err := newRequest(ctx, Request{URL: raw, Target: target})
		if err != nil {
			t.Fatal(err)
		}
		gu, wu := *got.URL, *want.URL
		if gu.User.String() != wu.User.String() {
			t.Errorf("%s: user %q, want %q", raw, gu.User, wu.User)
		}
		gu.User, wu.User = nil, nil // pointers from two parses
		if gu != wu || got.Host != want.Host || got.Method != want.Method ||
			got.Proto != want.Proto || got.Context() != ctx {
			t.Errorf("%s: got URL %#v Host %q, want URL %#v Host %q", raw, got.URL, got.Host, want.URL, want.Host)
		}
		if *target != keep || got.URL == target {
			t.Errorf("%s: the caller's URL was shared or changed", raw)
		}
	}
}

func TestAcceptRangesIsReportedAsSent(t *testing.T) {
	for _, want := range []string{"none", "bytes", ""} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if want != "" {
				w.Header().Set("Accept-Ranges", want)
			}
			w.Write([]byte("hello"))
		}))
		resp, err := Open(context.Background(), srv.Client(), Request{URL: srv.URL, End: -1, Total: -1})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		srv.Close()
		if resp.Partial || resp.AcceptRanges != want {
			t.Errorf("Accept-Ranges %q: got %q (partial %v)", want, resp.AcceptRanges, resp.Partial)
		}
	}
}

func TestPreconditionFailedToIfMatchLeavesItsConnection(t *testing.T) {
	var conns atomic.Int64
	// Every answer is a 412 without a body, which the client would keep
	// the connection after.
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusPreconditionFailed)
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	client := srv.Client()
	for _, ifMatch := range []string{"", "", `"a"`, `"a"`} {
		_, err := Open(context.Background(), client, Request{URL: srv.URL, Start: 0, End: 10, Total: 100, IfRange: `"a"`, IfMatch: ifMatch})
		if !PreconditionFailed(err) {
			t.Fatalf("If-Match %q: %v, want a 412", ifMatch, err)
		}
	}
	// The two without If-Match share one connection; each 412 to If-Match
	// closes the one it came over, so the next request opens another.
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections for two requests without If-Match then two with it, want 2", n)
	}
}
