//go:build !linux

package store

import (
	"errors"
	"os"
)

var errDirectRefused = errors.New("direct I/O not supported")

// openDirect: direct I/O is only used on Linux.
func openDirect(*os.Root, string) (*os.File, int64) { return nil, 0 }
