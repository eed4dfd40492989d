package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkget/bulkget/store"
)

// TestRunLog: lines are stamped and redacted, a line written in pieces is
// one line, and a full log starts over, keeping the one before.
func TestRunLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	l, err := openRunLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	l.now = func() time.Time { return time.Date(2026, 12, 7, 23, 0, 0, 0, time.UTC) }
	l.max = 200
	l.Write([]byte("retry a.bin: GET https://ann:s3cr3t@h.example/a.bin?X-Amz-Signature=PLANTED: EOF\n✓ b"))
	l.Write([]byte(".bin  1.0 MiB\n"))
	first, err := os.ReadFile(filepath.Join(dir, store.LogName))
	if err != nil {
		t.Fatal(err)
	}
	assertNoPlanted(t, "log", first)
	lines := strings.Split(strings.TrimSuffix(string(first), "\n"), "\n")
	if len(lines) != 2 || lines[1] != "2026-12-07T23:00:00Z  ✓ b.bin  1.0 MiB" {
		t.Errorf("log:\n%s", first)
	}
	if fi, err := os.Stat(filepath.Join(dir, store.LogName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("log mode %v (%v), want 0600", fi.Mode(), err)
	}
	for range 10 {
		l.Write([]byte(strings.Repeat("x", 50) + "\n"))
	}
	l.Write([]byte("unended"))
	l.Close()
	cur, _ := os.ReadFile(filepath.Join(dir, store.LogName))
	old, _ := os.ReadFile(filepath.Join(dir, store.LogName+".1"))
	if len(cur) > 200+80 || len(old) > 200+80 || len(old) == 0 {
		t.Errorf("log of %d bytes and %d before it, with a cap of 200", len(cur), len(old))
	}
	if !strings.HasSuffix(string(cur), "  unended\n") {
		t.Errorf("Close lost the unended line:\n%s", cur)
	}
}
