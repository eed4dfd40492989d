//go:build !linux

package bench

import (
	"os"
	"os/exec"
	"time"
)

// usage is only measured on Linux.
func usage(*os.ProcessState) (time.Duration, int64) { return 0, 0 }

// killGroup: a cancelled context kills only the direct child elsewhere.
func killGroup(*exec.Cmd) {}
