//go:build linux

package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkget/bulkget/internal/origin"
)

// Under a low limit on open descriptors (`ulimit -n 48`, 16 connections) a
// list of small files must still come down whole and without a single
// "too many open files": the files waiting for their round to be named
// must not take the descriptors that the connections need. (They did:
// unnamed files stay open until named, and up to 512 wait at once.)
func TestLowOpenFileLimitCostsNoFile(t *testing.T) {
	const files, size = 3000, 4 << 10
	srv := origin.New(origin.Options{})
	t.Cleanup(srv.Close)
	list, names := serveEqualFiles(t, srv, files, size)
	dir := filepath.Join(t.TempDir(), "out")
	out := runUnderFileLimit(t, 48, "--progress", "json", "-c", "16", "-d", dir, list)
	if n := checkFinalNames(t, dir, names, size); n != files {
		t.Errorf("%d of %d files complete", n, files)
	}
	if strings.Contains(string(out), "too many open files") {
		t.Errorf("ran out of descriptors:\n%.2000s", out)
	}
	if n := strings.Count(string(out), `"type":"retry"`); n > 0 {
		t.Errorf("%d retries, want none", n)
	}
}

// Under a limit too low for the connections asked for, bulkget uses fewer,
// says so once, and still gets every file.
func TestOpenFileLimitCapsConnections(t *testing.T) {
	const files, size = 500, 4 << 10
	srv := origin.New(origin.Options{})
	t.Cleanup(srv.Close)
	list, names := serveEqualFiles(t, srv, files, size)
	dir := filepath.Join(t.TempDir(), "out")
	out := runUnderFileLimit(t, 24, "--progress", "plain", "-c", "16", "-d", dir, list)
	if n := checkFinalNames(t, dir, names, size); n != files {
		t.Errorf("%d of %d files complete", n, files)
	}
	const want = "warning: the limit on open files (24, see ulimit -n) leaves room for 2 connections, not 16; using 2"
	if n := strings.Count(string(out), want); n != 1 {
		t.Errorf("warning %q printed %d times, want once:\n%.2000s", want, n, out)
	}
	if peak := srv.Stats().PeakConns; peak > 2 {
		t.Errorf("%d connections at once, want at most 2", peak)
	}
}

// runUnderFileLimit runs bulkget with args under a limit of limit open
// descriptors and returns its output; sh sets both the soft and the hard
// limit, so Go cannot raise it.
func runUnderFileLimit(t *testing.T, limit int, args ...string) []byte {
	t.Helper()
	script := fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, limit)
	out, err := exec.Command("/bin/sh", append([]string{"-c", script, bulkgetBin(t)}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("bulkget under ulimit -n %d: %v\n%.2000s", limit, err, out)
	}
	return out
}
