package scheduler

import (
	"os"
	"strings"
)

// topDir creates and renames files that sit directly in the output folder
// through a descriptor of that folder (see topdir_linux.go). Names in
// subfolders, and platforms without the system calls, go through os.Root.
type topDir struct {
	root *os.Root
	dir  *os.File // the output folder; nil: always os.Root
	fd   int
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

// rename gives from's file the name to, replacing what was there.
func (d *topDir) rename(from, to string) error {
	if d.direct(from) && d.direct(to) {
		return renameAt(d.fd, from, to)
	}
	return d.root.Rename(from, to)
}
