package scheduler

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkget/bulkget/folderlock"
	"github.com/bulkget/bulkget/internal/origin"
	"github.com/bulkget/bulkget/segment"
	"github.com/bulkget/bulkget/state"
	"github.com/bulkget/bulkget/store"
)

// interruptedRun runs until at least minBytes are written, then cancels.
func interruptedRun(t *testing.T, fx *fixture, opts Options, minBytes int64) Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts.Reporter = ReporterFunc(func(e Event) {
		if e.Kind == Progress && e.BytesDone >= minBytes {
			cancel()
		}
	})
	opts.ProgressInterval = 10 * time.Millisecond
	sum, err := Run(ctx, fx.entries, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Interrupted {
		t.Fatalf("the run finished before it could be interrupted: %+v", sum)
	}
	return sum
}

func loadState(t *testing.T, dir, name string) *state.File {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	fi, err := root.Stat(name + store.PartSuffix)
	if err != nil {
		t.Fatalf("no .part for %s: %v", name, err)
	}
	st, err := state.Load(root, store.StateName(name), fi.Size())
	if err != nil {
		t.Fatalf("state of %s: %v", name, err)
	}
	return st
}

func TestInterruptedRunResumesWithoutRefetching(t *testing.T) {
	const size = 8 << 20
	fx := newFixture(t, origin.Options{PerConnRate: 2 << 20})
	fx.add("a.bin", size)
	fx.add("sub/b.bin", size)
	dir := t.TempDir()
	opts := testOptions(dir)
	opts.Connections = 6
	interruptedRun(t, fx, opts, 2<<20)

	var onDisk int64
	for _, n := range []string{"a.bin", "sub/b.bin"} {
		st := loadState(t, dir, n)
		if st.Size != size || st.ETag == "" {
			t.Errorf("%s: state %+v", n, st)
		}
		onDisk += st.DoneBytes()
	}
	if onDisk < 1<<20 {
		t.Fatalf("the states claim only %d bytes after the interruption", onDisk)
	}

	fx.srv.WaitIdle(2 * time.Second)
	fx.srv.ResetStats()
	rec := &recorder{}
	opts.Reporter = rec
	sum := runFixture(t, fx, opts)
	if sum.Done != 2 {
		t.Fatalf("resume: %+v", sum)
	}
	fx.verify(t, dir, nil)
	fx.srv.WaitIdle(2 * time.Second)
	served := fx.srv.Stats().BytesServed
	// The final checkpoint at exit saves everything written, so the second
	// run needs only what is missing (a chunk of slack per connection for
	// segments that were stolen from and stopped early).
	if limit := 2*size - onDisk + int64(opts.Connections)*int64(opts.BufferSize)*2; served > limit {
		t.Errorf("second run fetched %d bytes; %d were missing (limit %d)", served, 2*size-onDisk, limit)
	}
	if rec.count(Resumed) != 2 {
		t.Errorf("%d resumed events, want 2", rec.count(Resumed))
	}
	for _, n := range []string{"a.bin", "sub/b.bin"} {
		if _, err := os.Stat(filepath.Join(dir, n+store.PartSuffix+".state")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: state left behind after completion (%v)", n, err)
		}
	}
}

func TestChangedRemoteRestartsFromZero(t *testing.T) {
	const size = 6 << 20
	fx := newFixture(t, origin.Options{PerConnRate: 2 << 20})
	fx.add("c.bin", size)
	dir := t.TempDir()
	opts := testOptions(dir)
	interruptedRun(t, fx, opts, 1<<20)
	loadState(t, dir, "c.bin")

	fx.srv.SetVersion("c.bin", 1) // same size, new bytes
	rec := &recorder{}
	opts.Reporter = rec
	sum := runFixture(t, fx, opts)
	if sum.Done != 1 {
		t.Fatalf("%+v", sum)
	}
	fx.verify(t, dir, map[string]int{"c.bin": 1})
	found := false
	for _, e := range rec.events {
		if e.Kind == Warning && strings.Contains(e.Err.Error(), "changed") {
			found = true
		}
	}
	if !found {
		t.Errorf("no warning naming the change; events %v", rec.events)
	}
	if rec.count(Resumed) != 0 {
		t.Errorf("resumed a file whose remote changed: %v", rec.events)
	}
}

func TestFinishedFilesAreSkippedCheaply(t *testing.T) {
	fx := newFixture(t, origin.Options{})
	for _, n := range []string{"x.bin", "y.bin", "z/z.bin"} {
		fx.add(n, 3<<20)
	}
	dir := t.TempDir()
	opts := testOptions(dir)
	runFixture(t, fx, opts)
	fx.srv.WaitIdle(2 * time.Second)
	fx.srv.ResetStats()

	sum := runFixture(t, fx, opts)
	if sum.Skipped != 3 || sum.Done != 0 {
		t.Fatalf("second run: %+v, want 3 skipped", sum)
	}
	fx.srv.WaitIdle(2 * time.Second)
	st := fx.srv.Stats()
	if st.Requests > 3 || st.BytesServed > 3*64<<10 {
		t.Errorf("skipping 3 files cost %d requests and %d bytes", st.Requests, st.BytesServed)
	}
	fx.verify(t, dir, nil)

	// A file of a different size is fetched again; --overwrite refetches all.
	os.WriteFile(filepath.Join(dir, "x.bin"), []byte("stale"), 0o644)
	if sum := runFixture(t, fx, opts); sum.Done != 1 || sum.Skipped != 2 {
		t.Errorf("after truncating one: %+v", sum)
	}
	fx.verify(t, dir, nil)
	opts.Overwrite = true
	if sum := runFixture(t, fx, opts); sum.Done != 3 || sum.Skipped != 0 {
		t.Errorf("with overwrite: %+v", sum)
	}
	fx.verify(t, dir, nil)
}

func TestUnusableStateStartsOver(t *testing.T) {
	for _, c := range []struct {
		name  string
		state []byte
	}{
		{"no state", nil},
		{"garbage state", []byte("BGST this is not a state")},
		{"empty state", []byte{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			fx := newFixture(t, origin.Options{})
			fx.add("p.bin", 2<<20)
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "p.bin"+store.PartSuffix), []byte(strings.Repeat("junk", 1000)), 0o644)
			if c.state != nil {
				os.WriteFile(filepath.Join(dir, "p.bin"+store.PartSuffix+".state"), c.state, 0o644)
			}
			rec := &recorder{}
			opts := testOptions(dir)
			opts.Reporter = rec
			if sum := runFixture(t, fx, opts); sum.Done != 1 {
				t.Fatalf("%+v", sum)
			}
			fx.verify(t, dir, nil)
			if rec.count(Warning) == 0 {
				t.Errorf("no warning about the unusable partial download")
			}
		})
	}
}

func TestFailedFileKeepsProgressForLater(t *testing.T) {
	const size = 4 << 20
	fx := newFixture(t, origin.Options{PerConnRate: 8 << 20})
	fx.srv.SetOptions(func(o *origin.Options) {
		o.Fault = func(r origin.Request) origin.Fault {
			if r.N == 1 {
				return origin.Fault{ResetAfter: 1 << 20}
			}
			return origin.Fault{Status: 500}
		}
	})
	fx.add("f.bin", size)
	dir := t.TempDir()
	opts := testOptions(dir)
	opts.Connections = 1
	opts.Retries = 2
	if sum := runFixture(t, fx, opts); len(sum.Failed) != 1 {
		t.Fatalf("%+v", sum)
	}
	st := loadState(t, dir, "f.bin")
	if st.DoneBytes() < 512<<10 {
		t.Fatalf("failed file kept only %d bytes", st.DoneBytes())
	}
	fx.srv.SetOptions(func(o *origin.Options) { o.Fault = nil })
	fx.srv.WaitIdle(2 * time.Second)
	fx.srv.ResetStats()
	if sum := runFixture(t, fx, opts); sum.Done != 1 {
		t.Fatalf("%+v", sum)
	}
	fx.verify(t, dir, nil)
	fx.srv.WaitIdle(2 * time.Second)
	if served := fx.srv.Stats().BytesServed; served > size-st.DoneBytes()+int64(opts.BufferSize) {
		t.Errorf("resuming the failed file fetched %d bytes, %d were missing", served, size-st.DoneBytes())
	}
}

func TestSecondRunOnSameFolderIsRefused(t *testing.T) {
	dir := t.TempDir()
	lock, err := folderlock.Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	_, err = Run(context.Background(), nil, testOptions(dir))
	var le *folderlock.LockedError
	if !errors.Is(err, folderlock.ErrLocked) || !errors.As(err, &le) || le.PID != os.Getpid() {
		t.Fatalf("Run on a locked folder: %v", err)
	}
}

// TestHeldSpansTheLock: Options.Held runs once the run holds the folder,
// before any request, and what it returns runs while the lock is still
// there; a run that cannot take the lock never calls it.
func TestHeldSpansTheLock(t *testing.T) {
	fx := newFixture(t, origin.Options{})
	fx.add("a.bin", 1000)
	dir := t.TempDir()
	opts := testOptions(dir)
	lockPath := filepath.Join(dir, store.LockName)
	var held, released bool
	opts.Held = func() func() {
		_, err := os.Stat(lockPath)
		held = err == nil && fx.srv.Stats().Requests == 0
		return func() {
			_, err := os.Stat(lockPath)
			released = err == nil
		}
	}
	runFixture(t, fx, opts)
	if !held || !released {
		t.Errorf("Held called with the lock and before requests: %v; its release before the lock's: %v", held, released)
	}
	if _, err := os.Stat(lockPath); err == nil {
		t.Errorf("lock left")
	}

	lock, err := folderlock.Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	opts.Held = func() func() {
		t.Errorf("Held called on a folder another run holds")
		return func() {}
	}
	if _, err := Run(context.Background(), nil, opts); !errors.Is(err, folderlock.ErrLocked) {
		t.Errorf("Run on a locked folder: %v", err)
	}
}

func TestSegmentsOfDescribeTheFileWhateverTheOrder(t *testing.T) {
	// A file split many times, one piece taken over before it wrote
	// anything (empty), listed in the scrambled order splits produce.
	bounds := [][3]int64{{40, 40, 40}, {0, 10, 20}, {60, 60, 100}, {20, 20, 40}, {40, 50, 60}, {60, 60, 60}, {20, 20, 20}}
	var all []*seg
	for _, b := range bounds {
		all = append(all, &seg{cur: segment.NewCursor(b[0], b[1], b[2])})
	}
	for i := range 20 {
		rand.Shuffle(len(all), func(a, b int) { all[a], all[b] = all[b], all[a] })
		f := &state.File{Size: 100}
		f.Segments, f.Sums, f.CRCs = segmentsOf(all, nil)
		if err := f.Validate(); err != nil {
			t.Fatalf("round %d: %v: %+v", i, err, f.Segments)
		}
		if f.DoneBytes() != 20 {
			t.Fatalf("done %d, want 20", f.DoneBytes())
		}
	}
}
