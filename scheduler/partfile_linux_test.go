package scheduler

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"unsafe"

	"github.com/bulkget/bulkget/internal/origin"
	"github.com/bulkget/bulkget/segment"
	"golang.org/x/sys/unix"
)

// directSupported tells whether dir's filesystem takes direct I/O (tmpfs,
// for one, does not).
func directSupported(t *testing.T, dir string) bool {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := os.WriteFile(filepath.Join(dir, "probe"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(filepath.Join(dir, "probe"))
	f, _ := openDirect(root, "probe")
	if f == nil {
		return false
	}
	f.Close()
	return true
}

// cachedShare is the share of path's pages that are in the page cache.
func cachedShare(t *testing.T, path string) float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	m, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	page := os.Getpagesize()
	vec := make([]byte, (len(m)+page-1)/page)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	in := 0
	for _, v := range vec {
		in += int(v & 1)
	}
	return float64(in) / float64(len(vec))
}

// TestPartFileSegmentsAtOddOffsets writes a file as segments with
// boundaries that fall anywhere, concurrently, through Copy and partFile,
// and checks every byte and that the bulk bypassed the page cache.
func TestPartFileSegmentsAtOddOffsets(t *testing.T) {
	dir := t.TempDir()
	if !directSupported(t, dir) {
		t.Skip("no direct I/O on this filesystem")
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	const size = 24<<20 + 777
	want := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range want {
		want[i] = byte(rng.Uint32())
	}
	out, err := root.OpenFile("x.part", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := preallocate(out, size); err != nil {
		t.Fatal(err)
	}
	p := &partFile{File: out}
	p.direct, p.align = openDirect(root, "x.part")
	if p.direct == nil {
		t.Fatal("openDirect failed where a probe succeeded")
	}
	bounds := []int64{0, 1, 4095, 4097, 1<<20 + 13, 5<<20 + 4096, 9<<20 - 1, 17<<20 + 3, size}
	// Half the segments read into buffers on huge pages, as a run's
	// connections do, half into ordinary aligned memory.
	huge := &hugeBuffers{}
	defer huge.release()
	var wg sync.WaitGroup
	for i := range len(bounds) - 1 {
		buf := alignedBuffer(256 << 10)
		if i%2 == 1 {
			buf = huge.get()
		}
		wg.Go(func() {
			start, end := bounds[i], bounds[i+1]
			cur := segment.NewCursor(start, start, end)
			// Odd read sizes, as a network delivers them.
			body := &choppy{data: want[start:end], rng: rand.New(rand.NewPCG(uint64(i), 9))}
			if _, err := segment.Copy(context.Background(), body, cur, p, buf, nil, nil); err != nil {
				t.Errorf("segment %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if share := cachedShare(t, filepath.Join(dir, "x.part")); share > 0.2 {
		t.Errorf("%.0f%% of the file is in the page cache; direct writes should have bypassed it", 100*share)
	}
	got, err := os.ReadFile(filepath.Join(dir, "x.part"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("content differs from byte %d (len %d, want %d)", i, len(got), len(want))
	}
}

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

func TestLargeDownloadsBypassThePageCacheUnlessTold(t *testing.T) {
	for _, buffered := range []bool{false, true} {
		dir := t.TempDir()
		if !directSupported(t, dir) {
			t.Skip("no direct I/O on this filesystem")
		}
		fx := newFixture(t, origin.Options{})
		fx.add("big.bin", 40<<20+5)
		opts := testOptions(dir)
		opts.Connections = 4
		opts.MinSegment = 1 << 20
		opts.NoDirectIO = buffered
		if sum := runFixture(t, fx, opts); sum.Done != 1 {
			t.Fatalf("%+v", sum)
		}
		share := cachedShare(t, filepath.Join(dir, "big.bin"))
		if !buffered && share > 0.2 {
			t.Errorf("direct: %.0f%% of the file is in the page cache", 100*share)
		}
		if buffered && share < 0.8 {
			t.Errorf("--no-direct-io: only %.0f%% of the file is in the page cache", 100*share)
		}
		fx.verify(t, dir, nil)
	}
}

// Direct I/O only where it is plain and fast: not on tmpfs, say (nor NFS,
// FUSE or overlay, which a test cannot easily mount).
func TestNoDirectIOOutsideLocalDiskFilesystems(t *testing.T) {
	var st unix.Statfs_t
	if err := unix.Statfs("/dev/shm", &st); err != nil || st.Type != unix.TMPFS_MAGIC {
		t.Skip("no tmpfs at /dev/shm")
	}
	dir, err := os.MkdirTemp("/dev/shm", "bulkget-test")
	if err != nil {
		t.Skip(err)
	}
	defer os.RemoveAll(dir)
	if directSupported(t, dir) {
		t.Error("direct I/O chosen on tmpfs")
	}
}
