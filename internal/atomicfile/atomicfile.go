// Package atomicfile replaces a file whole: a reader sees the old file or
// the new one, never a part.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with data. The temp file, named after tempPattern
// (as os.CreateTemp takes it), is made in path's folder so that the rename
// is not a copy, synced before the rename so that a crash cannot leave the
// name on empty blocks, and removed if anything fails. It is readable by
// its owner only (CreateTemp's 0600). The folder is then synced where that
// is possible; a folder that cannot be synced (Windows, some network file
// systems) is no reason to fail, since callers write reports, not data.
func Write(path string, data []byte, tempPattern string) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tempPattern)
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
