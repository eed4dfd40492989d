package scheduler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkget/bulkget/manifest"
)

// rangeServer serves files named /<name> the way a server that answers
// ranges in its own fashion does: whole200 answers a range that is the
// whole file with 200, ignore answers every range with 200, shift answers a
// range past 0 with the next byte's range. Bodies go out in 32 KiB pieces,
// pace apart, so that a probe is still running when a split answers;
// slowPast delays the answer to a range past 0; breakFirst cuts the first
// answer after its header.
type rangeServer struct {
	files          map[string][]byte
	whole200       bool
	ignore, shift  bool
	acceptRanges   string // sent with every answer unless ""
	pace, slowPast time.Duration
	breakFirst     bool

	mu   sync.Mutex
	log  []string // "name range status", in order
	sent int64
}

func (rs *rangeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, ok := rs.files[strings.TrimPrefix(r.URL.Path, "/")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	size := int64(len(body))
	start, end, ranged := byteRange(r.Header.Get("Range"), size)
	whole := !ranged || rs.ignore || (rs.whole200 && start == 0 && end == size)
	if start > 0 && rs.slowPast > 0 {
		time.Sleep(rs.slowPast)
	}
	w.Header().Set("ETag", `"v1"`)
	if rs.acceptRanges != "" {
		w.Header().Set("Accept-Ranges", rs.acceptRanges)
	}
	status := http.StatusOK
	if whole {
		start, end = 0, size
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	} else {
		status = http.StatusPartialContent
		if rs.shift && start > 0 {
			start++
		}
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end-1, size))
		w.Header().Set("Content-Length", strconv.FormatInt(end-start, 10))
	}
	rs.mu.Lock()
	rs.log = append(rs.log, fmt.Sprintf("%s %s %d", r.URL.Path, r.Header.Get("Range"), status))
	first := len(rs.log) == 1
	rs.mu.Unlock()
	w.WriteHeader(status)
	if first && rs.breakFirst {
		if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
			c.Close()
		}
		return
	}
	for off := start; off < end; off += 32 << 10 {
		n, err := w.Write(body[off:min(end, off+32<<10)])
		rs.mu.Lock()
		rs.sent += int64(n)
		rs.mu.Unlock()
		if err != nil {
			return
		}
		if rs.pace > 0 {
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(rs.pace):
			}
		}
	}
}

func (rs *rangeServer) requests() []string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]string(nil), rs.log...)
}

// runRanges downloads every file of rs with conns connections and checks
// that each is right.
func runRanges(t *testing.T, rs *rangeServer, conns int) (*recorder, Summary) {
	t.Helper()
	srv := httptest.NewServer(rs)
	t.Cleanup(srv.Close)
	var entries []manifest.Entry
	for name := range rs.files {
		entries = append(entries, manifest.Entry{Line: len(entries) + 2, Name: name, URL: srv.URL + "/" + name, Size: -1})
	}
	dir := t.TempDir()
	opts := testOptions(dir)
	opts.Connections, opts.MaxPerHost = conns, conns
	rec := &recorder{}
	opts.Reporter = rec
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sum, err := Run(ctx, entries, opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Done != len(entries) {
		t.Fatalf("done %d of %d: %+v", sum.Done, len(entries), sum.Failed)
	}
	for name, want := range rs.files {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is not the file served (%v)", name, err)
		}
	}
	t.Logf("requests: %q", rs.requests())
	return rec, sum
}

// count counts the requests whose log line contains what.
func countRequests(reqs []string, what string) int {
	n := 0
	for _, l := range reqs {
		if strings.Contains(l, what) {
			n++
		}
	}
	return n
}

func TestAWholeFile200ToTheFirstRangeIsCheckedByTheFirstSplit(t *testing.T) {
	for _, accept := range []string{"bytes", ""} {
		t.Run("Accept-Ranges "+strconv.Quote(accept), func(t *testing.T) {
			rs := &rangeServer{files: map[string][]byte{"big.bin": content(4 << 20)}, whole200: true,
				acceptRanges: accept, pace: time.Millisecond}
			rec, _ := runRanges(t, rs, 4)
			reqs := rs.requests()
			if n := countRequests(reqs, " 206"); n < 2 {
				t.Errorf("%d answers 206: the file was not split", n)
			}
			if w := rec.hostWarnings("does not serve byte ranges"); len(w) > 0 {
				t.Errorf("warned %q of a server that serves ranges", w)
			}
			if rs.sent > 4<<20+4<<20/8 {
				t.Errorf("the server sent %d bytes for a file of %d", rs.sent, 4<<20)
			}
		})
	}
}

func TestAServerThatIgnoresRangesCostsOneRequestMorePerHost(t *testing.T) {
	files := map[string][]byte{}
	for i := range 4 {
		files[fmt.Sprintf("f%d.bin", i)] = content(2<<20 + i*4099)
	}
	for _, tc := range []struct {
		name      string
		rs        *rangeServer
		extra     int    // requests beyond one per file
		notice    string // what the notice says was seen
		fewerSent bool   // the server sends no file twice
	}{
		{"200 to every range, the probe still running", &rangeServer{ignore: true, pace: time.Millisecond}, 1, "sent 200 and the whole file", true},
		// The probe has ended when the answer comes: that answer carries
		// the file on from where the probe's stream stopped.
		{"200 to every range, the probe over", &rangeServer{ignore: true, pace: time.Millisecond, slowPast: 300 * time.Millisecond}, 1, "sent 200 and the whole file", false},
		{"a shifted range past 0", &rangeServer{whole200: true, shift: true, pace: time.Millisecond}, 1, "response range does not match", true},
		{"Accept-Ranges: none", &rangeServer{ignore: true, acceptRanges: "none", pace: time.Millisecond}, 0, "Accept-Ranges: none", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.rs.files = files
			rec, _ := runRanges(t, tc.rs, 8)
			reqs := tc.rs.requests()
			if len(reqs) > len(files)+tc.extra {
				t.Errorf("%d requests for %d files, want at most %d", len(reqs), len(files), len(files)+tc.extra)
			}
			w := rec.hostWarnings("does not serve byte ranges")
			if len(w) != 1 || !strings.Contains(w[0], tc.notice) {
				t.Errorf("notices %q, want one saying %q", w, tc.notice)
			}
			var total int64
			for _, b := range files {
				total += int64(len(b))
			}
			if tc.fewerSent && tc.rs.sent > total+total/4 {
				t.Errorf("the server sent %d bytes for %d", tc.rs.sent, total)
			}
		})
	}
}

// The probe's stream waits for its trial, so that the splits the trial held
// back fall where a 206 would have let them fall: the probe's [0, 4 MiB)
// is halved at 2 MiB, not past what it would have read meanwhile.
func TestTheProbesStreamWaitsForItsTrialSoTheSplitsFallEvenly(t *testing.T) {
	rs := &rangeServer{files: map[string][]byte{"e.bin": content(8 << 20)}, whole200: true, acceptRanges: "bytes",
		pace: time.Millisecond, slowPast: 50 * time.Millisecond}
	runRanges(t, rs, 4)
	reqs := rs.requests()
	if countRequests(reqs, "bytes=4194304-8388607 206") != 1 || countRequests(reqs, "bytes=2097152-4194303 206") != 1 {
		t.Errorf("requests %q: want the trial of [4 MiB, 8 MiB) and the probe's rest split at 2 MiB", reqs)
	}
}

// A 200 to a range that is the whole file is that range: the retry of a
// probe that broke before its first byte, on one connection, asks for
// every byte with a range and gets Tornado's answer to it.
func TestAWhole200ToARangeThatIsTheWholeFileIsThatRange(t *testing.T) {
	rs := &rangeServer{files: map[string][]byte{"w.bin": content(2 << 20)}, whole200: true, acceptRanges: "bytes", breakFirst: true}
	rec, _ := runRanges(t, rs, 1)
	reqs := rs.requests()
	if len(reqs) != 2 || !strings.Contains(reqs[1], "bytes=0-2097151 200") {
		t.Errorf("requests %q, want the probe and one retry of the whole range answered 200", reqs)
	}
	if w := rec.hostWarnings("does not serve byte ranges"); len(w) > 0 {
		t.Errorf("warned %q", w)
	}
	if n := rec.count(Warning); n > 0 {
		t.Errorf("%d warnings (a restart?)", n)
	}
}

// The answers that break HTTP's framing are retried once, then fail the
// file; a refused connection and other faults keep their retries.
func TestBrokenFramingIsTriedTwiceAndARefusalKeepsItsRetries(t *testing.T) {
	badCL := errors.New(`Get "http://h/f": bad Content-Length "a thousand"`)
	refused := &net.OpError{Op: "dial", Err: errors.New("connection refused")}
	for _, tc := range []struct {
		name      string
		err       error
		malformed int
		want      action
	}{
		{"the first broken answer", badCL, 1, retry},
		{"the second", badCL, 2, failFile},
		{"headers over the cap, the second", errors.New("net/http: server response headers exceeded 1048576 bytes; aborted"), 2, failFile},
		{"a refused connection", refused, 0, retry},
	} {
		if got := classify(tc.err, false, tc.malformed); got != tc.want {
			t.Errorf("%s: classify = %v, want %v", tc.name, got, tc.want)
		}
	}
}
