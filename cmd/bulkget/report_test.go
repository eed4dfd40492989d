package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulkget/bulkget/folderlock"
	"github.com/bulkget/bulkget/internal/origin"
	"github.com/bulkget/bulkget/report"
)

// streamSummary is the summary line of a --progress json stream.
type streamSummary struct {
	Done        int
	Failed      []jsonFailure
	Bytes       int64
	Interrupted bool
	Hosts       []jsonHost
}

func summaryLine(t *testing.T, stream string) streamSummary {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(stream), "\n") {
		var head struct{ Type string }
		if json.Unmarshal([]byte(line), &head) == nil && head.Type == "summary" {
			var s streamSummary
			if err := json.Unmarshal([]byte(line), &s); err != nil {
				t.Fatal(err)
			}
			return s
		}
	}
	t.Fatalf("no summary line in the stream:\n%s", stream)
	return streamSummary{}
}

// pageFigures reads the figures a report page embeds.
func pageFigures(t *testing.T, path string) report.Figures {
	t.Helper()
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`<script type="application/json" id="bulkget-figures">(.*?)</script>`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("%s has no figures", path)
	}
	var fg report.Figures
	if err := json.Unmarshal(m[1], &fg); err != nil {
		t.Fatal(err)
	}
	return fg
}

// checkAgainstSummary compares what the page counted from the events with
// what the run's summary says: total bytes, files, bytes per host.
func checkAgainstSummary(t *testing.T, fg report.Figures, s streamSummary, onlyHost string) {
	t.Helper()
	if fg.Bytes != s.Bytes || fg.Done != s.Done || fg.Failed != len(s.Failed) {
		t.Errorf("page: %d bytes, %d done, %d failed; summary: %d bytes, %d done, %d failed",
			fg.Bytes, fg.Done, fg.Failed, s.Bytes, s.Done, len(s.Failed))
	}
	want := map[string]int64{}
	for _, h := range s.Hosts {
		want[h.Host] = h.Bytes
	}
	if len(s.Hosts) == 0 && onlyHost != "" {
		want[onlyHost] = s.Bytes
	}
	got := map[string]int64{}
	for _, h := range fg.Hosts {
		if h.Bytes > 0 || want[h.Host] > 0 {
			got[h.Host] = h.Bytes
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("bytes per host: page %v, summary %v", got, want)
	}
}

// sameFromStream builds the page again from the saved stream with
// `bulkget report` and checks it counts the same.
func sameFromStream(t *testing.T, stream string, fg report.Figures) {
	t.Helper()
	if err := os.WriteFile("events.jsonl", []byte(stream), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "report", "events.jsonl", "-o", "again.html")
	if code != exitOK {
		t.Fatalf("bulkget report: exit %d: %s", code, stderr)
	}
	again := pageFigures(t, "again.html")
	perHost := func(fg report.Figures) string {
		m := map[string]int64{}
		for _, h := range fg.Hosts {
			m[h.Host] = h.Bytes
		}
		return fmt.Sprint(m)
	}
	if again.Bytes != fg.Bytes || again.Done != fg.Done || again.Failed != fg.Failed || perHost(again) != perHost(fg) {
		t.Errorf("from the saved stream: %+v\nfrom --report: %+v", again, fg)
	}
}

// chromium is the path of a headless-capable Chromium; it skips t when
// there is none, or with -short.
func chromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no screenshot")
	}
	for _, c := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	t.Skip("no chromium on PATH (apt-get install chromium)")
	return ""
}

// inChromium renders page in headless Chromium into a PNG and returns it
// with the console messages the page caused (script errors among them).
func inChromium(t *testing.T, browser, page string) (png string, console []string) {
	t.Helper()
	abs, err := filepath.Abs(page)
	if err != nil {
		t.Fatal(err)
	}
	png = filepath.Join(t.TempDir(), "page.png")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--enable-logging=stderr", "--v=0", "--user-data-dir="+t.TempDir(), "--screenshot="+png,
		"--window-size=1400,2000", "file://"+abs)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, ":CONSOLE") || strings.Contains(line, "Uncaught") {
			console = append(console, line)
		}
	}
	if st, err := os.Stat(png); err != nil || st.Size() < 2<<10 {
		t.Fatalf("no screenshot %s (%v); chromium said:\n%s", png, err, out)
	}
	return png, console
}

// screenshot renders the page in headless Chromium, as a subtest that
// skips without Chromium or with -short, and fails on any console message
// (the page has no script: any message is an error). BULKGET_SCREENSHOTS=DIR
// keeps the PNG there as NAME.png (how docs/ gets its pictures).
func screenshot(t *testing.T, page, name string) {
	t.Run("screenshot", func(t *testing.T) {
		png, console := inChromium(t, chromium(t), page)
		for _, line := range console {
			t.Errorf("chromium console: %s", line)
		}
		b, err := os.ReadFile(png)
		if err != nil || len(b) < 20<<10 {
			t.Fatalf("screenshot of %d bytes (%v): a blank page?", len(b), err)
		}
		if dir := os.Getenv("BULKGET_SCREENSHOTS"); dir != "" {
			if err := os.WriteFile(filepath.Join(dir, name+".png"), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestReportScreenshotsCatchScriptErrors proves the check of the screenshots: a
// page whose script fails is caught.
func TestReportScreenshotsCatchScriptErrors(t *testing.T) {
	browser := chromium(t)
	page := filepath.Join(t.TempDir(), "bad.html")
	os.WriteFile(page, []byte("<!DOCTYPE html><p>hi</p><script>notDefined()</script>"), 0o644)
	if _, console := inChromium(t, browser, page); len(console) == 0 {
		t.Errorf("a script error went unnoticed")
	}
}

// longer says whether the runs should last long enough to make good
// pictures (when the screenshots are kept for docs/).
func longer() bool { return os.Getenv("BULKGET_SCREENSHOTS") != "" }

func TestReportOfTheDemo(t *testing.T) {
	chdir(t)
	args := []string{"demo", "--files", "6", "--size", "6M", "--conn-rate", "8M", "--latency", "0s", "-c", "8",
		"--min-segment", "512K", "--no-compare"}
	if longer() {
		args = []string{"demo", "--no-compare"}
	}
	code, stdout, stderr := runCLI(t, append(args, "--progress", "json", "--report", "demo.html")...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	fg := pageFigures(t, "demo.html")
	s := summaryLine(t, stdout)
	if fg.State != "finished" || fg.ResidualBytes != 0 || len(fg.Hosts) != 1 || fg.Rows != s.Done {
		t.Errorf("figures %+v", fg)
	}
	checkAgainstSummary(t, fg, s, fg.Hosts[0].Host)
	sameFromStream(t, stdout, fg)
	screenshot(t, "demo.html", "report-demo")
}

func TestReportOfARefusingHost(t *testing.T) {
	srv := origin.New(origin.Options{MaxInFlight: 2, OverloadStatus: 503, OverloadRetryAfter: "0", PerConnRate: 4 << 20})
	defer srv.Close()
	chdir(t)
	list := "filename,url\n"
	for i := range 6 {
		name := fmt.Sprintf("r%d.bin", i)
		srv.Add(name, 1<<20)
		list += name + "," + srv.URL(name) + "\n"
	}
	os.WriteFile("l.csv", []byte(list), 0o644)
	code, stdout, stderr := runCLI(t, "--progress", "json", "-c", "8", "--min-segment", "256K", "--report", "r.html", "l.csv")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	fg := pageFigures(t, "r.html")
	checkAgainstSummary(t, fg, summaryLine(t, stdout), srv.Addr())
	if h := fg.Hosts[0]; h.Refused == 0 || h.Cuts == 0 {
		t.Errorf("a host answering 503 beyond 2 requests shows %d refusals and %d limit cuts", h.Refused, h.Cuts)
	}
	sameFromStream(t, stdout, fg)
	screenshot(t, "r.html", "report-refusing")
}

func TestReportOfMirrorsWithOneSourceDying(t *testing.T) {
	rate, files, size := int64(8<<20), 4, int64(3<<20)
	if longer() {
		rate, files, size = 4<<20, 6, 12<<20
	}
	a := origin.New(origin.Options{TotalRate: rate})
	defer a.Close()
	b := origin.New(origin.Options{TotalRate: rate})
	defer b.Close()
	c := origin.New(origin.Options{TotalRate: rate})
	defer c.Close()
	chdir(t)
	list := "filename,url,mirrors\n"
	for i := range files {
		name := fmt.Sprintf("m%d.bin", i)
		for _, o := range []*origin.Server{a, b, c} {
			o.Add(name, size)
		}
		list += fmt.Sprintf("%s,%s,%s %s\n", name, a.URL(name), b.URL(name), c.URL(name))
	}
	os.WriteFile("m.csv", []byte(list), 0o644)
	done := make(chan struct{})
	go func() { // b dies once it has served a few MiB
		defer close(done)
		for b.Stats().BytesServed < 3*size/4 {
			time.Sleep(10 * time.Millisecond)
		}
		b.Close()
	}()
	code, stdout, stderr := runCLI(t, "--progress", "json", "-c", "12", "--min-segment", "256K", "--report", "m.html", "m.csv")
	<-done
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	fg := pageFigures(t, "m.html")
	s := summaryLine(t, stdout)
	if len(s.Hosts) != 3 {
		t.Fatalf("summary hosts %+v", s.Hosts)
	}
	checkAgainstSummary(t, fg, s, "")
	page, _ := os.ReadFile("m.html")
	if !bytes.Contains(page, []byte("dropped: ")) {
		t.Errorf("the page does not say a source was dropped")
	}
	sameFromStream(t, stdout, fg)
	screenshot(t, "m.html", "report-mirrors")
}

func TestReportOfAnInterruptedRun(t *testing.T) {
	srv := origin.New(origin.Options{PerConnRate: 512 << 10})
	defer srv.Close()
	srv.Add("slow.bin", 32<<20)
	srv.Add("quick.bin", 256<<10)
	chdir(t)
	os.WriteFile("l.csv", []byte("filename,url\nquick.bin,"+srv.URL("quick.bin")+"\nslow.bin,"+srv.URL("slow.bin")+"\n"), 0o644)
	cmd := exec.Command(bulkgetBin(t), "--progress", "json", "--report", "i.html", "l.csv")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for srv.Stats().BytesServed < 3<<20 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err == nil || cmd.ProcessState.ExitCode() != exitInterrupted {
		t.Fatalf("exit %v; stderr:\n%s", err, stderr.String())
	}
	fg := pageFigures(t, "i.html")
	s := summaryLine(t, stdout.String())
	if fg.State != "interrupted" || !s.Interrupted || fg.InProgress != 1 {
		t.Errorf("figures %+v", fg)
	}
	checkAgainstSummary(t, fg, s, srv.Addr())
	screenshot(t, "i.html", "report-interrupted")
}

func TestReportFlagAndCommandRefuseWhatTheyCannotDo(t *testing.T) {
	chdir(t)
	os.WriteFile("l.csv", []byte("filename,url\n"), 0o644)
	os.WriteFile("junk.jsonl", []byte("hello\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--report", "r.txt", "l.csv"}, "name it FILE.html"},
		{[]string{"--report", "no/such/dir/r.html", "l.csv"}, "--report"},
		{[]string{"report", "junk.jsonl", "-o", "j.html"}, "no bulkget events"},
		{[]string{"report", "missing.jsonl"}, "missing.jsonl"},
		{[]string{"report"}, "want exactly one EVENTS"},
	} {
		code, _, stderr := runCLI(t, c.args...)
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, stderr, exitUsage, c.want)
		}
	}
}

// A run that cannot start leaves the page at its path as it was: the run
// holding the folder may be the one writing it.
func TestReportOfARunThatCannotStartLeavesThePageAlone(t *testing.T) {
	dir := chdir(t)
	os.WriteFile("l.csv", []byte("filename,url\na.bin,http://127.0.0.1:1/a.bin\n"), 0o644)
	if err := os.MkdirAll(filepath.Join(dir, "l"), 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := folderlock.Acquire(filepath.Join(dir, "l"))
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	const page = "<html>the other run's page</html>"
	os.WriteFile("r.html", []byte(page), 0o644)
	code, _, stderr := runCLI(t, "--report", "r.html", "--progress", "none", "l.csv")
	if code == exitOK {
		t.Fatalf("a run on a locked folder exited 0: %s", stderr)
	}
	if got, _ := os.ReadFile("r.html"); string(got) != page {
		t.Errorf("the page was replaced by a run that never began:\n%.200s", got)
	}
}
