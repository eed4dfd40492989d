package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"unsafe"

	"github.com/bulkget/bulkget/segment"
)

// openDir opens dir as a run does, through fake if not nil (its OS set
// here), closed when the test ends.
func openDir(t *testing.T, dir string, o Options, fake *fakeFS) *Dir {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	o2 := NewOS(root)
	var fsys FS = o2
	if fake != nil {
		fake.OS = o2
		fsys = fake
	}
	d := New(fsys, dir, o)
	t.Cleanup(func() {
		d.Close()
		o2.Close()
		root.Close()
	})
	return d
}

// fakeFS is the real file system with some calls replaced: a full disk,
// a direct-I/O file that checks alignment.
type fakeFS struct {
	*OS
	openDirect func(name string) (File, int64) // nil: the real one
	allocate   func(f File, size int64) error  // nil: the real one
}

func (f *fakeFS) OpenDirect(name string) (File, int64) {
	if f.openDirect != nil {
		return f.openDirect(name)
	}
	return f.OS.OpenDirect(name)
}

func (f *fakeFS) Create(name string) (File, error) {
	file, err := f.OS.Create(name)
	if err != nil || f.allocate == nil {
		return file, err
	}
	return allocating{file, f.allocate}, nil
}

type allocating struct {
	File
	allocate func(f File, size int64) error
}

func (a allocating) Allocate(size int64) error { return a.allocate(a.File, size) }

// randomBytes returns n bytes that differ from file to file.
func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n+8)
	rng := rand.New(rand.NewPCG(seed, 2))
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rng.Uint64())
	}
	return b[:n]
}

// writeSegments writes want into p as segments with the given bounds,
// concurrently, through segment.Copy as a run's connections do: half of
// them from a direct buffer, half from a plain one, reading odd sizes.
func writeSegments(t *testing.T, d *Dir, p *Part, want []byte, bounds []int64) {
	t.Helper()
	var wg sync.WaitGroup
	for i := range len(bounds) - 1 {
		bufs := d.Buffers(256 << 10)
		buf := bufs.Plain()
		if i%2 == 1 {
			buf = bufs.Direct()
		}
		wg.Go(func() {
			start, end := bounds[i], bounds[i+1]
			cur := segment.NewCursor(start, start, end)
			body := &choppy{data: want[start:end], rng: rand.New(rand.NewPCG(uint64(i), 9))}
			if _, err := segment.Copy(context.Background(), body, cur, p, buf, nil, nil); err != nil {
				t.Errorf("segment %d: %v", i, err)
			}
		})
	}
	wg.Wait()
}

// choppy is a body that delivers its data in odd pieces, as a network does.
type choppy struct {
	data []byte
	rng  *rand.Rand
}

func (c *choppy) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(c.data), 1+c.rng.IntN(100<<10))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

func sameFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("%s differs from byte %d (len %d, want %d)", path, i, len(got), len(want))
	}
}

// alignedDirect stands in for an O_DIRECT descriptor on any filesystem: it
// refuses, as the kernel would, every write whose offset, length or memory
// is not aligned, and otherwise writes through an ordinary descriptor.
type alignedDirect struct {
	File
	t      *testing.T
	align  int64
	mu     sync.Mutex
	writes int
	bytes  int64
	fail   error // returned by the next write, if set
}

func (a *alignedDirect) WriteAt(b []byte, off int64) (int, error) {
	a.mu.Lock()
	fail := a.fail
	a.fail = nil
	a.writes++
	a.bytes += int64(len(b))
	a.mu.Unlock()
	if fail != nil {
		return 0, fail
	}
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if off%a.align != 0 || int64(len(b))%a.align != 0 || addr%directAlign != 0 {
		a.t.Errorf("direct write of %d bytes at offset %d from %#x: not aligned to %d", len(b), off, addr, a.align)
		return 0, syscall.EINVAL
	}
	return a.File.WriteAt(b, off)
}

// fakeDirect returns a file system whose direct-I/O files are
// alignedDirect, with the block size align, and a way to reach the last
// one opened.
func fakeDirect(t *testing.T, align int64) (*fakeFS, func() *alignedDirect) {
	var last *alignedDirect
	fake := &fakeFS{}
	fake.openDirect = func(name string) (File, int64) {
		f, err := fake.OS.OpenFile(name, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		last = &alignedDirect{t: t, File: f, align: align}
		return last, align
	}
	return fake, func() *alignedDirect { return last }
}

// Every write that reaches the direct descriptor is aligned in offset,
// length and memory, whatever the segments' boundaries; the bulk of the
// file goes that way; and the file holds every byte. With a fake direct
// file this runs on every filesystem.
func TestDirectWritesAreAlignedWhereverSegmentsFall(t *testing.T) {
	for _, align := range []int64{4096, 64 << 10} {
		t.Run(fmt.Sprint(align), func(t *testing.T) {
			dir := t.TempDir()
			fake, direct := fakeDirect(t, align)
			d := openDir(t, dir, Options{Connections: 8}, fake)
			const size = directMin + 777
			want := randomBytes(size, 1)
			p, err := d.Create("x.bin", size, false, true)
			if err != nil {
				t.Fatal(err)
			}
			if !p.Direct() || p.Alignment() != int(align) {
				t.Fatalf("a large segmented part has Direct %v, Alignment %d", p.Direct(), p.Alignment())
			}
			bounds := []int64{0, 1, 4095, 4097, 1<<20 + 13, 5<<20 + 4096, 9<<20 - 1, 17<<20 + 3, 30 << 20, size}
			writeSegments(t, d, p, want, bounds)
			if got := direct().bytes; got < size/2 {
				t.Errorf("%d of %d bytes went to the direct descriptor", got, size)
			}
			if err := p.Commit(); err != nil {
				t.Fatal(err)
			}
			sameFile(t, filepath.Join(dir, "x.bin"), want)
		})
	}
}

// A filesystem may take the direct open and refuse the write: the part goes
// on through the page cache, losing nothing.
func TestRefusedDirectWriteFallsBackToThePageCache(t *testing.T) {
	dir := t.TempDir()
	fake, direct := fakeDirect(t, 4096)
	d := openDir(t, dir, Options{}, fake)
	const size = directMin + 5
	want := randomBytes(size, 2)
	p, err := d.Create("x.bin", size, false, true)
	if err != nil {
		t.Fatal(err)
	}
	direct().fail = errDirectRefused
	bounds := []int64{0, size / 3, size}
	writeSegments(t, d, p, want, bounds)
	// The segments write at once: each may try one direct write before it
	// hears of the first refusal, and none tries again after.
	if w, most := direct().writes, len(bounds)-1; w < 1 || w > most {
		t.Errorf("%d direct writes after a refusal, want 1 to %d: one refused per segment at most", w, most)
	}
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	sameFile(t, filepath.Join(dir, "x.bin"), want)
}

// Direct I/O is only for large files written in segments, and never when
// turned off.
func TestDirectIOOnlyForLargeSegmentedParts(t *testing.T) {
	cases := []struct {
		size       int64
		ranged, no bool
		want       bool
	}{
		{directMin, true, false, true},
		{directMin - 1, true, false, false},
		{directMin, false, false, false},
		{directMin, true, true, false},
	}
	for _, c := range cases {
		fake, _ := fakeDirect(t, 4096)
		d := openDir(t, t.TempDir(), Options{NoDirectIO: c.no, NoSpaceCheck: true}, fake)
		p, err := d.Create("x.bin", c.size, false, c.ranged)
		if err != nil {
			t.Fatal(err)
		}
		if p.Direct() != c.want {
			t.Errorf("size %d ranged %v NoDirectIO %v: Direct = %v", c.size, c.ranged, c.no, p.Direct())
		}
		p.Sequential()
		if p.Direct() || p.Alignment() != 0 {
			t.Error("Sequential kept direct I/O")
		}
		p.Abort()
	}
}

// A file that does not fit fails at Create with an error that says so and
// matches ErrNoSpace, its descriptor closed; the next file is not held
// back by it. Writes that meet a full disk say so too.
func TestDiskFullFailsTheFileAndKeepsOthers(t *testing.T) {
	dir := t.TempDir()
	fake, direct := fakeDirect(t, 4096)
	fake.allocate = func(f File, size int64) error {
		if strings.HasPrefix(filepath.Base(f.Name()), "full") {
			return &os.PathError{Op: "fallocate", Path: f.Name(), Err: syscall.ENOSPC}
		}
		return f.Truncate(size)
	}
	d := openDir(t, dir, Options{}, fake)
	const size = directMin + 1
	_, err := d.Create("full.bin", size, false, true)
	var ns *NoSpaceError
	if !errors.Is(err, ErrNoSpace) || !errors.As(err, &ns) || ns.Need != size {
		t.Fatalf("Create on a full disk: %v", err)
	}
	if !strings.Contains(err.Error(), "space") {
		t.Errorf("the message does not say what is wrong: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "full.bin")); err == nil {
		t.Error("the file that did not fit has a final name")
	}

	want := randomBytes(size, 3)
	p, err := d.Create("other.bin", size, false, true)
	if err != nil {
		t.Fatalf("the next file: %v", err)
	}
	writeSegments(t, d, p, want, []int64{0, size / 2, size})
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	sameFile(t, filepath.Join(dir, "other.bin"), want)

	// A disk that fills while a file is written (--no-space-check).
	p, err = d.Create("late.bin", size, false, true)
	if err != nil {
		t.Fatal(err)
	}
	direct().fail = syscall.ENOSPC
	buf := d.Buffers(4096).Direct()
	_, err = p.WriteAt(buf, 0)
	if !errors.Is(err, ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "no space") {
		t.Errorf("a write to a full disk: %v", err)
	}
	if err := p.Abort(); err != nil {
		t.Error(err)
	}
}

// Without NoSpaceCheck a file larger than the free space is refused before
// anything is created.
func TestFileLargerThanTheFreeSpaceIsRefusedUpFront(t *testing.T) {
	dir := t.TempDir()
	if freeSpace(dir) < 0 {
		t.Skip("free space is unknown here")
	}
	d := openDir(t, dir, Options{}, nil)
	_, err := d.Create("huge.bin", 1<<62, false, true)
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Create of 4 EiB: %v", err)
	}
	if _, err := d.PartSize("huge.bin"); err == nil {
		t.Error("a .part was created for a file that cannot fit")
	}
}

// A part's checkpoint syncs before it records: save runs after the data is
// durable, and not at all once the part is closed.
func TestCheckpointSavesOnlyAfterTheSync(t *testing.T) {
	d := openDir(t, t.TempDir(), Options{}, nil)
	p, err := d.Create("x.bin", 10, false, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.WriteAt([]byte("0123456789"), 0); err != nil {
		t.Fatal(err)
	}
	saved := 0
	if err := p.Checkpoint(func() error { saved++; return nil }); err != nil || saved != 1 {
		t.Fatalf("Checkpoint = %v, save called %d times", err, saved)
	}
	p.Abort()
	if err := p.Checkpoint(func() error { saved++; return nil }); err == nil || saved != 1 {
		t.Errorf("Checkpoint of a closed part = %v, save called %d times", err, saved)
	}
	if n, err := d.PartSize("x.bin"); err != nil || n != 10 {
		t.Errorf("an aborted part is not left for a resume: %d, %v", n, err)
	}
}

// A preallocated part that overshot is cut to its size when committed, and
// a commit leaves no .part behind.
func TestCommitCutsThePartToItsSize(t *testing.T) {
	dir := t.TempDir()
	d := openDir(t, dir, Options{}, &fakeFS{allocate: func(f File, size int64) error { return f.Truncate(size + 4096) }})
	const size = smallFile + 1
	want := randomBytes(size, 4)
	p, err := d.Create("sub/x.bin", size, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.WriteAt(want, 0); err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	sameFile(t, filepath.Join(dir, "sub", "x.bin"), want)
	if _, err := os.Stat(filepath.Join(dir, "sub", "x.bin"+PartSuffix)); err == nil {
		t.Error("the .part is still there")
	}
}
