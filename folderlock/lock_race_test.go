//go:build (unix && !aix) || windows

package folderlock

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hammer takes and releases the lock on dir from workers goroutines until
// the deadline and returns how many times it was taken. Two checks run
// while a worker holds it: no other goroutine of this process holds it
// (an atomic count), and no other process does (the holder creates marker
// with O_EXCL and removes it before releasing). A holder must also find the
// lock path naming the very file it locked, or a later process could create
// and lock a new one.
func hammer(dir, marker string, workers int, until time.Time) (int64, error) {
	var held atomic.Int32
	var taken atomic.Int64
	var mu sync.Mutex
	var errs []error
	fail := func(err error) {
		mu.Lock()
		if len(errs) < 5 { // the first few tell the story
			errs = append(errs, err)
		}
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for time.Now().Before(until) {
				l, err := Acquire(dir)
				if errors.Is(err, ErrLocked) {
					runtime.Gosched()
					continue
				}
				if err != nil {
					fail(err)
					return
				}
				if n := held.Add(1); n != 1 {
					fail(fmt.Errorf("%d holders at once in one process", n))
				}
				if same, err := namesFile(l.path, l.f); !same || err != nil {
					fail(fmt.Errorf("holder's file is not the one the lock path names (%v)", err))
				}
				m, err := os.OpenFile(marker, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
				if err != nil {
					fail(fmt.Errorf("another process holds the lock too: %w", err))
				} else {
					m.Close()
					runtime.Gosched()
					if err := os.Remove(marker); err != nil {
						fail(err)
					}
				}
				held.Add(-1)
				taken.Add(1)
				if err := l.Release(); err != nil {
					fail(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return taken.Load(), errors.Join(errs...)
}

func TestLockExcludesUnderContention(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(t.TempDir(), "holder")
	taken, err := hammer(dir, marker, 8, time.Now().Add(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if taken == 0 {
		t.Fatal("the lock was never taken")
	}
	t.Logf("taken %d times", taken)
	mustBeEmpty(t, dir)
}

const hammerEnv = "BULKGET_STATE_LOCK_HAMMER_MARKER"

// TestHammerProcess is not a real test: when re-executed by
// TestLockExcludesAcrossProcesses it hammers the lock and reports.
func TestHammerProcess(t *testing.T) {
	marker := os.Getenv(hammerEnv)
	if marker == "" {
		t.Skip("helper process only")
	}
	taken, err := hammer(os.Getenv(helperEnv), marker, 4, time.Now().Add(time.Second))
	if err != nil {
		fmt.Println("error:", strings.ReplaceAll(err.Error(), "\n", "; "))
		os.Exit(1)
	}
	fmt.Println("taken", taken)
	os.Exit(0)
}

func TestLockExcludesAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(t.TempDir(), "holder")
	const procs = 4
	cmds := make([]*exec.Cmd, procs)
	outs := make([]*bytes.Buffer, procs)
	for i := range cmds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHammerProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), helperEnv+"="+dir, hammerEnv+"="+marker)
		outs[i] = new(bytes.Buffer)
		cmd.Stdout, cmd.Stderr = outs[i], os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	// This process joins in too.
	mine, err := hammer(dir, marker, 2, time.Now().Add(time.Second))
	if err != nil {
		t.Error(err)
	}
	var takers int
	if mine > 0 {
		takers++
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("process %d: %v: %s", i, err, outs[i])
			continue
		}
		n, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(outs[i].String()), "taken "), 10, 64)
		if err != nil {
			t.Errorf("process %d said %q", i, outs[i])
		}
		if n > 0 {
			takers++
		}
	}
	if takers < 2 {
		t.Errorf("only %d of %d processes ever took the lock: no contention was tested", takers, procs+1)
	}
	mustBeEmpty(t, dir)
}
