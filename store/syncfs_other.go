//go:build !linux

package store

import (
	"errors"
	"os"
)

const haveSyncFS = false

// syncFS is not available here; parts are committed with a sync each.
func syncFS(*os.File) error { return errors.New("syncfs not supported on this platform") }

func kernelRelease() string { return "" }
