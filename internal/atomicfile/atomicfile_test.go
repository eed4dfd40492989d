package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReplacesWholeAndLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.html")
	for _, data := range []string{"first", "second, longer"} {
		if err := Write(path, []byte(data), ".r.html.*.tmp"); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != data {
			t.Fatalf("read %q, %v; want %q", got, err, data)
		}
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d entries in the folder, want only the file", len(entries))
	}
}

func TestWriteIntoAMissingFolderFailsAndLeavesNothing(t *testing.T) {
	if err := Write(filepath.Join(t.TempDir(), "no", "r.html"), []byte("x"), ".r.*.tmp"); err == nil {
		t.Fatal("no error for a missing folder")
	}
}
