package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// FS is the file-system side of an output folder: every call by which
// bulkget changes what is on disk there goes through one, so that the
// order of writes, syncs and renames can be recorded and replayed (see
// package store/crashtest). Reads go through Root. Names are relative and
// slash-separated, confined to the folder.
//
// OS is the implementation every run uses; a recording one wraps it. An FS
// must be safe for concurrent use.
type FS interface {
	// Root is the folder, for reading only.
	Root() *os.Root
	// Create makes name, which must not exist (O_EXCL), for reading and
	// writing.
	Create(name string) (File, error)
	// OpenFile opens name with os.OpenFile's flags and mode.
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	// OpenDirect opens the existing name a second time for direct writes
	// (O_DIRECT) and returns the block size they must be aligned to, or
	// nil where direct I/O is not worth it or not supported.
	OpenDirect(name string) (File, int64)
	// CreateUnnamed makes a file without a name directly in the folder
	// (O_TMPFILE), for Link to name; an error matching
	// errors.ErrUnsupported means none can be made here.
	CreateUnnamed() (File, error)
	// Link names a file made by CreateUnnamed, replacing what name was.
	Link(f File, name string) error
	// Rename gives from's file the name to, replacing what was there.
	Rename(from, to string) error
	// Remove deletes name.
	Remove(name string) error
	// MkdirAll makes folder dir and its parents.
	MkdirAll(dir string) error
	// SyncDir makes the names created, renamed and removed in folder dir
	// durable, as fsync of the folder does. Callers use the package
	// function SyncDir, which decides what a refusal means.
	SyncDir(dir string) error
	// SyncFS makes everything written on the folder's file system durable
	// (syncfs); HasSyncFS says whether it exists here.
	SyncFS() error
	HasSyncFS() bool
}

// File is a file opened through an FS.
type File interface {
	Name() string
	WriteAt(b []byte, off int64) (int, error)
	ReadAt(b []byte, off int64) (int, error)
	Stat() (fs.FileInfo, error)
	Truncate(size int64) error
	// Allocate claims size bytes for the file (fallocate), or at least
	// extends it to size where the file system cannot.
	Allocate(size int64) error
	// Datasync makes the file's data and size durable (fdatasync).
	Datasync() error
	// Sync makes the file's data and metadata durable (fsync).
	Sync() error
	// SetAttr sets the extended attribute name; an error matching
	// ErrNoAttrs means the file system keeps none.
	SetAttr(name string, data []byte) error
	Close() error
}

// SyncDir makes the names changed in folder dir durable: the one folder
// sync of bulkget, for commits and states alike.
//
// A file system that cannot sync a folder at all (several FUSE and network
// file systems say so with EINVAL or ENOTSUP; Windows refuses to flush a
// folder) is taken at its word and SyncDir returns nil: it offers nothing
// stronger, and failing there would make downloads impossible for no
// gain. What then survives a power cut is what its own journal keeps
// (see "Durability per platform" in docs/design.md). Any other error,
// an I/O error above all, is returned, wrapped with the folder's name.
func SyncDir(fsys FS, dir string) error {
	err := fsys.SyncDir(dir)
	if err == nil || dirSyncRefused(err) {
		return nil
	}
	return fmt.Errorf("sync folder %s: %w", dir, err)
}

// OS is the output folder on the real file system. Names directly in the
// folder are created and renamed through a descriptor of it held open
// (see topdir_linux.go); others through os.Root.
type OS struct {
	top topDir
}

// NewOS returns the file system of root's folder; Close it after the run.
func NewOS(root *os.Root) *OS {
	o := &OS{top: topDir{root: root}}
	h, err := root.Open(".")
	if err != nil {
		return o // everything goes through os.Root
	}
	if haveTopDir {
		o.top.dir, o.top.fd = h, int(h.Fd())
		o.top.noUnnamed.Store(!unnamedPossible())
	} else {
		o.top.handle = h
	}
	return o
}

// Close releases the descriptor of the folder.
func (o *OS) Close() error {
	if h := o.handle(); h != nil {
		return h.Close()
	}
	return nil
}

func (o *OS) handle() *os.File {
	if o.top.dir != nil {
		return o.top.dir
	}
	return o.top.handle
}

func (o *OS) Root() *os.Root { return o.top.root }

func (o *OS) Create(name string) (File, error) {
	f, err := o.top.create(name)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (o *OS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := o.top.root.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (o *OS) OpenDirect(name string) (File, int64) {
	f, align := openDirect(o.top.root, name)
	if f == nil {
		return nil, 0
	}
	return osFile{f}, align
}

func (o *OS) CreateUnnamed() (File, error) {
	f, err := o.top.createUnnamed()
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (o *OS) Link(f File, name string) error {
	of, ok := f.(osFile)
	if !ok {
		return fmt.Errorf("link %s: not a file of this file system", name)
	}
	return o.top.link(of.File, name)
}

func (o *OS) Rename(from, to string) error { return o.top.rename(from, to) }

func (o *OS) Remove(name string) error { return o.top.root.Remove(name) }

func (o *OS) MkdirAll(dir string) error { return o.top.root.MkdirAll(dir, 0o755) }

func (o *OS) SyncDir(dir string) error {
	d, err := o.top.root.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func (o *OS) SyncFS() error {
	h := o.handle()
	if h == nil {
		return fmt.Errorf("syncfs: %w", errors.ErrUnsupported)
	}
	return syncFS(h)
}

func (o *OS) HasSyncFS() bool { return haveSyncFS && o.handle() != nil }

// osFile is an *os.File with the calls os.File lacks.
type osFile struct{ *os.File }

func (f osFile) Allocate(size int64) error { return preallocate(f.File, size) }
func (f osFile) Datasync() error           { return datasync(f.File) }
func (f osFile) SetAttr(name string, data []byte) error {
	return setAttr(f.File, name, data)
}
