package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulkget/bulkget/internal/origin"
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

// TestRunLogStaysInItsFolder: a link planted as the log does not lead the
// run's writes out of the output folder.
func TestRunLogStaysInItsFolder(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "out")
	os.Mkdir(dir, 0o755)
	outside := filepath.Join(base, "outside.txt")
	if err := os.Symlink(outside, filepath.Join(dir, store.LogName)); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	if l, err := openRunLog(dir); err == nil {
		l.Write([]byte("a line\n"))
		l.Close()
		t.Errorf("the log opened through a link out of its folder")
	}
	if _, err := os.Lstat(outside); err == nil {
		t.Errorf("a file was written outside the output folder")
	}
}

// TestHangupSwapsTheDisplayForTheLog: at a hangup the bars stop, without
// a summary, and the events after it go to the log as plain lines, with
// the totals counted so far; the terminal gets one note saying where.
func TestHangupSwapsTheDisplayForTheLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	var screen, stderr lockedBuffer
	q := newQueue(newBars(&screen, barsConfig{refresh: 10 * time.Millisecond, width: 100})).writesTo(&screen)
	con := newConsole(&stderr)
	h := &hangup{list: "l.csv", dir: dir, con: con, cancel: func(error) { t.Errorf("a continuing run was cancelled") },
		every: 5 * time.Second}
	h.setOutput(q)
	events := script(time.Now())
	for _, e := range events[:3] {
		q.Report(e)
	}
	h.lose(syscall.SIGHUP)
	for _, e := range events[3:] {
		q.Report(e)
	}
	q.Close(scriptSummary())
	fmt.Fprintln(con, "bulkget: the last message")
	con.close()

	log := readLog(t, dir)
	rest := log
	for _, want := range []string{
		"pid ", "downloading l.csv into " + dir,
		"the terminal hung up (SIGHUP); the download goes on, and its events are logged in " + filepath.Join(dir, store.LogName),
		"retry config.json", "progress 0/4 files  98.0 MiB / ~220.0 MiB (45%)", "✗ missing.bin",
		"✓ weights/model-00001-of-00002.safetensors  100.0 MiB  in 12.0s  5.0 MiB/s",
		"2 done, 1 skipped, 1 failed", "bulkget: the last message",
	} {
		i := strings.Index(rest, want)
		if i < 0 {
			t.Fatalf("the log lacks, or has out of order, %q:\n%s", want, log)
		}
		rest = rest[i+len(want):]
	}
	if strings.Contains(log, "start config.json") {
		t.Errorf("the log holds events from before the hangup:\n%s", log)
	}
	if s := screen.String(); strings.Contains(s, "2 done") || strings.Contains(s, "missing.bin") {
		t.Errorf("the display went on after the hangup:\n%s", s)
	}
	if s := stderr.String(); !strings.Contains(s, "the terminal hung up") || strings.Contains(s, "last message") {
		t.Errorf("stderr after the hangup:\n%s", s)
	}
}

func readLog(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, store.LogName))
	if err != nil {
		t.Fatalf("no log: %v", err)
	}
	return string(b)
}

func checkFiles(t *testing.T, dir string, sizes map[string]int64) {
	t.Helper()
	for n, size := range sizes {
		if got, want := sha(t, filepath.Join(dir, n)), origin.SHA256Hex(n, 0, size); got != want {
			t.Errorf("%s: sha256 %s, want %s", n, got, want)
		}
	}
}

// TestHangupKeepsADisplayRedirectedToAFile: output redirected to a file
// outlives the terminal, so it goes on beside the log.
func TestHangupKeepsADisplayRedirectedToAFile(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "out")
	f, err := os.Create(filepath.Join(base, "run.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	con := newConsole(f)
	q := newQueue(&plain{w: f, every: 5 * time.Second}).writesTo(con)
	h := &hangup{list: "l.csv", dir: dir, con: con, cancel: func(error) {}, every: 5 * time.Second}
	h.setOutput(q)
	events := script(time.Now())
	for _, e := range events[:3] {
		q.Report(e)
	}
	h.lose(syscall.SIGHUP)
	for _, e := range events[3:] {
		q.Report(e)
	}
	q.Close(scriptSummary())
	con.close()
	b, _ := os.ReadFile(f.Name())
	for _, s := range []string{string(b), readLog(t, dir)} {
		for _, want := range []string{"the terminal hung up", "✗ missing.bin", "2 done, 1 skipped, 1 failed"} {
			if !strings.Contains(s, want) {
				t.Errorf("lacks %q:\n%s", want, s)
			}
		}
	}
}

// A SIGPIPE also comes for a write to a socket its peer closed (a server
// dropping a kept-alive connection): while stdout and stderr still have
// their readers (the test binary's, here), it neither swaps the display
// for the log nor stops a run with --on-hangup stop.
func TestSIGPIPEFromASocketIsNotAHangup(t *testing.T) {
	if outputGone() {
		t.Skip("this test process's own stdout or stderr has no reader")
	}
	dir := t.TempDir()
	var stderr lockedBuffer
	con := newConsole(&stderr)
	h := &hangup{list: "l.csv", dir: dir, stop: true, con: con,
		cancel: func(error) { t.Errorf("a SIGPIPE from a socket stopped the run") }, every: time.Second}
	h.lose(syscall.SIGPIPE)
	con.close()
	if _, err := os.Stat(filepath.Join(dir, store.LogName)); err == nil {
		t.Errorf("a SIGPIPE from a socket started the log")
	}
	if h.lost {
		t.Errorf("a SIGPIPE from a socket counted as a lost terminal")
	}
}
