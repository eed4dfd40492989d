package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// stream writes event lines with times relative to t0.
type stream struct{ bytes.Buffer }

func (s *stream) add(at time.Duration, format string, a ...any) {
	fmt.Fprintf(s, `{"time":"%s",`, t0.Add(at).Format("2006-01-02T15:04:05.000Z07:00"))
	fmt.Fprintf(s, format, a...)
	s.WriteString("}\n")
}

// figures reads the figures block back out of a page, as tools would.
func figures(t *testing.T, page []byte) Figures {
	t.Helper()
	m := regexp.MustCompile(`<script type="application/json" id="bulkget-figures">(.*?)</script>`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("no figures block in the page")
	}
	var fg Figures
	if err := json.Unmarshal(m[1], &fg); err != nil {
		t.Fatalf("figures: %v: %s", err, m[1])
	}
	return fg
}

func render(t *testing.T, b *Builder) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := b.Render(&out); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestFiguresCountEventsAndHideSecrets(t *testing.T) {
	var s stream
	s.add(0, `"type":"run","version":"x","limit":1048576,"connections":8,"per_host":4,"adaptive":false`)
	s.add(0, `"type":"started","line":2,"file":"a.bin","host":"one.example","total":3000`)
	s.add(10*time.Millisecond, `"type":"started","line":3,"file":"b.bin","host":"user:hunter2@two.example:8443","total":5000`)
	s.add(time.Second, `"type":"progress","files_total":2,"files":[{"line":2,"file":"a.bin","bytes":1000,"total":3000,"connections":2},`+
		`{"line":3,"file":"b.bin","bytes":500,"total":5000,"connections":1}]`)
	s.add(1200*time.Millisecond, `"type":"retry","line":2,"file":"a.bin","bytes":1000,"total":3000,"attempt":1,"delay_ms":0,`+
		`"error":"GET https://one.example/a.bin?sig=REDACTED: 503 Service Unavailable"`)
	s.add(1500*time.Millisecond, `"type":"host","host":"one.example","connections":1,"error":"server refused requests at 2 connections (503); now at most 1"`)
	s.add(2*time.Second, `"type":"done","line":2,"file":"a.bin","bytes":3000,"elapsed_ms":2000,"verified":"sha256 from list"`)
	s.add(2500*time.Millisecond, `"type":"failed","line":3,"file":"b.bin","bytes":700,`+
		`"error":"GET https://user:hunter2@two.example:8443/b.bin?token=topsecret: 404 Not Found"`)
	s.add(2600*time.Millisecond, `"type":"summary","done":1,"skipped":0,"failed":[{"line":3,"file":"b.bin","error":"404"}],`+
		`"expired":[],"invalid":[],"bytes":3700,"elapsed_ms":2600,"interrupted":false`)
	s.WriteString("not an event\n")
	b := New()
	b.Write(s.Bytes())
	page := render(t, b)
	fg := figures(t, page)
	if fg.Bytes != 3700 || fg.ResidualBytes != 0 || fg.Done != 1 || fg.Failed != 1 || fg.State != "finished with failures" {
		t.Errorf("figures %+v", fg)
	}
	want := []HostFigure{{Host: "one.example", Bytes: 3000, Refused: 1, Cuts: 1, Peak: 2},
		{Host: "two.example:8443", Bytes: 700, Peak: 1}}
	if fmt.Sprint(fg.Hosts) != fmt.Sprint(want) {
		t.Errorf("hosts %+v, want %+v", fg.Hosts, want)
	}
	for _, secret := range []string{"hunter2", "topsecret", "user:"} {
		if bytes.Contains(page, []byte(secret)) {
			t.Errorf("the page holds %q", secret)
		}
	}
	for _, has := range []string{"limit 1.0 MiB/s", "404 Not Found", "sha256 from list", "b.bin"} {
		if !bytes.Contains(page, []byte(has)) {
			t.Errorf("the page lacks %q", has)
		}
	}
	if b.skipped != 1 {
		t.Errorf("%d lines skipped, want 1", b.skipped)
	}
}

func TestInterruptedRunGivesSummaryBytesToHostsStillDelivering(t *testing.T) {
	var s stream
	s.add(0, `"type":"started","line":2,"file":"a","host":"one","total":10000`)
	s.add(0, `"type":"started","line":3,"file":"b","host":"two","total":10000`)
	s.add(0, `"type":"started","line":4,"file":"c","host":"two","total":100`)
	s.add(time.Second, `"type":"progress","files":[{"line":2,"file":"a","bytes":1000,"total":10000,"connections":1},`+
		`{"line":3,"file":"b","bytes":3000,"total":10000,"connections":1},{"line":4,"file":"c","bytes":50,"total":100,"connections":1}]`)
	s.add(1100*time.Millisecond, `"type":"done","line":4,"file":"c","bytes":100,"elapsed_ms":1100,"verified":"none"`)
	s.add(2*time.Second, `"type":"summary","done":1,"bytes":8100,"elapsed_ms":2000,"interrupted":true`)
	b := New()
	b.Write(s.Bytes())
	fg := b.Figures()
	if fg.Bytes != 8100 || fg.ResidualBytes != 4000 || fg.State != "interrupted" || fg.InProgress != 2 {
		t.Fatalf("figures %+v", fg)
	}
	// a had 1000 and b 3000 of the 4000 the events saw of unfinished files:
	// the missing 4000 split the same way (plus one byte of weight each).
	got := map[string]int64{}
	for _, h := range fg.Hosts {
		got[h.Host] = h.Bytes
	}
	if got["one"] != 1000+1000 || got["two"] != 3100+3000 {
		t.Errorf("hosts %v", got)
	}
}

func TestMirrorSpansTakeTheSourceThatDeliveredMost(t *testing.T) {
	var s stream
	s.add(0, `"type":"started","line":2,"file":"m","host":"a","total":300`)
	src := func(a, b int, drop string) string {
		return fmt.Sprintf(`[{"index":0,"host":"a","bytes":%d,"connections":1},{"index":1,"host":"b","bytes":%d,"connections":1,"dropped":%q}]`, a, b, drop)
	}
	s.add(time.Second, `"type":"progress","files":[{"line":2,"file":"m","bytes":110,"total":300,"connections":2,"sources":%s}]`, src(100, 10, ""))
	s.add(2*time.Second, `"type":"progress","files":[{"line":2,"file":"m","bytes":200,"total":300,"connections":1,"sources":%s}]`, src(110, 90, ""))
	s.add(2500*time.Millisecond, `"type":"retry","line":2,"file":"m","attempt":1,"error":"Get \"http://REDACTED@b/m\": connection refused"`)
	s.add(3*time.Second, `"type":"done","line":2,"file":"m","bytes":300,"elapsed_ms":3000,"verified":"none","sources":%s`, src(110, 190, "it failed"))
	b := New()
	b.Write(s.Bytes())
	f := b.files[2]
	var srcs []int
	for _, sp := range f.spans {
		srcs = append(srcs, sp.src)
	}
	if fmt.Sprint(srcs) != "[0 1]" || f.run != 300 {
		t.Errorf("spans from sources %v, run %d; want [0 1], 300", srcs, f.run)
	}
	if f.src[1].dropped != "it failed" {
		t.Errorf("dropped %q", f.src[1].dropped)
	}
	if fg := b.Figures(); fmt.Sprint(fg.Hosts[0].Bytes, fg.Hosts[1].Bytes, fg.Hosts[0].Retries, fg.Hosts[1].Retries) != "190 110 1 0" {
		t.Errorf("hosts %+v", fg.Hosts)
	}
}

// synth writes a run of files over dur: conc files at once, one progress
// line a second, hosts hosts, a retry on every 50th file and a failure on
// every 1000th.
func synth(files int, dur time.Duration, conc, hosts int) *stream {
	var s stream
	s.add(0, `"type":"run","version":"x","limit":0,"connections":%d,"per_host":8,"adaptive":true`, conc)
	const size = 64 << 20
	each := max(dur*time.Duration(conc)/time.Duration(files), time.Second)
	type active struct {
		line     int
		from, to time.Duration
	}
	var act []active
	next, done := 0, 0
	var bytes int64
	at := time.Duration(0)
	for ; done < files; at += time.Second {
		for next < files && len(act) < conc {
			line := next + 2
			from := at
			s.add(from, `"type":"started","line":%d,"file":"dir/file-%06d.bin","host":"h%d.example","total":%d`,
				line, next, next%hosts, size)
			act = append(act, active{line, from, from + each + time.Duration(next%7)*time.Second})
			next++
		}
		var p strings.Builder
		keep := act[:0]
		for _, a := range act {
			name := fmt.Sprintf("dir/file-%06d.bin", a.line-2)
			if at >= a.to {
				done++
				if (a.line-2)%1000 == 999 {
					s.add(at, `"type":"failed","line":%d,"file":%q,"bytes":%d,"error":"404 Not Found"`, a.line, name, size/2)
					bytes += size / 2
				} else {
					s.add(at, `"type":"done","line":%d,"file":%q,"bytes":%d,"elapsed_ms":%d,"verified":"none"`, a.line, name, size,
						(at - a.from).Milliseconds())
					bytes += size
				}
				continue
			}
			keep = append(keep, a)
			frac := float64(at-a.from) / float64(a.to-a.from)
			if p.Len() > 0 {
				p.WriteByte(',')
			}
			fmt.Fprintf(&p, `{"line":%d,"file":%q,"bytes":%d,"total":%d,"connections":4}`, a.line, name, int64(frac*size), size)
			if (a.line-2)%50 == 0 && at == a.from+time.Second {
				s.add(at, `"type":"retry","line":%d,"file":%q,"attempt":1,"error":"429 Too Many Requests"`, a.line, name)
			}
		}
		act = keep
		s.add(at, `"type":"progress","files_total":%d,"files":[%s]`, files, p.String())
	}
	s.add(at, `"type":"summary","done":%d,"bytes":%d,"elapsed_ms":%d,"interrupted":false`, done-files/1000, bytes,
		at.Milliseconds())
	return &s
}

func TestLongRunsStayBounded(t *testing.T) {
	s := synth(3000, 3*time.Hour, 16, 3)
	b := New()
	b.Write(s.Bytes())
	if b.ser.n > maxBuckets || b.ser.n < maxBuckets/2 {
		t.Errorf("%d buckets, want between %d and %d", b.ser.n, maxBuckets/2, maxBuckets)
	}
	var onLine float64
	for h := range b.ser.hosts {
		for _, v := range b.ser.hosts[h].bytes {
			onLine += v
		}
	}
	fg := b.Figures()
	if math.Abs(onLine-float64(fg.Bytes)) > 1 {
		t.Errorf("the time line holds %.0f bytes, the hosts %d", onLine, fg.Bytes)
	}
	for _, f := range b.files {
		if len(f.spans) > maxSpans || len(f.marks) > maxMarks {
			t.Fatalf("file %d keeps %d spans, %d marks", f.line, len(f.spans), len(f.marks))
		}
	}
	if fg.Rows != maxRows || fg.RowsLeftOut != 3000-maxRows {
		t.Errorf("waterfall %d rows, %d left out", fg.Rows, fg.RowsLeftOut)
	}
	rows, _ := b.rows()
	for _, f := range b.files {
		if f.state != fileSkipped && b.took(f) > b.took(rows[len(rows)-1]) {
			found := false
			for _, r := range rows {
				found = found || r == f
			}
			if !found {
				t.Fatalf("file %d (%v) left out, slower than the last drawn (%v)", f.line, b.took(f), b.took(rows[len(rows)-1]))
			}
		}
	}
}

func TestWriteFileReplacesThePageWhole(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/r.html"
	b := New()
	if err := b.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	b.Write(synth(20, time.Minute, 4, 2).Bytes())
	if err := b.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if fg := figures(t, page); fg.Done+fg.Failed != 20 {
		t.Errorf("figures %+v", fg)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("folder holds %d entries, want the page alone", len(ents))
	}
	if err := New().WriteFile(dir + "/missing/r.html"); err == nil || !strings.Contains(err.Error(), "report:") {
		t.Errorf("write into a missing folder: %v", err)
	}
}

// TestScale measures the page of a 100,000-file run and of a 10-hour run
// (docs/benchmarks.md); set BULKGET_REPORT_SCALE=1 to run it.
func TestScale(t *testing.T) {
	if os.Getenv("BULKGET_REPORT_SCALE") == "" {
		t.Skip("set BULKGET_REPORT_SCALE=1 to measure the report of large runs")
	}
	for _, c := range []struct {
		name  string
		files int
		dur   time.Duration
		conc  int
		hosts int
	}{
		{"100000 files", 100000, 2 * time.Hour, 64, 12},
		{"10 hours", 2000, 10 * time.Hour, 16, 4},
	} {
		s := synth(c.files, c.dur, c.conc, c.hosts)
		lines := bytes.Count(s.Bytes(), []byte("\n"))
		start := time.Now()
		b := New()
		b.Write(s.Bytes())
		fed := time.Since(start)
		var page bytes.Buffer
		if err := b.Render(&page); err != nil {
			t.Fatal(err)
		}
		total := time.Since(start)
		data := s.Len()
		s = nil
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		t.Logf("%s: %d event lines (%.1f MiB): fed in %v, page %.2f MiB rendered in %v; heap in use %.1f MiB",
			c.name, lines, float64(data)/(1<<20), fed.Round(time.Millisecond), float64(page.Len())/(1<<20),
			(total - fed).Round(time.Millisecond), float64(ms.HeapInuse-uint64(page.Cap()))/(1<<20))
		runtime.KeepAlive(b)
		if page.Len() > 5<<20 {
			t.Errorf("%s: page of %d bytes, want at most 5 MiB", c.name, page.Len())
		}
		if out := os.Getenv("BULKGET_REPORT_SCALE_OUT"); out != "" {
			os.WriteFile(fmt.Sprintf("%s/%s.html", out, strings.ReplaceAll(c.name, " ", "-")), page.Bytes(), 0o644)
		}
	}
}

func TestHostLinesOfProgressGiveRequestsAndLevel(t *testing.T) {
	var s stream
	s.add(0, `"type":"started","line":2,"file":"a","host":"one","total":100`)
	s.add(time.Second, `"type":"progress","files":[],"hosts":[{"host":"one","connections":3,"limit":5},{"host":"two","connections":2,"limit":2}]`)
	s.add(2*time.Second, `"type":"progress","files":[],"hosts":[{"host":"two","connections":1,"limit":2,"hedges":2}]`)
	s.add(3*time.Second, `"type":"progress","files":[],"hosts":[{"host":"two","connections":1,"limit":2,"hedges":3}]`)
	b := New()
	b.Write(s.Bytes())
	one, two := b.hosts[b.hostIdx["one"]], b.hosts[b.hostIdx["two"]]
	if one.peak != 3 || one.level != 5 || two.peak != 2 || two.level != 2 {
		t.Errorf("one: peak %d, level %d; two: peak %d, level %d", one.peak, one.level, two.peak, two.level)
	}
	if two.marks[markHedge] != 3 {
		t.Errorf("two: %d hedges marked, want 3 (a running count of 2, then 3)", two.marks[markHedge])
	}
	hs := b.ser.host(b.hostIdx["one"])
	if got := hs.inflight[b.ser.index(t0.Add(2*time.Second))]; got != 0 {
		t.Errorf("a host left out of a look has %d requests, want 0", got)
	}
}

func TestNamesFromTheStreamCannotScriptThePage(t *testing.T) {
	var s stream
	evil := `<script>alert(1)</script>"'&`
	s.add(0, `"type":"started","line":2,"file":%q,"host":%q,"total":10`, evil, evil)
	s.add(time.Second, `"type":"failed","line":2,"file":%q,"bytes":5,"error":%q`, evil, evil)
	s.add(time.Second, `"type":"warning","error":%q`, evil)
	b := New()
	b.Write(s.Bytes())
	page := render(t, b)
	if n := bytes.Count(page, []byte("<script")); n != 1 { // the figures block alone
		t.Errorf("%d script elements in the page, want 1", n)
	}
	if fg := figures(t, page); fg.Failed != 1 || fg.Hosts[0].Host != evil {
		t.Errorf("figures %+v", fg)
	}
}

func TestThousandsOfHostsShareATimeLine(t *testing.T) {
	b := New()
	b.Write(synth(2000, time.Hour, 16, 500).Bytes())
	if len(b.ser.hosts) > maxSeriesHosts+1 || len(b.hosts) != 500 {
		t.Errorf("%d time lines for %d hosts", len(b.ser.hosts), len(b.hosts))
	}
	var onLine float64
	for _, hs := range b.ser.hosts {
		for _, v := range hs.bytes {
			onLine += v
		}
	}
	fg := b.Figures()
	if math.Abs(onLine-float64(fg.Bytes)) > 1 || len(fg.Hosts) != 500 {
		t.Errorf("time line %.0f bytes, figures %d over %d hosts", onLine, fg.Bytes, len(fg.Hosts))
	}
	page := render(t, b)
	if !bytes.Contains(page, []byte("492 other hosts")) {
		t.Errorf("the throughput does not gather the hosts beyond the %d drawn", maxStacked)
	}
}
