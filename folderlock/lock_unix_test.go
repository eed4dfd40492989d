//go:build unix && !aix

package folderlock

import (
	"github.com/bulkget/bulkget/store"

	"os"
	"path/filepath"
	"testing"
)

func TestLockRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, store.LockName)); err != nil {
		t.Fatal(err)
	}
	if l, err := Acquire(dir); err == nil {
		l.Release()
		t.Fatal("Acquire followed a symlinked lock file")
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Fatalf("symlink target modified: %q", b)
	}
}

func TestReleaseLeavesAReplacedLockFileAlone(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Someone deletes the lock file mid-run and another file takes its
	// name: it is not ours to remove.
	p := filepath.Join(dir, store.LockName)
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "1\n" {
		t.Fatalf("replacement lock file after Release: %q, %v", b, err)
	}
}
