package store

import (
	"os"

	"golang.org/x/sys/unix"
)

const haveSyncFS = true

// syncFS flushes every dirty file of the filesystem holding dir to stable
// storage in one go (syncfs(2)): the group commit for small files.
func syncFS(dir *os.File) error {
	rc, err := dir.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Syncfs(int(fd)) }); err != nil {
		return err
	}
	return serr
}

// kernelRelease is the running kernel's release, as uname -r prints it.
func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}
