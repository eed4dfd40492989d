package crashtest

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
)

// Found by the power-cut test: a file in folders the run created was
// committed (fsync, rename, fsync of its folder) and reported done, but
// the new folders' own names were never synced into their parents, so a
// power cut right after the report could lose the folders and the file
// with them. The crash state: right after the report, everything pending
// lost (mkdir new, mkdir new/dir and the record's setxattr).
func TestFileInNewFoldersSurvivesAPowerCutOnceDone(t *testing.T) {
	sc := scenarios[slices.IndexFunc(scenarios, func(s scenario) bool { return s.name == "a file in new folders" })]
	r := record(t, sc, nil)
	m := NewModel(r.rec.Ops(), r.rec.Base())
	done := slices.IndexFunc(m.Ops(), func(o Op) bool { return o.Kind == Note })
	if done < 0 {
		t.Fatal("the run reported nothing done")
	}
	m.Advance(done + 1)
	c := m.States(rand.New(rand.NewPCG(1, 2)), 0, false)[0] // all lost
	if res := r.check(m, c, filepath.Join(t.TempDir(), "s"), true); res.violation != "" {
		t.Fatalf("%s\n%s", res.violation, m.Describe(c))
	}
}
