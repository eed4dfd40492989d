package scheduler

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkget/bulkget/internal/origin"
	"github.com/bulkget/bulkget/manifest"
	"github.com/bulkget/bulkget/store"
)

// conditionalOrigin serves files through http.ServeContent, which answers
// If-None-Match, If-Modified-Since, If-Range and Range as the RFC says. It
// counts, per file, the requests, the conditional ones, the 304s and the
// body bytes sent.
type conditionalOrigin struct {
	etags, dates bool // send ETag, Last-Modified

	mu    sync.Mutex
	files map[string]*servedFile
	bytes atomic.Int64
}

type servedFile struct {
	body                     []byte
	version                  int
	reqs, conditional, unmod int
}

func newConditionalOrigin(etags, dates bool) *conditionalOrigin {
	return &conditionalOrigin{etags: etags, dates: dates, files: map[string]*servedFile{}}
}

// set makes version v of name current: its content differs from every
// other version's, its size does not.
func (o *conditionalOrigin) set(name string, size, v int) {
	body := make([]byte, size)
	origin.Content(name, v, 0, body)
	o.mu.Lock()
	o.files[name] = &servedFile{body: body, version: v}
	o.mu.Unlock()
}

func (o *conditionalOrigin) reset() {
	o.mu.Lock()
	for _, f := range o.files {
		f.reqs, f.conditional, f.unmod = 0, 0, 0
	}
	o.mu.Unlock()
	o.bytes.Store(0)
}

func (o *conditionalOrigin) stats(name string) servedFile {
	o.mu.Lock()
	defer o.mu.Unlock()
	return *o.files[name]
}

type countingWriter struct {
	http.ResponseWriter
	n    *atomic.Int64
	code int
}

func (w *countingWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n.Add(int64(n))
	return n, err
}

func (o *conditionalOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/")
	o.mu.Lock()
	f := o.files[name]
	if f == nil {
		o.mu.Unlock()
		http.NotFound(w, r)
		return
	}
	f.reqs++
	if r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Modified-Since") != "" {
		f.conditional++
	}
	body, v := f.body, f.version
	o.mu.Unlock()
	var mod time.Time
	if o.dates {
		mod = origin.LastModified(v)
	}
	if o.etags {
		w.Header().Set("ETag", fmt.Sprintf(`"%s-%d"`, name, v))
	}
	cw := &countingWriter{ResponseWriter: w, n: &o.bytes}
	http.ServeContent(cw, r, name, mod, bytes.NewReader(body))
	if cw.code == http.StatusNotModified {
		o.mu.Lock()
		f.unmod++
		o.mu.Unlock()
	}
}

func sha256Hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func (r *recorder) find(k Kind, name string) (Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.Kind == k && e.Name == name {
			return e, true
		}
	}
	return Event{}, false
}

func updateRun(t *testing.T, entries []manifest.Entry, opts Options) (Summary, *recorder) {
	t.Helper()
	rec := &recorder{}
	opts.Reporter = rec
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sum, err := Run(ctx, entries, opts)
	if err != nil || sum.Interrupted || len(sum.Failed) > 0 {
		t.Fatalf("Run: %+v, %v", sum, err)
	}
	return sum, rec
}

// TestUpdateFetchesOnlyWhatChangedOnTheServer: a finished list of four
// files, one of which changes on the server keeping its size. A re-run
// without --update fetches nothing (and so keeps the stale file); with it,
// each file costs one small conditional request, the three unchanged ones
// are skipped without being read, and only the changed one is fetched.
// Both validators are tried: ETag (If-None-Match) and Last-Modified alone
// (If-Modified-Since).
func TestUpdateFetchesOnlyWhatChangedOnTheServer(t *testing.T) {
	for _, c := range []struct {
		name         string
		etags, dates bool
	}{{"etag", true, true}, {"last-modified", false, true}} {
		t.Run(c.name, func(t *testing.T) {
			const size = 4 << 20
			o := newConditionalOrigin(c.etags, c.dates)
			srv := httptest.NewServer(o)
			t.Cleanup(srv.Close)
			names := []string{"a.bin", "b.bin", "c/c.bin", "d.bin"}
			var entries []manifest.Entry
			for i, n := range names {
				o.set(n, size, 0)
				entries = append(entries, manifest.Entry{Line: i + 2, Name: n, URL: srv.URL + "/" + n, Size: -1})
			}
			dir := t.TempDir()
			opts := testOptions(dir)
			// One stream per file, so that the server's count is what the
			// client took: a request cut by a split leaves bytes in socket
			// buffers that the server counts as sent.
			opts.MinSegment = size
			if sum, _ := updateRun(t, entries, opts); sum.Done != 4 {
				t.Fatalf("first run: %+v", sum)
			}
			for _, n := range names {
				if rec, fi, ok := store.ReadRecord(mustRoot(t, dir), n); !ok || !rec.Matches(fi) || rec.LastModified == "" ||
					c.etags != (rec.ETag != "") {
					t.Errorf("%s: no record of the server's validators after a normal run: %+v", n, rec)
				}
			}

			o.set("b.bin", size, 1) // same size, new content and validators
			o.reset()
			sum, _ := updateRun(t, entries, opts)
			if sum.Skipped != 4 || sum.Done != 0 || o.bytes.Load() > 4 {
				t.Errorf("without --update: %+v, %d bytes served; want 4 skipped and nothing fetched", sum, o.bytes.Load())
			}

			o.reset()
			opts.Update = true
			before, measured := procReadChars(t)
			sum, rec := updateRun(t, entries, opts)
			after, _ := procReadChars(t)
			if sum.Done != 1 || sum.Skipped != 3 || sum.Bytes != size {
				t.Fatalf("with --update: %+v, want b.bin done (%d bytes) and 3 skipped", sum, size)
			}
			if got := o.bytes.Load(); got < size || got > size+64<<10 {
				t.Errorf("with --update the server sent %d bytes; want about b.bin's %d", got, size)
			}
			for _, n := range names {
				st := o.stats(n)
				if n == "b.bin" {
					if st.unmod != 0 {
						t.Errorf("b.bin: the changed file was answered 304")
					}
					if _, ok := rec.find(Warning, n); !ok {
						t.Errorf("b.bin: no warning that it changed on the server")
					}
					continue
				}
				if st.reqs != 1 || st.conditional != 1 || st.unmod != 1 {
					t.Errorf("%s: %d requests, %d conditional, %d answered 304; want exactly one, conditional, 304",
						n, st.reqs, st.conditional, st.unmod)
				}
				if e, ok := rec.find(Skipped, n); !ok || e.Reason != "unchanged on the server" {
					t.Errorf("%s: skipped event %+v", n, e)
				}
			}
			if e, ok := rec.find(Warning, "b.bin"); ok && !strings.Contains(e.Err.Error(), "changed on the server; fetching the new version") {
				t.Errorf("b.bin: warning %v", e.Err)
			}
			// The process read the changed file from its socket, and none
			// of the three unchanged ones from the disk.
			if measured && after-before > size+size/2 {
				t.Errorf("the process read %d bytes for a %d-byte change: the unchanged files were read", after-before, size)
			}
			for _, n := range names {
				got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(n)))
				if err != nil || sha256Hex(got) != sha256Hex(o.stats(n).body) {
					t.Errorf("%s: not the server's current version (%v)", n, err)
				}
			}

			// Up to date now: one 304 each, nothing fetched.
			o.reset()
			if sum, _ := updateRun(t, entries, opts); sum.Skipped != 4 || o.bytes.Load() != 0 {
				t.Errorf("second --update: %+v, %d bytes", sum, o.bytes.Load())
			}
		})
	}
}

func mustRoot(t *testing.T, dir string) *os.Root {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root
}

// TestUpdateWithAServerThatIgnoresConditionals: the test origin answers a
// conditional GET like any other, 206 (or, without ranges, 200 with the
// whole file). The validators in the answer are compared instead: still
// only the changed file is fetched, and every file ends right.
func TestUpdateWithAServerThatIgnoresConditionals(t *testing.T) {
	for _, c := range []struct {
		name string
		opts origin.Options
	}{{"ranges", origin.Options{}}, {"no ranges", origin.Options{NoRanges: true}}} {
		t.Run(c.name, func(t *testing.T) {
			const size = 3 << 20
			fx := newFixture(t, c.opts)
			for _, n := range []string{"a.bin", "b.bin", "c.bin", "d.bin"} {
				fx.add(n, size)
			}
			dir := t.TempDir()
			opts := testOptions(dir)
			opts.MinSegment = size // one stream per file: see above
			updateRun(t, fx.entries, opts)
			fx.srv.SetVersion("c.bin", 1)
			fx.srv.WaitIdle(2 * time.Second)
			fx.srv.ResetStats()

			opts.Update = true
			sum, _ := updateRun(t, fx.entries, opts)
			if sum.Done != 1 || sum.Skipped != 3 || sum.Bytes != size {
				t.Fatalf("with --update: %+v, want c.bin done (%d bytes) and 3 skipped", sum, size)
			}
			fx.verify(t, dir, map[string]int{"c.bin": 1})
			fx.srv.WaitIdle(2 * time.Second)
			if c.opts.NoRanges {
				return // each check is a whole-file answer closed unread
			}
			for _, n := range []string{"a.bin", "b.bin", "d.bin"} {
				if got := fx.srv.FileRequests(n); got != 1 {
					t.Errorf("%s: %d requests, want 1", n, got)
				}
			}
			if st := fx.srv.Stats(); st.BytesServed < size || st.BytesServed > size+64<<10 {
				t.Errorf("served %d bytes; want about c.bin's %d", st.BytesServed, size)
			}
		})
	}
}

// TestUpdateWithoutValidatorsComparesSizesAndSaysSo: a server that sends
// neither ETag nor Last-Modified leaves nothing to ask with; --update falls
// back to comparing sizes, and says so once for the whole run.
func TestUpdateWithoutValidatorsComparesSizesAndSaysSo(t *testing.T) {
	o := newConditionalOrigin(false, false)
	srv := httptest.NewServer(o)
	t.Cleanup(srv.Close)
	var entries []manifest.Entry
	for i, n := range []string{"a.bin", "b.bin", "c.bin"} {
		o.set(n, 64<<10, 0)
		entries = append(entries, manifest.Entry{Line: i + 2, Name: n, URL: srv.URL + "/" + n, Size: -1})
	}
	dir := t.TempDir()
	opts := testOptions(dir)
	updateRun(t, entries, opts)
	opts.Update = true
	sum, rec := updateRun(t, entries, opts)
	if sum.Skipped != 3 {
		t.Errorf("%+v, want 3 skipped by size", sum)
	}
	var warnings []string
	rec.mu.Lock()
	for _, e := range rec.events {
		if e.Kind == Warning {
			warnings = append(warnings, e.Err.Error())
		}
	}
	rec.mu.Unlock()
	if len(warnings) != 1 || warnings[0] != "no recorded validators for 3 files: --update can only compare sizes" {
		t.Errorf("warnings %q", warnings)
	}
}

// TestUpdateIgnoresARecordThatNoLongerMatchesTheFile: a file changed on
// disk since its record was written is not vouched for by the record's
// validators; the size decides, as without them.
func TestUpdateIgnoresARecordThatNoLongerMatchesTheFile(t *testing.T) {
	o := newConditionalOrigin(true, true)
	srv := httptest.NewServer(o)
	t.Cleanup(srv.Close)
	o.set("a.bin", 64<<10, 0)
	entries := []manifest.Entry{{Line: 2, Name: "a.bin", URL: srv.URL + "/a.bin", Size: -1}}
	dir := t.TempDir()
	opts := testOptions(dir)
	updateRun(t, entries, opts)
	if err := os.WriteFile(filepath.Join(dir, "a.bin"), []byte("short"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts.Update = true
	if sum, _ := updateRun(t, entries, opts); sum.Done != 1 {
		t.Errorf("%+v: a file changed on disk was kept", sum)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "a.bin"))
	if !bytes.Equal(got, o.stats("a.bin").body) {
		t.Error("a.bin is not the server's")
	}
	if _, err := os.Stat(filepath.Join(dir, "a.bin"+store.PartSuffix)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf(".part left behind: %v", err)
	}
}

// TestUpdateKeepsTheOldVersionUntilTheNewOneIsComplete: an --update run
// interrupted while it fetches a changed file leaves the old version under
// its name and the new one's progress in its .part; the next --update run
// resumes the .part and replaces the file.
func TestUpdateKeepsTheOldVersionUntilTheNewOneIsComplete(t *testing.T) {
	const size = 8 << 20
	fx := newFixture(t, origin.Options{})
	fx.add("big.bin", size)
	dir := t.TempDir()
	opts := testOptions(dir)
	updateRun(t, fx.entries, opts)
	fx.srv.SetVersion("big.bin", 1)
	fx.srv.SetOptions(func(o *origin.Options) { o.PerConnRate = 4 << 20 })

	opts.Update = true
	interruptedRun(t, fx, opts, 1<<20)
	path := filepath.Join(dir, "big.bin")
	if got, want := fileHash(t, path), origin.SHA256Hex("big.bin", 0, size); got != want {
		t.Fatalf("the old version was replaced before the new one was complete")
	}
	if _, err := os.Stat(path + store.PartSuffix); err != nil {
		t.Fatalf("no .part for the new version: %v", err)
	}

	fx.srv.SetOptions(func(o *origin.Options) { o.PerConnRate = 0 })
	sum, rec := updateRun(t, fx.entries, opts)
	if sum.Done != 1 || rec.count(Resumed) != 1 {
		t.Errorf("second --update run: %+v, %d resumed events; want the .part resumed", sum, rec.count(Resumed))
	}
	fx.verify(t, dir, map[string]int{"big.bin": 1})
}
