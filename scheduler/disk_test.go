package scheduler

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/bulkget/bulkget/internal/origin"
	"github.com/bulkget/bulkget/store"
)

// disk watches what a run asks of its output folder through the run's
// dependencies (deps.create, deps.writes) and makes it fail for chosen
// files as a full disk would, on any filesystem and without root.
type disk struct {
	dir string
	// noRoom: Create of these files fails as a failed preallocation
	// does; room: writes to these files fail once the bytes left here,
	// shared by every transfer of the file, run out.
	noRoom map[string]bool
	room   map[string]*atomic.Int64

	mu      sync.Mutex
	fresh   map[string][]bool // the fresh flag of every Create, by name
	unnamed map[string]bool   // the last part made had no name
	batched map[string]bool   // the last part made is committed in a batch
	// seen: what was on disk, under the final name and the .part, at the
	// first write to each part.
	seen map[string][]string
}

func newDisk(dir string) *disk {
	return &disk{dir: dir, noRoom: map[string]bool{}, room: map[string]*atomic.Int64{},
		fresh: map[string][]bool{}, unnamed: map[string]bool{}, batched: map[string]bool{}, seen: map[string][]string{}}
}

// deps are the dependencies of a run on this disk.
func (k *disk) deps() deps { return deps{create: k.create, writes: k.writes} }

func (k *disk) create(d *store.Dir, name string, size int64, fresh, ranged bool) (*store.Part, error) {
	k.mu.Lock()
	k.fresh[name] = append(k.fresh[name], fresh)
	k.mu.Unlock()
	p, err := d.Create(name, size, fresh, ranged)
	if err != nil {
		return nil, err
	}
	if k.noRoom[name] {
		// What store.Dir.Create does when fallocate meets ENOSPC: the
		// .part was created, is closed again, and the error says so.
		p.Abort()
		return nil, &store.NoSpaceError{Need: size, Free: size / 2}
	}
	k.mu.Lock()
	k.unnamed[name], k.batched[name] = p.Unnamed(), p.Batched(size)
	delete(k.seen, name)
	k.mu.Unlock()
	return p, nil
}

// fillAfter makes writes to name fail once n of its bytes are written.
func (k *disk) fillAfter(name string, n int64) {
	k.room[name] = new(atomic.Int64)
	k.room[name].Store(n)
}

func (k *disk) writes(p *store.Part) io.WriterAt {
	return &watched{Part: p, k: k, room: k.room[p.Name()]}
}

// onDisk lists which of name and name.part exist.
func (k *disk) onDisk(name string) []string {
	var there []string
	for _, n := range []string{name, name + store.PartSuffix} {
		if _, err := os.Lstat(filepath.Join(k.dir, filepath.FromSlash(n))); err == nil {
			there = append(there, n)
		}
	}
	return there
}

// watched is a part as the transfers see it: it notes what is on disk at
// the first write, and fails writes once its room runs out.
type watched struct {
	*store.Part
	k    *disk
	once sync.Once
	room *atomic.Int64 // nil: no limit
}

func (w *watched) WriteAt(b []byte, off int64) (int, error) {
	name := w.Name()
	w.once.Do(func() {
		there := w.k.onDisk(name)
		w.k.mu.Lock()
		if _, ok := w.k.seen[name]; !ok {
			w.k.seen[name] = there
		}
		w.k.mu.Unlock()
	})
	if w.room != nil && w.room.Add(-int64(len(b))) < 0 {
		// What store.Part.WriteAt returns on a full disk: the system's
		// error, matching ErrNoSpace.
		err := &os.PathError{Op: "write", Path: filepath.Join(w.k.dir, name+store.PartSuffix), Err: syscall.ENOSPC}
		return 0, fullDisk{err}
	}
	return w.Part.WriteAt(b, off)
}

// fullDisk is how store marks a write that met a full disk.
type fullDisk struct{ err error }

func (e fullDisk) Error() string   { return e.err.Error() }
func (e fullDisk) Unwrap() []error { return []error{store.ErrNoSpace, e.err} }

// onlyStartedAndDone fails the test if any file but failed had an event
// other than Started and Done: a full disk for one file must not disturb
// the others (no retry, no restart from zero).
func onlyStartedAndDone(t *testing.T, rec *recorder, failed string) {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, e := range rec.events {
		if e.Name != "" && e.Name != failed && e.Kind != Started && e.Kind != Done {
			t.Errorf("%s: unexpected %v event (%v) while another file met a full disk", e.Name, e.Kind, e.Err)
		}
	}
}

// failedEvent returns the one Failed event of name.
func failedEvent(t *testing.T, rec *recorder, name string) Event {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var got []Event
	for _, e := range rec.events {
		if e.Kind == Failed {
			got = append(got, e)
		}
	}
	if len(got) != 1 || got[0].Name != name {
		t.Fatalf("Failed events %+v, want one for %s", got, name)
	}
	return got[0]
}

// A file that does not fit fails at once, at its creation, with an error
// that says so and names it; it is not retried, nothing takes its final
// name, and every other file of the list arrives whole and undisturbed.
func TestFileThatDoesNotFitFailsAloneAndTheOthersComplete(t *testing.T) {
	fx := newFixture(t, origin.Options{PerConnRate: 16 << 20})
	fx.add("a.bin", 3<<20)
	fx.add("full.bin", 3<<20)
	fx.add("small.bin", 10<<10)
	fx.add("sub/c.bin", 1<<20)
	dir := t.TempDir()
	rec := &recorder{}
	opts := testOptions(dir)
	opts.Reporter = rec
	opts.Connections = 4
	k := newDisk(dir)
	k.noRoom["full.bin"] = true
	sum := runFixtureWith(t, fx, opts, k.deps())
	if sum.Done != 3 || len(sum.Failed) != 1 || sum.Failed[0].Name != "full.bin" {
		t.Fatalf("done %d, failed %+v; want 3 done and full.bin failed", sum.Done, sum.Failed)
	}
	err := sum.Failed[0].Err
	if !errors.Is(err, store.ErrNoSpace) || !strings.Contains(err.Error(), "not enough free space") {
		t.Errorf("full.bin failed with %v, not a clear disk-full error", err)
	}
	if e := failedEvent(t, rec, "full.bin"); !errors.Is(e.Err, store.ErrNoSpace) || e.Line != fx.entries[1].Line {
		t.Errorf("the Failed event names line %d with %v; want line %d and a full disk", e.Line, e.Err, fx.entries[1].Line)
	}
	if n := len(k.fresh["full.bin"]); n != 1 {
		t.Errorf("full.bin was created %d times; a full disk is not worth retrying", n)
	}
	if got := k.onDisk("full.bin"); slices.Contains(got, "full.bin") {
		t.Errorf("the file that did not fit has a final name (on disk: %v)", got)
	}
	fx.verify(t, dir, nil, "full.bin")
	onlyStartedAndDone(t, rec, "full.bin")
}

// A disk that fills while a file is written (preallocation passed, or was
// skipped with --no-space-check) fails that file with the system's "no
// space" naming its .part, at the first such write, and keeps what it got
// for a later run; the files that were downloading alongside it go on and
// arrive whole, without starting over.
func TestDiskFillingMidFileFailsThatFileAndKeepsEveryoneElsesBytes(t *testing.T) {
	for _, noCheck := range []bool{false, true} {
		t.Run(fmt.Sprintf("no-space-check=%v", noCheck), func(t *testing.T) {
			const size = 4 << 20
			fx := newFixture(t, origin.Options{PerConnRate: 8 << 20})
			fx.add("a.bin", size)
			fx.add("big.bin", size)
			fx.add("b.bin", size)
			fx.add("small.bin", 10<<10)
			dir := t.TempDir()
			rec := &recorder{}
			opts := testOptions(dir)
			opts.Reporter = rec
			opts.Connections = 6
			opts.NoSpaceCheck = noCheck
			k := newDisk(dir)
			k.fillAfter("big.bin", 1<<20)
			sum := runFixtureWith(t, fx, opts, k.deps())
			if sum.Done != 3 || len(sum.Failed) != 1 || sum.Failed[0].Name != "big.bin" {
				t.Fatalf("done %d, failed %+v; want 3 done and big.bin failed", sum.Done, sum.Failed)
			}
			err := sum.Failed[0].Err
			if !errors.Is(err, store.ErrNoSpace) || !strings.Contains(err.Error(), "no space") ||
				!strings.Contains(err.Error(), "big.bin"+store.PartSuffix) {
				t.Errorf("big.bin failed with %v, not a disk-full error naming its .part", err)
			}
			if strings.Contains(err.Error(), "gave up after") {
				t.Errorf("a full disk was retried: %v", err)
			}
			failedEvent(t, rec, "big.bin")
			if got := k.onDisk("big.bin"); slices.Contains(got, "big.bin") {
				t.Errorf("the file that met a full disk has a final name (on disk: %v)", got)
			}
			if st := loadState(t, dir, "big.bin"); st.DoneBytes() == 0 || st.DoneBytes() > 1<<20 {
				t.Errorf("big.bin's state claims %d bytes; %d were written before the disk filled", st.DoneBytes(), 1<<20)
			}
			fx.verify(t, dir, nil, "big.bin")
			onlyStartedAndDone(t, rec, "big.bin")
		})
	}
}

// unnamedHere reports whether store gives a small file in a fresh folder no
// name on this system (O_TMPFILE, syncfs that reports errors, enough open
// files): only then must a run's small files skip name.part.
func unnamedHere(t *testing.T) bool {
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	d := store.Open(root, dir, store.Options{Connections: 1, Finalizing: 1})
	defer d.Close()
	p, err := d.Create("probe.bin", 10, true, false)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Abort()
	return p.Unnamed() && p.Batched(10)
}

// A file whose folder was missing or empty when the run began is created
// as fresh: a small one directly in the folder then never has a name until
// its batch commits it, and no leftovers are looked for. A file whose
// folder held anything goes through name.part, replacing an old .part.
// Either way the run leaves only the final files. A bug in the run's
// fresh/clean bookkeeping would pass the wrong flag to store.
func TestFreshFoldersSkipNamePartAndFoldersWithLeftoversUseIt(t *testing.T) {
	unnamed := unnamedHere(t)
	if !unnamed {
		t.Log("no unnamed files here: every file goes through name.part")
	}
	const small, large = 10 << 10, 2 << 20
	cases := []struct {
		name      string
		leftovers []string        // made before the run, with junk in them
		files     map[string]bool // name → whether it is created fresh
	}{
		{"empty folder", nil, map[string]bool{"s.bin": true, "l.bin": true, "sub/s.bin": true}},
		{"folder with an old part", []string{"s.bin" + store.PartSuffix, "l.bin" + store.PartSuffix},
			map[string]bool{"s.bin": false, "l.bin": false, "new/s.bin": true}},
		{"folder with something else", []string{"notes.txt", "sub/old.txt"},
			map[string]bool{"s.bin": false, "sub/s.bin": false, "new/s.bin": true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fx := newFixture(t, origin.Options{})
			for _, n := range slices.Sorted(maps.Keys(c.files)) {
				size := int64(small)
				if strings.HasPrefix(filepath.Base(n), "l") {
					size = large
				}
				fx.add(n, size)
			}
			dir := t.TempDir()
			for _, n := range c.leftovers {
				p := filepath.Join(dir, filepath.FromSlash(n))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte("left over from an earlier run"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			opts := testOptions(dir)
			k := newDisk(dir)
			if sum := runFixtureWith(t, fx, opts, k.deps()); sum.Done != len(c.files) {
				t.Fatalf("done %d of %d: %+v", sum.Done, len(c.files), sum.Failed)
			}
			fx.verify(t, dir, nil)
			for n, fresh := range c.files {
				if got := k.fresh[n]; !slices.Equal(got, []bool{fresh}) {
					t.Errorf("%s was created with fresh %v, want [%v]", n, got, fresh)
				}
				seen, wantUnnamed := k.seen[n], unnamed && fresh && fx.sizes[n] == small && !strings.Contains(n, "/")
				if k.unnamed[n] != wantUnnamed {
					t.Errorf("%s: unnamed %v, want %v", n, k.unnamed[n], wantUnnamed)
				}
				switch {
				case wantUnnamed && len(seen) != 0:
					t.Errorf("%s had %v on disk while written; an unnamed file has no name until committed", n, seen)
				case wantUnnamed && !k.batched[n]:
					t.Errorf("%s has no name but is not committed in a batch", n)
				case !wantUnnamed && !slices.Equal(seen, []string{n + store.PartSuffix}):
					t.Errorf("%s had %v on disk while written, want just its .part", n, seen)
				}
			}
			// Nothing else: no .part, no state, no temporary file, no
			// lock; the leftovers that are not bulkget's stay.
			var left []string
			filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
				if err == nil && !e.IsDir() {
					rel, _ := filepath.Rel(dir, p)
					left = append(left, filepath.ToSlash(rel))
				}
				return nil
			})
			var want []string
			for n := range c.files {
				want = append(want, n)
			}
			for _, n := range c.leftovers {
				if !strings.HasSuffix(n, store.PartSuffix) {
					want = append(want, n)
				}
			}
			slices.Sort(left)
			slices.Sort(want)
			if !slices.Equal(left, want) {
				t.Errorf("the folder holds %v, want %v", left, want)
			}
		})
	}
}

// A file that restarts from zero in a fresh folder made a .part the first
// time: the second part must be created as not fresh, so that store looks
// for that .part and replaces it.
func TestRestartInAFreshFolderIsNotFreshAnyMore(t *testing.T) {
	fx := newFixture(t, origin.Options{PerConnRate: 4 << 20})
	var changed atomic.Bool
	fx.srv.SetOptions(func(o *origin.Options) {
		o.Fault = func(r origin.Request) origin.Fault {
			if r.N == 3 && changed.CompareAndSwap(false, true) {
				fx.srv.SetVersion("x.bin", 1)
			}
			return origin.Fault{}
		}
	})
	fx.add("x.bin", 4<<20)
	dir := t.TempDir()
	opts := testOptions(dir)
	k := newDisk(dir)
	if sum := runFixtureWith(t, fx, opts, k.deps()); sum.Done != 1 {
		t.Fatalf("failed: %v", sum.Failed)
	}
	if !changed.Load() {
		t.Fatal("the test never changed the file")
	}
	fx.verify(t, dir, map[string]int{"x.bin": 1})
	if got := k.fresh["x.bin"]; !slices.Equal(got, []bool{true, false}) {
		t.Errorf("x.bin was created with fresh %v, want [true false]: only the first part may skip the lookups", got)
	}
}
