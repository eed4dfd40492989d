package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/bulkget/bulkget/scheduler"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// output renders scheduler events for people. Everything goes to stderr:
// stdout stays free for machine-readable output.
type output interface {
	scheduler.Reporter
	// Close stops the display and prints the summary.
	Close(scheduler.Summary)
}

func newOutput(c *cli.Context, _, stderr io.Writer) (output, error) {
	mode := c.String("progress")
	quiet := c.Bool("quiet")
	if mode == "auto" {
		mode = "plain"
		if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			mode = "bars"
		}
	}
	switch mode {
	case "none":
		return &plain{w: stderr, quiet: quiet, silent: true}, nil
	case "plain":
		return &plain{w: stderr, quiet: quiet, every: 10 * time.Second}, nil
	case "bars":
		if quiet {
			return &plain{w: stderr, quiet: true}, nil
		}
		return newBars(stderr), nil
	}
	return nil, fmt.Errorf("--progress %q: want auto, bars, plain or none", c.String("progress"))
}

// plain writes one line per notable event and a progress line every so
// often: calm enough for CI logs.
type plain struct {
	w      io.Writer
	quiet  bool // errors only
	silent bool // only the summary
	every  time.Duration

	mu        sync.Mutex
	lastTick  time.Time
	lastBytes int64
	start     time.Time
}

func (p *plain) Report(e scheduler.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.start.IsZero() {
		p.start = e.Time
		p.lastTick = e.Time
	}
	if p.silent {
		return
	}
	switch e.Kind {
	case scheduler.Failed:
		fmt.Fprintln(p.w, failureLine(e.Name, e.Line, e.Err))
	case scheduler.Done:
		if !p.quiet {
			fmt.Fprintln(p.w, doneLine(e))
		}
	case scheduler.Skipped:
		if !p.quiet {
			fmt.Fprintf(p.w, "= %s: already downloaded, skipped\n", e.Name)
		}
	case scheduler.Resumed:
		if !p.quiet {
			fmt.Fprintf(p.w, "↻ %s: resuming at %s of %s\n", e.Name, formatSize(e.Bytes), formatSize(e.Total))
		}
	case scheduler.Retrying:
		if !p.quiet {
			fmt.Fprintf(p.w, "retry %s: %v (attempt %d, next in %v)\n", e.Name, e.Err, e.Attempt, e.Delay.Round(time.Millisecond))
		}
	case scheduler.Warning:
		if !p.quiet {
			fmt.Fprintf(p.w, "warning %s: %v\n", e.Name, e.Err)
		}
	case scheduler.Progress:
		if p.quiet || p.every <= 0 || e.Time.Sub(p.lastTick) < p.every {
			return
		}
		speed := float64(e.BytesDone-p.lastBytes) / e.Time.Sub(p.lastTick).Seconds()
		p.lastTick, p.lastBytes = e.Time, e.BytesDone
		fmt.Fprintf(p.w, "progress: %d/%d files, %s, %s/s, %d in progress\n", e.FilesDone, e.FilesTotal,
			formatSize(e.BytesDone), formatSize(int64(speed)), len(e.Files))
	}
}

func (p *plain) Close(sum scheduler.Summary) {
	p.mu.Lock()
	defer p.mu.Unlock()
	writeSummary(p.w, sum, p.quiet)
}

func doneLine(e scheduler.Event) string {
	return fmt.Sprintf("✓ %s  %s  in %v  %s", e.Name, formatSize(e.Bytes), e.Elapsed.Round(time.Millisecond),
		formatRate(e.Bytes, e.Elapsed.Seconds()))
}

func failureLine(name string, line int, err error) string {
	return fmt.Sprintf("✗ %s: %v (list line %d)", name, err, line)
}

// writeSummary prints the totals and every failure with its list line.
func writeSummary(w io.Writer, sum scheduler.Summary, quiet bool) {
	if !quiet {
		fmt.Fprintf(w, "%d done, %d skipped, %d failed, %s in %v (%s)\n", sum.Done, sum.Skipped, len(sum.Failed), formatSize(sum.Bytes),
			sum.Elapsed.Round(time.Millisecond), formatRate(sum.Bytes, sum.Elapsed.Seconds()))
	}
	if len(sum.Failed) > 0 {
		fmt.Fprintf(w, "failed:\n")
		for _, f := range sum.Failed {
			fmt.Fprintf(w, "  %s\n", failureLine(f.Name, f.Line, f.Err))
		}
	}
}
