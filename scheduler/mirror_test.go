package scheduler

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkget/bulkget/internal/origin"
	"github.com/bulkget/bulkget/manifest"
	"github.com/bulkget/bulkget/state"
	"github.com/bulkget/bulkget/store"
)

// mirrorSet is one list of files served by several origins with the same
// content: the first origin's URLs are the list's, the others' its mirrors.
type mirrorSet struct {
	srvs []*origin.Server
	fx   *fixture
}

func newMirrors(t *testing.T, opts ...origin.Options) *mirrorSet {
	t.Helper()
	m := &mirrorSet{fx: &fixture{sizes: map[string]int64{}}}
	for _, o := range opts {
		srv := origin.New(o)
		t.Cleanup(srv.Close)
		m.srvs = append(m.srvs, srv)
	}
	m.fx.srv = m.srvs[0]
	return m
}

func (m *mirrorSet) add(name string, size int64) {
	var mirrors []string
	for i, srv := range m.srvs {
		srv.Add(name, size)
		if i > 0 {
			mirrors = append(mirrors, srv.URL(name))
		}
	}
	m.fx.sizes[name] = size
	m.fx.entries = append(m.fx.entries, manifest.Entry{Line: len(m.fx.entries) + 2, Name: name,
		URL: m.srvs[0].URL(name), Size: -1, Mirrors: mirrors})
}

// delivered sums what each host gave, by the Done events' sources.
func delivered(t *testing.T, rec *recorder) map[string]int64 {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	by := map[string]int64{}
	for _, e := range rec.events {
		if e.Kind != Done {
			continue
		}
		if len(e.Sources) == 0 {
			t.Errorf("%s: done without sources", e.Name)
		}
		var sum int64
		for _, s := range e.Sources {
			by[s.Host] += s.Bytes
			sum += s.Bytes
		}
		if sum != e.Total {
			t.Errorf("%s: sources gave %d bytes, the file has %d", e.Name, sum, e.Total)
		}
	}
	return by
}

func (rec *recorder) warnings() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []string
	for _, e := range rec.events {
		if e.Kind == Warning && e.Err != nil {
			out = append(out, e.Name+": "+e.Err.Error())
		}
	}
	return out
}

func TestMirrorsShareAFileInProportionToWhatTheyDeliver(t *testing.T) {
	const fast, slow = 6 << 20, 1 << 20
	m := newMirrors(t, origin.Options{TotalRate: fast}, origin.Options{TotalRate: fast}, origin.Options{TotalRate: slow})
	for i := range 2 {
		m.add(fmt.Sprintf("f%d.bin", i), 8<<20)
	}
	opts := testOptions(t.TempDir())
	rec := &recorder{}
	opts.Reporter = rec
	sum := runFixture(t, m.fx, opts)
	if len(sum.Failed) > 0 || sum.Done != 2 {
		t.Fatalf("done %d, failed %v", sum.Done, sum.Failed)
	}
	m.fx.verify(t, opts.Dir, nil)
	by := delivered(t, rec)
	a, b, c := by[m.srvs[0].Addr()], by[m.srvs[1].Addr()], by[m.srvs[2].Addr()]
	if a == 0 || b == 0 {
		t.Errorf("a fast source gave nothing: %v", by)
	}
	if c >= a || c >= b {
		t.Errorf("the slow source gave as much as a fast one: %v", by)
	}
	if len(sum.Hosts) != 3 || sum.Hosts[0].Bytes+sum.Hosts[1].Bytes+sum.Hosts[2].Bytes != 16<<20 {
		t.Errorf("summary hosts %+v, want three summing to %d", sum.Hosts, 16<<20)
	}
}

func TestPerHostCapCountsEveryFileOnTheHost(t *testing.T) {
	m := newMirrors(t, origin.Options{PerConnRate: 2 << 20}, origin.Options{PerConnRate: 2 << 20})
	for i := range 4 {
		m.add(fmt.Sprintf("f%d.bin", i), 4<<20)
	}
	opts := testOptions(t.TempDir())
	opts.MaxPerHost, opts.Connections = 3, 12
	// Counted as the run sends them: the origin sees a request end a
	// moment after the client has moved on.
	perHost := map[string]*countingTransport{}
	d := deps{wrap: func(next http.RoundTripper) http.RoundTripper {
		for _, srv := range m.srvs {
			perHost[srv.Addr()] = &countingTransport{base: next}
		}
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			return perHost[req.URL.Host].RoundTrip(req)
		})
	}}
	sum := runFixtureWith(t, m.fx, opts, d)
	if sum.Done != 4 {
		t.Fatalf("done %d, failed %v", sum.Done, sum.Failed)
	}
	m.fx.verify(t, opts.Dir, nil)
	for i, srv := range m.srvs {
		if p := perHost[srv.Addr()].peak.Load(); p > 3 {
			t.Errorf("origin %d had %d requests at once across files, cap 3", i, p)
		}
		if srv.Stats().BytesServed == 0 {
			t.Errorf("origin %d served nothing", i)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

func TestAMirrorThatDiesMidRunCostsOnlyTime(t *testing.T) {
	m := newMirrors(t, origin.Options{TotalRate: 8 << 20}, origin.Options{TotalRate: 8 << 20}, origin.Options{TotalRate: 8 << 20})
	for i := range 3 {
		m.add(fmt.Sprintf("f%d.bin", i), 8<<20)
	}
	opts := testOptions(t.TempDir())
	rec := &recorder{}
	opts.Reporter = rec
	victim := m.srvs[1]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	go func() {
		for ctx.Err() == nil && victim.Stats().BytesServed < 3<<20 {
			time.Sleep(5 * time.Millisecond)
		}
		victim.Close()
	}()
	sum, err := Run(ctx, m.fx.entries, opts)
	if err != nil || sum.Interrupted {
		t.Fatalf("run: %v (interrupted %v)", err, sum.Interrupted)
	}
	if sum.Done != 3 || len(sum.Failed) > 0 {
		t.Fatalf("done %d, failed %v", sum.Done, sum.Failed)
	}
	m.fx.verify(t, opts.Dir, nil)
	dropped := false
	for _, w := range rec.warnings() {
		dropped = dropped || strings.Contains(w, "source "+victim.Addr()+" dropped")
	}
	if !dropped {
		t.Errorf("no warning that the dead source was dropped: %q", rec.warnings())
	}
}

func TestASourceOfAnotherSizeIsDroppedAtItsFirstAnswer(t *testing.T) {
	m := newMirrors(t, origin.Options{TotalRate: 8 << 20}, origin.Options{TotalRate: 8 << 20})
	m.add("a.bin", 6<<20)
	m.srvs[1].Add("a.bin", 6<<20+1) // the mirror has another file under that name
	opts := testOptions(t.TempDir())
	rec := &recorder{}
	opts.Reporter = rec
	sum := runFixture(t, m.fx, opts)
	if sum.Done != 1 {
		t.Fatalf("done %d, failed %v", sum.Done, sum.Failed)
	}
	m.fx.verify(t, opts.Dir, nil)
	if n := m.srvs[1].Stats().Requests; n > 2 {
		t.Errorf("the mirror of another size got %d requests, want at most the one that showed it (or the probe)", n)
	}
	if got := strings.Join(rec.warnings(), "\n"); !strings.Contains(got, "differs from the other sources") {
		t.Errorf("warnings do not say the size differs: %s", got)
	}
}

func TestSourcesFailOneByOneAndTheFileOnlyWithTheLast(t *testing.T) {
	gone := func(origin.Request) origin.Fault { return origin.Fault{Status: 404} }
	m := newMirrors(t, origin.Options{Fault: gone}, origin.Options{}, origin.Options{Fault: gone})
	m.add("ok.bin", 3<<20)
	opts := testOptions(t.TempDir())
	sum := runFixture(t, m.fx, opts)
	if sum.Done != 1 {
		t.Fatalf("with one good source of three: done %d, failed %v", sum.Done, sum.Failed)
	}
	m.fx.verify(t, opts.Dir, nil)

	all := newMirrors(t, origin.Options{Fault: gone}, origin.Options{Fault: gone})
	all.add("none.bin", 1<<20)
	opts = testOptions(t.TempDir())
	sum = runFixture(t, all.fx, opts)
	if len(sum.Failed) != 1 || !strings.Contains(sum.Failed[0].Err.Error(), "every source failed") {
		t.Fatalf("with no good source: failed %v", sum.Failed)
	}
}

func TestAMirrorWithOtherBytesIsNamedAndTheFileFetchedFromOneSource(t *testing.T) {
	m := newMirrors(t, origin.Options{TotalRate: 8 << 20}, origin.Options{TotalRate: 8 << 20})
	m.add("a.bin", 8<<20)
	m.srvs[1].SetVersion("a.bin", 1) // same size, other bytes
	m.fx.entries[0].SHA256 = origin.SHA256Hex("a.bin", 0, 8<<20)
	opts := testOptions(t.TempDir())
	rec := &recorder{}
	opts.Reporter = rec
	sum := runFixture(t, m.fx, opts)
	if sum.Done != 1 {
		t.Fatalf("done %d, failed %v; warnings %q", sum.Done, sum.Failed, rec.warnings())
	}
	m.fx.verify(t, opts.Dir, nil)
	named := false
	for _, w := range rec.warnings() {
		named = named || strings.Contains(w, m.srvs[1].Addr()+" served bytes that differ")
	}
	if !named {
		t.Errorf("the mirror with other bytes is not named: %q", rec.warnings())
	}
}

func TestAnExpiredMirrorIsDroppedWhileOthersServe(t *testing.T) {
	var expired atomic.Bool
	m := newMirrors(t, origin.Options{TotalRate: 4 << 20}, origin.Options{TotalRate: 4 << 20, Fault: func(r origin.Request) origin.Fault {
		if expired.Load() {
			return origin.Fault{Status: 403}
		}
		return origin.Fault{}
	}})
	m.add("a.bin", 8<<20)
	opts := testOptions(t.TempDir())
	rec := &recorder{}
	opts.Reporter = rec
	go func() {
		for m.srvs[1].Stats().BytesServed < 1<<20 {
			time.Sleep(5 * time.Millisecond)
		}
		expired.Store(true)
	}()
	sum := runFixture(t, m.fx, opts)
	if sum.Done != 1 {
		t.Fatalf("done %d, failed %v, expired %v", sum.Done, sum.Failed, sum.Expired)
	}
	m.fx.verify(t, opts.Dir, nil)
	if n := m.srvs[1].Stats().ByStatus[403]; n > int64(opts.MaxPerHost)+1 && opts.MaxPerHost > 0 {
		t.Errorf("the expired mirror was refused %d times", n)
	}
	if got := strings.Join(rec.warnings(), "\n"); !strings.Contains(got, "URL expired") {
		t.Errorf("no warning names the expiry: %s", got)
	}
}

func TestAMirroredFileResumesWithEachSourcesValidators(t *testing.T) {
	const size = 16 << 20
	m := newMirrors(t, origin.Options{TotalRate: 4 << 20}, origin.Options{TotalRate: 4 << 20})
	m.add("a.bin", size)
	opts := testOptions(t.TempDir())
	opts.CheckpointInterval = 50 * time.Millisecond
	served := func() int64 { return m.srvs[0].Stats().BytesServed + m.srvs[1].Stats().BytesServed }
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	go func() {
		for ctx.Err() == nil && served() < 6<<20 {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	if sum, err := Run(ctx, m.fx.entries, opts); err != nil || !sum.Interrupted {
		t.Fatalf("first run: %v, interrupted %v", err, sum.Interrupted)
	}
	raw, err := os.ReadFile(filepath.Join(opts.Dir, store.StateName("a.bin")))
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	mirror, _ := url.Parse(m.fx.entries[0].Mirrors[0])
	want := origin.ETag("a.bin", 0, size)
	if st.ETag != want || len(st.Sources) != 1 || st.Sources[0].Key != sourceKey(mirror) || st.Sources[0].ETag != want {
		t.Fatalf("state validators: primary %q, sources %+v; want %q for both, the mirror under %q", st.ETag, st.Sources, want, sourceKey(mirror))
	}
	if strings.Contains(string(raw), mirror.Host) {
		t.Errorf("the state names the mirror's host")
	}
	before := served()
	rec := &recorder{}
	opts.Reporter = rec
	sum := runFixture(t, m.fx, opts)
	if sum.Done != 1 {
		t.Fatalf("second run: done %d, failed %v", sum.Done, sum.Failed)
	}
	m.fx.verify(t, opts.Dir, nil)
	if rec.count(Resumed) != 1 {
		t.Errorf("the file was not resumed")
	}
	if again := served() - before; again > size-4<<20 {
		t.Errorf("the second run fetched %d bytes of %d: not a resume", again, size)
	}
}
