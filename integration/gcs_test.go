package integration

import (
	"bufio"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// gcsBucket is the bucket the tests' objects are in.
const gcsBucket = "bkt"

// startFakeGCS starts fake-gcs-server (the Google Cloud Storage emulator)
// on 127.0.0.1 over plain HTTP, with the objects that fill writes into its
// data folder (<root>/<bucket>/<name>), and returns it as seen through a
// logging proxy: its url and requests are the proxy's, in the form of
// nginx's access log, since the emulator keeps no such log; direct is the
// emulator's own port.
func startFakeGCS(t *testing.T, fill func(s *server)) (seen *server, direct int) {
	t.Helper()
	bin := lookServer(t, "fake-gcs-server")
	srv := start(t, "fake-gcs-server", 1, 1, func(s *server) *exec.Cmd {
		fill(s)
		return exec.Command(bin, "-scheme", "http", "-host", "127.0.0.1", "-port", strconv.Itoa(s.ports[0]),
			"-backend", "memory", "-data", s.root, "-log-level", "error")
	})
	waitForObjects(t, srv)
	proxied := *srv
	proxied.ports = []int{logProxy(t, srv.ports[0], srv.log)}
	return &proxied, srv.ports[0]
}

// waitForObjects waits until the emulator lists every file of its data
// folder's bucket with its size: it loads them after it starts listening,
// and a file written again meanwhile would be loaded half written.
func waitForObjects(t *testing.T, srv *server) {
	t.Helper()
	want := map[string]string{}
	entries, err := os.ReadDir(filepath.Join(srv.root, gcsBucket))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if fi, err := e.Info(); err == nil {
			want[e.Name()] = strconv.FormatInt(fi.Size(), 10)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		var list struct{ Items []struct{ Name, Size string } }
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/storage/v1/b/%s/o", srv.ports[0], gcsBucket))
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&list)
			resp.Body.Close()
		}
		got := 0
		for _, it := range list.Items {
			if want[it.Name] == it.Size {
				got++
			}
		}
		if got == len(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("fake-gcs-server lists %d of the %d objects after 15 s (%v)", got, len(want), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gcsURL is the media download URL of object name.
func gcsURL(srv *server, name string) string {
	return srv.url(0, fmt.Sprintf("storage/v1/b/%s/o/%s?alt=media", gcsBucket, url.PathEscape(name)))
}

// logProxy forwards 127.0.0.1:<new port> to port, writing one JSON line per
// request into logPath with the fields of the nginx access log of these
// tests and the client's port, and returns the new port. A line is written
// when the answer's header goes out, so that a request cut short is
// logged before its client has ended; bytes is its Content-Length.
func logProxy(t *testing.T, port int, logPath string) int {
	t.Helper()
	target, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", port))
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64}
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	own := l.Addr().(*net.TCPAddr).Port
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		began := time.Now()
		_, client, _ := net.SplitHostPort(r.RemoteAddr)
		rp.ServeHTTP(&headerLog{ResponseWriter: w, log: func(code int) {
			n := w.Header().Get("Content-Length")
			if n == "" {
				n = "0"
			}
			line, _ := json.Marshal(map[string]string{"port": strconv.Itoa(own), "status": strconv.Itoa(code), "method": r.Method,
				"uri": r.URL.RequestURI(), "range": r.Header.Get("Range"), "bytes": n, "proto": r.Proto,
				"time": fmt.Sprintf("%.3f", float64(time.Now().UnixNano())/1e9), "rt": fmt.Sprintf("%.3f", time.Since(began).Seconds()),
				"client": client})
			mu.Lock()
			f.Write(append(line, '\n'))
			mu.Unlock()
		}}, r)
	})}
	go hs.Serve(l)
	t.Cleanup(func() {
		hs.Close()
		f.Close()
	})
	return own
}

// headerLog calls log with the status once the answer's header goes out.
type headerLog struct {
	http.ResponseWriter
	log    func(code int)
	logged bool
}

func (w *headerLog) WriteHeader(code int) {
	if !w.logged && code >= 200 {
		w.logged = true
		w.log(code)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *headerLog) Write(p []byte) (int, error) {
	if !w.logged {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

func (w *headerLog) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// googHash is what X-Goog-Hash says of the object at u.
func googHash(t *testing.T, u string) map[string]string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Range", "bytes=0-0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	out := map[string]string{}
	for _, v := range resp.Header.Values("X-Goog-Hash") {
		for _, kv := range strings.Split(v, ",") {
			if k, val, ok := strings.Cut(strings.TrimSpace(kv), "="); ok {
				out[k] = val
			}
		}
	}
	return out
}

func TestFakeGCSServerObjectsAreSplitAndVerifiedByTheirGoogHash(t *testing.T) {
	t.Parallel()
	// The emulator reads its data folder only when it starts: the objects
	// are written first, with the bytes testSplit writes again.
	srv, direct := startFakeGCS(t, func(s *server) {
		s.file(gcsBucket+"/big.bin", "big-fake-gcs-server", 24<<20)
		s.file(gcsBucket+"/small.bin", "small-fake-gcs-server", 100<<10)
	})
	res, out := testSplit(t, srv, gcsBucket, func(p string) string { return gcsURL(srv, strings.TrimPrefix(p, gcsBucket+"/")) },
		"--progress", "json")
	// What bulkget wrote has the crc32c and the md5 the emulator states,
	// asked of it past the proxy.
	for _, name := range []string{"big.bin", "small.bin"} {
		want := googHash(t, gcsURL(&server{ports: []int{direct}}, name))
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		sum := md5.Sum(b)
		got := map[string]string{
			"crc32c": base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))),
			"md5":    base64.StdEncoding.EncodeToString(sum[:]),
		}
		for _, k := range []string{"crc32c", "md5"} {
			if want[k] == "" || got[k] != want[k] {
				t.Errorf("%s: %s %q, X-Goog-Hash says %q", name, k, got[k], want[k])
			}
		}
	}
	done := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(res.out))
	for sc.Scan() {
		var e struct{ Type, File, Verified string }
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Type == "done" {
			done[e.File] = e.Verified
		}
	}
	for _, name := range []string{"big.bin", "small.bin"} {
		if v := done[name]; v != "crc32c from x-goog-hash" {
			t.Errorf("the done event of %s says verified %q, want %q", name, v, "crc32c from x-goog-hash")
		}
	}
}

func TestFakeGCSServerResumeAfterSIGINT(t *testing.T) {
	t.Parallel()
	srv, _ := startFakeGCS(t, func(s *server) {
		s.file(gcsBucket+"/r.bin", "resume-fake-gcs-server", 16<<20)
	})
	// testResume writes the same bytes again at the same path: the
	// emulator serves what it read at its start, which is the same.
	testResume(t, srv, gcsBucket+"/r.bin", gcsURL(srv, "r.bin"))
}
