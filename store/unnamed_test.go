package store

import (
	"os"
	"path/filepath"
	"testing"
)

// Small files in a fresh folder are written without a name and named only
// when complete and synced: while one is written, neither its .part nor its
// final name exists. Where the caller cannot promise a fresh folder, and
// for larger files, they go through name.part. Both end with every byte.
func TestSmallFilesInFreshFolderHaveNoNameUntilCommitted(t *testing.T) {
	if !haveTopDir || !syncFSReportsErrors(kernelRelease()) || !unnamedPossible() {
		t.Skip("no unnamed files here")
	}
	dir := t.TempDir()
	if !canCreateUnnamed(t, dir) {
		t.Skip("this filesystem has no O_TMPFILE")
	}
	d := openDir(t, dir, Options{Connections: 4, Finalizing: 16}, nil)
	for _, c := range []struct {
		name  string
		size  int64
		fresh bool
		named bool // a .part exists while it is written
	}{
		{"fresh.bin", unnamedMax, true, false},
		{"old.bin", unnamedMax, false, true},
		{"big.bin", unnamedMax + 1, true, true},
		{"sub/in.bin", 10, true, true}, // only directly in the folder
	} {
		want := randomBytes(int(c.size), 6)
		p, err := d.Create(c.name, c.size, c.fresh, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.WriteAt(want, 0); err != nil {
			t.Fatal(err)
		}
		var there []string
		for _, n := range []string{c.name, c.name + PartSuffix} {
			if _, err := os.Lstat(filepath.Join(dir, n)); err == nil {
				there = append(there, n)
			}
		}
		if c.named && (len(there) != 1 || there[0] != c.name+PartSuffix) || !c.named && len(there) != 0 {
			t.Errorf("%s: while written the folder had %v (unnamed %v)", c.name, there, p.Unnamed())
		}
		done := make(chan error, 1)
		if !p.Batched(c.size) {
			done <- p.Commit()
		} else if err := p.CommitAsync(func(err error) { done <- err }); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		sameFile(t, filepath.Join(dir, c.name), want)
	}
}
