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

// A checkpoint interrupted mid-save: a power cut after each call of one
// state save in the middle of a run (create the temp file, write it, fsync
// it, rename it over the state, fsync the folder) resumes every file right.
func TestCheckpointInterruptedMidSaveResumes(t *testing.T) {
	sc := scenario{name: "mid-save", rate: 256 << 10, files: []listed{{name: "a.bin", size: 3<<20/2 + 1}}}
	r := record(t, sc, nil)
	m := NewModel(r.rec.Ops(), r.rec.Base())
	ops := m.Ops()
	var saves []int // where each save's temp file is created
	for i, o := range ops {
		if o.Kind == Create && o.By == "state.save" {
			saves = append(saves, i)
		}
	}
	if len(saves) < 3 {
		t.Fatalf("the run saved its state %d times; want a save in the middle", len(saves))
	}
	start := saves[len(saves)/2]
	rng := rand.New(rand.NewPCG(3, 4))
	n := 0
	calls := 0
	for k := start; k < len(ops) && calls < 5; k++ {
		if ops[k].By != "state.save" {
			continue // the run's other calls, between the save's
		}
		calls++
		m.Advance(k + 1)
		for _, c := range m.States(rng, 3, false) {
			n++
			if res := r.check(m, c, filepath.Join(t.TempDir(), "s"), true); res.violation != "" {
				t.Fatalf("%s\n%s", res.violation, m.Describe(c))
			}
		}
	}
	if calls < 5 || n < 5*5 {
		t.Fatalf("only %d calls and %d crash states inside the save", calls, n)
	}
}

// Found by the power-cut test (scenario "records in sidecars"): on a file
// system without extended attributes the record of a finished file is a
// sidecar, written to a temp file and renamed. A crash between the two
// left the temp file, and a later run skipped the finished file without
// ever removing it. The crash state: right after the temp file of q.bin's
// record is created, everything kept.
func TestInterruptedRecordLeavesNothingBehind(t *testing.T) {
	sc := scenarios[slices.IndexFunc(scenarios, func(s scenario) bool { return s.noAttrs })]
	r := record(t, sc, nil)
	m := NewModel(r.rec.Ops(), r.rec.Base())
	at := slices.IndexFunc(m.Ops(), func(o Op) bool { return o.Kind == Create && o.Name == "q.bin.bulkget-verified.tmp" })
	if at < 0 {
		t.Fatal("the run wrote no record sidecar for q.bin")
	}
	m.Advance(at + 1)
	c := m.States(rand.New(rand.NewPCG(1, 2)), 0, false)
	for _, c := range c[:min(2, len(c))] { // all lost, all kept
		if res := r.check(m, c, filepath.Join(t.TempDir(), "s"), true); res.violation != "" {
			t.Fatalf("%s\n%s", res.violation, m.Describe(c))
		}
	}
}
