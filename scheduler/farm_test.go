package scheduler

import (
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulkget/bulkget/internal/origin"
	"github.com/bulkget/bulkget/manifest"
	"github.com/bulkget/bulkget/replicas"
	"github.com/bulkget/bulkget/segment"
)

// restartsFromZero counts the warnings of files restarting from zero.
func (r *recorder) restartsFromZero() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Kind == Warning && e.Err != nil && strings.Contains(e.Err.Error(), "restarting from zero") {
			n++
		}
	}
	return n
}

// farmOptions are options for a run behind a farm: segments small enough
// that every file is split, so that its requests meet both replicas.
func farmOptions(dir string, rec *recorder) Options {
	opts := testOptions(dir)
	opts.MinSegment = 64 << 10
	opts.Connections, opts.MaxPerFile = 8, 8
	opts.Reporter = rec
	return opts
}

func TestReplicasWithOtherValidatorsAreFetchedWithoutRestarting(t *testing.T) {
	for _, c := range []struct {
		name    string
		perConn bool
	}{{"balanced per request", false}, {"balanced per connection", true}} {
		t.Run(c.name, func(t *testing.T) {
			// Paced so that every file is split among connections.
			fx := newFixture(t, origin.Options{Replicas: 2, ReplicaPerConn: c.perConn, PerConnRate: 16 << 20})
			for i := range 4 {
				fx.add(fmt.Sprintf("r%d.bin", i), 2<<20)
			}
			dir := t.TempDir()
			rec := &recorder{}
			sum := runFixture(t, fx, farmOptions(dir, rec))
			if sum.Done != 4 || len(sum.Failed) != 0 {
				t.Fatalf("done %d, failed %v", sum.Done, sum.Failed)
			}
			fx.verify(t, dir, nil)
			if n := rec.restartsFromZero(); n != 0 {
				t.Errorf("%d restarts from zero for replicas of the same bytes", n)
			}
			if got := rec.hostWarnings("several replicas"); len(got) != 1 {
				t.Errorf("%d warnings of replicas, want exactly one: %q", len(got), got)
			}
			fx.srv.WaitIdle(2 * time.Second)
			st := fx.srv.Stats()
			t.Logf("statuses %v, %d bytes served for %d", st.ByStatus, st.BytesServed, 4*2<<20)
		})
	}
}

func TestDeployHalfDoneEndsAsOneWholeVersion(t *testing.T) {
	const size = 512 << 10
	for _, perConn := range []bool{false, true} {
		warned := 0
		for i := range 20 {
			fx := newFixture(t, origin.Options{Replicas: 2, ReplicaPerConn: perConn, ReplicaBytesDiffer: true, PerConnRate: 8 << 20})
			fx.add("d.bin", size)
			dir := t.TempDir()
			rec := &recorder{}
			sum := runFixture(t, fx, farmOptions(dir, rec))
			if sum.Done != 1 {
				t.Fatalf("run %d (per connection %v): done %d, failed %v", i, perConn, sum.Done, sum.Failed)
			}
			got := fileHash(t, filepath.Join(dir, "d.bin"))
			if got != origin.SHA256Hex("d.bin", 0, size) && got != origin.SHA256Hex("d.bin", 1, size) {
				t.Fatalf("run %d (per connection %v): the file is neither replica's version: mixed", i, perConn)
			}
			w := rec.hostWarnings("several replicas")
			if len(w) > 1 {
				t.Errorf("run %d: %d warnings of replicas, want at most one: %q", i, len(w), w)
			}
			if len(w) == 1 {
				warned++
				for _, v := range []int{0, 1} {
					if etag := origin.ETag("d.bin", v, size); !strings.Contains(w[0], etag) {
						t.Errorf("run %d: the warning does not name %s: %q", i, etag, w[0])
					}
				}
			}
			fx.srv.Close()
		}
		if warned == 0 {
			t.Errorf("per connection %v: no run warned of the replicas", perConn)
		}
		t.Logf("per connection %v: %d of 20 runs met both replicas and said so", perConn, warned)
	}
}

// TestIfMatchSavesWholeBodiesFromTheWrongReplica measures what If-Match
// saves behind a farm balanced per request, against If-Range alone (a
// server that ignores If-Match).
func TestIfMatchSavesWholeBodiesFromTheWrongReplica(t *testing.T) {
	const size = 8 << 20
	waste := map[bool]int64{}
	for _, ignore := range []bool{true, false} {
		fx := newFixture(t, origin.Options{Replicas: 2, IgnoreIfMatch: ignore, PerConnRate: 32 << 20})
		fx.add("m.bin", size)
		dir := t.TempDir()
		rec := &recorder{}
		start := time.Now()
		sum := runFixture(t, fx, farmOptions(dir, rec))
		if sum.Done != 1 {
			t.Fatalf("ignore If-Match %v: failed %v", ignore, sum.Failed)
		}
		fx.verify(t, dir, nil)
		fx.srv.WaitIdle(2 * time.Second)
		st := fx.srv.Stats()
		waste[ignore] = st.BytesServed - size
		t.Logf("ignore If-Match %v: %d requests %v, %d bytes thrown away, %v",
			ignore, st.Requests, st.ByStatus, st.BytesServed-size, time.Since(start).Round(time.Millisecond))
	}
	if waste[false] >= waste[true] {
		t.Errorf("If-Match threw away %d bytes, If-Range alone %d", waste[false], waste[true])
	}
}

func TestFileThatChangesOnEveryAnswerFailsAfterItsRestarts(t *testing.T) {
	fx := newFixture(t, origin.Options{PerConnRate: 16 << 20})
	fx.add("c.bin", 2<<20)
	fx.srv.SetOptions(func(o *origin.Options) {
		o.Fault = func(r origin.Request) origin.Fault {
			fx.srv.SetVersion("c.bin", r.N) // the next answer is another version
			return origin.Fault{}
		}
	})
	dir := t.TempDir()
	rec := &recorder{}
	opts := farmOptions(dir, rec)
	opts.Retries = 2
	sum := runFixture(t, fx, opts)
	if sum.Done != 0 || len(sum.Failed) != 1 {
		t.Fatalf("done %d, failed %v: want the file failed", sum.Done, sum.Failed)
	}
	if msg := sum.Failed[0].Err.Error(); !strings.Contains(msg, "restarted 2 times") || !strings.Contains(msg, "remote file changed") {
		t.Errorf("failure %q does not say the file restarted its 2 times for a change", msg)
	}
	// Each answer names a new version: a few answers per generation tell
	// it from a farm, and the requests in flight then are the rest.
	n := fx.srv.FileRequests("c.bin")
	t.Logf("%d requests for 3 generations", n)
	if n > int64(3*(1+replicas.FarmVersions+1+2*opts.MaxPerFile)) {
		t.Errorf("%d requests for 3 generations", n)
	}
}

func TestPreconditionFailedMeansAnotherVersionOnlyAfterIfMatch(t *testing.T) {
	refused := &segment.StatusError{Code: http.StatusPreconditionFailed}
	if _, ok := isOtherVersion(ifMatchRefused(refused, segment.Request{IfRange: `"a"`, IfMatch: `"a"`})); !ok {
		t.Error("412 to If-Match is not another version")
	}
	err := ifMatchRefused(refused, segment.Request{IfRange: `"a"`})
	if _, ok := isOtherVersion(err); ok || classify(err, true, 0) != failFile {
		t.Errorf("412 without If-Match is %v, action %v: want it as it is, failing the file", err, classify(err, true, 0))
	}
}

func TestPartResumesThroughTheReplicasThatServeItsVersion(t *testing.T) {
	const size = 8 << 20
	for _, perConn := range []bool{false, true} {
		t.Run(fmt.Sprintf("per connection %v", perConn), func(t *testing.T) {
			fx := newFixture(t, origin.Options{Replicas: 2, ReplicaPerConn: perConn, PerConnRate: 4 << 20})
			fx.add("p.bin", size)
			dir := t.TempDir()
			opts := farmOptions(dir, nil)
			opts.Connections, opts.MaxPerFile = 6, 6
			interruptedRun(t, fx, opts, 2<<20)
			onDisk := loadState(t, dir, "p.bin").DoneBytes()

			fx.srv.WaitIdle(2 * time.Second)
			fx.srv.ResetStats()
			rec := &recorder{}
			opts.Reporter = rec
			sum := runFixture(t, fx, opts)
			if sum.Done != 1 {
				t.Fatalf("resume: %+v", sum)
			}
			fx.verify(t, dir, nil)
			if rec.count(Resumed) != 1 || rec.restartsFromZero() != 0 {
				t.Errorf("%d resumed events, %d restarts from zero: want the .part continued", rec.count(Resumed), rec.restartsFromZero())
			}
			fx.srv.WaitIdle(2 * time.Second)
			st := fx.srv.Stats()
			// What was missing, and the starts of whole bodies closed
			// unread by replicas with the other version.
			t.Logf("%d bytes were on disk; the second run: %d bytes served, statuses %v", onDisk, st.BytesServed, st.ByStatus)
			if st.BytesServed >= size+onDisk/2 {
				t.Errorf("second run served %d bytes for %d missing", st.BytesServed, size-onDisk)
			}
		})
	}
}

func TestUpdateConvergesOnceTheFarmHasOneVersion(t *testing.T) {
	const size = 512 << 10
	fx := newFixture(t, origin.Options{Replicas: 2, ReplicaBytesDiffer: true, PerConnRate: 8 << 20})
	fx.add("u.bin", size)
	dir := t.TempDir()
	rec := &recorder{}
	opts := farmOptions(dir, rec)
	if sum := runFixture(t, fx, opts); sum.Done != 1 {
		t.Fatalf("during the deploy: %+v", sum)
	}
	first := fileHash(t, filepath.Join(dir, "u.bin"))
	// The deploy ends: every replica serves version 1, as replica 1 did.
	fx.srv.SetOptions(func(o *origin.Options) { o.Replicas = 1 })
	fx.srv.SetVersion("u.bin", 1)
	opts.Update = true
	sum := runFixture(t, fx, opts)
	fx.verify(t, dir, map[string]int{"u.bin": 1})
	if kept0 := first == origin.SHA256Hex("u.bin", 0, size); sum.Done != btoi(kept0) || sum.Skipped != btoi(!kept0) {
		t.Errorf("the first run kept version %d; then done %d, skipped %d", btoi(!kept0), sum.Done, sum.Skipped)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestAnswersOfOtherVersionsAreWeighedPerSource checks the wiring of
// farm.go to package replicas (whose own tests hold every rule): the
// answers of a source in a given order, another version ("B") or the kept
// one ("A"), each to a request picked before or after the other version
// first answered, make the host a farm with one notice, or restart the
// file with errChanged.
func TestAnswersOfOtherVersionsAreWeighedPerSource(t *testing.T) {
	type answer struct {
		got   string // validator; "A" is the kept one, "" a 412
		early bool   // the request was picked before the first other answer
	}
	many := func(n int, a answer) []answer { return slices.Repeat([]answer{a}, n) }
	for _, c := range []struct {
		name    string
		former  []string
		answers []answer
		farm    bool // the host is taken for a farm
		changed bool // the last answer restarts the file
	}{
		{"the kept version again, asked after the other", nil, []answer{{got: "B"}, {got: "A"}}, true, false},
		{"the kept version to a request sent before the other answered", nil, []answer{{got: "B"}, {got: "A", early: true}}, false, false},
		{"a validator the source kept before a restart", []string{"B"}, []answer{{got: "B"}}, true, false},
		{"another version 16 times is a change", nil, many(replicas.ChangeAnswers, answer{got: "B"}), false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &run{}
			h := &host{name: "farm.example"}
			src := &source{host: h, known: true, validator: "A", etag: "A"}
			for _, v := range c.former {
				src.evidence.Forget(v)
			}
			f := &file{entry: manifest.Entry{Name: "big.bin"}, sources: []*source{src}}
			before := time.Now()
			time.Sleep(time.Millisecond) // the first other answer comes after before
			var changed error
			var notices []Event
			for i, a := range c.answers {
				s := &seg{f: f, src: src, began: time.Now()}
				if a.early {
					s.began = before
				}
				var e []Event
				if a.got == "A" {
					e = r.keptVersionLocked(s)
				} else {
					e, changed = r.otherVersionLocked(s, &otherVersionError{kept: "A", got: a.got})
					if changed != nil && i < len(c.answers)-1 {
						t.Fatalf("answer %d of %d restarts the file: %v", i+1, len(c.answers), changed)
					}
				}
				notices = append(notices, e...)
				time.Sleep(time.Microsecond) // the next request is picked later
			}
			if h.farm != c.farm {
				t.Errorf("farm %v, want %v", h.farm, c.farm)
			}
			if (changed != nil) != c.changed {
				t.Errorf("change %v, want %v", changed, c.changed)
			}
			if c.changed && !errors.Is(changed, errChanged) {
				t.Errorf("the change is %v, not errChanged", changed)
			}
			if want := btoi(c.farm); len(notices) != want {
				t.Errorf("%d notices, want %d: %v", len(notices), want, notices)
			}
		})
	}
}
