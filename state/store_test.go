package state

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/bulkget/bulkget/store"
)

func openRoot(t *testing.T) (*os.Root, string) {
	t.Helper()
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root, dir
}

// noTemp fails if any Save temp file is left anywhere under dir.
func noTemp(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(p, store.TempSuffix) {
			t.Errorf("temp file left behind: %s", p)
		}
		return nil
	})
}

func TestSavedStateLoadsBackPrivateAndOnlyForItsPartSize(t *testing.T) {
	root, dir := openRoot(t)
	if err := os.MkdirAll(filepath.Join(dir, "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{store.StateName("top.bin"), store.StateName("a/b.bin")} {
		t.Run(name, func(t *testing.T) {
			f := sampleFiles()["typical"]
			if err := Save(fsOf(t, root), name, f); err != nil {
				t.Fatalf("Save: %v", err)
			}
			noTemp(t, dir)
			if fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(name))); err != nil {
				t.Fatal(err)
			} else if fi.Mode().Perm()&0o077 != 0 && os.PathSeparator == '/' {
				t.Errorf("state mode %v is readable by others; URLs may hold credentials", fi.Mode())
			}
			g, err := Load(root, name, f.Size)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(f, g) {
				t.Fatalf("Load = %+v, want %+v", g, f)
			}
			_, err = Load(root, name, f.Size-1)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "size") {
				t.Fatalf("Load with other part size: %v, want ErrInvalid", err)
			}
		})
	}
}

func TestSaveReplacesTheOldState(t *testing.T) {
	root, dir := openRoot(t)
	name := store.StateName("x")
	f := sampleFiles()["typical"]
	if err := Save(fsOf(t, root), name, f); err != nil {
		t.Fatal(err)
	}
	g := *f
	g.Segments = append([]Segment(nil), f.Segments...)
	g.Segments[2].Done = 1 << 20
	g.ETag = `"new"`
	if err := Save(fsOf(t, root), name, &g); err != nil {
		t.Fatal(err)
	}
	noTemp(t, dir)
	h, err := Load(root, name, f.Size)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&g, h) {
		t.Fatalf("Load after replace = %+v, want %+v", h, &g)
	}
	// A stale temp file from a crashed Save must not get in the way.
	if err := os.WriteFile(filepath.Join(dir, name+store.TempSuffix), []byte("torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Save(fsOf(t, root), name, f); err != nil {
		t.Fatal(err)
	}
	noTemp(t, dir)
	if h, err := Load(root, name, f.Size); err != nil || !reflect.DeepEqual(f, h) {
		t.Fatalf("Load = %+v, %v", h, err)
	}
}

func TestSavingAnInvalidStateKeepsTheOldOne(t *testing.T) {
	root, dir := openRoot(t)
	name := store.StateName("x")
	f := sampleFiles()["one byte done"]
	if err := Save(fsOf(t, root), name, f); err != nil {
		t.Fatal(err)
	}
	bad := &File{Size: 1, Segments: []Segment{{0, 1, 2}}}
	if err := Save(fsOf(t, root), name, bad); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Save(invalid) = %v, want ErrInvalid", err)
	}
	noTemp(t, dir)
	if g, err := Load(root, name, 1); err != nil || !reflect.DeepEqual(f, g) {
		t.Fatalf("old state damaged: %+v, %v", g, err)
	}
}

func TestFailedSaveLeavesNoTemporaryFile(t *testing.T) {
	root, dir := openRoot(t)
	// A non-empty directory where the state should go makes the rename
	// fail after the temp file has been written and synced.
	name := "blocked.part.state"
	if err := os.MkdirAll(filepath.Join(dir, name, "child"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Save(fsOf(t, root), name, sampleFiles()["typical"]); err == nil {
		t.Fatal("Save over a non-empty directory succeeded")
	}
	noTemp(t, dir)
}

func TestSaveIntoAMissingFolderFailsWithNotExist(t *testing.T) {
	root, dir := openRoot(t)
	if err := Save(fsOf(t, root), "nope/x.part.state", sampleFiles()["typical"]); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Save into missing folder: %v", err)
	}
	noTemp(t, dir)
}

func TestSaveCannotLeaveTheRoot(t *testing.T) {
	root, _ := openRoot(t)
	if err := Save(fsOf(t, root), "../escape.state", sampleFiles()["typical"]); err == nil {
		t.Fatal("Save outside root succeeded")
	}
}

func TestMissingStateIsNotExistNotInvalid(t *testing.T) {
	root, _ := openRoot(t)
	_, err := Load(root, "missing.part.state", 10)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load(missing) = %v, want fs.ErrNotExist", err)
	}
	if errors.Is(err, ErrInvalid) {
		t.Fatalf("missing state reported as invalid: %v", err)
	}
}

func TestCorruptStateIsInvalid(t *testing.T) {
	root, dir := openRoot(t)
	good := mustEncode(t, sampleFiles()["typical"])
	torn := good[:len(good)/2]
	zeros := make([]byte, len(good))
	for name, content := range map[string][]byte{
		"empty": nil, "torn": torn, "zeros": zeros, "text": []byte("hello\n"),
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
		if f, err := Load(root, name, 10<<20); !errors.Is(err, ErrInvalid) || f != nil {
			t.Errorf("%s: Load = %v, %v; want ErrInvalid", name, f, err)
		}
	}
}

func TestOversizedStateIsInvalid(t *testing.T) {
	root, dir := openRoot(t)
	p := filepath.Join(dir, "big")
	fh, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse, so the test stays cheap on disk.
	if err := fh.Truncate(int64(maxEncoded) + 1); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	if _, err := Load(root, "big", 10); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Load(oversized) = %v, want ErrInvalid", err)
	}
}

func TestRemoveDeletesTheStateAndItsTemporaryAndToleratesNone(t *testing.T) {
	root, dir := openRoot(t)
	if err := os.Mkdir(filepath.Join(dir, "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	name := store.StateName("a/b.bin")
	if err := Save(fsOf(t, root), name, sampleFiles()["typical"]); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a", "b.bin.part.state"+store.TempSuffix), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Remove(fsOf(t, root), name); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := Load(root, name, 10<<20); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load after Remove = %v, want fs.ErrNotExist", err)
	}
	noTemp(t, dir)
	if err := Remove(fsOf(t, root), name); err != nil {
		t.Fatalf("Remove(missing) = %v", err)
	}
}

// fsOf is the real file system of root, closed when the test ends.
func fsOf(t *testing.T, root *os.Root) store.FS {
	t.Helper()
	o := store.NewOS(root)
	t.Cleanup(func() { o.Close() })
	return o
}

// refusingFS is the real file system whose folder syncs fail with err.
type refusingFS struct {
	store.FS
	err error
}

func (r refusingFS) SyncDir(string) error { return &os.PathError{Op: "sync", Path: ".", Err: r.err} }

// Save has the folder sync of a commit (store.SyncDir): where the file
// system cannot sync a folder the state is saved all the same, where the
// sync fails Save says so.
func TestSaveWhereFolderSyncsAreRefusedOrFail(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("every folder sync is refused on Windows")
	}
	root, _ := openRoot(t)
	f := sampleFiles()["typical"]
	if err := Save(refusingFS{fsOf(t, root), syscall.EINVAL}, "a.part.state", f); err != nil {
		t.Fatalf("Save where folder syncs are refused: %v", err)
	}
	if err := Save(refusingFS{fsOf(t, root), syscall.EIO}, "a.part.state", f); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Save where the folder sync fails: %v", err)
	}
}
