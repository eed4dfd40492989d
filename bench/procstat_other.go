//go:build !linux

package bench

import (
	"os"
	"os/exec"
	"time"
)

// cpuTime and peakRSS are only measured on Linux.
func cpuTime(*os.ProcessState) time.Duration { return 0 }

func peakRSS(_ int, stop <-chan struct{}) <-chan int64 {
	out := make(chan int64, 1)
	go func() { <-stop; out <- 0 }()
	return out
}

// killGroup: a cancelled context kills only the direct child elsewhere.
func killGroup(*exec.Cmd) {}

// flushTime is only measured on Linux.
func flushTime(string) time.Duration { return 0 }
