package folderlock

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/bulkget/bulkget/store"
)

// maxLockAttempts bounds how often Acquire starts over because the file
// it locked was removed by a holder releasing at the same moment.
const maxLockAttempts = 64

// ErrLocked is matched (via errors.Is) by the *LockedError Acquire
// returns when another process holds the output folder.
var ErrLocked = errors.New("folderlock: output folder locked")

// LockedError reports that Dir is locked by another bulkget. PID is the
// holder's process ID as recorded in the lock file, or 0 if it could not be
// read (for example while the holder is between acquiring and writing it).
type LockedError struct {
	Dir string
	PID int
}

func (e *LockedError) Error() string {
	pid := "unknown"
	if e.PID > 0 {
		pid = strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("output folder %q is in use by another bulkget (pid %s)", e.Dir, pid)
}

// Unwrap lets errors.Is(err, ErrLocked) match.
func (e *LockedError) Unwrap() error { return ErrLocked }

// Lock is an exclusive lock on an output folder, held until Release or
// until the process exits; see the package documentation for semantics per
// platform.
type Lock struct {
	mu   sync.Mutex
	f    *os.File
	dir  string
	path string // the lock file, as Acquire opened it
}

// Acquire takes the lock on output folder dir without waiting. If
// another holder has it, the error is a *LockedError. The lock is held
// through the open file itself, not through the file's existence, so a lock
// file left by a process that died never blocks.
//
// Because Release removes the file, a lock taken on a file is only valid if
// the path still names that file afterwards: a holder may have released,
// unlinking it, between our open and our lock, and a third process would
// then create and lock a new file. So after locking, the open file and the
// path are compared, and on a mismatch Acquire starts over (where
// removableWhileOpen; elsewhere the file cannot go while we have it open).
func Acquire(dir string) (*Lock, error) {
	p := filepath.Join(dir, store.LockName)
	for range maxLockAttempts {
		f, err := openLockFile(p)
		if err != nil {
			return nil, fmt.Errorf("folderlock: lock %s: %w", dir, err)
		}
		ok, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("folderlock: lock %s: %w", dir, err)
		}
		if !ok {
			pid := readPID(f)
			f.Close()
			return nil, &LockedError{Dir: dir, PID: pid}
		}
		same := true
		if removableWhileOpen {
			same, err = namesFile(p, f)
			if err != nil {
				_ = unlock(f)
				f.Close()
				return nil, fmt.Errorf("folderlock: lock %s: %w", dir, err)
			}
		}
		if !same {
			// Locked a file no longer in the folder: it excludes no one.
			_ = unlock(f)
			f.Close()
			continue
		}
		// The PID is informational only (it feeds the error message above
		// and people inspecting the folder); exclusion comes from the lock,
		// never from the file's content, so a stale PID left by a dead
		// holder is harmless.
		if err := writePID(f); err != nil {
			_ = unlock(f)
			f.Close()
			return nil, fmt.Errorf("folderlock: lock %s: write pid: %w", dir, err)
		}
		return &Lock{f: f, dir: dir, path: p}, nil
	}
	// Every attempt lost to a holder that released and was followed by
	// another: the folder is busy, whoever has it right now.
	return nil, &LockedError{Dir: dir}
}

// namesFile reports whether path p (not following a symlink) names the open
// file f. A missing path is false, not an error.
func namesFile(p string, f *os.File) (bool, error) {
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	pi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(fi, pi), nil
}

func writePID(f *os.File) error {
	// Truncate first so a shorter PID leaves no stale digits behind.
	if err := f.Truncate(0); err != nil {
		return err
	}
	// A trailing newline marks the record complete, so a reader racing with
	// this write cannot mistake "12" of "1234" for a PID.
	// No fsync: the PID only informs, and after a crash the lock is gone
	// with the process whatever the file says. A sync here cost every run
	// a device flush before its first request.
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

// readPID returns the PID recorded in the lock file, or 0 if it is absent or
// not a complete record.
func readPID(f *os.File) int {
	buf := make([]byte, 32)
	n, err := f.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return 0
	}
	s, complete := strings.CutSuffix(string(buf[:n]), "\n")
	if !complete {
		return 0
	}
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// Release removes the lock file, unlocks it and closes it. Calling it more
// than once is harmless. The file is removed only if its path still names
// the file this Lock holds, so a lock file someone else put in its place
// is left alone. Where removal is not possible (see removeAndUnlock per
// platform) the file stays, which is harmless: exclusion never depends on
// the file's existence.
func (l *Lock) Release() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	if err := removeAndUnlock(f, l.path); err != nil {
		return fmt.Errorf("folderlock: unlock %s: %w", l.dir, err)
	}
	return nil
}

// removeIfOurs removes p if it still names f; a missing p is not an error.
func removeIfOurs(p string, f *os.File) error {
	same, err := namesFile(p, f)
	if err != nil || !same {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
