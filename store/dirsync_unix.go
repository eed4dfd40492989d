//go:build unix

package store

import (
	"errors"

	"golang.org/x/sys/unix"
)

// dirSyncRefused tells a file system that cannot sync a folder at all
// (EINVAL or ENOTSUP from fsync of it; ENOTTY from macOS's full sync
// on file systems without it) from one that failed to.
func dirSyncRefused(err error) bool {
	return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) ||
		errors.Is(err, unix.ENOTTY)
}
