package store

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The shortcut for names in the top folder must be as safe as os.Root: a
// planted symlink is neither followed by create nor by rename.
func TestTopDirNeverFollowsPlantedSymlinks(t *testing.T) {
	if !haveTopDir {
		t.Skip("os.Root is used here")
	}
	dir, outside := t.TempDir(), t.TempDir()
	victim := filepath.Join(outside, "victim")
	if err := os.WriteFile(victim, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a.bin.part", "b.bin"} {
		if err := os.Symlink(victim, filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	top := openTopDir(t, dir)

	if f, err := top.create("a.bin.part"); err == nil {
		f.Close()
		t.Error("create went through a planted symlink")
	}
	f, err := top.create("b.bin.part")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("new")
	f.Close()
	if err := top.rename("b.bin.part", "b.bin"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Errorf("the symlink's target was changed to %q", b)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "b.bin")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("b.bin is not the new regular file: %v %v", fi, err)
	}
	// Names in folders take the os.Root path.
	if top.direct("sub/c.bin") || !top.direct("c.bin") {
		t.Error("direct() chose the wrong path")
	}
}

// An unnamed file whose name was taken meanwhile replaces it, as a rename
// of its .part would, and leaves no .part behind.
func TestUnnamedFileReplacesAFileThatTookItsNameMeanwhile(t *testing.T) {
	if !haveTopDir || !unnamedPossible() {
		t.Skip("no unnamed files here")
	}
	// Both ways of naming a descriptor: directly, and through /proc where
	// the kernel refuses that.
	for _, viaProc := range []bool{false, true} {
		t.Run(fmt.Sprintf("viaProc=%v", viaProc), func(t *testing.T) {
			dir := t.TempDir()
			top := openTopDir(t, dir)
			top.linkViaProc.Store(viaProc)
			f, err := top.createUnnamed()
			if err != nil {
				t.Skip("this filesystem has no O_TMPFILE")
			}
			defer f.Close()
			if _, err := f.WriteString("new"); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "x.bin"), []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := top.link(f, "x.bin"); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "x.bin")); string(b) != "new" {
				t.Errorf("x.bin holds %q, want the new file", b)
			}
			if _, err := os.Lstat(filepath.Join(dir, "x.bin"+PartSuffix)); err == nil {
				t.Error("a .part was left behind")
			}
			if err := top.link(f, "y.bin"); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "y.bin")); string(b) != "new" {
				t.Errorf("y.bin holds %q, want the new file", b)
			}
			if !viaProc && top.linkViaProc.Load() {
				t.Log("this kernel refuses AT_EMPTY_PATH: both cases went through /proc")
			}
		})
	}
}

// canCreateUnnamed reports whether dir's filesystem takes O_TMPFILE.
func canCreateUnnamed(t *testing.T, dir string) bool {
	t.Helper()
	f, err := createUnnamedAt(openTopDir(t, dir).fd)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// openTopDir holds dir open as a run does, closed when the test ends.
func openTopDir(t *testing.T, dir string) *topDir {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	d, err := root.Open(".")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return &topDir{root: root, dir: d, fd: int(d.Fd())}
}

func TestOneFailedUnnamedCreateDoesNotTurnUnnamedFilesOff(t *testing.T) {
	if !haveTopDir || !unnamedPossible() {
		t.Skip("no unnamed files here")
	}
	dir := t.TempDir()
	if !canCreateUnnamed(t, dir) {
		t.Skip("this filesystem has no O_TMPFILE")
	}
	top := openTopDir(t, dir)
	fd := top.fd
	top.fd = -1 // EBADF: a failure that says nothing about the filesystem
	if _, err := top.createUnnamed(); err == nil {
		t.Fatal("created an unnamed file without a folder")
	}
	top.fd = fd
	f, err := top.createUnnamed()
	if err != nil {
		t.Fatal("one failed create turned unnamed files off for the run")
	}
	f.Close()

	for _, c := range []struct {
		err  error
		want bool
	}{
		{&os.PathError{Op: "openat", Path: ".", Err: syscall.EOPNOTSUPP}, true},
		{&os.PathError{Op: "openat", Path: ".", Err: syscall.EISDIR}, true},
		{&os.PathError{Op: "openat", Path: ".", Err: syscall.EMFILE}, false},
		{&os.PathError{Op: "openat", Path: ".", Err: syscall.ENOSPC}, false},
	} {
		if got := unnamedUnsupported(c.err); got != c.want {
			t.Errorf("unnamedUnsupported(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
