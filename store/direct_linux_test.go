package store

import (
	"os"
	"path/filepath"
	"testing"
	"unsafe"

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

// On a filesystem with real direct I/O, segments with boundaries that fall
// anywhere land byte for byte, and the bulk bypasses the page cache unless
// direct I/O is turned off.
func TestLargePartsBypassThePageCacheUnlessTold(t *testing.T) {
	for _, buffered := range []bool{false, true} {
		dir := t.TempDir()
		if !directSupported(t, dir) {
			t.Skip("no direct I/O on this filesystem (TestDirectWritesAreAlignedWhereverSegmentsFall covers the logic)")
		}
		d := openDir(t, dir, Options{NoDirectIO: buffered}, nil)
		const size = 40<<20 + 777
		want := randomBytes(size, 5)
		p, err := d.Create("x.bin", size, false, true)
		if err != nil {
			t.Fatal(err)
		}
		if p.Direct() == buffered {
			t.Fatalf("NoDirectIO %v: Direct = %v", buffered, p.Direct())
		}
		writeSegments(t, d, p, want, []int64{0, 1, 4095, 4097, 1<<20 + 13, 5<<20 + 4096, 9<<20 - 1, 17<<20 + 3, size})
		if err := p.Commit(); err != nil {
			t.Fatal(err)
		}
		share := cachedShare(t, filepath.Join(dir, "x.bin"))
		if !buffered && share > 0.2 {
			t.Errorf("direct: %.0f%% of the file is in the page cache", 100*share)
		}
		if buffered && share < 0.8 {
			t.Errorf("NoDirectIO: only %.0f%% of the file is in the page cache", 100*share)
		}
		sameFile(t, filepath.Join(dir, "x.bin"), want)
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
