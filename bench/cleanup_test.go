package bench

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// A run's large files go at once, its small ones only when the runner
// closes: see Runner.Run for why.
func TestRunnerKeepsSmallFilesUntilClose(t *testing.T) {
	work := t.TempDir()
	big := filepath.Join(work, "out", "big")
	small := filepath.Join(work, "out", "sub", "small")
	for path, size := range map[string]int64{big: bulky, small: bulky - 1} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := &Runner{kept: []string{work}}
	removeBulky(work)
	if _, err := os.Stat(big); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("large file after the run: %v, want it removed", err)
	}
	if _, err := os.Stat(small); err != nil {
		t.Errorf("small file removed before Close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(work); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("run folder after Close: %v, want it removed", err)
	}
}
