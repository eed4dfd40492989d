package scheduler

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// errDirectRefused is how a filesystem refuses a direct write it cannot do.
var errDirectRefused = syscall.EINVAL

// openDirect opens name for direct writes and returns the block size they
// must be aligned to, or nil where the filesystem does not support direct
// I/O (tmpfs, some FUSE and network filesystems).
func openDirect(root *os.Root, name string) (*os.File, int64) {
	f, err := root.OpenFile(name, os.O_WRONLY|syscall.O_DIRECT, 0)
	if err != nil {
		return nil, 0
	}
	align := int64(directAlign)
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err == nil {
		bs := int64(st.Bsize)
		if bs > 1<<20 || bs&(bs-1) != 0 {
			f.Close() // a block size we would rather not guess around
			return nil, 0
		}
		align = max(align, bs)
	}
	return f, align
}
