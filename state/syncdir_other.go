//go:build !unix

package state

import "os"

// syncDir is best effort on non-Unix systems. Windows cannot flush a
// directory handle opened for reading (FlushFileBuffers fails with access
// denied). Ignoring that is safe for Save: a rename that is lost in a power
// cut leaves the previous state, which is complete and never claims more
// than the new one. It only weakens the guarantee that a returned Save is
// durable.
func syncDir(root *os.Root, dir string) error {
	d, err := root.Open(dir)
	if err != nil {
		return nil
	}
	_ = d.Sync()
	_ = d.Close()
	return nil
}
