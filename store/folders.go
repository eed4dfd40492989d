package store

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"sync"
)

// folders remembers, for each folder of the output tree that this run has
// used, whether it was missing or empty when first looked at, and whether
// it exists now.
//
// The run holds the output folder's lock, so nobody else writes there while
// it runs: a file whose folder was empty when the run first looked cannot
// have a final file, a .part or a state from an earlier run. Skipping the
// lookups for those (five per file) is most of what a list of thousands of
// tiny files costs a first run on top of the downloads themselves.
type folders struct {
	mu    sync.Mutex
	known map[string]*folder
}

type folder struct {
	looked bool // fresh is known
	fresh  bool // missing or empty when first looked at
	exists bool // known to exist (made or found)
}

func (d *folders) get(dir string) *folder {
	if d.known == nil {
		d.known = map[string]*folder{}
	}
	fo := d.known[dir]
	if fo == nil {
		fo = &folder{}
		d.known[dir] = fo
	}
	return fo
}

// runFiles are what a run puts at the top of its output folder before
// any download: they leave the folder fresh.
var runFiles = map[string]bool{LockName: true, SocketName: true, LogName: true, LogName + ".1": true}

// fresh reports whether the folder of name was missing or empty when this
// run first asked; it must be asked before the run creates anything there.
// When the folder cannot be read it answers false: lookups are always safe.
func (d *folders) fresh(root *os.Root, name string) bool {
	dir := path.Dir(name)
	d.mu.Lock()
	defer d.mu.Unlock()
	fo := d.get(dir)
	if fo.looked {
		return fo.fresh
	}
	fo.looked = true
	if fo.exists {
		return false // made by this run before anyone looked: be careful
	}
	h, err := root.Open(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fo.fresh = true
	case err == nil:
		fo.exists = true
		names, err := h.Readdirnames(len(runFiles) + 1)
		h.Close()
		if err == nil || errors.Is(err, io.EOF) {
			fo.fresh = true
			for _, n := range names {
				fo.fresh = fo.fresh && dir == "." && runFiles[n]
			}
		}
	}
	return fo.fresh
}

// mkdirAll creates the folder of name inside root once per run, and makes
// the folders it created durable: a new folder's name lives in its parent,
// and until the parent is synced a power cut may take the folder away with
// every file in it, however durably each was committed there.
func (d *folders) mkdirAll(fsys FS, name string) error {
	dir := path.Dir(name)
	if dir == "." {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	fo := d.get(dir)
	if fo.exists {
		return nil
	}
	var made []string // innermost first
	for p := dir; p != "."; p = path.Dir(p) {
		if _, err := fsys.Root().Lstat(p); err == nil {
			break
		}
		made = append(made, p)
	}
	if err := fsys.MkdirAll(dir); err != nil {
		return err
	}
	for _, p := range made {
		if err := SyncDir(fsys, path.Dir(p)); err != nil {
			return err
		}
	}
	fo.exists = true
	return nil
}
