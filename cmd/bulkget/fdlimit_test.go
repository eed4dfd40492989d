//go:build linux

package main

import (
	"fmt"
	"os"
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
	var b strings.Builder
	b.WriteString("filename,url\n")
	names := make([]string, files)
	for i := range names {
		names[i] = fmt.Sprintf("f%04d.bin", i)
		srv.Add(names[i], size)
		fmt.Fprintf(&b, "%s,%s\n", names[i], srv.URL(names[i]))
	}
	list := filepath.Join(t.TempDir(), "list.csv")
	if err := os.WriteFile(list, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "out")
	// sh sets both the soft and the hard limit, so Go cannot raise it.
	cmd := exec.Command("/bin/sh", "-c", `ulimit -n 48 && exec "$0" "$@"`,
		bulkgetBin(t), "--progress", "json", "-c", "16", "-d", dir, list)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bulkget under ulimit -n 48: %v\n%.2000s", err, out)
	}
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
	var b strings.Builder
	b.WriteString("filename,url\n")
	names := make([]string, files)
	for i := range names {
		names[i] = fmt.Sprintf("f%04d.bin", i)
		srv.Add(names[i], size)
		fmt.Fprintf(&b, "%s,%s\n", names[i], srv.URL(names[i]))
	}
	list := filepath.Join(t.TempDir(), "list.csv")
	if err := os.WriteFile(list, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "out")
	cmd := exec.Command("/bin/sh", "-c", `ulimit -n 24 && exec "$0" "$@"`,
		bulkgetBin(t), "--progress", "plain", "-c", "16", "-d", dir, list)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bulkget under ulimit -n 24: %v\n%.2000s", err, out)
	}
	if n := checkFinalNames(t, dir, names, size); n != files {
		t.Errorf("%d of %d files complete", n, files)
	}
	const want = "warning: the limit on open files (24, see ulimit -n) leaves room for 4 connections, not 16; using 4"
	if n := strings.Count(string(out), want); n != 1 {
		t.Errorf("warning %q printed %d times, want once:\n%.2000s", want, n, out)
	}
	if peak := srv.Stats().PeakConns; peak > 4 {
		t.Errorf("%d connections at once, want at most 4", peak)
	}
}
