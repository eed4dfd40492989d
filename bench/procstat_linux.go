package bench

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// cpuTime returns the user+system CPU time of a finished process.
func cpuTime(ps *os.ProcessState) time.Duration {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS follows a running process's VmHWM (the high-water mark of its
// resident set, in /proc) until stop is closed, then sends the largest value
// seen, in bytes. rusage's ru_maxrss cannot be used: Go starts children with
// vfork, and the kernel carries the parent's high-water mark across exec
// into the child's, so every tool would show at least the suite's own RSS.
func peakRSS(pid int, stop <-chan struct{}) <-chan int64 {
	out := make(chan int64, 1)
	path := fmt.Sprintf("/proc/%d/status", pid)
	go func() {
		var peak int64
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			peak = max(peak, readHWM(path))
			select {
			case <-stop:
				out <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

func readHWM(path string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	_, rest, ok := bytes.Cut(data, []byte("VmHWM:"))
	if !ok {
		return 0
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	kib, err := strconv.ParseInt(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(line), []byte("kB")))), 10, 64)
	if err != nil {
		return 0
	}
	return kib << 10
}

// killGroup starts cmd in a process group of its own and makes a cancelled
// context kill the whole group, so that a helper process cannot outlive a
// timed-out run.
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}

// flushTime syncs the filesystem holding dir and says how long it took.
func flushTime(dir string) time.Duration {
	d, err := os.Open(dir)
	if err != nil {
		return 0
	}
	defer d.Close()
	start := time.Now()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return 0
	}
	return time.Since(start)
}
