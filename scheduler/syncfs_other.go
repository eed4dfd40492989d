//go:build !linux

package scheduler

import (
	"errors"
	"os"
)

const haveSyncFS = false

// syncFS is not available here; finalize falls back to an fsync per file.
func syncFS(*os.File) error { return errUnsupported }

var errUnsupported = errors.New("syncfs not supported on this platform")
