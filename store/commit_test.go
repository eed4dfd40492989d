package store

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// partFiles makes a folder holding f000.part, f001.part, … (n of them, file
// i holding the byte i) and opens it as the committer needs it.
func partFiles(t *testing.T, n int) (dir string, root *os.Root, fsys *os.File) {
	t.Helper()
	dir = t.TempDir()
	for i := range n {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d%s", i, PartSuffix)), []byte{byte(i)}, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	if fsys, err = root.Open("."); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsys.Close() })
	return dir, root, fsys
}

func TestBatchCommitterRenamesEveryFileAndReportsEachError(t *testing.T) {
	if !haveSyncFS {
		t.Skip("syncfs is Linux only")
	}
	const n = 100
	dir, root, fsys := partFiles(t, n)
	// A rename onto a non-empty folder fails; only that file may say so.
	if err := os.MkdirAll(filepath.Join(dir, "f007", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := newBatchCommitter(osOf(t, root, fsys), nil)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			done := make(chan error, 1)
			c.commit(fmt.Sprintf("f%03d", i), nil, func(err error) { done <- err })
			errs[i] = <-done
		})
	}
	wg.Wait()
	c.close()
	for i, err := range errs {
		if i == 7 {
			if err == nil {
				t.Errorf("f007: renamed onto a non-empty folder without an error")
			}
			continue
		}
		if err != nil {
			t.Errorf("f%03d: %v", i, err)
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("f%03d", i)))
		if err != nil || len(b) != 1 || b[0] != byte(i) {
			t.Errorf("f%03d: %v %v", i, b, err)
		}
	}
}

// commit must only queue: the connection that finished a file goes on to its
// next request while the file waits for its round. Here the committer is
// held inside one file's done callback; further commits must still return,
// and once it is let go every file must be named, each done called once.
func TestBatchCommitterCommitReturnsBeforeTheRound(t *testing.T) {
	if !haveSyncFS {
		t.Skip("syncfs is Linux only")
	}
	const n = 300 // more than a batch
	dir, root, fsys := partFiles(t, n+1)
	c := newBatchCommitter(osOf(t, root, fsys), func() bool { return true })
	held, release := make(chan struct{}), make(chan struct{})
	c.commit("f000", nil, func(err error) {
		if err != nil {
			t.Errorf("f000: %v", err)
		}
		close(held)
		<-release
	})
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the first file was never committed")
	}
	var calls [n + 1]atomic.Int32
	var wg sync.WaitGroup
	wg.Add(n)
	queued := make(chan struct{})
	go func() {
		defer close(queued)
		for i := 1; i <= n; i++ {
			name := fmt.Sprintf("f%03d", i)
			c.commit(name, nil, func(err error) {
				defer wg.Done()
				if calls[i].Add(1) > 1 {
					t.Errorf("%s: done called again", name)
				}
				if err != nil {
					t.Errorf("%s: %v", name, err)
				} else if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
					t.Errorf("%s: done before it was named: %v", name, err)
				}
			})
		}
	}()
	select {
	case <-queued:
	case <-time.After(10 * time.Second):
		t.Fatal("commit waited for a committer that was busy")
	}
	close(release)
	wg.Wait()
	c.close()
}

func TestBatchCommitterWithNothingQueuedClosesAtOnce(t *testing.T) {
	root, err := os.OpenRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	d, _ := root.Open(".")
	defer d.Close()
	newBatchCommitter(osOf(t, root, d), nil).close() // must return, not hang
}

func TestFoldersFreshOnlyWhenMissingOrEmpty(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"full/a", "empty"} {
		if p == "empty" {
			os.Mkdir(filepath.Join(dir, p), 0o755)
			continue
		}
		os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), nil, 0o644)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	var d folders
	for name, want := range map[string]bool{
		"x.bin":         false, // the top folder holds the others
		"full/x.bin":    false,
		"empty/x.bin":   true,
		"missing/x.bin": true,
	} {
		if got := d.fresh(root, name); got != want {
			t.Errorf("fresh(%q) = %v, want %v", name, got, want)
		}
	}
	lockOnly := t.TempDir()
	os.WriteFile(filepath.Join(lockOnly, ".bulkget.lock"), nil, 0o644)
	root2, err := os.OpenRoot(lockOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer root2.Close()
	var d2 folders
	if !d2.fresh(root2, "x.bin") {
		t.Error("a folder holding only the lock is not fresh")
	}
	// The answer is the first one: what the run makes later does not
	// change it, and a folder made before anyone looked is not fresh.
	os.WriteFile(filepath.Join(dir, "empty", "y"), nil, 0o644)
	if !d.fresh(root, "empty/z") {
		t.Error("fresh changed its answer for a folder after the run wrote in it")
	}
	if err := d.mkdirAll(&OS{top: topDir{root: root}}, "made/x.bin"); err != nil {
		t.Fatal(err)
	}
	if d.fresh(root, "made/y.bin") {
		t.Error("a folder made before it was looked at counts as fresh")
	}
}

func TestSpaceGaugeCountsDownClaims(t *testing.T) {
	dir := t.TempDir()
	free := freeSpace(dir)
	if free < 0 {
		t.Skip("free space is unknown here")
	}
	g := spaceGauge{dir: dir}
	if _, ok := g.claim(free / 2); !ok {
		t.Fatalf("half of the free space (%d) refused", free/2)
	}
	// Nothing was written: a fresh look finds room again, so the second
	// half fits; but more than everything never does.
	if _, ok := g.claim(free / 2); !ok {
		t.Fatal("second half refused")
	}
	if left, ok := g.claim(free * 2); ok || left < 0 {
		t.Fatalf("twice the free space accepted (left %d)", left)
	}
}

// osOf is the file system of root, through the folder descriptor h.
func osOf(t *testing.T, root *os.Root, h *os.File) *OS {
	t.Helper()
	o := &OS{top: topDir{root: root}}
	if haveTopDir {
		o.top.dir, o.top.fd = h, int(h.Fd())
	} else {
		o.top.handle = h
	}
	return o
}
