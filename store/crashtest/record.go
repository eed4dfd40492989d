package crashtest

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/bulkget/bulkget/store"
)

// Kind is what an Op did.
type Kind int

// The operations a Recorder logs. Syncs are logged when they start (they
// cover what was logged before them), everything else once it has
// succeeded.
const (
	Write         Kind = iota + 1 // Inode, Off, Data
	Truncate                      // Inode, Size
	Allocate                      // Inode, Size
	SetAttr                       // Inode, Name (the attribute), Data
	Datasync                      // Inode: fdatasync
	Fsync                         // Inode: fsync
	Create                        // Inode, Name: a new file under a new name
	CreateUnnamed                 // Inode: a new file without a name (O_TMPFILE)
	Link                          // Inode, Name: names an unnamed file
	Rename                        // Name → To
	Remove                        // Name
	Mkdir                         // Name
	SyncDir                       // Name: fsync of the folder
	SyncFS                        // syncfs: the whole file system
	Note                          // Name: what the run reported (a file Done), not a file-system call
)

var kindNames = [...]string{Write: "write", Truncate: "truncate", Allocate: "fallocate", SetAttr: "setxattr",
	Datasync: "fdatasync", Fsync: "fsync", Create: "create", CreateUnnamed: "create O_TMPFILE", Link: "linkat",
	Rename: "rename", Remove: "unlink", Mkdir: "mkdir", SyncDir: "fsync folder", SyncFS: "syncfs", Note: "note"}

func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Op is one logged call.
type Op struct {
	Seq   int
	Kind  Kind
	Inode int    // the file, for file calls, Create, CreateUnnamed and Link
	Path  string // the name the file had when opened, for messages
	Name  string // the name created, linked, removed, renamed, synced or noted
	To    string // a rename's new name
	Off   int64
	Size  int64
	Data  []byte // what a write or setxattr wrote
	// Direct: the write went through the O_DIRECT descriptor.
	Direct bool
	// Failed: the sync returned an error, so it covers nothing.
	Failed bool
	// By is the bulkget function that made the call.
	By string
}

func (o Op) String() string {
	var s string
	switch o.Kind {
	case Write:
		d := ""
		if o.Direct {
			d = " O_DIRECT"
		}
		sum := sha256.Sum256(o.Data)
		s = fmt.Sprintf("write%s %s [%d, %d) sha256:%x…", d, o.Path, o.Off, o.Off+int64(len(o.Data)), sum[:4])
	case Truncate, Allocate:
		s = fmt.Sprintf("%v %s to %d", o.Kind, o.Path, o.Size)
	case SetAttr:
		s = fmt.Sprintf("setxattr %s %s", o.Path, o.Name)
	case Datasync, Fsync:
		s = fmt.Sprintf("%v %s", o.Kind, o.Path)
	case CreateUnnamed:
		s = fmt.Sprintf("create O_TMPFILE #%d", o.Inode)
	case Link:
		s = fmt.Sprintf("linkat #%d %s", o.Inode, o.Name)
	case Rename:
		s = fmt.Sprintf("rename %s %s", o.Name, o.To)
	case SyncFS:
		s = "syncfs"
	default:
		s = fmt.Sprintf("%v %s", o.Kind, o.Name)
	}
	if o.Failed {
		s += " (failed)"
	}
	if o.By != "" {
		s += " by " + o.By
	}
	return fmt.Sprintf("#%d %s", o.Seq, s)
}

// Recorder is a store.FS that passes every call to the file system it
// wraps and logs, in order, each call that changes what is on disk. It
// knows the folder's files by an inode number of its own, so that a write
// through one descriptor, a rename and a link of an unnamed file are
// tied to the same file.
//
// Where the wrapped file system gives no O_DIRECT descriptor (tmpfs, or
// direct I/O not worth it there), the Recorder, if asked, hands out a
// second ordinary descriptor in its place, so that the direct-I/O data
// path of the store is exercised and logged all the same.
type Recorder struct {
	inner  store.FS
	direct bool

	mu    sync.Mutex
	ops   []Op
	base  Snapshot
	names map[string]int // name → inode, as the run has made them
	next  int
}

// NewRecorder records the calls made through inner, whose folder's current
// content is taken as durable (the Snapshot Base returns). With
// emulateDirect set, OpenDirect always gives a descriptor.
func NewRecorder(inner store.FS, emulateDirect bool) (*Recorder, error) {
	r := &Recorder{inner: inner, direct: emulateDirect, names: map[string]int{}}
	base, err := snapshot(inner.Root())
	if err != nil {
		return nil, fmt.Errorf("crashtest: read the folder before the run: %w", err)
	}
	r.base = base
	for name, ino := range base.Names {
		r.names[name] = ino
		r.next = max(r.next, ino)
	}
	return r, nil
}

// Snapshot is a folder's content taken as durable: its folders, and its
// files by name, each an inode with its bytes and extended attributes.
type Snapshot struct {
	Dirs   []string
	Names  map[string]int
	Inodes map[int]*FileData
}

// FileData is one file's content.
type FileData struct {
	Data  []byte
	Attrs map[string][]byte
}

func snapshot(root *os.Root) (Snapshot, error) {
	s := Snapshot{Names: map[string]int{}, Inodes: map[int]*FileData{}}
	err := fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case p == ".":
		case d.IsDir():
			s.Dirs = append(s.Dirs, p)
		case p == store.LockName:
			// The lock is the run's, made beside the FS; every crash
			// state gets a stale one (see Materialize).
		case d.Type().IsRegular():
			b, err := root.ReadFile(p)
			if err != nil {
				return err
			}
			ino := len(s.Inodes) + 1
			s.Names[p] = ino
			s.Inodes[ino] = &FileData{Data: b, Attrs: readAttrs(root, p)}
		}
		return nil
	})
	return s, err
}

// Ops returns a copy of the log so far.
func (r *Recorder) Ops() []Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Op(nil), r.ops...)
}

// Base is the folder as it was when the recording began.
func (r *Recorder) Base() Snapshot { return r.base }

// Note logs what the run reported, name being the file concerned: the
// checker holds the run to it in every later crash state.
func (r *Recorder) Note(name string) {
	r.log(Op{Kind: Note, Name: name})
}

func (r *Recorder) log(op Op) int {
	op.By = caller()
	r.mu.Lock()
	defer r.mu.Unlock()
	op.Seq = len(r.ops)
	r.ops = append(r.ops, op)
	return op.Seq
}

func (r *Recorder) failed(seq int) {
	r.mu.Lock()
	r.ops[seq].Failed = true
	r.mu.Unlock()
}

func (r *Recorder) inode(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	ino, ok := r.names[name]
	if !ok {
		r.next++
		ino = r.next
		r.names[name] = ino
	}
	return ino
}

func (r *Recorder) newInode() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next++
	return r.next
}

// passThrough are the store's helpers that only pass a folder sync on:
// caller names who called them.
var passThrough = []string{"store.SyncDir", "store.(*groupCommit).do", "store.(*dirSyncer).sync"}

// caller names the first function outside this package on the stack: the
// bulkget code that made the call.
func caller() string {
	var pcs [16]uintptr
	n := runtime.Callers(3, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		fn := f.Function[strings.LastIndex(f.Function, "/")+1:]
		if !strings.Contains(f.Function, "/store/crashtest.") &&
			!slices.ContainsFunc(passThrough, func(p string) bool { return strings.HasPrefix(fn, p) }) {
			return fn
		}
		if !more {
			return ""
		}
	}
}

func (r *Recorder) Root() *os.Root  { return r.inner.Root() }
func (r *Recorder) HasSyncFS() bool { return r.inner.HasSyncFS() }

func (r *Recorder) Create(name string) (store.File, error) {
	f, err := r.inner.Create(name)
	if err != nil {
		return nil, err
	}
	ino := r.newInode()
	r.mu.Lock()
	r.names[name] = ino
	r.mu.Unlock()
	r.log(Op{Kind: Create, Inode: ino, Name: name, Path: name})
	return &file{r: r, f: f, ino: ino, path: name}, nil
}

func (r *Recorder) OpenFile(name string, flag int, perm fs.FileMode) (store.File, error) {
	_, statErr := r.inner.Root().Lstat(name)
	f, err := r.inner.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	var ino int
	if flag&os.O_CREATE != 0 && errors.Is(statErr, fs.ErrNotExist) {
		ino = r.newInode()
		r.mu.Lock()
		r.names[name] = ino
		r.mu.Unlock()
		r.log(Op{Kind: Create, Inode: ino, Name: name, Path: name})
	} else {
		ino = r.inode(name)
		if flag&os.O_TRUNC != 0 {
			r.log(Op{Kind: Truncate, Inode: ino, Path: name})
		}
	}
	return &file{r: r, f: f, ino: ino, path: name}, nil
}

func (r *Recorder) OpenDirect(name string) (store.File, int64) {
	f, align := r.inner.OpenDirect(name)
	if f == nil && r.direct {
		var err error
		if f, err = r.inner.OpenFile(name, os.O_WRONLY, 0); err != nil {
			return nil, 0
		}
		align = 4096
	}
	if f == nil {
		return nil, 0
	}
	return &file{r: r, f: f, ino: r.inode(name), path: name, direct: true}, align
}

func (r *Recorder) CreateUnnamed() (store.File, error) {
	f, err := r.inner.CreateUnnamed()
	if err != nil {
		return nil, err
	}
	ino := r.newInode()
	r.log(Op{Kind: CreateUnnamed, Inode: ino})
	return &file{r: r, f: f, ino: ino, path: fmt.Sprintf("(unnamed #%d)", ino)}, nil
}

func (r *Recorder) Link(f store.File, name string) error {
	rf, ok := f.(*file)
	if !ok {
		return fmt.Errorf("crashtest: link %s: not a recorded file", name)
	}
	if err := r.inner.Link(rf.f, name); err != nil {
		return err
	}
	r.mu.Lock()
	r.names[name] = rf.ino
	r.mu.Unlock()
	r.log(Op{Kind: Link, Inode: rf.ino, Name: name, Path: name})
	return nil
}

func (r *Recorder) Rename(from, to string) error {
	if err := r.inner.Rename(from, to); err != nil {
		return err
	}
	r.mu.Lock()
	if ino, ok := r.names[from]; ok {
		r.names[to] = ino
		delete(r.names, from)
	}
	r.mu.Unlock()
	r.log(Op{Kind: Rename, Name: from, To: to})
	return nil
}

func (r *Recorder) Remove(name string) error {
	if err := r.inner.Remove(name); err != nil {
		return err
	}
	r.mu.Lock()
	delete(r.names, name)
	r.mu.Unlock()
	r.log(Op{Kind: Remove, Name: name})
	return nil
}

func (r *Recorder) MkdirAll(dir string) error {
	var missing []string
	for d := dir; d != "." && d != "/" && d != ""; d = path.Dir(d) {
		if _, err := r.inner.Root().Lstat(d); err != nil {
			missing = append(missing, d)
		}
	}
	if err := r.inner.MkdirAll(dir); err != nil {
		return err
	}
	for i := len(missing) - 1; i >= 0; i-- {
		r.log(Op{Kind: Mkdir, Name: missing[i]})
	}
	return nil
}

func (r *Recorder) SyncDir(dir string) error {
	seq := r.log(Op{Kind: SyncDir, Name: dir})
	err := r.inner.SyncDir(dir)
	if err != nil {
		r.failed(seq)
	}
	return err
}

func (r *Recorder) SyncFS() error {
	seq := r.log(Op{Kind: SyncFS})
	err := r.inner.SyncFS()
	if err != nil {
		r.failed(seq)
	}
	return err
}

// file is a recorded store.File.
type file struct {
	r      *Recorder
	f      store.File
	ino    int
	path   string
	direct bool
}

func (f *file) Name() string                            { return f.f.Name() }
func (f *file) ReadAt(b []byte, off int64) (int, error) { return f.f.ReadAt(b, off) }
func (f *file) Stat() (fs.FileInfo, error)              { return f.f.Stat() }
func (f *file) Close() error                            { return f.f.Close() }

func (f *file) WriteAt(b []byte, off int64) (int, error) {
	n, err := f.f.WriteAt(b, off)
	if n > 0 {
		f.r.log(Op{Kind: Write, Inode: f.ino, Path: f.path, Off: off, Data: append([]byte(nil), b[:n]...), Direct: f.direct})
	}
	return n, err
}

func (f *file) Truncate(size int64) error {
	if err := f.f.Truncate(size); err != nil {
		return err
	}
	f.r.log(Op{Kind: Truncate, Inode: f.ino, Path: f.path, Size: size})
	return nil
}

func (f *file) Allocate(size int64) error {
	if err := f.f.Allocate(size); err != nil {
		return err
	}
	f.r.log(Op{Kind: Allocate, Inode: f.ino, Path: f.path, Size: size})
	return nil
}

func (f *file) SetAttr(name string, data []byte) error {
	if err := f.f.SetAttr(name, data); err != nil {
		return err
	}
	f.r.log(Op{Kind: SetAttr, Inode: f.ino, Path: f.path, Name: name, Data: append([]byte(nil), data...)})
	return nil
}

func (f *file) Datasync() error {
	seq := f.r.log(Op{Kind: Datasync, Inode: f.ino, Path: f.path})
	err := f.f.Datasync()
	if err != nil {
		f.r.failed(seq)
	}
	return err
}

func (f *file) Sync() error {
	seq := f.r.log(Op{Kind: Fsync, Inode: f.ino, Path: f.path})
	err := f.f.Sync()
	if err != nil {
		f.r.failed(seq)
	}
	return err
}
