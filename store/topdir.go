package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync/atomic"
)

// topDir creates and renames files that sit directly in the output folder
// through a descriptor of that folder (see topdir_linux.go). Names in
// subfolders, and platforms without the system calls, go through os.Root.
type topDir struct {
	root *os.Root
	dir  *os.File // the output folder; nil: always os.Root
	fd   int
	// handle is the output folder where dir is not used (no openat
	// here), for syncfs; nil otherwise.
	handle *os.File
	// noUnnamed is set once unnamed files are known not to work here
	// (no /proc, or a filesystem without O_TMPFILE).
	noUnnamed atomic.Bool
	// linkViaProc is set once the kernel refused to link a descriptor
	// directly (see linkAt).
	linkViaProc atomic.Bool
}

func (d *topDir) direct(name string) bool {
	return d.dir != nil && !strings.Contains(name, "/")
}

// create makes name with O_EXCL, for reading and writing.
func (d *topDir) create(name string) (*os.File, error) {
	if d.direct(name) {
		return createAt(d.fd, name)
	}
	return d.root.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
}

// createUnnamed makes a file without a name in the output folder, to be
// named by link; an error matching errors.ErrUnsupported means that is not
// possible here, and then the caller creates a .part instead.
func (d *topDir) createUnnamed() (*os.File, error) {
	if d.dir == nil || d.noUnnamed.Load() {
		return nil, errors.ErrUnsupported
	}
	f, err := createUnnamedAt(d.fd)
	if err != nil {
		// The .part path does not depend on it. Only a filesystem (or
		// kernel) without O_TMPFILE turns it off for the run; a passing
		// failure (out of descriptors, say) costs this one file the
		// speed-up, and the .part path will report it if it persists.
		if unnamedUnsupported(err) {
			d.noUnnamed.Store(true)
			return nil, fmt.Errorf("%w: %w", errors.ErrUnsupported, err)
		}
		return nil, err
	}
	return f, nil
}

// link names an unnamed file. If the name is taken (a file that appeared
// since the run looked), the file is linked as name.part and renamed over
// it, as a .part would have been.
func (d *topDir) link(f *os.File, name string) error {
	err := linkAt(f, d.fd, name, &d.linkViaProc)
	if err == nil || !errors.Is(err, fs.ErrExist) {
		return err
	}
	if err := linkAt(f, d.fd, PartName(name), &d.linkViaProc); err != nil {
		return err
	}
	return renameAt(d.fd, PartName(name), name)
}

// rename gives from's file the name to, replacing what was there.
func (d *topDir) rename(from, to string) error {
	if d.direct(from) && d.direct(to) {
		return renameAt(d.fd, from, to)
	}
	return d.root.Rename(from, to)
}
