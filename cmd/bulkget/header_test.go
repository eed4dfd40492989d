package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkget/bulkget/internal/origin"
)

// headerlessList writes a list without a header: its line 1 is a file.
func headerlessList(t *testing.T, srv *origin.Server, names ...string) {
	t.Helper()
	var b strings.Builder
	for _, n := range names {
		srv.Add(n, 64<<10)
		b.WriteString(n + "," + srv.URL(n) + "?sig=PLANTED\n")
	}
	if err := os.WriteFile("l.csv", []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestHeaderlessListIsRefused: every command that reads a list refuses one
// whose line 1 is an entry, as it refuses any list it cannot read (exit 2),
// naming the line and both fixes, and writes nothing.
func TestHeaderlessListIsRefused(t *testing.T) {
	srv := origin.New(origin.Options{Latency: time.Millisecond})
	defer srv.Close()
	cwd := chdir(t)
	headerlessList(t, srv, "a.bin", "b.bin")
	for _, args := range [][]string{
		{"l.csv"},
		{"get", "--summary", "s.json", "l.csv"},
		{"--dry-run", "l.csv"},
		{"--shard", "0/2", "l.csv"},
		{"status", "--list", "l.csv", "."},
	} {
		code, stdout, stderr := runCLI(t, args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d; stderr: %s", args, code, exitUsage, stderr)
		}
		for _, want := range []string{"l.csv", "line 1", `"filename,url"`, "--no-header"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("%v: stderr does not say %q: %s", args, want, stderr)
			}
		}
		assertNoPlanted(t, strings.Join(args, " "), []byte(stdout+stderr))
	}
	if _, err := os.Stat(filepath.Join(cwd, "l")); err == nil {
		t.Errorf("a refused list created its output folder")
	}
	var sum struct {
		ExitStatus int    `json:"exit_status"`
		Error      string `json:"error"`
	}
	b, err := os.ReadFile("s.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sum); err != nil || sum.ExitStatus != exitUsage || !strings.Contains(sum.Error, "--no-header") {
		t.Errorf("summary %s (%v)", b, err)
	}
}

func TestNoHeaderDownloadsLineOne(t *testing.T) {
	srv := origin.New(origin.Options{Latency: time.Millisecond})
	defer srv.Close()
	cwd := chdir(t)
	headerlessList(t, srv, "a.bin", "b.bin")

	code, stdout, stderr := runCLI(t, "--no-header", "--dry-run", "l.csv")
	if code != exitOK || !strings.Contains(stdout, "2 files") || !strings.Contains(stdout, "line 1") {
		t.Fatalf("dry run: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, _, stderr := runCLI(t, "--no-header", "--progress", "none", "l.csv"); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, n := range []string{"a.bin", "b.bin"} {
		if got, want := sha(t, filepath.Join(cwd, "l", n)), origin.SHA256Hex(n, 0, 64<<10); got != want {
			t.Errorf("%s is wrong", n)
		}
	}
	t.Setenv("BULKGET_NO_HEADER", "1")
	code, stdout, stderr = runCLI(t, "status", "--list", "l.csv", "l")
	if code != exitOK || !strings.Contains(stdout, "2 files: 2 done") {
		t.Errorf("status: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI(t, "--shard", "0/1", "--progress", "none", "l.csv")
	if code != exitOK {
		t.Errorf("shard with BULKGET_NO_HEADER: exit %d\n%s%s", code, stdout, stderr)
	}
}
