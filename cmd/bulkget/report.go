package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bulkget/bulkget/internal/mask"
	"github.com/bulkget/bulkget/manifest"
	"github.com/bulkget/bulkget/report"
	"github.com/bulkget/bulkget/scheduler"
	"github.com/urfave/cli/v2"
)

// Timing of --report: the page is rewritten this often during a run, from
// its own copy of the JSON stream with a progress line this often (the
// scheduler's own pace, so the charts are as fine as the run allows).
const (
	reportEvery    = 30 * time.Second
	reportProgress = 250 * time.Millisecond
)

// reportTap is the renderer of --report: it encodes the events as the
// `--progress json` stream does and feeds those lines to a report.Builder,
// so that `bulkget report` on a saved stream builds the same page from the
// same facts. It runs on the queue's goroutine like every renderer.
type reportTap struct {
	path   string
	stderr io.Writer
	b      *report.Builder
	j      *jsonLines
	next   time.Time
	told   bool // a failed write was reported; later ones are not
}

// newReportTap checks at once that the page can be written where path
// says, so that a bad path fails the command before the run rather than
// after it. The first page is written only once the run has begun (it
// holds the folder): a run that cannot start, say because another holds
// the folder, must not replace that run's page.
func newReportTap(path string, opts scheduler.Options, stderr io.Writer) (*reportTap, error) {
	if !strings.EqualFold(filepath.Ext(path), ".html") && !strings.EqualFold(filepath.Ext(path), ".htm") {
		return nil, fmt.Errorf("--report %s: the report is an HTML page: name it FILE.html", path)
	}
	if err := writable(path); err != nil {
		return nil, fmt.Errorf("--report: %w", err)
	}
	b := report.New()
	return &reportTap{path: path, stderr: stderr, b: b, j: newJSONLines(b, reportProgress).settings(opts)}, nil
}

// writable says whether a page can replace path: it is not a folder, and
// a file can be made beside it (the page is written there, then renamed).
func writable(path string) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("%s is a folder", path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

func (r *reportTap) event(e scheduler.Event) {
	r.j.event(e)
	if r.next.IsZero() {
		// The run's first event: it holds the folder now.
		r.next = e.Time.Add(reportEvery)
		r.write()
	}
	if e.Time.Before(r.next) {
		return
	}
	r.next = e.Time.Add(reportEvery)
	r.write()
}

func (r *reportTap) BadLines(bad []*manifest.LineError) { r.j.BadLines(bad) }

func (r *reportTap) finish(sum scheduler.Summary) {
	if r.next.IsZero() && sum.Elapsed == 0 {
		return // the run never began: whatever page is there stays
	}
	r.j.finish(sum)
	r.told = false // the last page matters most: say if it failed
	r.write()
}

// write replaces the page; a failure is said once and the run goes on: the
// report is about the download, never a reason to stop it.
func (r *reportTap) write() {
	if err := r.b.WriteFile(r.path); err != nil && !r.told {
		fmt.Fprintf(r.stderr, "bulkget: --report: %s\n", mask.Text(err.Error()))
		r.told = true
	}
}

// withReport is r, and with path set the --report page beside it.
func withReport(r renderer, path string, opts scheduler.Options, stderr io.Writer) (renderer, error) {
	if path == "" {
		return r, nil
	}
	tap, err := newReportTap(path, opts, stderr)
	if err != nil {
		return nil, err
	}
	return tee{r, tap}, nil
}

// tee hands every event to several renderers in turn.
type tee []renderer

func (t tee) event(e scheduler.Event) {
	for _, r := range t {
		r.event(e)
	}
}

func (t tee) finish(sum scheduler.Summary) {
	for _, r := range t {
		r.finish(sum)
	}
}

func (t tee) BadLines(bad []*manifest.LineError) {
	for _, r := range t {
		if br, ok := r.(badLineReporter); ok {
			br.BadLines(bad)
		}
	}
}

func reportCommand() *cli.Command {
	return &cli.Command{
		Name:      "report",
		Usage:     "make the HTML report of a run from its saved --progress json stream",
		ArgsUsage: "EVENTS.jsonl",
		Description: "report reads the JSON lines of `bulkget --progress json` (a file, or - for standard input)\n" +
			"and writes the same page as --report: throughput and connections over time, a waterfall of\n" +
			"files, and tables of hosts, files and failures. Lines that are not events are skipped.\n" +
			"The charts are as fine as the stream: --progress-interval 250ms gives the detail of --report.\n\n" +
			"Example:\n   bulkget --progress json --progress-interval 1s models.csv > run.jsonl\n" +
			"   bulkget report run.jsonl -o run.html",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, TakesFile: true,
				Usage: "write the page to `FILE.html` (default: EVENTS with .html for its extension)"},
		},
		Action: reportAction,
	}
}

func reportAction(c *cli.Context) error {
	args := c.Args().Slice()
	out := c.String("output")
	// The flag may come after EVENTS, as people write it (urfave/cli
	// stops parsing flags at the first argument).
	if len(args) == 3 && (args[1] == "-o" || args[1] == "--output") {
		out, args = args[2], args[:1]
	} else if len(args) == 2 {
		if v, ok := strings.CutPrefix(args[1], "-o="); ok {
			out, args = v, args[:1]
		} else if v, ok := strings.CutPrefix(args[1], "--output="); ok {
			out, args = v, args[:1]
		}
	}
	if len(args) != 1 {
		return cli.Exit("want exactly one EVENTS argument: a --progress json stream, or - for standard input", exitUsage)
	}
	in := args[0]
	if out == "" {
		if in == "-" {
			return cli.Exit("reading standard input: say where the page goes with -o FILE.html", exitUsage)
		}
		out = strings.TrimSuffix(in, filepath.Ext(in)) + ".html"
	}
	if out == in {
		return cli.Exit(fmt.Sprintf("-o %s would overwrite the events", out), exitUsage)
	}
	var r io.Reader = os.Stdin
	if in != "-" {
		f, err := os.Open(in)
		if err != nil {
			return cli.Exit(fmt.Sprintf("events: %v", err), exitUsage)
		}
		defer f.Close()
		r = f
	}
	b := report.New()
	events, err := feed(b, r)
	if err != nil {
		return cli.Exit(fmt.Sprintf("events %s: %v", in, err), exitFailed)
	}
	if events == 0 {
		return cli.Exit(fmt.Sprintf("%s holds no bulkget events (want the lines of --progress json)", in), exitUsage)
	}
	if err := b.WriteFile(out); err != nil {
		return cli.Exit(err.Error(), exitFailed)
	}
	fmt.Fprintf(c.App.ErrWriter, "bulkget: report of %d events written to %s\n", events, out)
	return nil
}

// feed gives every line of r to b and counts the events among them. Lines
// are read whole, however long: a progress line lists every file in flight.
func feed(b *report.Builder, r io.Reader) (int, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	n := 0
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && b.Line(line) {
			n++
		}
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
