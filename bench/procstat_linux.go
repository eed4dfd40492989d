package bench

import (
	"os"
	"os/exec"
	"syscall"
	"time"
)

// usage returns the user+system CPU time and the peak RSS in bytes of a
// finished process (Linux reports ru_maxrss in KiB).
func usage(ps *os.ProcessState) (cpu time.Duration, maxRSS int64) {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), ru.Maxrss << 10
}

// killGroup starts cmd in a process group of its own and makes a cancelled
// context kill the whole group, so that a helper process cannot outlive a
// timed-out run.
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
