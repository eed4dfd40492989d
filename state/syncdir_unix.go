//go:build unix

package state

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// syncDir fsyncs folder dir inside root so that entries created, renamed or
// removed in it survive a power cut.
func syncDir(root *os.Root, dir string) error {
	d, err := root.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	// Some filesystems (several FUSE and network filesystems) cannot fsync a
	// directory at all and say so with EINVAL or ENOTSUP. Failing every Save
	// there would make downloads impossible for no gain: on such
	// filesystems nothing stronger is available.
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOTSUP) {
		return nil
	}
	return err
}
