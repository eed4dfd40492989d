package crashtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkget/bulkget/internal/origin"
	"github.com/bulkget/bulkget/manifest"
	"github.com/bulkget/bulkget/scheduler"
	"github.com/bulkget/bulkget/state"
	"github.com/bulkget/bulkget/store"
)

// listed is one file of a scenario.
type listed struct {
	name string
	size int64
	// old: the folder holds version 0 of it, with a record of its
	// validators, and the origin serves version 1 (--update replaces it).
	old bool
	sum bool // the list gives its SHA-256
}

// scenario is a run a power cut interrupts: the paths users hit.
type scenario struct {
	name   string
	files  []listed
	mirror bool // every file also comes from a second origin
	update bool
	// noAttrs: the file system keeps no extended attributes, so the
	// records are sidecars.
	noAttrs bool
	// rate caps each connection, so that the run lasts long enough for
	// several checkpoints.
	rate   int64
	weight int // share of the states sampled
	// takes are calls the recorded run must make, or it did not take the
	// path the scenario is for; "direct" is a write through O_DIRECT.
	takes []string
}

var scenarios = []scenario{
	{name: "large preallocated files over several connections, direct I/O", rate: 24 << 20, weight: 2,
		takes: []string{"fallocate", "direct", "fdatasync", "fsync", "fsync folder", "rename", "setxattr"},
		files: []listed{{name: "big.bin", size: 32<<20 + 12345}}},
	{name: "preallocated files over several connections, checkpointed", rate: 4 << 20, weight: 4,
		takes: []string{"fallocate", "fdatasync", "mkdir"},
		files: []listed{{name: "a.bin", size: 3<<20 + 777}, {name: "sub/b.bin", size: 2<<20 + 5, sum: true}}},
	{name: "small files, unnamed and batched, with records", rate: 0, weight: 3,
		takes: []string{"create O_TMPFILE", "linkat", "syncfs", "setxattr"},
		files: smallFiles(12)},
	{name: "--update replacing old versions", rate: 4 << 20, weight: 2, update: true,
		takes: []string{"rename", "setxattr"},
		files: []listed{{name: "u.bin", size: 2<<20 + 99, old: true, sum: false}, {name: "v.bin", size: 20000, old: true}}},
	{name: "mirrors", rate: 3 << 20, weight: 2, mirror: true,
		files: []listed{{name: "m.bin", size: 3 << 20}}},
	{name: "a file in new folders", rate: 8 << 20, weight: 1,
		files: []listed{{name: "new/dir/c.bin", size: 2 << 20}}},
	{name: "records in sidecars, without extended attributes", rate: 4 << 20, weight: 1, noAttrs: true,
		takes: []string{"rename"},
		files: []listed{{name: "r.bin", size: 2<<20 + 1, sum: true}, {name: "q.bin", size: 3000}}},
}

// noAttrsFS is a file system without extended attributes.
type noAttrsFS struct{ store.FS }

func (n noAttrsFS) OpenFile(name string, flag int, perm fs.FileMode) (store.File, error) {
	f, err := n.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return noAttrsFile{f}, nil
}

type noAttrsFile struct{ store.File }

func (noAttrsFile) SetAttr(string, []byte) error { return store.ErrNoAttrs }

func smallFiles(n int) []listed {
	fs := make([]listed, n)
	for i := range fs {
		fs[i] = listed{name: fmt.Sprintf("s%02d.bin", i), size: int64(1000 + 3000*i), sum: i%2 == 0}
	}
	fs = append(fs, listed{name: "deep/s.bin", size: 5000})
	return fs
}

// version is what the origin serves of f.
func (f listed) version() int {
	if f.old {
		return 1
	}
	return 0
}

func (f listed) content(version int) []byte {
	b := make([]byte, f.size)
	origin.Content(f.name, version, 0, b)
	return b
}

// recording is a scenario's recorded run.
type recording struct {
	sc      scenario
	rec     *Recorder
	servers []*origin.Server
	entries []manifest.Entry
	base    map[string][]byte // old versions in the folder before the run
	want    map[string][]byte // what the origin serves of each file
}

// record runs sc into a fresh folder through a Recorder, with bug (if not
// nil) between the store and the Recorder.
func record(t *testing.T, sc scenario, bug func(store.FS) store.FS) *recording {
	t.Helper()
	r := &recording{sc: sc, base: map[string][]byte{}, want: map[string][]byte{}}
	for _, f := range sc.files {
		r.want[f.name] = f.content(f.version())
	}
	n := 1
	if sc.mirror {
		n = 2
	}
	for range n {
		s := origin.New(origin.Options{PerConnRate: sc.rate})
		t.Cleanup(s.Close)
		for _, f := range sc.files {
			s.Add(f.name, f.size)
			s.SetVersion(f.name, f.version())
		}
		r.servers = append(r.servers, s)
	}
	dir := t.TempDir()
	for i, f := range sc.files {
		e := manifest.Entry{Line: i + 2, Name: f.name, URL: r.servers[0].URL(f.name), Size: -1}
		if sc.mirror {
			e.Mirrors = []string{r.servers[1].URL(f.name)}
		}
		if f.sum {
			e.SHA256 = origin.SHA256Hex(f.name, f.version(), f.size)
		}
		r.entries = append(r.entries, e)
		if f.old {
			r.base[f.name] = f.content(0)
		}
	}
	if len(r.base) > 0 {
		// The old versions come from an earlier run, which recorded them.
		prev := make([]manifest.Entry, 0, len(r.base))
		for _, s := range r.servers {
			for _, f := range sc.files {
				s.SetVersion(f.name, 0)
			}
		}
		for _, e := range r.entries {
			if _, ok := r.base[e.Name]; ok {
				e.SHA256 = ""
				prev = append(prev, e)
			}
		}
		if sum, err := scheduler.Run(context.Background(), prev, scheduler.Options{Dir: dir}); err != nil || len(sum.Failed) > 0 {
			t.Fatalf("the earlier run: %v %v", err, sum.Failed)
		}
		for _, s := range r.servers {
			for _, f := range sc.files {
				s.SetVersion(f.name, f.version())
			}
		}
	}
	var rec atomic.Pointer[Recorder]
	var inner *store.OS
	opts := runOptions(dir, sc)
	opts.CheckpointInterval = 5 * time.Millisecond
	opts.Reporter = scheduler.ReporterFunc(func(e scheduler.Event) {
		if e.Kind == scheduler.Done {
			rec.Load().Note(e.Name)
		}
	})
	sum, err := scheduler.RunOn(context.Background(), r.entries, opts, func(root *os.Root) store.FS {
		inner = store.NewOS(root)
		rc, err := NewRecorder(inner, true)
		if err != nil {
			t.Fatal(err)
		}
		rec.Store(rc)
		var fsys store.FS = rc
		if sc.noAttrs {
			fsys = noAttrsFS{fsys}
		}
		if bug != nil {
			return bug(fsys)
		}
		return fsys
	})
	if inner != nil {
		inner.Close()
	}
	if err != nil || len(sum.Failed) > 0 {
		t.Fatalf("the recorded run: %v %v", err, sum.Failed)
	}
	r.rec = rec.Load()
	for _, s := range r.servers {
		// The resumed runs need no cap: only the recorded one had to
		// last long enough for several checkpoints.
		s.SetOptions(func(o *origin.Options) { o.PerConnRate = 0 })
	}
	return r
}

func runOptions(dir string, sc scenario) scheduler.Options {
	return scheduler.Options{Dir: dir, Connections: 4, MinSegment: 256 << 10, Update: sc.update,
		Backoff: scheduler.Backoff{Base: time.Millisecond, Max: 10 * time.Millisecond}}
}

// result is what checking one crash state found.
type result struct {
	violation string // "" when the state resumed correctly
	unsynced  int64  // bytes of the listed files written and not synced
	// sinceCheckpoint: bytes of the listed files written since their last
	// durable checkpoint (all of them for a file without one), not under
	// a final name: what invariant 3 allows a resume to fetch again.
	sinceCheckpoint int64
	refetched       int64 // bytes written before the crash and fetched again
}

// check materialises crash c of m into dir and holds it to the invariants:
// before resuming (every file under its final name is byte-exact, every
// file reported done is there, no state claims a wrong byte) and, with
// resume set, after a real run on it (the files with a durable checkpoint
// are not started over, no more is fetched again than arrived since the
// last durable checkpoint, every file ends right, nothing is left behind).
func (r *recording) check(m *Model, c Crash, dir string, resume bool) result {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return result{violation: err.Error()}
	}
	defer os.RemoveAll(dir)
	if err := m.Materialize(c, dir); err != nil {
		return result{violation: "materialise: " + err.Error()}
	}
	fig := m.Figures()
	res := result{unsynced: fig.Unsynced}
	bad := func(format string, args ...any) result {
		res.violation = fmt.Sprintf(format, args...)
		return res
	}
	final := map[string]bool{}
	durable := map[string]int64{} // claims of the states no power cut can lose
	for _, f := range r.sc.files {
		got, err := os.ReadFile(filepath.Join(dir, f.name))
		switch {
		case err == nil:
			// final: the version the run fetches; an old version under
			// the name is complete too, and is to be replaced.
			final[f.name] = bytes.Equal(got, r.want[f.name])
			if !final[f.name] && !(f.old && bytes.Equal(got, r.base[f.name])) {
				return bad("%s is under its final name but not a complete version of it (%d bytes)", f.name, len(got))
			}
		case !errors.Is(err, fs.ErrNotExist):
			return bad("read %s: %v", f.name, err)
		}
		if pi, err := os.Stat(filepath.Join(dir, store.PartName(f.name))); err == nil {
			root, err := os.OpenRoot(dir)
			if err != nil {
				return bad("%v", err)
			}
			st, err := state.Load(root, store.StateName(f.name), pi.Size())
			root.Close()
			if err == nil {
				part, _ := os.ReadFile(filepath.Join(dir, store.PartName(f.name)))
				want := r.want[f.name]
				for _, sg := range st.Segments {
					if !bytes.Equal(part[sg.Start:sg.Start+sg.Done], want[sg.Start:sg.Start+sg.Done]) {
						return bad("the state of %s claims [%d, %d), which its .part does not hold", f.name, sg.Start, sg.Start+sg.Done)
					}
				}
			}
		}
		if b, ok := m.Durable(store.StateName(f.name)); ok {
			if p, ok := m.Durable(store.PartName(f.name)); ok {
				if st, err := state.Decode(b); err == nil && st.Size == int64(len(p)) {
					durable[f.name] = st.DoneBytes()
				}
			}
		}
	}
	for _, n := range m.Noted() {
		if !final[n] {
			return bad("%s was reported done, and is not under its name", n)
		}
	}
	if !resume {
		return res
	}
	var mu sync.Mutex
	resumed := map[string]int64{}
	opts := runOptions(dir, r.sc)
	opts.Reporter = scheduler.ReporterFunc(func(e scheduler.Event) {
		if e.Kind == scheduler.Resumed {
			mu.Lock()
			resumed[e.Name] = e.Bytes
			mu.Unlock()
		}
	})
	var closeOS func() error
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sum, err := scheduler.RunOn(ctx, r.entries, opts, func(root *os.Root) store.FS {
		// The same file system as the recorded run's, without a record.
		o := store.NewOS(root)
		closeOS = o.Close
		if r.sc.noAttrs {
			return noAttrsFS{o}
		}
		return o
	})
	if closeOS != nil {
		closeOS()
	}
	if err != nil {
		return bad("the resumed run did not start: %v", err)
	}
	if len(sum.Failed) > 0 {
		return bad("the resumed run failed %s: %v", sum.Failed[0].Name, sum.Failed[0].Err)
	}
	for _, f := range r.sc.files {
		if d := durable[f.name]; d > 0 && !final[f.name] && resumed[f.name] < d {
			return bad("%s was started over (resumed from %d bytes), though a checkpoint of %d bytes was durable", f.name, resumed[f.name], d)
		}
	}
	var need int64
	for _, f := range r.sc.files {
		got, err := os.ReadFile(filepath.Join(dir, f.name))
		if err != nil || !bytes.Equal(got, r.want[f.name]) {
			return bad("after the resumed run %s is not right (%v)", f.name, err)
		}
		if !final[f.name] {
			need += f.size - min(f.size, fig.Written[f.name])
			res.sinceCheckpoint += max(0, min(f.size, fig.Written[f.name])-durable[f.name])
		}
	}
	res.refetched = max(0, sum.Bytes-need)
	// Invariant 3: a resume fetches again at most what arrived since the
	// last checkpoint (a read's worth of slack for a transfer cut mid-way).
	if res.refetched > res.sinceCheckpoint+64<<10 {
		return bad("the resumed run fetched again %d bytes the crashed run had written, more than the %d that arrived since the last durable checkpoint",
			res.refetched, res.sinceCheckpoint)
	}
	var left []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			rel = filepath.ToSlash(rel)
			if !slices.ContainsFunc(r.sc.files, func(f listed) bool { return f.name == rel || store.VerifiedName(f.name) == rel }) {
				left = append(left, rel)
			}
		}
		return nil
	})
	if len(left) > 0 {
		return bad("the resumed run left %v behind", left)
	}
	return res
}

// budget is how many crash states the test checks: BULKGET_POWERCUT sets
// it ("all": every crash point, every subset where there are few pending
// units); by default a small seeded sample keeps go test quick (smaller
// still with -short or -race).
func budget(t *testing.T) (states int, exhaustive bool) {
	switch v := os.Getenv("BULKGET_POWERCUT"); v {
	case "":
		if raceEnabled {
			return 20, false
		}
		if testing.Short() {
			return 40, false
		}
		return 150, false
	case "all":
		return 0, true
	default:
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("BULKGET_POWERCUT=%q: want a number of states or \"all\"", v)
		}
		return n, false
	}
}

// crashPoints picks about n points of a log of length l, seeded: first
// the points right after a sync, a name change or a report (where orders
// matter), then points among the writes.
func crashPoints(ops []Op, n int, rng *rand.Rand) []int {
	var near, far []int
	for k := 0; k <= len(ops); k++ {
		if k > 0 && ops[k-1].Kind != Write {
			near = append(near, k)
		} else {
			far = append(far, k)
		}
	}
	rng.Shuffle(len(near), func(i, j int) { near[i], near[j] = near[j], near[i] })
	rng.Shuffle(len(far), func(i, j int) { far[i], far[j] = far[j], far[i] })
	a := min(len(near), n*3/4)
	b := min(len(far), n-a)
	a = min(len(near), n-b)
	pts := append(near[:a:a], far[:b]...)
	slices.Sort(pts)
	return slices.Compact(pts)
}

// figures add up what the states of a test showed.
type figures struct {
	states, resumed, points              int
	over                                 int // states that fetched again more than arrived since the checkpoint
	unsynced, sinceCheckpoint, refetched int64
	elapsed                              time.Duration
}

func (f *figures) add(g figures) {
	f.states += g.states
	f.resumed += g.resumed
	f.points += g.points
	f.over += g.over
	f.unsynced += g.unsynced
	f.sinceCheckpoint += g.sinceCheckpoint
	f.refetched += g.refetched
	f.elapsed += g.elapsed
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func (f figures) String() string {
	return fmt.Sprintf("%d crash states at %d points, %d resumed correctly; fetched again %.1f MiB: %.2f × the %.1f MiB unsynced at the crash, %.2f × the %.1f MiB written since the last durable checkpoint (more in %d states); %v",
		f.states, f.points, f.resumed, mib(f.refetched), ratio(f.refetched, f.unsynced), mib(f.unsynced),
		ratio(f.refetched, f.sinceCheckpoint), mib(f.sinceCheckpoint), f.over, f.elapsed.Round(time.Millisecond))
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// TestPowerCutAtAnyPointResumesEveryFileRight records a real run of each
// scenario and resumes a real run from crash states of it, seeded.
func TestPowerCutAtAnyPointResumesEveryFileRight(t *testing.T) {
	total, exhaustive := budget(t)
	weights := 0
	for _, sc := range scenarios {
		weights += sc.weight
	}
	var all figures
	for i, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			start := time.Now()
			r := record(t, sc, nil)
			ops := r.rec.Ops()
			for _, k := range sc.takes {
				if !slices.ContainsFunc(ops, func(o Op) bool { return o.Kind.String() == k || k == "direct" && o.Direct }) {
					t.Errorf("the recorded run made no %s: it did not take the path this scenario is for", k)
				}
			}
			m := NewModel(ops, r.rec.Base())
			rng := rand.New(rand.NewPCG(uint64(i)+1, 30))
			var pts []int
			extra := 2
			if exhaustive {
				for k := 0; k <= len(ops); k++ {
					pts = append(pts, k)
				}
				extra = 24
			} else {
				want := max(1, total*sc.weight/weights)
				pts = crashPoints(ops, max(1, want/(5+extra)), rng)
				// A short log has few points: more states at each.
				extra = max(extra, (want+len(pts)-1)/len(pts)-5)
			}
			var fig figures
			parent := t.TempDir()
			for _, k := range pts {
				m.Advance(k)
				fig.points++
				cs := m.States(rng, extra, exhaustive)
				for j, c := range cs {
					if !exhaustive && fig.states >= max(1, total*sc.weight/weights) && j >= 5 {
						break
					}
					res := r.check(m, c, filepath.Join(parent, strconv.Itoa(fig.states)), true)
					fig.states++
					if res.violation != "" {
						t.Fatalf("%s\n%s", res.violation, m.Describe(c))
					}
					fig.resumed++
					fig.unsynced += res.unsynced
					fig.sinceCheckpoint += res.sinceCheckpoint
					fig.refetched += res.refetched
					if res.refetched > res.sinceCheckpoint {
						fig.over++
					}
				}
			}
			fig.elapsed = time.Since(start)
			t.Logf("%d operations recorded; %v", len(ops), fig)
			all.add(fig)
		})
	}
	t.Logf("all scenarios: %v", all)
	if exhaustive || os.Getenv("BULKGET_POWERCUT") != "" {
		fmt.Printf("power cut: %v\n", all)
	}
}
