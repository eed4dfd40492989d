//go:build unix && !aix

package folderlock

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// removableWhileOpen: Unix unlinks a file whatever descriptors are open.
const removableWhileOpen = true

// openLockFile refuses to follow a symlink so that a planted
// .bulkget.lock -> elsewhere cannot make us truncate an unrelated file.
func openLockFile(p string) (*os.File, error) {
	return os.OpenFile(p, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o644)
}

// tryLock takes flock(LOCK_EX|LOCK_NB). flock (unlike fcntl/POSIX record
// locks) belongs to the open file description, so a second Acquire in
// the same process conflicts as it should, and closing an unrelated
// descriptor for the same file does not silently drop the lock. The kernel
// releases it when the last descriptor closes, including on kill -9.
func tryLock(f *os.File) (bool, error) {
	err := flock(f, unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}

func unlock(f *os.File) error {
	return flock(f, unix.LOCK_UN)
}

func flock(f *os.File, how int) error {
	// SyscallConn rather than Fd: Fd would switch the descriptor to
	// blocking mode as a side effect.
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		for {
			ferr = unix.Flock(int(fd), how)
			if ferr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if ferr != nil {
		return &os.PathError{Op: "flock", Path: f.Name(), Err: ferr}
	}
	return nil
}

// removeAndUnlock unlinks the lock file while still holding the lock, then
// unlocks and closes it. Anyone who opened the file before the unlink and
// locks it afterwards finds the path no longer names it (Acquire's
// check) and starts over on a fresh file, so no two processes ever hold
// locks on files the path names.
func removeAndUnlock(f *os.File, p string) error {
	err := removeIfOurs(p, f)
	// Closing alone would release the lock too; unlocking explicitly first
	// makes the release independent of any descriptor duplicated by a
	// concurrent fork/exec that has not yet closed it.
	if uerr := unlock(f); err == nil {
		err = uerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
