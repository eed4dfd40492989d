package store

import (
	"errors"
	"os"
	"strconv"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// A list of thousands of small files repeats two operations per file more
// than any other: creating the .part and renaming it. Through os.Root each
// costs system calls beyond the openat or renameat itself (trying to add a
// regular file to the network poller and setting its flags back, looking
// at the target before a rename), which buy nothing for a single path
// component inside a folder held open: such a name cannot lead anywhere
// else, O_NOFOLLOW|O_EXCL refuses a planted symlink, and renameat never
// follows one. These do just the one call.

const haveTopDir = true

func createAt(dirfd int, name string) (*os.File, error) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, &os.PathError{Op: "openat", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// createUnnamedAt makes a file in the folder that has no name yet
// (O_TMPFILE): nothing can see it until linkAt names it, and a crash
// before that leaves nothing behind. Creating it and naming it once are
// two directory updates fewer than creating name.part and renaming it.
func createUnnamedAt(dirfd int) (*os.File, error) {
	fd, err := unix.Openat(dirfd, ".", unix.O_RDWR|unix.O_TMPFILE|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, &os.PathError{Op: "openat O_TMPFILE", Path: ".", Err: err}
	}
	return os.NewFile(uintptr(fd), "(unnamed)"), nil
}

// linkAt gives an unnamed file its name. AT_EMPTY_PATH names the
// descriptor itself; kernels before 6.10 allow that only with
// CAP_DAC_READ_SEARCH, so once it is refused (viaProc set) the name goes
// through /proc/self/fd, which needs no privilege but costs a path walk
// through procfs.
func linkAt(f *os.File, dirfd int, name string, viaProc *atomic.Bool) error {
	fd := int(f.Fd())
	if !viaProc.Load() {
		err := unix.Linkat(fd, "", dirfd, name, unix.AT_EMPTY_PATH)
		switch err {
		case nil:
			return nil
		case unix.ENOENT, unix.EPERM, unix.EINVAL:
			viaProc.Store(true)
		default:
			return &os.LinkError{Op: "linkat", Old: "(unnamed)", New: name, Err: err}
		}
	}
	if err := unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), dirfd, name, unix.AT_SYMLINK_FOLLOW); err != nil {
		return &os.LinkError{Op: "linkat", Old: "(unnamed)", New: name, Err: err}
	}
	return nil
}

// unnamedUnsupported tells a refusal of O_TMPFILE itself (EOPNOTSUPP from
// a filesystem without it, EISDIR or EINVAL from kernels before 3.11, which
// read the flag as O_DIRECTORY) from a failure that may pass.
func unnamedUnsupported(err error) bool {
	return errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EINVAL)
}

// unnamedPossible reports whether linkAt can work here at all.
func unnamedPossible() bool {
	_, err := os.Stat("/proc/self/fd")
	return err == nil
}

func renameAt(dirfd int, from, to string) error {
	if err := unix.Renameat(dirfd, from, dirfd, to); err != nil {
		return &os.LinkError{Op: "renameat", Old: from, New: to, Err: err}
	}
	return nil
}
