//go:build linux || darwin

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bulkget/bulkget/internal/origin"
	"github.com/bulkget/bulkget/store"
	"github.com/creack/pty"
)

// goodList writes dir/l.csv with every name served by srv at its size.
func goodList(t *testing.T, dir string, srv *origin.Server, sizes map[string]int64) {
	t.Helper()
	var b strings.Builder
	b.WriteString("filename,url\n")
	for n, size := range sizes {
		srv.Add(n, size)
		fmt.Fprintf(&b, "%s,%s\n", n, srv.URL(n))
	}
	if err := os.WriteFile(filepath.Join(dir, "l.csv"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// hupDefault gives this process a SIGHUP handler once. A test process
// started with SIGHUP ignored (under nohup) would pass that on to the
// binaries it starts; a handled signal is reset to its default by exec, so
// they start as from a login shell.
var hupDefault sync.Once

func defaultSIGHUP() {
	hupDefault.Do(func() { signal.Notify(make(chan os.Signal, 1), syscall.SIGHUP) })
}

// inTerminal starts the real binary with args in a 120×40 pseudo-terminal
// of its own session, as a shell over ssh would, and copies what it draws.
func inTerminal(t *testing.T, dir string, args ...string) (*exec.Cmd, *os.File, *lockedBuffer) {
	t.Helper()
	defaultSIGHUP()
	cmd := exec.Command(bulkgetBin(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TERM=xterm-256color", "BULKGET_PROGRESS=auto")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
	if err != nil {
		t.Fatalf("start in a pty: %v", err)
	}
	out := &lockedBuffer{}
	go io.Copy(out, tty)
	return cmd, tty, out
}

// waitUntil polls cond every 10ms until it holds or d passes.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// exited waits for cmd, at most d, and returns its exit status.
func exited(t *testing.T, cmd *exec.Cmd, d time.Duration) int {
	t.Helper()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatalf("wait: %v", err)
		}
		return 0
	case <-time.After(d):
		cmd.Process.Kill()
		t.Fatalf("bulkget did not end within %v", d)
	}
	return -1
}

// TestHangupKeepsTheRunGoing closes the terminal of a run in the middle,
// as a dropped ssh connection does: the run completes every file with its
// normal status, the rest of its events are in the log, and it leaves no
// lock or socket.
func TestHangupKeepsTheRunGoing(t *testing.T) {
	t.Parallel()
	srv := origin.New(origin.Options{PerConnRate: 2 << 20, Latency: time.Millisecond})
	defer srv.Close()
	dir := t.TempDir()
	sizes := map[string]int64{"a.bin": 2 << 20, "b.bin": 2 << 20, "c.bin": 1 << 20}
	goodList(t, dir, srv, sizes)
	cmd, tty, _ := inTerminal(t, dir, "-c", "2", "-x", "1", "--progress-interval", "200ms", "l.csv")
	waitUntil(t, 10*time.Second, "first bytes", func() bool { return srv.Stats().BytesServed >= 256<<10 })
	tty.Close() // the terminal goes away: the kernel sends SIGHUP
	if code := exited(t, cmd, 20*time.Second); code != exitOK {
		t.Fatalf("exit %d after a hangup, want %d; log:\n%s", code, exitOK, readLog(t, filepath.Join(dir, "l")))
	}
	out := filepath.Join(dir, "l")
	checkFiles(t, out, sizes)
	noLockFile(t, out)
	if _, err := os.Lstat(filepath.Join(out, store.SocketName)); err == nil {
		t.Errorf("the control socket was left behind")
	}
	log := readLog(t, out)
	for _, want := range []string{"the terminal hung up (SIGHUP); the download goes on", "✓ ", "3 done, 0 skipped, 0 failed"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
	if !regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ  `).MatchString(log) || strings.Contains(log, "\x1b[") {
		t.Errorf("log lines are not plain, time-stamped lines:\n%q", log)
	}
}

// TestHangupStopEndsCleanly: with --on-hangup stop, closing the terminal
// stops the run within 2 s, with its own status, its progress saved and no
// lock left.
func TestHangupStopEndsCleanly(t *testing.T) {
	t.Parallel()
	srv := origin.New(origin.Options{PerConnRate: 512 << 10, Latency: time.Millisecond})
	defer srv.Close()
	dir := t.TempDir()
	goodList(t, dir, srv, map[string]int64{"slow.bin": 16 << 20})
	cmd, tty, _ := inTerminal(t, dir, "-c", "2", "--checkpoint-interval", "100ms", "--on-hangup", "stop", "l.csv")
	waitUntil(t, 10*time.Second, "first bytes", func() bool { return srv.Stats().BytesServed >= 256<<10 })
	tty.Close()
	start := time.Now()
	code := exited(t, cmd, 5*time.Second)
	took := time.Since(start)
	out := filepath.Join(dir, "l")
	if code != exitHangup {
		t.Fatalf("exit %d, want %d; log:\n%s", code, exitHangup, readLog(t, out))
	}
	if took > 2*time.Second {
		t.Errorf("took %v to stop after the hangup", took)
	}
	noLockFile(t, out)
	if _, err := os.Stat(filepath.Join(out, "slow.bin")); err == nil {
		t.Errorf("an incomplete file under its final name")
	}
	if _, err := os.Stat(filepath.Join(out, store.StateName("slow.bin"))); err != nil {
		t.Errorf("no state saved: %v", err)
	}
	log := readLog(t, out)
	for _, want := range []string{"stopping (--on-hangup stop)", "(interrupted)", "the terminal hung up (--on-hangup stop)"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
}

// TestBackgroundReturnsAtOnce: -b gives the prompt back while the run goes
// on in the background, and the run completes on its own.
func TestBackgroundReturnsAtOnce(t *testing.T) {
	t.Parallel()
	srv := origin.New(origin.Options{PerConnRate: 2 << 20, Latency: time.Millisecond})
	defer srv.Close()
	dir := t.TempDir()
	sizes := map[string]int64{"a.bin": 2 << 20, "b.bin": 1 << 20}
	goodList(t, dir, srv, sizes)
	cmd := exec.Command(bulkgetBin(t), "-b", "-c", "2", "-x", "1", "l.csv")
	cmd.Dir = dir
	start := time.Now()
	msg, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err != nil {
		t.Fatalf("bulkget -b: %v\n%s", err, msg)
	}
	if took > 3*time.Second {
		t.Errorf("-b took %v to return", took)
	}
	m := regexp.MustCompile(`in the background, pid (\d+)`).FindSubmatch(msg)
	if m == nil || !strings.Contains(string(msg), "bulkget watch l") || !strings.Contains(string(msg), filepath.Join("l", store.LogName)) {
		t.Fatalf("-b does not say where the run is and how to watch it:\n%s", msg)
	}
	pid, _ := strconv.Atoi(string(m[1]))
	if srv.Stats().BytesServed >= 3<<20 {
		t.Errorf("-b returned only after the download")
	}
	waitUntil(t, 15*time.Second, "the background run to end", func() bool {
		return syscall.Kill(pid, 0) == syscall.ESRCH
	})
	out := filepath.Join(dir, "l")
	checkFiles(t, out, sizes)
	noLockFile(t, out)
	if log := readLog(t, out); !strings.Contains(log, "2 done, 0 skipped, 0 failed") {
		t.Errorf("the log lacks the summary:\n%s", log)
	}
}

// TestWatchShowsTheRun follows a running download from another terminal:
// status names the run, watch draws its bars and leaves on Ctrl-C while
// the run goes on, and a watcher that stays to the end gets the summary.
func TestWatchShowsTheRun(t *testing.T) {
	t.Parallel()
	srv := origin.New(origin.Options{PerConnRate: 1 << 20, Latency: time.Millisecond})
	defer srv.Close()
	dir := t.TempDir()
	sizes := map[string]int64{"a.bin": 2 << 20, "b.bin": 2 << 20}
	goodList(t, dir, srv, sizes)
	run := exec.Command(bulkgetBin(t), "-c", "2", "-x", "1", "--progress", "plain", "l.csv")
	run.Dir = dir
	var runErr bytes.Buffer
	run.Stderr = &runErr
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "l")
	var live string
	waitUntil(t, 10*time.Second, "the run's socket", func() bool {
		_, stdout, _ := runCLI(t, "status", out)
		live = stdout
		return strings.Contains(stdout, "running now: pid ")
	})
	if !strings.Contains(live, fmt.Sprintf("running now: pid %d, started ", run.Process.Pid)) {
		t.Errorf("status does not name the run:\n%s", live)
	}

	stay := exec.Command(bulkgetBin(t), "watch", "--progress", "plain", "--progress-interval", "200ms", out)
	var stayed bytes.Buffer
	stay.Stderr = &stayed
	if err := stay.Start(); err != nil {
		t.Fatal(err)
	}
	watch, tty, drawn := inTerminal(t, dir, "watch", out)
	defer tty.Close()
	bars := regexp.MustCompile(`total \d/2 files +\[=*>?-*\] `)
	waitUntil(t, 5*time.Second, "watch to draw bars", func() bool {
		s := drawn.String()
		return bars.MatchString(s) && strings.Count(s, "A\x1b[J") >= 2
	})
	watch.Process.Signal(syscall.SIGINT)
	if code := exited(t, watch, 3*time.Second); code != exitOK {
		t.Errorf("watch left with status %d on Ctrl-C, want %d", code, exitOK)
	}
	if code := exited(t, run, 20*time.Second); code != exitOK {
		t.Fatalf("the run ended with %d after a watcher left; stderr:\n%s", code, runErr.String())
	}
	checkFiles(t, out, sizes)
	noLockFile(t, out)
	if code := exited(t, stay, 3*time.Second); code != exitOK {
		t.Errorf("a watcher to the end exited %d", code)
	}
	if s := stayed.String(); !strings.Contains(s, "progress ") || !strings.Contains(s, "2 done, 0 skipped, 0 failed") {
		t.Errorf("the watcher that stayed saw no progress or no summary:\n%s", s)
	}
}

// TestWatchAndStatusInProcess runs a download and its watchers in this
// process, so that the race detector sees the run's socket, its event hub
// and the watchers together; and a folder no run holds says so.
func TestWatchAndStatusInProcess(t *testing.T) {
	srv := origin.New(origin.Options{PerConnRate: 2 << 20, Latency: time.Millisecond})
	defer srv.Close()
	dir := chdir(t)
	sizes := map[string]int64{"a.bin": 1 << 20, "b.bin": 1 << 20}
	goodList(t, dir, srv, sizes)
	out := filepath.Join(dir, "l")
	if code, _, stderr := runCLI(t, "watch", out); code != exitFailed || !strings.Contains(stderr, "no run holds") {
		t.Errorf("watch with no run: exit %d: %s", code, stderr)
	}
	ran := make(chan int, 1)
	go func() {
		code, _, _ := runCLI(t, "-c", "2", "-x", "1", "--progress", "none", "l.csv")
		ran <- code
	}()
	waitUntil(t, 10*time.Second, "the run's socket", func() bool {
		_, stdout, _ := runCLI(t, "status", out)
		return strings.Contains(stdout, "running now: pid ")
	})
	var wg sync.WaitGroup
	results := make([]string, 2)
	for i, mode := range []string{"plain", "json"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, stdout, stderr := runCLI(t, "watch", "--progress", mode, "--progress-interval", "100ms", out)
			results[i] = fmt.Sprintf("exit %d\n%s%s", code, stdout, stderr)
		}()
	}
	wg.Wait()
	if code := <-ran; code != exitOK {
		t.Fatalf("the run exited %d", code)
	}
	if r := results[0]; !strings.HasPrefix(r, "exit 0\n") || !strings.Contains(r, "2 done, 0 skipped, 0 failed") {
		t.Errorf("plain watcher:\n%s", r)
	}
	if r := results[1]; !strings.HasPrefix(r, "exit 0\n") || !strings.Contains(r, `"type":"progress"`) || !strings.Contains(r, `"type":"summary"`) {
		t.Errorf("json watcher:\n%s", r)
	}
	checkFiles(t, out, sizes)
	if _, stdout, _ := runCLI(t, "status", out); !strings.HasSuffix(stdout, noRun) {
		t.Errorf("status after the run:\n%s", stdout)
	}
}

// TestNohupKeepsSIGHUPIgnored: a run started with SIGHUP ignored (nohup,
// or a shell's trap) leaves it ignored, and writes no log of its own.
func TestNohupKeepsSIGHUPIgnored(t *testing.T) {
	t.Parallel()
	srv := origin.New(origin.Options{PerConnRate: 2 << 20, Latency: time.Millisecond})
	defer srv.Close()
	dir := t.TempDir()
	sizes := map[string]int64{"a.bin": 2 << 20}
	goodList(t, dir, srv, sizes)
	cmd := exec.Command("/bin/sh", "-c", `trap '' HUP; exec "$0" "$@"`, bulkgetBin(t), "-c", "1", "--progress", "plain", "--on-hangup", "stop", "l.csv")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "first bytes", func() bool { return srv.Stats().BytesServed >= 256<<10 })
	cmd.Process.Signal(syscall.SIGHUP)
	if code := exited(t, cmd, 20*time.Second); code != exitOK {
		t.Fatalf("exit %d with SIGHUP ignored, want %d", code, exitOK)
	}
	out := filepath.Join(dir, "l")
	checkFiles(t, out, sizes)
	if _, err := os.Stat(filepath.Join(out, store.LogName)); err == nil {
		t.Errorf("a log was written though SIGHUP was ignored")
	}
}

// stalled is a terminal that stops reading, as one at the end of an ssh
// connection to a laptop that went to sleep: writes wait until released.
type stalled struct{ release chan struct{} }

func (s stalled) Write(p []byte) (int, error) {
	<-s.release
	return len(p), nil
}

// TestStalledTerminalDoesNotHoldUpWatchers: the display and the control
// socket render on goroutines of their own, so a watcher follows the run to
// its summary while the run's own terminal takes nothing.
func TestStalledTerminalDoesNotHoldUpWatchers(t *testing.T) {
	srv := origin.New(origin.Options{PerConnRate: 4 << 20, Latency: time.Millisecond})
	defer srv.Close()
	dir := chdir(t)
	sizes := map[string]int64{"a.bin": 1 << 20, "b.bin": 1 << 20}
	goodList(t, dir, srv, sizes)
	out := filepath.Join(dir, "l")
	term := stalled{release: make(chan struct{})}
	ran := make(chan int, 1)
	go func() {
		var stdout bytes.Buffer
		ran <- runMain([]string{"bulkget", "-c", "2", "-x", "1", "--progress", "plain", "l.csv"}, &stdout, term)
	}()
	waitUntil(t, 10*time.Second, "the run's socket", func() bool {
		_, stdout, _ := runCLI(t, "status", out)
		return strings.Contains(stdout, "running now: pid ")
	})
	watched := make(chan string, 1)
	go func() {
		code, _, stderr := runCLI(t, "watch", "--progress", "plain", out)
		watched <- fmt.Sprintf("exit %d\n%s", code, stderr)
	}()
	select {
	case w := <-watched:
		if !strings.HasPrefix(w, "exit 0\n") || !strings.Contains(w, "2 done, 0 skipped, 0 failed") {
			t.Errorf("watch of a run whose terminal is stalled:\n%s", w)
		}
	case <-time.After(15 * time.Second):
		t.Errorf("watch got no summary while the run's terminal was stalled")
	}
	close(term.release)
	if code := <-ran; code != exitOK {
		t.Errorf("the run exited %d", code)
	}
	checkFiles(t, out, sizes)
}
