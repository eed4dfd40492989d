package bench

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulkget/bulkget/manifest"
)

func TestMirrorScenariosIdealFromTheSourcesCaps(t *testing.T) {
	for _, c := range []struct {
		name      string
		ideal     time.Duration
		oneSource time.Duration
	}{
		{"mirrors3", 4267 * time.Millisecond, 12800 * time.Millisecond},       // 512 MiB ÷ 120 MiB/s; ÷ 40 MiB/s
		{"mirrors3-slow", 6400 * time.Millisecond, 12800 * time.Millisecond},  // 512 MiB ÷ 80 MiB/s: the 5 MiB/s host left out
		{"mirrors3-dies", 5689 * time.Millisecond, 12800 * time.Millisecond},  // 512/3 MiB ÷ 120 MiB/s + 1024/3 MiB ÷ 80 MiB/s
		{"mirrors3-rtt20", 4287 * time.Millisecond, 12820 * time.Millisecond}, // 20 ms + 512 MiB ÷ 120 MiB/s
	} {
		s, err := Lookup(c.name)
		if err != nil {
			t.Fatal(err)
		}
		if !s.Mirrored() || len(s.Sources) != 3 || s.Bytes() != 512<<20 {
			t.Errorf("%s: %d sources, %d bytes, want 3 and 512 MiB", c.name, len(s.Sources), s.Bytes())
		}
		if got := s.Ideal().Round(time.Millisecond); got != c.ideal || s.IdealKind() != "bandwidth" {
			t.Errorf("%s: ideal %v (%s), want %v (bandwidth)", c.name, got, s.IdealKind(), c.ideal)
		}
		if got := s.OneSourceIdeal().Round(time.Millisecond); got != c.oneSource {
			t.Errorf("%s: one-source ideal %v, want %v", c.name, got, c.oneSource)
		}
	}
	for _, s := range slices.Concat(Scenarios(), AdaptiveScenarios(), FaultScenarios()) {
		if s.Mirrored() || s.OneSourceIdeal() != 0 {
			t.Errorf("%s: mirrored outside MirrorScenarios", s.Name)
		}
	}
}

func TestMirrorIdealWithoutABound(t *testing.T) {
	sets := []FileSet{{1, 1 << 20}}
	for name, srcs := range map[string][]Source{
		"an uncapped source":   {{TotalRate: 1 << 20}, {}},
		"every source stopped": {{TotalRate: 1 << 20, StopAt: 0.5}},
		"only slow sources":    {{TotalRate: 1 << 20, Slow: true}},
	} {
		if id := (Scenario{Sets: sets, Sources: srcs}).Ideal(); id != 0 {
			t.Errorf("%s: ideal %v, want none", name, id)
		}
	}
}

// mirrorPlan is a plan for a mirrored scenario's first two files, with
// made-up hosts a (the primary), b and c.
func mirrorPlan(t *testing.T) *Plan {
	t.Helper()
	s, _ := Lookup("mirrors3")
	return &Plan{Scenario: s, Files: s.Files()[:2], Bin: "/x/tool", Work: t.TempDir(), Dir: "/out",
		URL: func(n string) string { return "http://a:1/" + n },
		Mirrors: func(n string) []string {
			return []string{"http://b:2/" + n, "http://c:3/" + n}
		}}
}

// The list bulkget gets carries the other sources in a mirrors column,
// and today's reader still takes its names and primary URLs from it.
func TestBulkgetListHasAMirrorsColumn(t *testing.T) {
	p := mirrorPlan(t)
	want := "filename,url,mirrors\n" +
		"f00001.bin,http://a:1/f00001.bin,http://b:2/f00001.bin http://c:3/f00001.bin\n" +
		"f00002.bin,http://a:1/f00002.bin,http://b:2/f00002.bin http://c:3/f00002.bin\n"
	if got := bulkgetList(p); got != want {
		t.Fatalf("list:\n%s\nwant:\n%s", got, want)
	}
	r, err := manifest.NewReader(strings.NewReader(want))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range p.Files {
		e, err := r.Next()
		if err != nil || e.Name != f.Name || e.URL != p.URL(f.Name) {
			t.Errorf("manifest read %+v, %v; want %s from %s", e, err, f.Name, p.URL(f.Name))
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("after the last file: %v, want EOF", err)
	}

	p.Mirrors = nil
	if got := bulkgetList(p); !strings.HasPrefix(got, "filename,url\nf00001.bin,http://a:1/f00001.bin\n") {
		t.Errorf("list without mirrors:\n%s", got)
	}
}

func TestAria2InputPutsAFilesMirrorsOnOneLine(t *testing.T) {
	p := mirrorPlan(t)
	invs, show, err := planAria2(p)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(p.Work, "INPUT"))
	if err != nil {
		t.Fatal(err)
	}
	want := "http://a:1/f00001.bin\thttp://b:2/f00001.bin\thttp://c:3/f00001.bin\n out=f00001.bin\n" +
		"http://a:1/f00002.bin\thttp://b:2/f00002.bin\thttp://c:3/f00002.bin\n out=f00002.bin\n"
	if string(data) != want {
		t.Errorf("INPUT:\n%q\nwant:\n%q", data, want)
	}
	if len(invs) != 1 || !strings.Contains(show, " -j 2 -x 8 -s 8 ") || !strings.HasSuffix(show, " --uri-selector=adaptive") {
		t.Errorf("aria2c: %d processes, %q", len(invs), show)
	}

	p.Mirrors = nil
	if got := aria2Input(p); got != "http://a:1/f00001.bin\nhttp://a:1/f00002.bin\n" {
		t.Errorf("INPUT without mirrors: %q", got)
	}
}

func TestAxelGetsEveryMirrorOfItsFile(t *testing.T) {
	p := mirrorPlan(t)
	invs, show, err := planAxel(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(invs) != 2 || show != "for each file: axel -q -n 16 -o DIR/NAME URL MIRROR..." {
		t.Fatalf("axel: %d processes, %q", len(invs), show)
	}
	want := []string{"/x/tool", "-q", "-n", "16", "-o", "/out/f00002.bin",
		"http://a:1/f00002.bin", "http://b:2/f00002.bin", "http://c:3/f00002.bin"}
	if !slices.Equal(invs[1].Args, want) || invs[1].File != "f00002.bin" {
		t.Errorf("axel for the second file: %q, want %q", invs[1].Args, want)
	}
}

func TestOneURLToolsSkipMirroredScenarios(t *testing.T) {
	s, _ := Lookup("mirrors3")
	f := Start(s.Scale(0.01))
	defer f.Close()
	r := &Runner{TempDir: t.TempDir()}
	defer r.Close()
	for _, tool := range Tools() {
		if tool.Mirrors != (tool.Name != "wget2" && tool.Name != "curl") {
			t.Errorf("%s: Mirrors %v", tool.Name, tool.Mirrors)
		}
		if tool.Mirrors {
			continue
		}
		res, err := r.Run(context.Background(), f, tool)
		if err != nil || !strings.Contains(res.Skipped, "one URL per file") {
			t.Errorf("%s on mirrors3: skipped %q, %v", tool.Name, res.Skipped, err)
		}
	}
}

// A source with StopAt is stopped (its connections refused) once the
// sources together have served that share of the bytes, and the next run
// gets it back on a new port.
func TestSourceStopsPartWayAndComesBackForTheNextRun(t *testing.T) {
	s := Scenario{Name: "stop", Sets: []FileSet{{2, 64 << 10}},
		Sources: []Source{{StopAt: 0.5}, {}}}
	f := Start(s)
	defer f.Close()
	primary, mirror := f.Server, f.Mirrors[0]
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(url string) error {
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}

	disarm := f.armStops()
	if err := get(mirror.URL("f00001.bin")); err != nil { // half the bytes, from the mirror
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for get(primary.URL("f00002.bin")) == nil {
		if time.Now().After(deadline) {
			disarm()
			t.Fatal("the primary still serves 5 s after half the bytes were served")
		}
		time.Sleep(stopPoll)
	}
	disarm()
	if !f.stopped[0] || f.stopped[1] {
		t.Errorf("stopped %v, want the primary only", f.stopped)
	}
	if err := get(mirror.URL("f00002.bin")); err != nil {
		t.Errorf("the mirror after the primary stopped: %v", err)
	}

	f.restartStopped()
	if f.Server == primary || f.stopped[0] || f.Mirrors[0] != mirror {
		t.Fatal("the stopped primary was not started afresh, or the mirror was")
	}
	if err := get(f.Server.URL("f00002.bin")); err != nil {
		t.Errorf("the restarted primary: %v", err)
	}
	if urls := f.mirrorURLs("f00002.bin"); len(urls) != 1 || urls[0] != mirror.URL("f00002.bin") {
		t.Errorf("mirror URLs %q", urls)
	}
}

func TestWriteMirrorTable(t *testing.T) {
	s, _ := Lookup("mirrors3-dies")
	var b strings.Builder
	WriteMirrorTable(&b, []Result{
		{Tool: "aria2c", Scenario: s, Wall: 5760 * time.Millisecond, Right: 4, Total: 4,
			CPU: time.Second, MaxRSS: 30 << 20, Served: s.Bytes() + 1<<20, Sources: []SourceStats{
				{Served: 58 << 20, Gets: 8, Conns: 8, Stopped: true},
				{Served: 228 << 20, Gets: 13, Conns: 9},
				{Served: 227 << 20, Gets: 13, Conns: 8}}},
		{Tool: "curl", Scenario: s, Skipped: "takes one URL per file: no mirrors"},
	})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want header, rule and 2 rows:\n%s", len(lines), b.String())
	}
	for _, want := range []string{"| 5.76 |", "| 5.69 | 1.01 | 12.80 |", "| 2.00 |", "| 30.0 |", "| 4/4 |",
		"| 58 stopped / 228 / 227 (+1.0) |", "| 8 / 9 / 8 |", "| 8 / 13 / 13 |"} {
		if !strings.Contains(lines[2], want) {
			t.Errorf("row %q lacks %q", lines[2], want)
		}
	}
	if !strings.Contains(lines[3], "| 5.69 |") || !strings.Contains(lines[3], "no mirrors |") {
		t.Errorf("skipped row %q", lines[3])
	}
}
