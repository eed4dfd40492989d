package store

import (
	"errors"
	"fmt"
	"syscall"
)

// ErrNoSpace is matched (errors.Is) by every error of this package that
// means the output filesystem is full: retrying will not help that file.
var ErrNoSpace = errors.New("no space left on the output filesystem")

// ErrNoAttrs is matched by File.SetAttr's error where the file system
// keeps no user extended attributes (tmpfs without them, some network file
// systems; every system but Linux, where bulkget does not use them): the
// verification record then goes to a sidecar (see Record).
var ErrNoAttrs = errors.New("store: no extended attributes")

// NoSpaceError is a file that does not fit on the output filesystem.
type NoSpaceError struct {
	Need, Free int64
}

func (e *NoSpaceError) Error() string {
	if e.Need <= 0 {
		return ErrNoSpace.Error()
	}
	return fmt.Sprintf("not enough free space: need %d bytes, %d free (--no-space-check to try anyway)", e.Need, e.Free)
}

// Is makes a NoSpaceError match ErrNoSpace.
func (e *NoSpaceError) Is(target error) bool { return target == ErrNoSpace }

// fullDisk wraps an ENOSPC from a write or sync so that it matches
// ErrNoSpace, keeping the system's message unchanged.
type fullDisk struct{ err error }

func (e fullDisk) Error() string   { return e.err.Error() }
func (e fullDisk) Unwrap() []error { return []error{ErrNoSpace, e.err} }

// noSpace marks err as a full disk if it is one.
func noSpace(err error) error {
	if err != nil && errors.Is(err, syscall.ENOSPC) && !errors.Is(err, ErrNoSpace) {
		return fullDisk{err}
	}
	return err
}
