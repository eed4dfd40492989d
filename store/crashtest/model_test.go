package crashtest

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// The model's rules on a log written by hand: unsynced writes are lost or
// kept, piece by piece at 4 KiB; a sync makes them durable; a rename is
// kept or not until its folder is synced, and only kept after.
func TestModelKeepsWhatWasSyncedAndEitherOutcomeOfTheRest(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 2*Block+10)
	ops := []Op{
		{Kind: Create, Inode: 1, Name: "a.part", Path: "a.part"},
		{Kind: Write, Inode: 1, Path: "a.part", Off: 100, Data: data}, // 3 pieces: torn at 4096 and 8192
		{Kind: Datasync, Inode: 1, Path: "a.part"},
		{Kind: Write, Inode: 1, Path: "a.part", Off: 0, Data: []byte("head")},
		{Kind: Rename, Name: "a.part", To: "a"},
		{Kind: SyncDir, Name: "."},
	}
	for i := range ops {
		ops[i].Seq = i
	}
	m := NewModel(ops, Snapshot{})
	rng := rand.New(rand.NewPCG(1, 1))
	sizes := func(at int) map[string]int64 {
		m.Advance(at)
		got := map[string]int64{}
		for _, c := range m.States(rng, 0, true) {
			dir := t.TempDir()
			if err := m.Materialize(c, dir); err != nil {
				t.Fatal(err)
			}
			for _, n := range []string{"a.part", "a"} {
				if b, err := os.ReadFile(filepath.Join(dir, n)); err == nil {
					got[n+"="+string(b[:min(4, len(b))])] = int64(len(b))
				}
			}
		}
		return got
	}
	m.Advance(2)
	if p := m.Pending(); p != 4 { // the create and three pieces
		t.Errorf("before the sync %d units pending, want 4", p)
	}
	// After the datasync: the create still pending (no folder sync), the
	// data durable; the second write pending; then the rename.
	got := sizes(5)
	for _, want := range []string{"a.part=\x00\x00\x00\x00", "a.part=head", "a=\x00\x00\x00\x00", "a=head"} {
		if _, ok := got[want]; !ok {
			t.Errorf("no crash state holds %q before the folder sync; got %v", want, got)
		}
	}
	// After the folder sync only the renamed file remains, with or
	// without the unsynced head.
	got = sizes(6)
	if len(got) != 2 || got["a=head"] != int64(100+len(data)) || got["a=\x00\x00\x00\x00"] != int64(100+len(data)) {
		t.Errorf("after the folder sync the states hold %v", got)
	}
}
