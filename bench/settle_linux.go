package bench

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// Settle writes back everything dirty on the filesystem holding dir before
// a run starts. A tool that syncs (bulkget does, per round of files) would
// otherwise pay for writing back what came before it: the previous tool's
// data, the inodes its verification touched, the blocks freed by removing
// its large files. Which tool runs after which would then decide a share of
// the figures.
func Settle(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	defer d.Close()
	unix.Syncfs(int(d.Fd()))
}

// openToCheck opens a downloaded file for verification without updating
// its access time: under relatime the first read after a write does, which
// dirties every inode the run created, to be written back at someone
// else's expense. O_NOATIME is refused (EPERM) on a file owned by another
// user; such a file is opened the ordinary way.
func openToCheck(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOATIME, 0)
	if errors.Is(err, unix.EPERM) {
		return os.Open(path)
	}
	return f, err
}
