//go:build aix || !(unix || windows)

package folderlock

import "os"

// On these platforms (AIX, Plan 9, WASI, js) there is no lock primitive
// that is both per-open-file and released on process death: an O_EXCL
// marker file would outlive a crashed process and block every later run.
// The lock is therefore a documented no-op that always succeeds; only the
// PID is recorded.

// removableWhileOpen: these systems may delete a file that is open, so
// Acquire checks the path as on Unix, though without a lock little
// rides on it.
const removableWhileOpen = true

func openLockFile(p string) (*os.File, error) {
	return os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
}

func tryLock(*os.File) (bool, error) { return true, nil }

func unlock(*os.File) error { return nil }

// removeAndUnlock removes the lock file and closes it. There is no lock to
// protect here, so the file goes simply to leave the folder as it was.
func removeAndUnlock(f *os.File, p string) error {
	err := removeIfOurs(p, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
