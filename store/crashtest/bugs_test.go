package crashtest

import (
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/bulkget/bulkget/store"
)

// A planted bug is a file system between the store and the Recorder that
// breaks one rule of the order, so the Recorder logs what a bulkget with
// that bug would do.
type bug int

const (
	// saveBeforeSync: a checkpoint saves the state without the
	// fdatasync of the .part before it.
	saveBeforeSync bug = iota + 1
	// renameBeforeSync: a commit renames the .part to its final name
	// before the fsync that makes its data durable.
	renameBeforeSync
	// noFolderSync: no folder is synced after a rename.
	noFolderSync
)

func (b bug) String() string {
	return [...]string{saveBeforeSync: "state saved before its data is synced",
		renameBeforeSync: "rename before fsync", noFolderSync: "no folder sync after a rename"}[b]
}

type buggyFS struct {
	store.FS
	bug bug

	mu   sync.Mutex
	owed map[string]*buggyFile // renameBeforeSync: files whose fsync waits for their rename
}

func (b *buggyFS) wrap(f store.File, name string, err error) (store.File, error) {
	if err != nil {
		return nil, err
	}
	return &buggyFile{File: f, fs: b, name: name}, nil
}

func (b *buggyFS) Create(name string) (store.File, error) {
	f, err := b.FS.Create(name)
	return b.wrap(f, name, err)
}

func (b *buggyFS) OpenFile(name string, flag int, perm fs.FileMode) (store.File, error) {
	f, err := b.FS.OpenFile(name, flag, perm)
	return b.wrap(f, name, err)
}

func (b *buggyFS) CreateUnnamed() (store.File, error) {
	f, err := b.FS.CreateUnnamed()
	return b.wrap(f, "", err)
}

func (b *buggyFS) Link(f store.File, name string) error {
	return b.FS.Link(f.(*buggyFile).File, name)
}

func (b *buggyFS) Rename(from, to string) error {
	if err := b.FS.Rename(from, to); err != nil {
		return err
	}
	b.mu.Lock()
	f := b.owed[from]
	delete(b.owed, from)
	b.mu.Unlock()
	if f != nil {
		f.File.Sync() // the fsync the commit made, too late
		f.File.Close()
	}
	return nil
}

func (b *buggyFS) SyncDir(dir string) error {
	if b.bug == noFolderSync {
		return nil
	}
	return b.FS.SyncDir(dir)
}

type buggyFile struct {
	store.File
	fs   *buggyFS
	name string
	owe  bool
}

func (f *buggyFile) Datasync() error {
	if f.fs.bug == saveBeforeSync {
		return nil
	}
	return f.File.Datasync()
}

func (f *buggyFile) Sync() error {
	if f.fs.bug == renameBeforeSync && strings.HasSuffix(f.name, store.PartSuffix) {
		f.owe = true
		return nil
	}
	return f.File.Sync()
}

func (f *buggyFile) Close() error {
	if f.owe {
		f.fs.mu.Lock()
		if f.fs.owed == nil {
			f.fs.owed = map[string]*buggyFile{}
		}
		f.fs.owed[f.name] = f
		f.fs.mu.Unlock()
		return nil
	}
	return f.File.Close()
}

// The checker sees: each planted bug is found in the crash states of a
// real run, and the failure names the operation after which the power cut
// came and what it lost and kept.
func TestPlantedOrderingBugsAreFound(t *testing.T) {
	// A preallocated file, checkpointed, committed alone.
	sc := scenario{name: "planted", rate: 6 << 20, files: []listed{{name: "a.bin", size: 3<<20/2 + 1}}}
	for _, b := range []bug{saveBeforeSync, renameBeforeSync, noFolderSync} {
		t.Run(b.String(), func(t *testing.T) {
			r := record(t, sc, func(fsys store.FS) store.FS { return &buggyFS{FS: fsys, bug: b} })
			m := NewModel(r.rec.Ops(), r.rec.Base())
			rng := rand.New(rand.NewPCG(uint64(b), 30))
			parent := t.TempDir()
			n := 0
			for k := 0; k <= m.Len(); k++ {
				if k > 0 && m.Ops()[k-1].Kind == Write {
					continue // orders show after syncs and name changes
				}
				m.Advance(k)
				for _, c := range m.States(rng, 0, false) {
					n++
					// The bugs show before any resume: a file under its
					// name that is not complete, a state that claims
					// what is not there, a file reported done that is
					// not there.
					res := r.check(m, c, filepath.Join(parent, strconv.Itoa(n)), false)
					if res.violation != "" {
						t.Logf("found after %d crash states: %s\n%s", n, res.violation, m.Describe(c))
						return
					}
				}
			}
			t.Fatalf("%v: not found in %d crash states of %d operations", b, n, m.Len())
		})
	}
}
