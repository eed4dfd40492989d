package origin

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// baseTime anchors Last-Modified; version v is served as baseTime + v seconds
// so that the value is deterministic yet changes with every SetVersion.
var baseTime = time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)

// LastModified returns the Last-Modified time served for a content version.
func LastModified(version int) time.Time {
	return baseTime.Add(time.Duration(version) * time.Second)
}

const bufSize = 64 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// ServeHTTP implements http.Handler; it is exported only so that a Server can
// also be mounted elsewhere (for example behind a proxy in a test).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	inflight := s.st.inflight.Add(1)
	raise(&s.st.peakReqs, inflight)
	began := time.Now()
	defer func() {
		s.st.busy.Add(int64(time.Since(began)))
		s.st.inflight.Add(-1)
	}()

	opts := s.options()
	if opts.MaxInFlight > 0 && inflight > int64(opts.MaxInFlight) && r.Method == http.MethodGet {
		s.st.requests.Add(1)
		code := opts.OverloadStatus
		if code == 0 {
			code = http.StatusTooManyRequests
		}
		if opts.OverloadRetryAfter != "" {
			w.Header().Set("Retry-After", opts.OverloadRetryAfter)
		}
		s.plain(w, r, code, "too many requests in flight\n")
		return
	}
	ctx := r.Context()
	head := r.Method == http.MethodHead
	switch r.Method {
	case http.MethodGet:
		s.st.requests.Add(1)
	case http.MethodHead:
		s.st.heads.Add(1)
	default:
		if !sleepCtx(ctx, opts.Latency) {
			return
		}
		w.Header().Set("Allow", "GET, HEAD")
		s.plain(w, r, http.StatusMethodNotAllowed, "method not allowed\n")
		return
	}

	name := strings.TrimPrefix(r.URL.Path, "/")
	f := s.lookup(name)
	if f == nil {
		if !sleepCtx(ctx, opts.Latency) {
			return
		}
		s.plain(w, r, http.StatusNotFound, "not found\n")
		return
	}
	// Snapshot the version so that one response never mixes two contents.
	version := int(f.version.Load())
	size := f.size
	n := f.reqs.Add(1)
	replica := s.replica(r.Context(), opts)
	etag, lastMod := ETag(name, version, size), LastModified(version)
	switch {
	case replica > 0 && opts.ReplicaBytesDiffer:
		version += replica
		etag, lastMod = ETag(name, version, size), LastModified(version)
	case replica > 0:
		etag = ReplicaETag(name, version, replica, size)
		lastMod = lastMod.Add(time.Duration(replica) * 24 * time.Hour)
	}
	lastModified := lastMod.Format(http.TimeFormat)

	rangesOn := !opts.NoRanges && !opts.NoLength
	spec, ranged := rangeSpec{}, false
	if rangesOn {
		spec, ranged = parseRange(r.Header.Values("Range"))
	}
	if ranged {
		if ir := r.Header.Get("If-Range"); ir != "" && ir != etag && ir != lastModified {
			ranged = false
		}
	}

	req := Request{Name: name, N: int(min(n, math.MaxInt)), End: -1, Ranged: ranged, Header: r.Header, Method: r.Method,
		Replica: replica}
	if ranged {
		req.Start, req.End = spec.requested(size)
	}
	var flt Fault
	if opts.Fault != nil {
		flt = opts.Fault(req)
	}

	if !sleepCtx(ctx, opts.Latency) {
		return
	}
	if flt.Status != 0 {
		if flt.RetryAfter != "" {
			w.Header().Set("Retry-After", flt.RetryAfter)
		}
		s.plain(w, r, flt.Status, "origin: injected fault "+strconv.Itoa(flt.Status)+"\n")
		return
	}

	h := w.Header()
	if im := r.Header.Get("If-Match"); im != "" && !opts.IgnoreIfMatch && !matchesETag(im, etag) {
		// As nginx answers: no validator of the version it has.
		h.Set("Content-Length", "0")
		s.writeHeader(w, http.StatusPreconditionFailed)
		return
	}
	h.Set("Content-Type", "application/octet-stream")
	h.Set("ETag", etag)
	h.Set("Last-Modified", lastModified)
	if rangesOn {
		h.Set("Accept-Ranges", "bytes")
	}
	if flt.IgnoreRange {
		ranged = false
	}

	status, start, length := http.StatusOK, int64(0), size
	if ranged {
		first, last, ok := spec.resolve(size)
		if !ok {
			h.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
			h.Set("Content-Length", "0")
			s.writeHeader(w, http.StatusRequestedRangeNotSatisfiable)
			return
		}
		if flt.WrongRange {
			first, last = shift(first, last, size)
		}
		status, start, length = http.StatusPartialContent, first, last-first+1
		h.Set("Content-Range", "bytes "+strconv.FormatInt(first, 10)+"-"+strconv.FormatInt(last, 10)+"/"+strconv.FormatInt(size, 10))
	}

	rc := http.NewResponseController(w)
	if opts.NoLength {
		s.writeHeader(w, status)
		// Flushing before any body byte is what stops net/http from
		// computing a Content-Length for small bodies.
		rc.Flush()
	} else {
		h.Set("Content-Length", strconv.FormatInt(length, 10))
		s.writeHeader(w, status)
	}
	if head {
		return
	}
	ci, _ := ctx.Value(connKey{}).(*connInfo)
	s.sendBody(ctx, w, rc, r, ci, name, version, start, length, flt, !opts.NoLength)
}

// replica is the replica of a farm (Options.Replicas) that answers a
// request: in turn per request, or the one its connection was sent to.
func (s *Server) replica(ctx context.Context, opts *Options) int {
	if opts.Replicas < 2 {
		return 0
	}
	if ci, ok := ctx.Value(connKey{}).(*connInfo); ok && opts.ReplicaPerConn {
		return ci.replica % opts.Replicas
	}
	return int((s.turn.Add(1) - 1) % int64(opts.Replicas))
}

// matchesETag says whether an If-Match value names etag, by the strong
// comparison If-Match calls for ("*" names any).
func matchesETag(ifMatch, etag string) bool {
	for _, v := range strings.Split(ifMatch, ",") {
		if v = strings.TrimSpace(v); v == "*" || v == etag {
			return true
		}
	}
	return false
}

// shift moves an inclusive range one byte up, clipped to the file; a range
// starting at the last byte moves down instead so that the response is still
// wrong (only a one-byte file cannot be shifted).
func shift(first, last, size int64) (int64, int64) {
	switch {
	case first+1 < size:
		return first + 1, min(last+1, size-1)
	case first > 0:
		return first - 1, last - 1
	}
	return first, last
}

func (s *Server) writeHeader(w http.ResponseWriter, code int) {
	if code >= 0 && code < len(s.st.status) {
		s.st.status[code].Add(1)
	}
	w.WriteHeader(code)
}

func (s *Server) plain(w http.ResponseWriter, r *http.Request, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	s.writeHeader(w, code)
	if r.Method == http.MethodHead {
		return
	}
	if n, _ := w.Write([]byte(body)); n > 0 {
		s.st.bytes.Add(int64(n))
	}
}

type endAction int

const (
	endNormal endAction = iota
	endReset
	endShort
)

// sendBody writes length bytes of the file starting at off, applying the
// throttles and the body faults.
func (s *Server) sendBody(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, r *http.Request, ci *connInfo, name string, version int, off, length int64, flt Fault, declared bool) {
	stopAt, action := length, endNormal
	if flt.ShortBy > 0 {
		stopAt, action = max(0, length-flt.ShortBy), endShort
	}
	if flt.ResetAfter > 0 && flt.ResetAfter < length && flt.ResetAfter <= stopAt {
		stopAt, action = flt.ResetAfter, endReset
	}
	stallAt := int64(-1)
	if flt.StallAfter > 0 && flt.StallAfter < stopAt {
		stallAt = flt.StallAfter
	}

	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp

	resumed := false // false while no byte has been paced since the last pause
	for sent := int64(0); sent < stopAt; {
		if sent == stallAt {
			resumed = false
			rc.Flush()
			var ok bool
			if flt.StallFor > 0 {
				ok = sleepCtx(ctx, flt.StallFor)
			} else {
				<-ctx.Done()
			}
			if !ok {
				return
			}
			stallAt = -1
		}
		n := stopAt - sent
		if stallAt > 0 {
			n = min(n, stallAt-sent)
		}
		o := s.options()
		throttled := o.PerConnRate > 0 || o.TotalRate > 0
		// Burst pacing replaces the smooth per-connection bucket; a total
		// cap still applies smoothly on top of it.
		burst := o.BurstPacing && o.PerConnRate > 0 && ci != nil
		smoothConn := o.PerConnRate
		if burst {
			smoothConn = 0
		}
		chunk := int64(len(buf))
		if smoothConn > 0 || o.TotalRate > 0 {
			chunk = int64(chunkFor(positiveMin(smoothConn, o.TotalRate)))
		}
		n = min(n, chunk)
		if throttled {
			var d time.Duration
			switch {
			case burst:
				d = ci.burst.reserve(o.PerConnRate, n)
			case ci != nil:
				d = ci.bucket.reserve(o.PerConnRate, int(n), resumed)
			}
			d = max(d, s.total.reserve(o.TotalRate, int(n), resumed))
			resumed = true
			if !sleepCtx(ctx, d) {
				return
			}
		}
		Content(name, version, off+sent, buf[:n])
		m, err := w.Write(buf[:n])
		sent += int64(m)
		s.st.bytes.Add(int64(m))
		if err != nil {
			return
		}
		if throttled {
			// Without a flush the bytes could sit in net/http's buffers and
			// leave in bursts, defeating the pacing.
			rc.Flush()
		}
	}

	switch action {
	case endReset:
		rc.Flush()
		if r.ProtoMajor >= 2 {
			// HTTP/2 multiplexes other streams over the connection; a stream
			// reset is the per-request equivalent of a TCP reset.
			panic(http.ErrAbortHandler)
		}
		conn, _, err := rc.Hijack()
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		if tc := tcpConn(conn); tc != nil {
			// An RST discards whatever is still queued, so wait for the
			// peer to have the promised bytes before sending it.
			waitDrained(ctx, tc, 2*time.Second)
			tc.SetLinger(0)
			tc.Close()
		}
		conn.Close()
	case endShort:
		rc.Flush()
		if r.ProtoMajor >= 2 {
			if !declared {
				// Without a declared length an early end of stream would
				// look like a complete body.
				panic(http.ErrAbortHandler)
			}
			// Ending the stream early leaves the declared length unmet,
			// which HTTP/2 clients report as an unexpected EOF.
			return
		}
		if conn, _, err := rc.Hijack(); err == nil {
			conn.Close()
		} else {
			panic(http.ErrAbortHandler)
		}
	}
}

func positiveMin(a, b int64) int64 {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	}
	return min(a, b)
}

func tcpConn(c net.Conn) *net.TCPConn {
	for {
		switch x := c.(type) {
		case *net.TCPConn:
			return x
		case interface{ NetConn() net.Conn }:
			c = x.NetConn()
		default:
			return nil
		}
	}
}

// rangeSpec is one parsed byte-range-spec: a-b (b inclusive, b < 0 when
// open-ended) or, when suffix is set, the last a bytes.
type rangeSpec struct {
	suffix bool
	a, b   int64
}

var errBadRange = errors.New("bad range")

// parseRange accepts exactly one Range header holding exactly one range;
// anything else is reported as absent so that the caller answers 200, as RFC
// 9110 permits for ranges a server does not want to honour.
func parseRange(values []string) (rangeSpec, bool) {
	if len(values) != 1 {
		return rangeSpec{}, false
	}
	unit, set, ok := strings.Cut(values[0], "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(unit), "bytes") || strings.Contains(set, ",") {
		return rangeSpec{}, false
	}
	first, last, ok := strings.Cut(strings.TrimSpace(set), "-")
	if !ok {
		return rangeSpec{}, false
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	if first == "" {
		n, err := parseDigits(last)
		if err != nil {
			return rangeSpec{}, false
		}
		return rangeSpec{suffix: true, a: n}, true
	}
	a, err := parseDigits(first)
	if err != nil {
		return rangeSpec{}, false
	}
	if last == "" {
		return rangeSpec{a: a, b: -1}, true
	}
	b, err := parseDigits(last)
	if err != nil || b < a {
		return rangeSpec{}, false
	}
	return rangeSpec{a: a, b: b}, true
}

func parseDigits(s string) (int64, error) {
	if s == "" {
		return 0, errBadRange
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errBadRange
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

// resolve turns the spec into an inclusive range within a file of size bytes,
// or reports it unsatisfiable.
func (rs rangeSpec) resolve(size int64) (first, last int64, ok bool) {
	if size == 0 {
		return 0, 0, false
	}
	if rs.suffix {
		if rs.a == 0 {
			return 0, 0, false
		}
		return size - min(rs.a, size), size - 1, true
	}
	if rs.a >= size {
		return 0, 0, false
	}
	last = size - 1
	if rs.b >= 0 && rs.b < last {
		last = rs.b
	}
	return rs.a, last, true
}

// requested reports the range as the client asked for it, for the fault hook.
func (rs rangeSpec) requested(size int64) (start, end int64) {
	switch {
	case rs.suffix:
		return size - min(rs.a, size), -1
	case rs.b < 0 || rs.b == math.MaxInt64:
		return rs.a, -1
	}
	return rs.a, rs.b + 1
}
