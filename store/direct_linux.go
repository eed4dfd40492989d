package store

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// errDirectRefused is how a filesystem refuses a direct write it cannot do.
var errDirectRefused = syscall.EINVAL

// directFilesystems are the local, block-device filesystems whose direct
// I/O is plain and fast. Elsewhere it may be refused (tmpfs), or accepted
// and slow: over NFS every direct write is a synchronous round trip, and
// FUSE and overlay filesystems pass it on to who knows what. There the
// page cache is the better bet.
var directFilesystems = map[int64]bool{
	unix.EXT4_SUPER_MAGIC:  true, // also ext2 and ext3
	unix.XFS_SUPER_MAGIC:   true,
	unix.BTRFS_SUPER_MAGIC: true,
	unix.F2FS_SUPER_MAGIC:  true,
}

// openDirect opens name for direct writes and returns the block size they
// must be aligned to, or nil where direct I/O is not worth it or not
// supported (see directFilesystems).
func openDirect(root *os.Root, name string) (*os.File, int64) {
	f, err := root.OpenFile(name, os.O_WRONLY|syscall.O_DIRECT, 0)
	if err != nil {
		return nil, 0
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil || !directFilesystems[int64(st.Type)] {
		f.Close()
		return nil, 0
	}
	bs := int64(st.Bsize)
	if bs > 1<<20 || bs&(bs-1) != 0 {
		f.Close() // a block size we would rather not guess around
		return nil, 0
	}
	return f, max(int64(directAlign), bs)
}
