//go:build windows

package folderlock

import (
	"errors"
	"math"
	"os"

	"golang.org/x/sys/windows"
)

// removableWhileOpen is false: Windows refuses to delete or rename a file
// while a handle to it is open without FILE_SHARE_DELETE, which Go never
// sets, so the file a process has open is always the one the path names.
const removableWhileOpen = false

func openLockFile(p string) (*os.File, error) {
	return os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
}

// Windows byte-range locks are mandatory: a locked range cannot be read by
// anyone else. Locking a single byte far beyond end of file (which Windows
// permits) keeps the PID readable by a contender. Like flock, the lock
// belongs to the handle and is released by the system when the holding
// process dies.
const lockOffset uint64 = 1 << 40

func lockOverlapped() *windows.Overlapped {
	return &windows.Overlapped{Offset: uint32(lockOffset & math.MaxUint32), OffsetHigh: uint32(lockOffset >> 32)}
}

func tryLock(f *os.File) (bool, error) {
	err := windows.LockFileEx(windows.Handle(f.Fd()),
		windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, lockOverlapped())
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) || errors.Is(err, windows.ERROR_IO_PENDING) {
		return false, nil
	}
	if err != nil {
		return false, &os.PathError{Op: "LockFileEx", Path: f.Name(), Err: err}
	}
	return true, nil
}

func unlock(f *os.File) error {
	if err := windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, lockOverlapped()); err != nil {
		return &os.PathError{Op: "UnlockFileEx", Path: f.Name(), Err: err}
	}
	return nil
}

// removeAndUnlock unlocks and closes the lock file, then deletes it. The
// order is forced: the delete would fail on our own open handle (see
// removableWhileOpen). The same rule keeps it safe: a process that opened
// the file in the meantime makes the delete fail, and removes the file
// itself when it releases, so nobody can hold a lock on a deleted file. A
// failed delete is therefore not an error.
func removeAndUnlock(f *os.File, p string) error {
	ours, _ := namesFile(p, f)
	err := unlock(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if ours {
		_ = os.Remove(p)
	}
	return err
}
