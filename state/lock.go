package state

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/bulkget/bulkget/store"
)

// LockName is the lock file created in every output folder. It is left in
// place after Release: deleting it would let a process that opened the old
// file and one that creates a new file both believe they hold the lock.
const LockName = store.LockName

// ErrLocked is matched (via errors.Is) by the *LockedError AcquireLock
// returns when another process holds the output folder.
var ErrLocked = errors.New("state: output folder locked")

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
	mu  sync.Mutex
	f   *os.File
	dir string
}

// AcquireLock takes the lock on output folder dir without waiting. If
// another holder has it, the error is a *LockedError. The lock is held
// through the open file itself, not through the file's existence, so a lock
// file left by a process that died never blocks.
func AcquireLock(dir string) (*Lock, error) {
	p := filepath.Join(dir, LockName)
	f, err := openLockFile(p)
	if err != nil {
		return nil, fmt.Errorf("state: lock %s: %w", dir, err)
	}
	ok, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("state: lock %s: %w", dir, err)
	}
	if !ok {
		pid := readPID(f)
		f.Close()
		return nil, &LockedError{Dir: dir, PID: pid}
	}
	// The PID is informational only (it feeds the error message above and
	// people inspecting the folder); exclusion comes from the lock, never
	// from the file's content, so a stale PID left by a dead holder is
	// harmless.
	if err := writePID(f); err != nil {
		_ = unlock(f)
		f.Close()
		return nil, fmt.Errorf("state: lock %s: write pid: %w", dir, err)
	}
	return &Lock{f: f, dir: dir}, nil
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

// Release unlocks and closes the lock file, leaving the file in place.
// Calling it more than once is harmless.
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
	// Closing alone would release the lock too; unlocking explicitly first
	// makes the release independent of any descriptor duplicated by a
	// concurrent fork/exec that has not yet closed it.
	err := unlock(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("state: unlock %s: %w", l.dir, err)
	}
	return nil
}
