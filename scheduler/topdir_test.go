package scheduler

import (
	"os"
	"path/filepath"
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
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	d, err := root.Open(".")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	top := &topDir{root: root, dir: d, fd: int(d.Fd())}

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
