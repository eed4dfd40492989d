package store

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// refusingFS is the real file system, but for folder syncs, which fail
// with err: a FUSE or network file system that cannot sync a folder
// (EINVAL, ENOTSUP), or a failing disk (EIO).
type refusingFS struct {
	*OS
	err error
}

func (r refusingFS) SyncDir(string) error { return &os.PathError{Op: "sync", Path: ".", Err: r.err} }

// A file system that cannot sync a folder at all is taken at its word: a
// commit there succeeds (nothing stronger is to be had); one that fails to
// sync it fails the commit, saying which folder.
func TestFolderSyncRefusedIsNoErrorButFailureIs(t *testing.T) {
	for _, c := range []struct {
		err  error
		fail bool
	}{
		{syscall.EINVAL, false},
		{syscall.ENOTSUP, false},
		{syscall.EIO, true},
	} {
		t.Run(c.err.Error(), func(t *testing.T) {
			if isWindows {
				t.Skip("every folder sync is refused on Windows")
			}
			dir := t.TempDir()
			root, err := os.OpenRoot(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			o := NewOS(root)
			defer o.Close()
			fsys := refusingFS{o, c.err}
			if err := SyncDir(fsys, "."); (err != nil) != c.fail {
				t.Fatalf("SyncDir = %v", err)
			}
			d := New(fsys, dir, Options{})
			defer d.Close()
			p, err := d.Create("big.bin", smallFile+1, false, false)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.WriteAt(make([]byte, smallFile+1), 0); err != nil {
				t.Fatal(err)
			}
			err = p.Commit()
			if c.fail {
				if !errors.Is(err, c.err) {
					t.Fatalf("Commit with a failing folder sync = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Commit where folder syncs are refused = %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "big.bin")); err != nil {
				t.Error(err)
			}
		})
	}
}
