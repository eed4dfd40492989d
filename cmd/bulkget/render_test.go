package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkget/bulkget/manifest"
	"github.com/bulkget/bulkget/scheduler"
)

// lockedBuffer is written by mpb's goroutine while the test polls it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor polls until the output contains every want, or fails.
func waitFor(t *testing.T, out *lockedBuffer, want ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := out.String()
		missing := ""
		for _, w := range want {
			if !strings.Contains(s, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("output lacks %q after 5s:\n%s", missing, s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

const MiB = 1 << 20

// script is a small run told in events: three files, one resumed, one
// failing, a retry, a warning and a host slowing down.
func script(t0 time.Time) []scheduler.Event {
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	files := func(b2, b3 int64) []scheduler.FileProgress {
		return []scheduler.FileProgress{
			{Line: 2, Name: "weights/model-00001-of-00002.safetensors", Bytes: b2, Total: 100 * MiB, Conns: 3},
			{Line: 3, Name: "missing.bin", Bytes: 0, Total: -1, Conns: 1},
			{Line: 4, Name: "config.json", Bytes: b3, Total: 10 * MiB, Conns: 1},
		}
	}
	return []scheduler.Event{
		{Kind: scheduler.Resumed, Time: at(0), Line: 2, Name: "weights/model-00001-of-00002.safetensors", Bytes: 40 * MiB, Total: 100 * MiB},
		{Kind: scheduler.Started, Time: at(time.Millisecond), Line: 4, Name: "config.json", Total: 10 * MiB, Conns: 1},
		{Kind: scheduler.Progress, Time: at(time.Second), Files: files(50*MiB, 2*MiB), BytesDone: 12 * MiB, FilesTotal: 4},
		{Kind: scheduler.Retrying, Time: at(2 * time.Second), Line: 4, Name: "config.json", Bytes: 2 * MiB, Total: 10 * MiB,
			Attempt: 1, Delay: 1500 * time.Millisecond, Err: errors.New("http 503 Service Unavailable")},
		{Kind: scheduler.HostLimit, Time: at(2 * time.Second), Name: "example.com", Conns: 4, Total: -1,
			Err: errors.New("server refused 8 connections (http 503 Service Unavailable); now at most 4")},
		{Kind: scheduler.Warning, Time: at(3 * time.Second), Line: 4, Name: "config.json", Total: -1,
			Err: errors.New("the server ignored the range: restarting from zero")},
		{Kind: scheduler.Progress, Time: at(11 * time.Second), Files: files(90*MiB, 8*MiB), BytesDone: 58 * MiB, FilesTotal: 4},
		{Kind: scheduler.Failed, Time: at(12 * time.Second), Line: 3, Name: "missing.bin", Total: -1,
			Err: errors.New("http 404 Not Found")},
		{Kind: scheduler.Done, Time: at(13 * time.Second), Line: 2, Name: "weights/model-00001-of-00002.safetensors",
			Bytes: 100 * MiB, Total: 100 * MiB, Elapsed: 12 * time.Second},
		{Kind: scheduler.Skipped, Time: at(13 * time.Second), Line: 5, Name: "README.md", Total: -1},
		{Kind: scheduler.Done, Time: at(14 * time.Second), Line: 4, Name: "config.json", Bytes: 10 * MiB, Total: 10 * MiB,
			Elapsed: 14 * time.Second},
	}
}

func scriptSummary() scheduler.Summary {
	return scheduler.Summary{Done: 2, Skipped: 1, Bytes: 70 * MiB, Elapsed: 14 * time.Second,
		Failed: []scheduler.Failure{{Line: 3, Name: "missing.bin", Err: errors.New("http 404 Not Found")}}}
}

func TestPlainRenderer(t *testing.T) {
	cases := []struct {
		name   string
		p      plain
		want   []string // in this order
		absent []string
	}{
		{"normal", plain{every: 10 * time.Second}, []string{
			"↻ weights/model-00001-of-00002.safetensors: resuming at 40.0 MiB of 100.0 MiB",
			"start config.json  10.0 MiB",
			"retry config.json: http 503 Service Unavailable (attempt 1, next try in 1.5s)",
			"host example.com slowed down: server refused 8 connections",
			"warning config.json: the server ignored the range",
			// 98 MiB on disk; 110 MiB known, and two files (one of unknown
			// size, one not started) counted at the average: ~220 MiB. The
			// speed is of this run's bytes only: 58 MiB in 11 s.
			"progress 0/4 files  98.0 MiB / ~220.0 MiB (45%)  5.3 MiB/s  ETA ~23s  3 in progress",
			"✗ missing.bin: http 404 Not Found (list line 3)",
			// 60 MiB of it in this run, in 12 s.
			"✓ weights/model-00001-of-00002.safetensors  100.0 MiB  in 12.0s  5.0 MiB/s",
			"= README.md: already downloaded, skipped",
			"✓ config.json  10.0 MiB  in 14.0s  731.4 KiB/s",
			"2 done, 1 skipped, 1 failed, 70.0 MiB in 14.0s (5.0 MiB/s)",
			"failed:\n  ✗ missing.bin: http 404 Not Found (list line 3)",
		}, nil},
		{"quiet", plain{quiet: true, every: 10 * time.Second}, []string{
			"✗ missing.bin: http 404 Not Found (list line 3)",
			"failed:\n  ✗ missing.bin",
		}, []string{"✓", "progress", "retry", "done,"}},
		{"none", plain{silent: true}, []string{
			"2 done, 1 skipped, 1 failed",
			"failed:\n  ✗ missing.bin",
		}, []string{"✓", "progress", "retry", "start"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			p := tc.p
			p.w = &out
			for _, e := range script(time.Unix(1e9, 0)) {
				p.event(e)
			}
			p.finish(scriptSummary())
			s, rest := out.String(), out.String()
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("output lacks %q (in this order):\n%s", w, s)
				}
				rest = rest[i+len(w):]
			}
			for _, a := range tc.absent {
				if strings.Contains(s, a) {
					t.Errorf("output has %q:\n%s", a, s)
				}
			}
		})
	}
}

func TestBarsRenderer(t *testing.T) {
	var out lockedBuffer
	rows := 7 // room for 3 file bars
	var rowsMu sync.Mutex
	b := newBars(&out, barsConfig{refresh: 5 * time.Millisecond, width: 150, rows: func() int {
		rowsMu.Lock()
		defer rowsMu.Unlock()
		return rows
	}})
	t0 := time.Unix(1e9, 0)
	b.event(scheduler.Event{Kind: scheduler.Resumed, Time: t0, Line: 2, Name: "a.bin", Bytes: 40 * MiB, Total: 100 * MiB})
	progress := func(d time.Duration, bytes int64, files ...scheduler.FileProgress) {
		b.event(scheduler.Event{Kind: scheduler.Progress, Time: t0.Add(d), Files: files, BytesDone: bytes, FilesTotal: 6})
	}
	long := "datasets/common-crawl/2024-10/segments/1727944253093.78/warc/CC-MAIN-20241003-00000.warc.gz"
	five := []scheduler.FileProgress{
		{Line: 2, Name: "a.bin", Bytes: 40 * MiB, Total: 100 * MiB, Conns: 4},
		{Line: 3, Name: long, Bytes: 1 * MiB, Total: 8 * MiB, Conns: 1},
		{Line: 4, Name: "c.bin", Bytes: 0, Total: -1, Conns: 1},
		{Line: 5, Name: "d.bin", Bytes: 0, Total: 1 * MiB, Conns: 1},
		{Line: 6, Name: "e.bin", Bytes: 0, Total: 1 * MiB, Conns: 1},
	}
	progress(250*time.Millisecond, 1*MiB, five...)
	if len(b.shown) != 0 {
		t.Errorf("bars for files seen on one tick only")
	}
	progress(500*time.Millisecond, 1*MiB, five...)
	// A resumed file's bar starts at what is on disk, and the files beyond
	// the screen are counted, not drawn.
	waitFor(t, &out, "a.bin", "40.0 MiB / 100.0 MiB", "40%", "4 conns", "+2 more in progress",
		"total 0/6 files", "c.bin", "0 B / ?", shorten(long, nameWidth(150)))
	if strings.Contains(out.String(), "d.bin ") {
		t.Errorf("a fourth file bar on a screen with room for three:\n%s", out.String())
	}
	five[0].Bytes = 60 * MiB
	progress(1500*time.Millisecond, 21*MiB, five...)
	// 20 MiB in one second on the bar of a.bin, and on the total.
	waitFor(t, &out, "60.0 MiB / 100.0 MiB", "20.0 MiB/s")

	// The terminal grows: the hidden files get bars. It shrinks: the newest
	// bars go.
	rowsMu.Lock()
	rows = 40
	rowsMu.Unlock()
	progress(1750*time.Millisecond, 21*MiB, five...)
	if len(b.shown) != 5 || b.hidden.Load() != 0 {
		t.Errorf("after growing: %d bars, %d hidden; want 5, 0", len(b.shown), b.hidden.Load())
	}
	rowsMu.Lock()
	rows = 6
	rowsMu.Unlock()
	progress(2000*time.Millisecond, 21*MiB, five...)
	if len(b.shown) != 2 || b.hidden.Load() != 3 || b.shown[0].line != 2 || b.shown[1].line != 3 {
		t.Errorf("after shrinking: %d bars, %d hidden; want a.bin and the long one, 3 hidden", len(b.shown), b.hidden.Load())
	}

	b.event(scheduler.Event{Kind: scheduler.Done, Time: t0.Add(2 * time.Second), Line: 2, Name: "a.bin",
		Bytes: 100 * MiB, Total: 100 * MiB, Elapsed: 2 * time.Second})
	b.event(scheduler.Event{Kind: scheduler.Failed, Time: t0.Add(2 * time.Second), Line: 3, Name: long,
		Err: errors.New("http 404 Not Found"), Total: -1})
	b.event(scheduler.Event{Kind: scheduler.Retrying, Time: t0.Add(2 * time.Second), Line: 4, Name: "c.bin",
		Attempt: 2, Delay: time.Second, Err: errors.New("connection reset by peer")})
	// 60 MiB in this run in 2 s, not 100 MiB.
	waitFor(t, &out, "✓ a.bin  100.0 MiB  in 2.0s  30.0 MiB/s", "✗ "+long+": http 404 Not Found (list line 3)",
		"retry c.bin: connection reset by peer (attempt 2, next try in 1.0s)")
	if _, ok := b.byLine[2]; ok {
		t.Errorf("a.bin still has a bar after it is done")
	}

	b.finish(scriptSummary())
	s := out.String()
	end := s[strings.LastIndex(s, "✗ "+long):]
	if !strings.HasSuffix(s, "2 done, 1 skipped, 1 failed, 70.0 MiB in 14.0s (5.0 MiB/s)\n"+
		"failed:\n  ✗ missing.bin: http 404 Not Found (list line 3)\n") {
		t.Errorf("output does not end with the summary:\n%s", end)
	}
}

func TestShorten(t *testing.T) {
	cases := []struct {
		name  string
		width int
		want  string
	}{
		{"short.bin", 20, "short.bin"},
		{"exactly-ten", 11, "exactly-ten"},
		{"weights/model-00001-of-00004.safetensors", 21, "weights/mo…afetensors"},
		{"weights/model-00001-of-00004.safetensors", 38, "weig…/model-00001-of-00004.safetensors"},
		{"a/b/c/d/e/f/g/h/i/j/k/file.bin", 14, "a/b/…/file.bin"},
		{"ünïcödé-ñame-that-is-long.bin", 12, "ünïcö…ng.bin"},
		{"tiny", 3, "tiny"},
	}
	for _, tc := range cases {
		got := shorten(tc.name, tc.width)
		if got != tc.want {
			t.Errorf("shorten(%q, %d) = %q, want %q", tc.name, tc.width, got, tc.want)
		}
		if n := len([]rune(got)); n > tc.width && tc.width >= 5 {
			t.Errorf("shorten(%q, %d) is %d wide", tc.name, tc.width, n)
		}
	}
}

// TestJSONSchema pins the field names of every object type: they are an
// interface, documented in the README, that scripts depend on.
func TestJSONSchema(t *testing.T) {
	var out bytes.Buffer
	j := newJSONLines(&out, 10*time.Second)
	j.BadLines([]*manifest.LineError{{Line: 7, Reason: "no url"}})
	for _, e := range script(time.Unix(1e9, 0)) {
		j.event(e)
	}
	j.finish(scriptSummary())

	want := map[string][]string{
		"invalid":  {"type", "time", "line", "error"},
		"resumed":  {"type", "time", "line", "file", "bytes", "total"},
		"started":  {"type", "time", "line", "file", "total"},
		"retry":    {"type", "time", "line", "file", "bytes", "total", "attempt", "delay_ms", "error"},
		"host":     {"type", "time", "host", "connections", "error"},
		"warning":  {"type", "time", "line", "file", "error"},
		"progress": {"type", "time", "files_done", "files_total", "bytes", "total", "total_estimated", "speed", "eta_ms", "files"},
		"failed":   {"type", "time", "line", "file", "bytes", "error"},
		"done":     {"type", "time", "line", "file", "bytes", "elapsed_ms", "speed", "verified"},
		"skipped":  {"type", "time", "line", "file"},
		"summary":  {"type", "time", "done", "skipped", "failed", "expired", "invalid", "bytes", "elapsed_ms", "speed", "interrupted"},
	}
	var types []string
	var objs []map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		typ, _ := m["type"].(string)
		types = append(types, typ)
		objs = append(objs, m)
		keys := slices.Sorted(maps.Keys(m))
		if w := slices.Sorted(slices.Values(want[typ])); !slices.Equal(keys, w) {
			t.Errorf("%s: fields %v, want %v", typ, keys, w)
		}
		if _, err := time.Parse(time.RFC3339Nano, m["time"].(string)); err != nil {
			t.Errorf("%s: time: %v", typ, err)
		}
	}
	// One progress object: the first tick comes before --progress-interval.
	wantTypes := []string{"invalid", "resumed", "started", "retry", "host", "warning", "progress", "failed", "done",
		"skipped", "done", "summary"}
	if !slices.Equal(types, wantTypes) {
		t.Fatalf("types %v, want %v", types, wantTypes)
	}
	checks := []struct {
		obj   int
		field string
		want  any
	}{
		{3, "delay_ms", 1500.0},
		{6, "bytes", float64(98 * MiB)},
		{6, "speed", float64(58 * MiB / 11)},
		{7, "line", 3.0},
		{8, "elapsed_ms", 12000.0},
		{8, "speed", float64(60 * MiB / 12)}, // this run's bytes only
		{11, "failed", []any{map[string]any{"line": 3.0, "file": "missing.bin", "error": "http 404 Not Found"}}},
		{11, "invalid", []any{map[string]any{"line": 7.0, "error": "no url"}}},
		{11, "elapsed_ms", 14000.0},
	}
	for _, c := range checks {
		got, _ := json.Marshal(objs[c.obj][c.field])
		want, _ := json.Marshal(c.want)
		if !bytes.Equal(got, want) {
			t.Errorf("%s.%s = %s, want %s", types[c.obj], c.field, got, want)
		}
	}
}

// TestQueueKeepsOrderAndCoalescesProgress: events reach the renderer in the
// order reported, and a backlog of Progress snapshots shrinks to the latest.
func TestQueueKeepsOrderAndCoalescesProgress(t *testing.T) {
	rec := &recorder{release: make(chan struct{}), stuck: make(chan struct{})}
	q := newQueue(rec)
	q.Report(scheduler.Event{Kind: scheduler.Started, Line: 1})
	<-rec.stuck
	// The renderer is now stuck on the first event; these pile up.
	for i := range 100 {
		q.Report(scheduler.Event{Kind: scheduler.Progress, BytesDone: int64(i)})
	}
	q.Report(scheduler.Event{Kind: scheduler.Done, Line: 1})
	q.Report(scheduler.Event{Kind: scheduler.Progress, BytesDone: 1000})
	close(rec.release)
	q.Close(scheduler.Summary{Done: 1})
	q.Report(scheduler.Event{Kind: scheduler.Failed}) // after Close: dropped
	var got []string
	for _, e := range rec.events {
		got = append(got, e.Kind.String())
	}
	want := []string{"started", "progress", "done", "progress"}
	if !slices.Equal(got, want) || rec.events[1].BytesDone != 99 || rec.sum.Done != 1 {
		t.Errorf("renderer saw %v (progress %d), summary %v; want %v (progress 99)", got, rec.events[1].BytesDone, rec.sum, want)
	}
}

type recorder struct {
	release chan struct{}
	stuck   chan struct{} // closed when the first event has arrived
	events  []scheduler.Event
	sum     scheduler.Summary
}

func (r *recorder) event(e scheduler.Event) {
	if len(r.events) == 0 {
		if r.stuck != nil {
			close(r.stuck)
		}
		<-r.release
	}
	r.events = append(r.events, e)
}

func (r *recorder) finish(s scheduler.Summary) { r.sum = s }

func TestScreenClimbsOverWrappedLines(t *testing.T) {
	var out bytes.Buffer
	s := newScreen(&out, -1)
	s.width = 100
	s.Write([]byte("✓ done.bin\n" + strings.Repeat("=", 99) + "\n" + strings.Repeat("-", 60) + "\n"))
	if err := s.Flush(2); err != nil {
		t.Fatal(err)
	}
	// The terminal is now 50 wide: the 99-wide bar line takes 2 rows, the
	// 60-wide one 2 rows.
	s.width = 50
	out.Reset()
	s.Write([]byte("bar\n"))
	s.Flush(1)
	if got := out.String(); got != "\r\x1b[4A\x1b[Jbar\n" {
		t.Errorf("redraw wrote %q, want to climb 4 rows", got)
	}
}

func TestETAAndFormat(t *testing.T) {
	if d, ok := eta(100*MiB, 10*MiB); !ok || d != 10*time.Second {
		t.Errorf("eta = %v %v", d, ok)
	}
	if _, ok := eta(100, 0); ok {
		t.Errorf("eta at speed 0 is known")
	}
	for d, want := range map[time.Duration]string{
		850 * time.Millisecond:                 "850ms",
		3200 * time.Millisecond:                "3.2s",
		3*time.Minute + 12400*time.Millisecond: "3m12s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// A warning about the whole run has no file: plain says "warning: …" and
// JSON leaves out line and file rather than give line 0 and an empty name.
func TestSkippedLineSaysWhyWhenItIsNotJustThere(t *testing.T) {
	e := scheduler.Event{Kind: scheduler.Skipped, Name: "a.bin"}
	if got := skippedLine(e); got != "= a.bin: already downloaded, skipped" {
		t.Errorf("plain skip: %q", got)
	}
	e.Reason = "unchanged on the server"
	if got := skippedLine(e); got != "= a.bin: unchanged on the server, skipped" {
		t.Errorf("skip with --update: %q", got)
	}
}

func TestRunWarningHasNoFile(t *testing.T) {
	e := scheduler.Event{Kind: scheduler.Warning, Time: time.Unix(1e9, 0), Total: -1,
		Err: errors.New("the limit on open files (24, see ulimit -n) leaves room for 4 connections, not 16; using 4")}
	var out bytes.Buffer
	p := plain{w: &out}
	p.event(e)
	if got, want := out.String(), "warning: the limit on open files (24, see ulimit -n) leaves room for 4 connections, not 16; using 4\n"; got != want {
		t.Errorf("plain: %q, want %q", got, want)
	}
	out.Reset()
	j := newJSONLines(&out, 10*time.Second)
	j.event(e)
	var obj map[string]any
	if err := json.Unmarshal(out.Bytes(), &obj); err != nil {
		t.Fatalf("json: %q: %v", out.String(), err)
	}
	if msg, _ := obj["error"].(string); obj["type"] != "warning" || !strings.HasSuffix(msg, "using 4") {
		t.Errorf("json: %v", obj)
	}
	for _, k := range []string{"line", "file"} {
		if _, ok := obj[k]; ok {
			t.Errorf("json run warning has %q: %v", k, obj)
		}
	}
}
