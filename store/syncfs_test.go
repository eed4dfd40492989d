package store

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSyncFSTrustedFromLinux58(t *testing.T) {
	for release, want := range map[string]bool{
		"5.8.0":                  true,
		"5.15.0-91-generic":      true,
		"6.1.0-18-amd64":         true,
		"10.0":                   true,
		"5.7.19":                 false,
		"5.4.0-150-generic":      false,
		"4.19.0-25-amd64":        false,
		"3.10.0-1160.el7.x86_64": false,
		"":                       false,
		"linux":                  false,
		"5":                      false,
	} {
		if got := syncFSReportsErrors(release); got != (want && haveSyncFS) {
			t.Errorf("syncFSReportsErrors(%q) = %v, want %v", release, got, want && haveSyncFS)
		}
	}
}

// commitSmall writes a small file and commits it the way the scheduler
// does: in a batch where the part is batched, alone otherwise.
func commitSmall(t *testing.T, d *Dir, name string) (batched bool) {
	t.Helper()
	p, err := d.Create(name, 3, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.WriteAt([]byte("abc"), 0); err != nil {
		t.Fatal(err)
	}
	if !p.Batched(3) {
		if err := p.Commit(); err != nil {
			t.Fatal(err)
		}
		return false
	}
	done := make(chan error, 1)
	if err := p.CommitAsync(func(err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the batch never committed")
	}
	return true
}

// Where syncfs would not report a failed write-back (Linux before 5.8),
// no file relies on it: each is committed with a sync of its own. Where it
// does, small files share one.
func TestOldKernelsCommitEachFileWithItsOwnSync(t *testing.T) {
	for _, c := range []struct {
		release string
		batched bool
	}{
		{"5.4.0-150-generic", false},
		{"6.8.0", haveSyncFS},
	} {
		dir := t.TempDir()
		root, err := os.OpenRoot(dir)
		if err != nil {
			t.Fatal(err)
		}
		o := NewOS(root)
		d := newDir(o, dir, Options{}, c.release)
		got := commitSmall(t, d, "x.bin")
		d.Close()
		o.Close()
		root.Close()
		if got != c.batched {
			t.Errorf("kernel %s: batched %v, want %v", c.release, got, c.batched)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "x.bin")); err != nil || string(b) != "abc" {
			t.Errorf("kernel %s: x.bin holds %q, %v", c.release, b, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "x.bin"+PartSuffix)); err == nil {
			t.Errorf("kernel %s: the .part is still there", c.release)
		}
	}
}
