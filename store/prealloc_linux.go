package store

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// preallocate claims size bytes for f up front, so the disk fills at the
// start of a run rather than hours into it, and the file has its final size
// for WriteAt at any offset. Filesystems without fallocate get a sparse file.
func preallocate(f *os.File, size int64) error {
	if size == 0 {
		return f.Truncate(0)
	}
	err := unix.Fallocate(int(f.Fd()), 0, 0, size)
	if err == nil {
		return nil
	}
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) {
		return f.Truncate(size)
	}
	return err
}
