//go:build (unix && !aix) || windows

package folderlock

import (
	"github.com/bulkget/bulkget/store"

	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLockRecordsItsPIDAndASecondAcquireFailsAtOnce(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	content, err := os.ReadFile(filepath.Join(dir, store.LockName))
	if err != nil {
		t.Fatal(err)
	}
	if want := strconv.Itoa(os.Getpid()) + "\n"; string(content) != want {
		t.Fatalf("lock file holds %q, want %q", content, want)
	}

	// flock belongs to the open file description, so a second open in
	// this same process must conflict, and at once: the lock never waits.
	start := time.Now()
	l2, err := Acquire(dir)
	if d := time.Since(start); d > time.Second {
		t.Errorf("second Acquire took %v to fail", d)
	}
	if err == nil {
		l2.Release()
		t.Fatal("second Acquire in the same process succeeded")
	}
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) {
		t.Fatalf("second Acquire = %T %v, want *LockedError matching ErrLocked", err, err)
	}
	if le.PID != os.Getpid() || le.Dir != dir {
		t.Fatalf("LockedError = %+v, want PID %d Dir %q", le, os.Getpid(), dir)
	}
	want := fmt.Sprintf("output folder %q is in use by another bulkget (pid %d)", dir, os.Getpid())
	if err.Error() != want {
		t.Fatalf("Error() = %q, want %q", err.Error(), want)
	}

	if err := l.Release(); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if err := l.Release(); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	mustBeEmpty(t, dir)
	l3, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	if err := l3.Release(); err != nil {
		t.Fatal(err)
	}
	mustBeEmpty(t, dir)
}

// mustBeEmpty fails unless dir has no entries at all.
func mustBeEmpty(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("%s left in %s", e.Name(), dir)
	}
}

func TestLockHeldUnderAGarbledPIDStillRefusesWithPIDUnknown(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	for _, content := range []string{"", "garbage\n", "123", "-5\n"} {
		if err := os.WriteFile(filepath.Join(dir, store.LockName), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Acquire(dir)
		var le *LockedError
		if !errors.As(err, &le) || le.PID != 0 || !strings.HasSuffix(err.Error(), "(pid unknown)") {
			t.Errorf("content %q: Acquire = %v, want LockedError with unknown pid", content, err)
		}
	}
}

func TestStaleLockFileNobodyHoldsDoesNotBlock(t *testing.T) {
	dir := t.TempDir()
	// A lock file left behind by an earlier process (and never locked by
	// anyone now) must not block.
	if err := os.WriteFile(filepath.Join(dir, store.LockName), []byte("999999999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire over stale file: %v", err)
	}
	content, _ := os.ReadFile(filepath.Join(dir, store.LockName))
	if string(content) != strconv.Itoa(os.Getpid())+"\n" {
		t.Fatalf("stale PID not replaced: %q", content)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	mustBeEmpty(t, dir) // the stale file goes too
}

func TestLockInAMissingFolderFailsAsSomethingOtherThanLocked(t *testing.T) {
	_, err := Acquire(filepath.Join(t.TempDir(), "nope"))
	if err == nil || errors.Is(err, ErrLocked) {
		t.Fatalf("Acquire(missing dir) = %v", err)
	}
}

const helperEnv = "BULKGET_STATE_LOCK_HELPER_DIR"

// TestHelperProcess is not a real test: when re-executed by
// TestLockIsReleasedWhenItsProcessIsKilled it takes the lock and holds it until killed.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		t.Skip("helper process only")
	}
	if _, err := Acquire(dir); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	time.Sleep(time.Minute)
	os.Exit(2)
}

func TestLockIsReleasedWhenItsProcessIsKilled(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	defer func() {
		if !waited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}

	_, err = Acquire(dir)
	var le *LockedError
	if !errors.As(err, &le) || le.PID != cmd.Process.Pid {
		t.Fatalf("Acquire while child holds it = %v, want LockedError with pid %d", err, cmd.Process.Pid)
	}

	// Process.Kill is SIGKILL on Unix: the child gets no chance to clean
	// up, exactly like kill -9 or a crash.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	waited = true

	// A killed holder cannot remove its file; the next holder's Release
	// does.
	if _, err := os.Stat(filepath.Join(dir, store.LockName)); err != nil {
		t.Fatalf("lock file of the killed holder: %v", err)
	}
	l, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after the holder was killed: %v", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	mustBeEmpty(t, dir)
}
