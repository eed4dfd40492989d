//go:build unix && !aix

package state

import (
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
	if err := os.Symlink(victim, filepath.Join(dir, LockName)); err != nil {
		t.Fatal(err)
	}
	if l, err := AcquireLock(dir); err == nil {
		l.Release()
		t.Fatal("AcquireLock followed a symlinked lock file")
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Fatalf("symlink target modified: %q", b)
	}
}
