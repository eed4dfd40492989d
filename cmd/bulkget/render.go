package main

import (
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/bulkget/bulkget/manifest"
	"github.com/bulkget/bulkget/scheduler"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// Progress modes of --progress.
const (
	modeAuto  = "auto"
	modeBars  = "bars"
	modePlain = "plain"
	modeJSON  = "json"
	modeNone  = "none"
)

// defaultProgressInterval spaces the progress lines of plain and json
// output: often enough to see a run move, rare enough for a CI log.
const defaultProgressInterval = 10 * time.Second

// badLineReporter is implemented by outputs that show the list lines that
// were refused before the run started (get.go prints them on stderr in
// every mode; json also puts them on stdout).
type badLineReporter interface {
	BadLines([]*manifest.LineError)
}

// renderer turns events into text. Its methods are called from a single
// goroutine (see queue), so a renderer needs no locking of its own.
type renderer interface {
	event(scheduler.Event)
	finish(scheduler.Summary)
}

// outputFlags choose how a run is shown; get and demo share them.
func outputFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "progress", Value: modeAuto, Category: catOutput, EnvVars: env("PROGRESS"),
			Usage: "how to show progress: auto (bars on a terminal, else plain), bars, plain (a line per event), " +
				"json (JSON lines on stdout) or none"},
		&cli.DurationFlag{Name: "progress-interval", Value: defaultProgressInterval, Category: catOutput,
			EnvVars: env("PROGRESS_INTERVAL"), Usage: "time between progress lines of plain and json output"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Category: catOutput, EnvVars: env("QUIET"),
			Usage: "print errors only"},
		&cli.StringFlag{Name: "report", Category: catOutput, EnvVars: env("REPORT"), TakesFile: true,
			Usage: "write an HTML report of the run (charts of throughput and connections, a waterfall of files) " +
				"to `FILE.html`, at the end and every 30s during the run"},
	}
}

// newOutput makes the display of a run, and with reportPath set the
// --report page beside it, fed the same events. stderr may be a console:
// the display writes to what is under it (a display never goes to the log).
func newOutput(c *cli.Context, stdout, stderr io.Writer, opts scheduler.Options, reportPath string) (*queue, error) {
	r, w, err := newRenderer(c, stdout, stderr, opts)
	if err != nil {
		return nil, err
	}
	if r, err = withReport(r, reportPath, opts, stderr); err != nil {
		return nil, err
	}
	return newQueue(r).writesTo(w), nil
}

// newRenderer is the renderer --progress asks for, and what it writes to.
func newRenderer(c *cli.Context, stdout, stderr io.Writer, opts scheduler.Options) (renderer, io.Writer, error) {
	stderr = stderrOf(stderr)
	mode := c.String("progress")
	quiet := c.Bool("quiet")
	every := c.Duration("progress-interval")
	if every <= 0 {
		return nil, nil, fmt.Errorf("--progress-interval must be positive")
	}
	fd, tty := terminal(stderr)
	if mode == modeAuto {
		mode = modePlain
		if tty {
			mode = modeBars
		}
	}
	switch mode {
	case modeNone:
		return &plain{w: stderr, quiet: quiet, silent: true}, stderr, nil
	case modePlain:
		return &plain{w: stderr, quiet: quiet, every: every}, stderr, nil
	case modeJSON:
		return newJSONLines(stdout, every).settings(opts), stdout, nil
	case modeBars:
		if quiet {
			return &plain{w: stderr, quiet: true}, stderr, nil
		}
		cfg := barsConfig{refresh: 150 * time.Millisecond, width: 100}
		if tty {
			cfg.screen = newScreen(stderr, fd)
			cfg.rows = func() int {
				_, h, err := term.GetSize(fd)
				if err != nil {
					return 0
				}
				return h
			}
		}
		return newBars(stderr, cfg), stderr, nil
	}
	return nil, nil, fmt.Errorf("--progress %q: want auto, bars, plain, json or none", c.String("progress"))
}

// terminal reports whether w is a terminal, and its descriptor.
func terminal(w io.Writer) (int, bool) {
	f, ok := w.(*os.File)
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

// tally keeps the run's totals as the renderers show them, from the events
// alone. Bytes count what is on disk: bytes written in this run plus what
// resumed files already had. The grand total is known only once every
// file has answered; until then it is extrapolated from the average size
// of the files seen so far, and estimated says so.
type tally struct {
	start      time.Time
	filesDone  int // done or skipped
	filesTotal int
	failed     int
	runBytes   int64 // written in this run, from the latest Progress
	onDisk     int64 // resumed files' bytes from earlier runs
	doneSize   int64 // final sizes of the files done in this run
	doneCount  int

	// followed says the events began midway (bulkget watch): the files
	// done and the bytes on disk come from each progress event's own
	// figures, and the total from follow, rather than from counting.
	followed     bool
	runTotal     int64
	runEstimated bool

	resumed map[int]int64 // list line → bytes on disk when resumed
	closed  map[int]bool  // list lines done, failed or skipped
	active  []scheduler.FileProgress
}

func newTally() tally {
	return tally{resumed: map[int]int64{}, closed: map[int]bool{}}
}

// add updates the totals with one event.
func (t *tally) add(e scheduler.Event) {
	if t.start.IsZero() {
		t.start = e.Time
	}
	switch e.Kind {
	case scheduler.Resumed:
		t.resumed[e.Line] = e.Bytes
		if !t.followed {
			t.onDisk += e.Bytes
		}
	case scheduler.Done:
		t.closed[e.Line] = true
		t.doneSize += e.Bytes
		t.doneCount++
		t.filesDone++
	case scheduler.Skipped:
		t.closed[e.Line] = true
		t.filesDone++
	case scheduler.Failed, scheduler.Expired:
		t.closed[e.Line] = true
		t.failed++
	case scheduler.Progress:
		t.runBytes = e.BytesDone
		t.filesTotal = e.FilesTotal
		if t.followed {
			t.filesDone = e.FilesDone
		}
		// A snapshot is taken before it is reported, so it may still list
		// a file whose Done has already been rendered.
		t.active = t.active[:0]
		for _, f := range e.Files {
			if !t.closed[f.Line] {
				t.active = append(t.active, f)
			}
		}
	}
}

// clone is a copy of t that shares nothing with it.
func (t *tally) clone() tally {
	c := *t
	c.resumed, c.closed, c.active = maps.Clone(t.resumed), maps.Clone(t.closed), slices.Clone(t.active)
	return c
}

// bytes is what is on disk of the files of this run.
func (t *tally) bytes() int64 { return t.runBytes + t.onDisk }

// total is the expected size of the whole list, and whether it is an
// estimate (some files have not said their size yet).
func (t *tally) total() (int64, bool) {
	if t.followed {
		return max(t.runTotal, t.bytes()), t.runEstimated
	}
	known, sized := t.doneSize, t.doneCount
	unsized := 0
	for _, f := range t.active {
		if f.Total >= 0 {
			known += f.Total
			sized++
		} else {
			unsized++
		}
	}
	pending := max(t.filesTotal-t.filesDone-t.failed-len(t.active), 0) + unsized
	total := known
	if pending > 0 && sized > 0 {
		total += int64(pending) * (known / int64(sized))
	}
	return max(total, t.bytes()), pending > 0
}

// fileSpeed is a finished file's average speed over this run only: bytes
// a resumed file already had were not downloaded now.
func (t *tally) fileSpeed(e scheduler.Event) string {
	return formatRate(e.Bytes-t.resumed[e.Line], e.Elapsed.Seconds())
}

// window measures the overall speed between two progress lines, from the
// bytes written in this run (a resumed file's bytes on disk would look
// like a burst of speed).
type window struct {
	at    time.Time
	bytes int64
}

// advance returns the speed since the previous call, in bytes per second.
func (w *window) advance(now time.Time, bytes int64) float64 {
	dt := now.Sub(w.at).Seconds()
	speed := 0.0
	if dt > 0 {
		speed = float64(bytes-w.bytes) / dt
	}
	w.at, w.bytes = now, bytes
	return max(speed, 0)
}

// eta is how long the rest takes at speed; ok is false when it cannot be
// told.
func eta(remaining int64, speed float64) (time.Duration, bool) {
	if speed <= 0 || remaining < 0 {
		return 0, false
	}
	return time.Duration(float64(remaining) / speed * float64(time.Second)), true
}

// plain writes one line per notable event and a progress line every so
// often: calm enough for CI logs.
type plain struct {
	w      io.Writer
	quiet  bool // errors only
	silent bool // only the summary
	every  time.Duration

	t        tally
	win      window
	nextLine time.Time
}

func (p *plain) event(e scheduler.Event) {
	if p.t.closed == nil {
		p.t = newTally()
	}
	p.t.add(e)
	if p.nextLine.IsZero() {
		p.win.at, p.nextLine = e.Time, e.Time.Add(p.every)
		if p.t.followed { // the bytes on disk when watch joined are not speed
			p.win.bytes = p.t.runBytes
		}
	}
	if p.silent {
		return
	}
	switch e.Kind {
	case scheduler.Failed:
		fmt.Fprintln(p.w, failureLine(e.Name, e.Line, e.Err)+sourcesNote(e.Sources))
		return
	case scheduler.Expired:
		fmt.Fprintln(p.w, expiredLine(e.Name, e.Line, e.Err)+sourcesNote(e.Sources))
		return
	}
	if p.quiet {
		return
	}
	switch e.Kind {
	case scheduler.Started:
		fmt.Fprintf(p.w, "start %s  %s\n", e.Name, sizeOrUnknown(e.Total))
	case scheduler.Done:
		fmt.Fprintln(p.w, doneLine(e, p.t.fileSpeed(e)))
	case scheduler.Skipped:
		fmt.Fprintln(p.w, skippedLine(e))
	case scheduler.Resumed:
		fmt.Fprintln(p.w, resumedLine(e))
	case scheduler.Retrying:
		fmt.Fprintf(p.w, "retry %s: %v (attempt %d, next try in %s)\n", e.Name, e.Err, e.Attempt, formatDuration(e.Delay))
	case scheduler.Warning:
		fmt.Fprintln(p.w, warningLine(e))
	case scheduler.HostLimit:
		fmt.Fprintln(p.w, hostLine(e))
	case scheduler.Progress:
		if p.every <= 0 || e.Time.Before(p.nextLine) {
			return
		}
		p.nextLine = e.Time.Add(p.every)
		fmt.Fprintln(p.w, p.progressLine(e))
	}
}

func (p *plain) progressLine(e scheduler.Event) string {
	done := p.t.bytes()
	total, estimated := p.t.total()
	speed := p.win.advance(e.Time, p.t.runBytes)
	about := ""
	if estimated {
		about = "~"
	}
	left := "ETA -"
	if d, ok := eta(total-done, speed); ok {
		left = "ETA " + about + formatETA(d)
	}
	pct := 100.0
	if total > 0 {
		pct = 100 * float64(done) / float64(total)
	}
	return fmt.Sprintf("progress %d/%d files  %s / %s%s (%.0f%%)  %s/s  %s  %d in progress",
		p.t.filesDone, p.t.filesTotal, formatSize(done), about, formatSize(total), pct,
		formatSize(int64(speed)), left, len(p.t.active))
}

func (p *plain) finish(sum scheduler.Summary) {
	writeSummary(p.w, sum, p.quiet)
}

func sizeOrUnknown(n int64) string {
	if n < 0 {
		return "size unknown"
	}
	return formatSize(n)
}

// formatDuration rounds a duration for people: milliseconds below a
// second, tenths below a minute, whole seconds above.
func formatDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

// formatETA rounds a time left to whole seconds: anything finer would
// flicker.
func formatETA(d time.Duration) string {
	return max(d, 0).Round(time.Second).String()
}

// writeSummary prints the totals and every failure with its list line.
func writeSummary(w io.Writer, sum scheduler.Summary, quiet bool) {
	if !quiet {
		state := ""
		if sum.Interrupted {
			state = " (interrupted)"
		}
		expired := ""
		if len(sum.Expired) > 0 {
			expired = fmt.Sprintf(", %d expired", len(sum.Expired))
		}
		fmt.Fprintf(w, "%d done, %d skipped, %d failed%s, %s in %s (%s)%s\n", sum.Done, sum.Skipped, len(sum.Failed), expired,
			formatSize(sum.Bytes), formatDuration(sum.Elapsed), formatRate(sum.Bytes, sum.Elapsed.Seconds()), state)
		if len(sum.Hosts) > 0 {
			fmt.Fprintln(w, hostsLine(sum.Hosts))
		}
	}
	if len(sum.Expired) > 0 {
		fmt.Fprintf(w, "expired (bytes kept; run again with fresh links, or with --refresh-command, to continue):\n")
		for _, f := range sum.Expired {
			fmt.Fprintf(w, "  %s\n", expiredLine(f.Name, f.Line, f.Err))
		}
	}
	if len(sum.Failed) > 0 {
		fmt.Fprintf(w, "failed:\n")
		for _, f := range sum.Failed {
			fmt.Fprintf(w, "  %s\n", failureLine(f.Name, f.Line, f.Err))
		}
	}
}
