package bench

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/bulkget/bulkget/internal/origin"
)

// Verifying a file must not touch its inode: an access time older than the
// modification time is what makes relatime write one.
func TestVerifyLeavesAccessTime(t *testing.T) {
	dir := t.TempDir()
	files := []File{{Name: "f", Size: 4096}}
	path := filepath.Join(dir, "f")
	data := make([]byte, 4096)
	origin.Content("f", 0, 0, data)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, time.Now()); err != nil {
		t.Fatal(err)
	}
	if st := verify(dir, files, 1); st["f"] != fileRight {
		t.Fatalf("verify: %v, want the file right", st["f"])
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	atime := time.Unix(info.Sys().(*syscall.Stat_t).Atim.Unix())
	if atime.After(old.Add(time.Second)) {
		t.Errorf("access time %v after verification, want it left at %v", atime, old)
	}
}
