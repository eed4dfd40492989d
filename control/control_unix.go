//go:build unix

package control

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// Supported says whether this platform has the control socket.
const Supported = true

// shortDir holds the sockets of folders whose own path is too long.
func shortDir() string {
	return filepath.Join("/tmp", "bulkget-"+strconv.Itoa(os.Getuid()))
}

// privateDir makes sure p is a folder of ours that no one else may enter:
// in a shared /tmp another user could have made it first.
func privateDir(p string) error {
	if err := os.Mkdir(p, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("control: %w", err)
	}
	fi, err := os.Lstat(p)
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != os.Getuid() || fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("control: %s is not a private folder of this user", p)
	}
	return nil
}
