package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkget/bulkget/internal/origin"
)

func TestCheckFilesNamesTheFirstWrongFile(t *testing.T) {
	dir := t.TempDir()
	files := []File{{Name: "a", Size: 100}, {Name: "b", Size: 100}}
	content := make([]byte, 100)
	origin.Content("a", 0, 0, content)
	if err := os.WriteFile(filepath.Join(dir, "a"), content, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckFiles(dir, files); err == nil || !strings.Contains(err.Error(), "b: missing") {
		t.Errorf("b absent: %v", err)
	}
	content[7] ^= 1
	if err := os.WriteFile(filepath.Join(dir, "b"), content, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckFiles(dir, files); err == nil || !strings.Contains(err.Error(), "b: wrong") {
		t.Errorf("b corrupt: %v", err)
	}
	origin.Content("b", 0, 0, content)
	if err := os.WriteFile(filepath.Join(dir, "b"), content, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckFiles(dir, files); err != nil {
		t.Errorf("both right: %v", err)
	}
}
