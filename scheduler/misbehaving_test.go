package scheduler

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkget/bulkget/httpclient"
	"github.com/bulkget/bulkget/manifest"
	"github.com/bulkget/bulkget/segment"
)

// content is a file's deterministic bytes.
func content(size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i*7 + i>>9)
	}
	return b
}

// byteRange reads a "bytes=a-b" or "bytes=a-" header against size; ok is
// false without one.
func byteRange(h string, size int64) (start, end int64, ok bool) {
	spec, found := strings.CutPrefix(h, "bytes=")
	if !found {
		return 0, size, false
	}
	a, b, _ := strings.Cut(spec, "-")
	start, _ = strconv.ParseInt(a, 10, 64)
	end = size
	if b != "" {
		e, _ := strconv.ParseInt(b, 10, 64)
		end = min(e+1, size)
	}
	return start, end, true
}

// misbehave serves one file of body, letting answer take over any request
// (it returns false to let the ordinary 206/200 answer go out), and counts
// the requests.
type misbehave struct {
	body   []byte
	answer func(w http.ResponseWriter, r *http.Request, n int64, start, end int64) bool
	reqs   atomic.Int64
	// header is sent with every ordinary answer; an ETag in it replaces
	// the usual one. noRanges answers every request with the whole body.
	header   http.Header
	noRanges bool
	// pace, if set, sends bodies 64 KiB at a time with this pause after
	// each, so that a file lasts long enough to be split on a loaded
	// machine.
	pace time.Duration
}

// write sends b, paced as m.pace says.
func (m *misbehave) write(w http.ResponseWriter, b []byte) {
	if m.pace <= 0 {
		w.Write(b)
		return
	}
	for len(b) > 0 {
		n := min(len(b), 64<<10)
		if _, err := w.Write(b[:n]); err != nil {
			return
		}
		w.(http.Flusher).Flush()
		b = b[n:]
		time.Sleep(m.pace)
	}
}

func (m *misbehave) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := m.reqs.Add(1)
	size := int64(len(m.body))
	start, end, ranged := byteRange(r.Header.Get("Range"), size)
	if m.answer != nil && m.answer(w, r, n, start, end) {
		return
	}
	w.Header().Set("ETag", `"v1"`)
	for k, vs := range m.header {
		w.Header()[k] = vs
	}
	if !ranged || m.noRanges {
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		m.write(w, m.body)
		return
	}
	w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end-1, size))
	w.Header().Set("Content-Length", strconv.FormatInt(end-start, 10))
	w.WriteHeader(http.StatusPartialContent)
	m.write(w, m.body[start:end])
}

// runOne downloads the single file m serves as name.bin and returns the
// summary, the events and how long it took.
func runOne(t *testing.T, m *misbehave, opts Options) (Summary, *recorder, time.Duration) {
	t.Helper()
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	rec := &recorder{}
	opts.Reporter = rec
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	sum, err := Run(ctx, []manifest.Entry{{Line: 2, Name: "name.bin", URL: srv.URL + "/name.bin", Size: -1}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Interrupted {
		t.Fatalf("the run hung: still going after 60 s, %d requests", m.reqs.Load())
	}
	return sum, rec, time.Since(start)
}

// failedWith checks that the one file failed with want in its message and
// that nothing is under its final name.
func failedWith(t *testing.T, sum Summary, dir, want string) {
	t.Helper()
	if sum.Done != 0 || len(sum.Failed) != 1 {
		t.Fatalf("done %d, failed %v: want the file failed", sum.Done, sum.Failed)
	}
	if msg := sum.Failed[0].Err.Error(); !strings.Contains(msg, want) {
		t.Errorf("failure %q does not say %q", msg, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "name.bin")); err == nil {
		t.Error("a failed file is under its final name")
	}
}

func TestTricklingHostEndsInAFailureWithinItsAttempts(t *testing.T) {
	for _, c := range []struct {
		conns      int
		every      time.Duration // a byte each
		hedgeAfter time.Duration
		stall      time.Duration
	}{
		{1, 50 * time.Millisecond, 0, 300 * time.Millisecond},
		{4, 50 * time.Millisecond, 0, 300 * time.Millisecond},
		// Pauses long enough for a free connection to take the request
		// over, each time before a whole window of the floor has passed.
		{4, 300 * time.Millisecond, 200 * time.Millisecond, time.Second},
	} {
		conns := c.conns
		t.Run(fmt.Sprintf("%d connections, a byte every %v", conns, c.every), func(t *testing.T) {
			m := &misbehave{body: content(1 << 20)}
			m.answer = func(w http.ResponseWriter, r *http.Request, _ int64, start, end int64) bool {
				w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end-1, len(m.body)))
				w.Header().Set("Content-Length", strconv.FormatInt(end-start, 10))
				w.WriteHeader(http.StatusPartialContent)
				for i := start; i < end; i++ {
					if _, err := w.Write(m.body[i : i+1]); err != nil {
						return true
					}
					w.(http.Flusher).Flush()
					select {
					case <-r.Context().Done():
						return true
					case <-time.After(c.every):
					}
				}
				return true
			}
			dir := t.TempDir()
			opts := testOptions(dir)
			opts.Connections, opts.Retries, opts.StallTimeout, opts.HedgeAfter = conns, 2, c.stall, c.hedgeAfter
			sum, rec, took := runOne(t, m, opts)
			failedWith(t, sum, dir, "gave up after")
			t.Logf("failed after %v and %d requests: %v", took, m.reqs.Load(), sum.Failed[0].Err)
			// Each connection's range has its own attempts, and the file
			// fails when the first range has spent them.
			if n := m.reqs.Load(); n > int64(2*conns*(opts.Retries+1)+1) {
				t.Errorf("%d requests for %d ranges of %d attempts", n, conns, opts.Retries+1)
			}
			if rec.count(Retrying) == 0 {
				t.Error("no retry event for a too slow request")
			}
		})
	}
}

func TestSilentHostIsNotTakenOverForever(t *testing.T) {
	m := &misbehave{body: content(1 << 20)}
	m.answer = func(w http.ResponseWriter, r *http.Request, n int64, start, end int64) bool {
		if n == 1 {
			return false // the probe is whole, so every later range is a takeover or a split
		}
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end-1, len(m.body)))
		w.Header().Set("Content-Length", strconv.FormatInt(end-start, 10))
		w.WriteHeader(http.StatusPartialContent)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		return true
	}
	// The probe hangs after its header too, once its first bytes are in.
	first := m.answer
	m.answer = func(w http.ResponseWriter, r *http.Request, n int64, start, end int64) bool {
		if n == 1 {
			w.Header().Set("ETag", `"v1"`)
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", len(m.body)-1, len(m.body)))
			w.Header().Set("Content-Length", strconv.Itoa(len(m.body)))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(m.body[:1000])
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return true
		}
		return first(w, r, n, start, end)
	}
	dir := t.TempDir()
	opts := testOptions(dir)
	opts.Connections, opts.Retries = 4, 3
	opts.StallTimeout, opts.HedgeAfter = 500*time.Millisecond, 100*time.Millisecond
	sum, _, took := runOne(t, m, opts)
	failedWith(t, sum, dir, "gave up after")
	t.Logf("failed after %v and %d requests: %v", took, m.reqs.Load(), sum.Failed[0].Err)
	// Each takeover and each stall is an attempt; splits of the silent
	// ranges at the tail add a few requests of their own.
	if n := m.reqs.Load(); n > 40 {
		t.Errorf("%d requests: takeovers did not count against the attempts", n)
	}
}

func TestWhatCanNeverSucceedIsNotRetried(t *testing.T) {
	for _, c := range []struct {
		name      string
		answer    func(w http.ResponseWriter, r *http.Request)
		want      string
		maxReqs   int64
		permanent error
	}{
		{"redirect loop", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, r.URL.Path, http.StatusFound)
		}, "too many redirects", httpclient.MaxRedirects + 1, segment.ErrTooManyRedirects},
		{"redirect to file://", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", "file:///etc/passwd")
			w.WriteHeader(http.StatusFound)
		}, `unsupported protocol scheme "file"`, 1, segment.ErrRedirectScheme},
		{"304 to an unconditional request", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNotModified)
		}, "304", 1, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := &misbehave{body: content(4096)}
			m.answer = func(w http.ResponseWriter, r *http.Request, _ int64, _, _ int64) bool {
				c.answer(w, r)
				return true
			}
			dir := t.TempDir()
			opts := testOptions(dir)
			opts.Retries = 5
			sum, rec, _ := runOne(t, m, opts)
			failedWith(t, sum, dir, c.want)
			if n := m.reqs.Load(); n > c.maxReqs {
				t.Errorf("%d requests, want at most %d", n, c.maxReqs)
			}
			if n := rec.count(Retrying); n != 0 {
				t.Errorf("%d retries of what can never succeed", n)
			}
		})
	}
}

func TestSizeThatChangesMidFileIsAChangedFileNotABadRange(t *testing.T) {
	m := &misbehave{body: content(2 << 20)}
	m.answer = func(w http.ResponseWriter, r *http.Request, n int64, start, end int64) bool {
		if start == 0 { // the probe, slowly enough for the others to split it
			w.Header().Set("ETag", `"v1"`)
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", len(m.body)-1, len(m.body)))
			w.Header().Set("Content-Length", strconv.Itoa(len(m.body)))
			w.WriteHeader(http.StatusPartialContent)
			for off := 0; off < len(m.body); off += 64 << 10 {
				if _, err := w.Write(m.body[off : off+64<<10]); err != nil {
					return true
				}
				time.Sleep(10 * time.Millisecond)
			}
			return true
		}
		// Later ranges claim a file of another size.
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end-1, 3<<20))
		w.Header().Set("Content-Length", strconv.FormatInt(end-start, 10))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(m.body[start:end])
		return true
	}
	dir := t.TempDir()
	opts := testOptions(dir)
	opts.Connections, opts.Retries = 4, 2
	sum, rec, _ := runOne(t, m, opts)
	// Every restart's probe sees 2 MiB and every later range 3 MiB, so the
	// file fails once its restarts are spent: never with a mix of both.
	failedWith(t, sum, dir, "remote file changed")
	if n := m.reqs.Load(); n > 30 {
		t.Errorf("%d requests: the change was retried as a bad range", n)
	}
	if rec.count(Warning) == 0 {
		t.Error("no warning that the file changed and restarts")
	}
}

func TestSeveralRangesAtOnceFetchTheFileWhole(t *testing.T) {
	m := &misbehave{body: content(3 << 20)}
	m.answer = func(w http.ResponseWriter, r *http.Request, _ int64, start, end int64) bool {
		if r.Header.Get("Range") == "" {
			return false
		}
		w.Header().Set("Content-Type", "multipart/byteranges; boundary=XYZ")
		w.WriteHeader(http.StatusPartialContent)
		fmt.Fprintf(w, "--XYZ\r\nContent-Range: bytes %d-%d/%d\r\n\r\n", start, end-1, len(m.body))
		w.Write(m.body[start:end])
		fmt.Fprint(w, "\r\n--XYZ--\r\n")
		return true
	}
	dir := t.TempDir()
	sum, rec, _ := runOne(t, m, testOptions(dir))
	if sum.Done != 1 {
		t.Fatalf("%+v", sum)
	}
	got, err := os.ReadFile(filepath.Join(dir, "name.bin"))
	if err != nil || !bytes.Equal(got, m.body) {
		t.Fatalf("file differs from the origin's (%v)", err)
	}
	if !rec.has(Warning, "several ranges at once") {
		t.Error("no warning naming the multipart answer")
	}
}

func TestUnaskedContentEncodingIsStoredAsSentWithAWarning(t *testing.T) {
	sent := content(100 << 10)
	m := &misbehave{body: sent}
	m.answer = func(w http.ResponseWriter, r *http.Request, _ int64, _, _ int64) bool {
		w.Header().Set("Content-Encoding", "gzip")
		return false
	}
	dir := t.TempDir()
	sum, rec, _ := runOne(t, m, testOptions(dir))
	if sum.Done != 1 {
		t.Fatalf("%+v", sum)
	}
	got, err := os.ReadFile(filepath.Join(dir, "name.bin"))
	if err != nil || sha256.Sum256(got) != sha256.Sum256(sent) {
		t.Fatalf("the file is not the bytes as sent (%v)", err)
	}
	if !rec.has(Warning, `"gzip"`) {
		t.Error("no warning naming the encoding")
	}
}

// has says whether an event of kind k carried an error saying want.
func (r *recorder) has(k Kind, want string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.Kind == k && e.Err != nil && strings.Contains(e.Err.Error(), want) {
			return true
		}
	}
	return false
}
