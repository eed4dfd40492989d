package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkget/bulkget/internal/origin"
	"github.com/bulkget/bulkget/scheduler"
)

const GiB = 1 << 30

// threeSources is a file with two mirrors, the third dropped after 300 MiB.
func threeSources() []scheduler.SourceProgress {
	return []scheduler.SourceProgress{
		{Index: 0, Host: "a.example", Bytes: 2 * GiB, Conns: 6},
		{Index: 1, Host: "b.example:8443", Bytes: 1 * GiB, Conns: 4},
		{Index: 2, Host: "c.example", Bytes: 300 * MiB, Dropped: "http 503 Service Unavailable, 5 times"},
	}
}

func TestSourceRecords(t *testing.T) {
	many := make([]scheduler.SourceProgress, 8)
	for i := range many {
		many[i] = scheduler.SourceProgress{Index: i, Host: string(rune('a'+i)) + ".example", Bytes: MiB}
	}
	cases := []struct {
		name string
		srcs []scheduler.SourceProgress
		want string
	}{
		{"in use and dropped", threeSources(),
			"a.example 2.0 GiB, b.example:8443 1.0 GiB, c.example 300.0 MiB (dropped)"},
		{"dropped before any byte", []scheduler.SourceProgress{
			{Index: 0, Host: "a.example", Bytes: 10 * MiB, Conns: 2},
			{Index: 1, Host: "b.example", Dropped: "its size differs from the other sources'"}},
			"a.example 10.0 MiB, b.example dropped"},
		{"never used", []scheduler.SourceProgress{
			{Index: 0, Host: "a.example", Bytes: 10 * MiB},
			{Index: 1, Host: "b.example"}},
			"a.example 10.0 MiB, b.example 0 B"},
		{"more than a line holds", many,
			"a.example 1.0 MiB, b.example 1.0 MiB, c.example 1.0 MiB, d.example 1.0 MiB, e.example 1.0 MiB, f.example 1.0 MiB, and 2 more"},
		// The scheduler gives hosts without credentials; one that slipped
		// through is cut, not printed.
		{"user information", []scheduler.SourceProgress{
			{Index: 0, Host: "user:s3cr3t@a.example", Bytes: MiB},
			{Index: 1, Host: "PLANTEDTOK@b.example:81", Bytes: MiB}},
			"a.example 1.0 MiB, b.example:81 1.0 MiB"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := sourceList(tc.srcs); got != tc.want {
				t.Errorf("sourceList = %q\nwant          %q", got, tc.want)
			}
		})
	}

	for _, tc := range []struct {
		srcs []scheduler.SourceProgress
		want string
	}{
		{nil, ""},
		{threeSources(), "2/3 sources"},
		{threeSources()[:2], "2 sources"},
		{[]scheduler.SourceProgress{{Host: "a.example", Dropped: "gone"}, {Host: "b.example", Dropped: "gone"}}, "0/2 sources"},
	} {
		if got := sourcesText(tc.srcs); got != tc.want {
			t.Errorf("sourcesText(%d sources) = %q, want %q", len(tc.srcs), got, tc.want)
		}
	}
}

// mirroredScript is a run with mirrors told in events: one file done from
// three sources, one failed after every source was dropped, one expired.
func mirroredScript(t0 time.Time) []scheduler.Event {
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	return []scheduler.Event{
		{Kind: scheduler.Started, Time: at(0), Line: 2, Name: "big.bin", Total: 3*GiB + 300*MiB, Conns: 1},
		{Kind: scheduler.Progress, Time: at(time.Second), BytesDone: 200 * MiB, FilesTotal: 4, Files: []scheduler.FileProgress{
			{Line: 2, Name: "big.bin", Bytes: 200 * MiB, Total: 3*GiB + 300*MiB, Conns: 10, Sources: []scheduler.SourceProgress{
				{Index: 0, Host: "a.example", Bytes: 120 * MiB, Conns: 6},
				{Index: 1, Host: "b.example:8443", Bytes: 50 * MiB, Conns: 4},
				{Index: 2, Host: "c.example", Bytes: 30 * MiB, Dropped: "http 503 Service Unavailable, 5 times"},
			}},
			{Line: 5, Name: "plain.bin", Bytes: MiB, Total: 2 * MiB, Conns: 1},
		}},
		{Kind: scheduler.Done, Time: at(12 * time.Second), Line: 2, Name: "big.bin", Bytes: 3*GiB + 300*MiB,
			Total: 3*GiB + 300*MiB, Elapsed: 12 * time.Second, Verified: "none", Sources: threeSources()},
		{Kind: scheduler.Failed, Time: at(13 * time.Second), Line: 3, Name: "gone.bin", Bytes: 5 * MiB, Total: 8 * MiB,
			Err: errors.New("every source failed; the last, b.example: http 404 Not Found"),
			Sources: []scheduler.SourceProgress{
				{Index: 0, Host: "a.example", Bytes: 5 * MiB, Dropped: "http 404 Not Found"},
				{Index: 1, Host: "b.example", Dropped: "http 404 Not Found"},
			}},
		{Kind: scheduler.Expired, Time: at(14 * time.Second), Line: 4, Name: "signed.bin", Bytes: 7 * MiB, Total: 9 * MiB,
			Err: errors.New("the URL expired (http 403 Forbidden)"),
			Sources: []scheduler.SourceProgress{
				{Index: 0, Host: "a.example", Bytes: 4 * MiB, Dropped: "expired"},
				// A reason that quotes a signed URL is redacted like any message.
				{Index: 1, Host: "b.example", Bytes: 3 * MiB,
					Dropped: "expired: https://b.example/signed.bin?X-Amz-Signature=PLANTEDSIG"},
			}},
		{Kind: scheduler.Done, Time: at(15 * time.Second), Line: 5, Name: "plain.bin", Bytes: 2 * MiB, Total: 2 * MiB,
			Elapsed: 2 * time.Second, Verified: "none"},
	}
}

func mirroredSummary() scheduler.Summary {
	return scheduler.Summary{Done: 2, Bytes: 3*GiB + 314*MiB, Elapsed: 15 * time.Second,
		Failed:  []scheduler.Failure{{Line: 3, Name: "gone.bin", Err: errors.New("every source failed; the last, b.example: http 404 Not Found")}},
		Expired: []scheduler.Failure{{Line: 4, Name: "signed.bin", Err: errors.New("the URL expired (http 403 Forbidden)")}},
		Hosts: []scheduler.HostBytes{
			{Host: "a.example", Bytes: 2*GiB + 11*MiB},
			{Host: "b.example:8443", Bytes: 1*GiB + 3*MiB},
			{Host: "c.example", Bytes: 300 * MiB},
		}}
}

func TestPlainRendererShowsSources(t *testing.T) {
	var out bytes.Buffer
	p := plain{w: &out, every: 10 * time.Second}
	for _, e := range mirroredScript(time.Unix(1e9, 0)) {
		p.event(e)
	}
	p.finish(mirroredSummary())
	want := strings.Join([]string{
		"start big.bin  3.3 GiB",
		"✓ big.bin  3.3 GiB  in 12.0s  281.0 MiB/s  from a.example 2.0 GiB, b.example:8443 1.0 GiB, c.example 300.0 MiB (dropped)",
		"✗ gone.bin: every source failed; the last, b.example: http 404 Not Found (list line 3)  sources: a.example 5.0 MiB (dropped), b.example dropped",
		"⧗ signed.bin: the URL expired (http 403 Forbidden) (list line 4)  sources: a.example 4.0 MiB (dropped), b.example 3.0 MiB (dropped)",
		// A file with one source: its record as it always was.
		"✓ plain.bin  2.0 MiB  in 2.0s  1.0 MiB/s",
		"2 done, 0 skipped, 1 failed, 1 expired, 3.3 GiB in 15.0s (225.7 MiB/s)",
		"by host: a.example 2.0 GiB (61%), b.example:8443 1.0 GiB (30%), c.example 300.0 MiB (9%)",
		"expired (bytes kept; run again with fresh links, or with --refresh-command, to continue):",
		"  ⧗ signed.bin: the URL expired (http 403 Forbidden) (list line 4)",
		"failed:",
		"  ✗ gone.bin: every source failed; the last, b.example: http 404 Not Found (list line 3)",
		"",
	}, "\n")
	if got := out.String(); got != want {
		t.Errorf("plain output:\n%s\nwant:\n%s", got, want)
	}

	// --quiet keeps the failures, with their sources, and leaves out the
	// totals with the bytes per host.
	out.Reset()
	p = plain{w: &out, quiet: true}
	for _, e := range mirroredScript(time.Unix(1e9, 0)) {
		p.event(e)
	}
	p.finish(mirroredSummary())
	if s := out.String(); !strings.Contains(s, "(list line 3)  sources: a.example 5.0 MiB (dropped), b.example dropped\n") ||
		strings.Contains(s, "by host") {
		t.Errorf("quiet output:\n%s", s)
	}
}

func TestHostsLine(t *testing.T) {
	var hosts []scheduler.HostBytes
	for i := range 9 {
		hosts = append(hosts, scheduler.HostBytes{Host: string(rune('a'+i)) + ".example", Bytes: 10 * MiB})
	}
	want := "by host: a.example 10.0 MiB (11%), b.example 10.0 MiB (11%), c.example 10.0 MiB (11%), d.example 10.0 MiB (11%), " +
		"e.example 10.0 MiB (11%), f.example 10.0 MiB (11%), and 3 more 30.0 MiB (33%)"
	if got := hostsLine(hosts); got != want {
		t.Errorf("hostsLine = %q\nwant        %q", got, want)
	}
	// A run that wrote nothing has no shares to give.
	if got := hostsLine([]scheduler.HostBytes{{Host: "a.example"}, {Host: "b.example"}}); got != "by host: a.example 0 B, b.example 0 B" {
		t.Errorf("hostsLine of nothing = %q", got)
	}
	// Without mirrors the summary has no such line.
	var out bytes.Buffer
	writeSummary(&out, scheduler.Summary{Done: 1, Bytes: MiB, Elapsed: time.Second}, false)
	if got := out.String(); got != "1 done, 0 skipped, 0 failed, 1.0 MiB in 1.0s (1.0 MiB/s)\n" {
		t.Errorf("summary without mirrors: %q", got)
	}
}

// TestBarsShowSourcesOfMirroredFiles pins whole bar lines: the sources
// column goes with the connections (100 columns and up), the names give it
// room, and a run without mirrors draws exactly what it drew before them.
func TestBarsShowSourcesOfMirroredFiles(t *testing.T) {
	mirrored := scheduler.FileProgress{Line: 2, Name: "weights/model-00001-of-00004.safetensors", Bytes: 400 * MiB,
		Total: 1000 * MiB, Conns: 12, Sources: []scheduler.SourceProgress{
			{Index: 0, Host: "a.example", Conns: 4},
			{Index: 1, Host: "b.example", Conns: 8},
			{Index: 2, Host: "c.example", Dropped: "http 503 Service Unavailable, 5 times"},
		}}
	single := scheduler.FileProgress{Line: 3, Name: "single.bin", Bytes: 1 * MiB, Total: 8 * MiB, Conns: 1}
	unmirrored := mirrored
	unmirrored.Sources = nil
	cases := []struct {
		name  string
		width int
		files []scheduler.FileProgress
		want  []string
	}{
		{"wide", 150, []scheduler.FileProgress{mirrored, single}, []string{
			"weights/model-00001-of-00004.safetensors [========================>----------]  700.0 MiB / 1000.0 MiB 70% 100.0 MiB/s  ETA 3s  12 conns  2/3 sources\n",
			"single.bin                               [===>-------------------------------]       1.0 MiB / 8.0 MiB 12%       0 B/s  ETA -     1 conn             \n",
		}},
		{"100 columns", 100, []scheduler.FileProgress{mirrored, single}, []string{
			"weights…etensors [=====>---]  700.0 MiB / 1000.0 MiB 70% 100.0 MiB/s  ETA 3s  12 conns  2/3 sources\n",
			"single.bin       [>--------]       1.0 MiB / 8.0 MiB 12%       0 B/s  ETA -     1 conn             \n",
		}},
		// Too narrow for the connections: the sources go with them.
		{"80 columns", 80, []scheduler.FileProgress{mirrored, single}, []string{
			"weights…etensors [======>---]  700.0 MiB / 1000.0 MiB 70% 100.0 MiB/s  ETA 3s  \n",
			"single.bin       [>---------]       1.0 MiB / 8.0 MiB 12%       0 B/s  ETA -   \n",
		}},
		// As drawn before mirrors (checked against the commit before them).
		{"no mirrors", 100, []scheduler.FileProgress{unmirrored, single}, []string{
			"weights/model…04.safetensors [======>---]  700.0 MiB / 1000.0 MiB 70% 100.0 MiB/s  ETA 3s  12 conns\n",
			"single.bin                   [>---------]       1.0 MiB / 8.0 MiB 12%       0 B/s  ETA -     1 conn\n",
			"total 0/3 files              [=>--------]    300.0 MiB / ~1.5 GiB 19% 100.0 MiB/s  ETA 12s 13 conns\n",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out lockedBuffer
			b := newBars(&out, barsConfig{refresh: 5 * time.Millisecond, width: tc.width})
			t0 := time.Unix(1e9, 0)
			files := append([]scheduler.FileProgress(nil), tc.files...)
			for i := 1; i <= 3; i++ {
				files[0].Bytes += 100 * MiB
				b.event(scheduler.Event{Kind: scheduler.Progress, Time: t0.Add(time.Duration(i) * time.Second), Files: files,
					BytesDone: int64(i) * 100 * MiB, FilesTotal: 3})
			}
			waitFor(t, &out, tc.want...)
			b.finish(scheduler.Summary{})
		})
	}

	// The file's record, printed above the bars, says what each source
	// delivered; a bar whose file lost a source says so at the next tick.
	var out lockedBuffer
	b := newBars(&out, barsConfig{refresh: 5 * time.Millisecond, width: 150})
	t0 := time.Unix(1e9, 0)
	two := mirrored
	two.Sources = two.Sources[:2]
	for i := 1; i <= 2; i++ {
		b.event(scheduler.Event{Kind: scheduler.Progress, Time: t0.Add(time.Duration(i) * time.Second),
			Files: []scheduler.FileProgress{two}, FilesTotal: 1})
	}
	waitFor(t, &out, "12 conns  2 sources\n")
	b.event(scheduler.Event{Kind: scheduler.Progress, Time: t0.Add(3 * time.Second),
		Files: []scheduler.FileProgress{mirrored}, FilesTotal: 1})
	waitFor(t, &out, "12 conns  2/3 sources\n")
	b.event(scheduler.Event{Kind: scheduler.Done, Time: t0.Add(4 * time.Second), Line: 2, Name: mirrored.Name,
		Bytes: 1000 * MiB, Total: 1000 * MiB, Elapsed: 4 * time.Second, Sources: []scheduler.SourceProgress{
			{Index: 0, Host: "a.example", Bytes: 400 * MiB},
			{Index: 1, Host: "b.example", Bytes: 600 * MiB},
			{Index: 2, Host: "c.example", Dropped: "http 503 Service Unavailable, 5 times"},
		}})
	waitFor(t, &out, "✓ weights/model-00001-of-00004.safetensors  1000.0 MiB  in 4.0s  250.0 MiB/s  from a.example 400.0 MiB, b.example 600.0 MiB, c.example dropped\n")
	b.finish(mirroredSummary())
	if s := out.String(); !strings.Contains(s, "\nby host: a.example 2.0 GiB (61%), b.example:8443 1.0 GiB (30%), c.example 300.0 MiB (9%)\n") {
		t.Errorf("bars summary lacks the bytes per host:\n%s", s)
	}
}

func TestJSONCarriesSources(t *testing.T) {
	var out bytes.Buffer
	j := newJSONLines(&out, 10*time.Second)
	j.event(scheduler.Event{Kind: scheduler.Progress, Time: time.Unix(1e9-20, 0)}) // starts the interval
	for _, e := range mirroredScript(time.Unix(1e9, 0)) {
		j.event(e)
	}
	j.finish(mirroredSummary())
	assertNoPlanted(t, "json output", out.Bytes())

	byType := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		var head struct{ Type string }
		if err := json.Unmarshal([]byte(line), &head); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		byType[head.Type] = append(byType[head.Type], line)
	}
	// sources (or hosts) as each object has it, in its own JSON text.
	field := func(line, key string) string {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		return string(m[key])
	}
	three := `[{"index":0,"host":"a.example","bytes":2147483648,"connections":6},` +
		`{"index":1,"host":"b.example:8443","bytes":1073741824,"connections":4},` +
		`{"index":2,"host":"c.example","bytes":314572800,"connections":0,"dropped":"http 503 Service Unavailable, 5 times"}]`
	checks := []struct {
		what, got, want string
	}{
		{"done (mirrored)", field(byType["done"][0], "sources"), three},
		{"done (one source)", field(byType["done"][1], "sources"), ""},
		{"failed", field(byType["failed"][0], "sources"),
			`[{"index":0,"host":"a.example","bytes":5242880,"connections":0,"dropped":"http 404 Not Found"},` +
				`{"index":1,"host":"b.example","bytes":0,"connections":0,"dropped":"http 404 Not Found"}]`},
		{"expired", field(byType["expired"][0], "sources"),
			`[{"index":0,"host":"a.example","bytes":4194304,"connections":0,"dropped":"expired"},` +
				`{"index":1,"host":"b.example","bytes":3145728,"connections":0,"dropped":"expired: https://b.example/signed.bin?REDACTED"}]`},
		{"progress", field(byType["progress"][0], "files"),
			`[{"line":2,"file":"big.bin","bytes":209715200,"total":3535798272,"connections":10,"sources":[` +
				`{"index":0,"host":"a.example","bytes":125829120,"connections":6},` +
				`{"index":1,"host":"b.example:8443","bytes":52428800,"connections":4},` +
				`{"index":2,"host":"c.example","bytes":31457280,"connections":0,"dropped":"http 503 Service Unavailable, 5 times"}]},` +
				`{"line":5,"file":"plain.bin","bytes":1048576,"total":2097152,"connections":1}]`},
		{"summary", field(byType["summary"][0], "hosts"),
			`[{"host":"a.example","bytes":2159017984},{"host":"b.example:8443","bytes":1076887552},{"host":"c.example","bytes":314572800}]`},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.what, c.got, c.want)
		}
	}
}

func TestSummaryFileHasBytesPerHost(t *testing.T) {
	for _, tc := range []struct {
		name string
		sum  scheduler.Summary
		want string // the hosts field's JSON, "" for absent
	}{
		{"mirrors", mirroredSummary(),
			`[{"host":"a.example","bytes":2159017984},{"host":"b.example:8443","bytes":1076887552},{"host":"c.example","bytes":314572800}]`},
		{"no mirrors", scheduler.Summary{Done: 1, Bytes: MiB}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "run.json")
			r, err := newSummaryReport(path, "l.csv", shardSpec{})
			if err != nil {
				t.Fatal(err)
			}
			r.runDone(tc.sum)
			if err := r.finish(nil, os.Stderr); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if raw, ok := m["hosts"]; ok {
				json.Compact(&got, raw)
			}
			if got.String() != tc.want {
				t.Errorf("hosts = %s, want %s", got.String(), tc.want)
			}
		})
	}
}

// A real run of a list with a mirrors column: every file right, bytes from
// both live sources, the dead one dropped, and the JSON says so.
func TestMirroredListEndToEnd(t *testing.T) {
	a := origin.New(origin.Options{TotalRate: 8 << 20})
	defer a.Close()
	b := origin.New(origin.Options{TotalRate: 8 << 20})
	defer b.Close()
	dead := origin.New(origin.Options{})
	deadURL := dead.URL("x")
	dead.Close()
	dir := chdir(t)
	sizes := map[string]int64{"one.bin": 6 << 20, "two.bin": 5 << 20}
	list := "filename,url,mirrors\n"
	for _, n := range []string{"one.bin", "two.bin"} {
		a.Add(n, sizes[n])
		b.Add(n, sizes[n])
		list += fmt.Sprintf("%s,%s,%s %s\n", n, a.URL(n), b.URL(n), strings.TrimSuffix(deadURL, "x")+n)
	}
	if err := os.WriteFile("m.csv", []byte(list), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "--progress", "json", "-k", "256K", "m.csv")
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	for n, size := range sizes {
		if got, want := sha(t, filepath.Join(dir, "m", n)), origin.SHA256Hex(n, 0, size); got != want {
			t.Errorf("%s: sha256 %s, want %s", n, got, want)
		}
	}
	type source struct {
		Host    string
		Bytes   int64
		Dropped string
	}
	var done int
	var hosts []struct {
		Host  string
		Bytes int64
	}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var obj struct {
			Type    string
			File    string
			Bytes   int64
			Sources []source
			Hosts   []struct {
				Host  string
				Bytes int64
			}
		}
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		switch obj.Type {
		case "done":
			done++
			by := map[string]source{}
			for _, s := range obj.Sources {
				by[s.Host] = s
			}
			if len(obj.Sources) != 3 || by[a.Addr()].Bytes == 0 || by[b.Addr()].Bytes == 0 ||
				by[a.Addr()].Bytes+by[b.Addr()].Bytes != sizes[obj.File] {
				t.Errorf("%s: sources %+v, want both live ones to give bytes summing to %d", obj.File, obj.Sources, sizes[obj.File])
			}
			if by[dead.Addr()].Dropped == "" {
				t.Errorf("%s: the dead source is not dropped: %+v", obj.File, obj.Sources)
			}
		case "summary":
			hosts = obj.Hosts
		}
	}
	if done != 2 || len(hosts) != 3 {
		t.Errorf("%d done events, summary hosts %+v", done, hosts)
	}
}
