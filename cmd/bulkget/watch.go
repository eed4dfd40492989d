package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/bulkget/bulkget/control"
	"github.com/bulkget/bulkget/scheduler"
	"github.com/urfave/cli/v2"
)

func watchCommand() *cli.Command {
	return &cli.Command{
		Name:      "watch",
		Usage:     "show the progress of the run going on in an output folder, from any terminal",
		ArgsUsage: "DIR",
		Description: "watch connects to the control socket of the bulkget that holds DIR and shows its\n" +
			"progress as that run would: bars on a terminal, plain lines otherwise, or its JSON lines\n" +
			"with --progress json. Ctrl-C leaves watch; the run goes on. watch ends with the run.\n\n" +
			"Example:\n   bulkget watch ./models",
		Flags:  outputFlags(),
		Action: watchAction,
	}
}

func watchAction(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("watch wants exactly one DIR argument (see bulkget watch --help)", exitUsage)
	}
	if c.String("report") != "" {
		// The report is written by the run itself (its --report).
		return cli.Exit("watch does not write --report: give --report to the run", exitUsage)
	}
	dir := c.Args().First()
	rc, err := control.Call(c.Context, dir, control.Request{Op: opWatch})
	if errors.Is(err, control.ErrNoRun) {
		return cli.Exit(fmt.Sprintf("no run holds %s now (bulkget status %s shows what is there)", dir, shellQuote(dir)), exitFailed)
	}
	if err != nil {
		return cli.Exit(fmt.Sprintf("watch: %v", err), exitFailed)
	}
	defer rc.Close()
	r, _, err := newRenderer(c, c.App.Writer, c.App.ErrWriter, scheduler.Options{})
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	if c.String("progress") == modeJSON {
		// The run's own JSON lines, as they come.
		if _, err := io.Copy(c.App.Writer, rc); err != nil && c.Context.Err() == nil {
			return cli.Exit(fmt.Sprintf("watch: %v", err), exitFailed)
		}
		return nil
	}
	sum, err := follow(r, rc)
	if err != nil {
		stopRenderer(r)
		return cli.Exit("watch: "+err.Error(), exitFailed)
	}
	if sum != nil {
		r.finish(sum.Summary)
		switch {
		case len(sum.Failed) > 0 || len(sum.Expired) > 0 || sum.invalid > 0:
			return cli.Exit("", exitFailed)
		case sum.Interrupted:
			return cli.Exit("the run was interrupted", exitInterrupted)
		}
		return nil
	}
	stopRenderer(r)
	if c.Context.Err() != nil {
		return nil // Ctrl-C: the run goes on without us
	}
	return cli.Exit(fmt.Sprintf("the run in %s went away without a summary (was it killed?); bulkget status %s shows what is there",
		dir, shellQuote(dir)), exitFailed)
}

// runEnd is a run's summary object, read back.
type runEnd struct {
	scheduler.Summary
	invalid int // list lines refused before the run
}

// follow renders the JSON lines of a run's socket with r until the run's
// summary, which it returns without rendering; nil if the stream ended
// first. The error is the run's answer when it refused the request.
func follow(r renderer, rd io.Reader) (*runEnd, error) {
	t := tallyOf(r)
	if t.closed == nil {
		*t = newTally()
	}
	t.followed = true
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64<<10), 64<<20) // a progress object lists every file in progress
	for sc.Scan() {
		var w wireEvent
		if json.Unmarshal(sc.Bytes(), &w) != nil {
			continue
		}
		switch w.Type {
		case "error":
			return nil, errors.New("the run says: " + w.Error)
		case "summary":
			return &runEnd{w.summary(), len(w.Invalid)}, nil
		case "progress":
			t.runTotal, t.runEstimated = w.Total, w.Estimated
		case "done":
			// The bytes a resumed file already had, which its speed left
			// out: a watcher that joined late never saw its resumed event.
			if _, ok := t.resumed[w.Line]; !ok && w.ElapsedMS > 0 {
				t.resumed[w.Line] = max(w.Bytes-int64(float64(w.Speed)*float64(w.ElapsedMS)/1000), 0)
			}
		}
		if e, ok := w.event(); ok {
			r.event(e)
		}
	}
	return nil, nil
}

// stopRenderer ends a display that has no summary to show.
func stopRenderer(r renderer) {
	if s, ok := r.(interface{ stop() }); ok {
		s.stop()
	}
}

// wireEvent is any of the JSON objects of --progress json (json.go), read
// back.
type wireEvent struct {
	Type        string             `json:"type"`
	Time        string             `json:"time"`
	Line        int                `json:"line"`
	File        string             `json:"file"`
	Bytes       int64              `json:"bytes"`
	Total       int64              `json:"total"`
	Attempt     int                `json:"attempt"`
	DelayMS     int64              `json:"delay_ms"`
	ElapsedMS   int64              `json:"elapsed_ms"`
	Speed       int64              `json:"speed"`
	Error       string             `json:"error"`
	Verified    string             `json:"verified"`
	Reason      string             `json:"reason"`
	Host        string             `json:"host"`
	Connections int                `json:"connections"`
	Sources     []jsonSource       `json:"sources"`
	FilesDone   int                `json:"files_done"`
	FilesTotal  int                `json:"files_total"`
	Estimated   bool               `json:"total_estimated"`
	Files       []jsonProgressFile `json:"files"`
	// summary
	Done        int           `json:"done"`
	Skipped     int           `json:"skipped"`
	Failed      []jsonFailure `json:"failed"`
	Expired     []jsonFailure `json:"expired"`
	Invalid     []jsonFailure `json:"invalid"`
	Interrupted bool          `json:"interrupted"`
	Hosts       []jsonHost    `json:"hosts"`
}

func errOf(s string) error {
	if s == "" {
		return nil
	}
	return errors.New(s)
}

func sourcesOf(srcs []jsonSource) []scheduler.SourceProgress {
	if len(srcs) == 0 {
		return nil
	}
	out := make([]scheduler.SourceProgress, len(srcs))
	for i, s := range srcs {
		out[i] = scheduler.SourceProgress{Index: s.Index, Host: s.Host, Bytes: s.Bytes, Conns: s.Connections, Dropped: s.Dropped}
	}
	return out
}

// event is the scheduler event the object was written for.
func (w *wireEvent) event() (scheduler.Event, bool) {
	at, err := time.Parse(time.RFC3339, w.Time)
	if err != nil {
		at = time.Now()
	}
	e := scheduler.Event{Time: at, Line: w.Line, Name: w.File, Bytes: w.Bytes, Total: w.Total, Err: errOf(w.Error),
		Sources: sourcesOf(w.Sources)}
	switch w.Type {
	case "started":
		e.Kind = scheduler.Started
	case "resumed":
		e.Kind = scheduler.Resumed
	case "skipped":
		e.Kind, e.Verified, e.Reason = scheduler.Skipped, w.Verified, w.Reason
	case "retry":
		e.Kind, e.Attempt, e.Delay = scheduler.Retrying, w.Attempt, time.Duration(w.DelayMS)*time.Millisecond
	case "warning":
		e.Kind = scheduler.Warning
	case "host":
		e.Kind, e.Name, e.Conns = scheduler.HostLimit, w.Host, w.Connections
	case "done":
		e.Kind, e.Elapsed, e.Verified = scheduler.Done, time.Duration(w.ElapsedMS)*time.Millisecond, w.Verified
	case "failed":
		e.Kind = scheduler.Failed
	case "expired":
		e.Kind = scheduler.Expired
	case "progress":
		e = scheduler.Event{Kind: scheduler.Progress, Time: at, BytesDone: w.Bytes, FilesDone: w.FilesDone,
			FilesTotal: w.FilesTotal}
		for _, f := range w.Files {
			e.Files = append(e.Files, scheduler.FileProgress{Line: f.Line, Name: f.File, Bytes: f.Bytes, Total: f.Total,
				Conns: f.Connections, Sources: sourcesOf(f.Sources)})
		}
	default:
		return e, false
	}
	return e, true
}

// summary is the run's summary object, read back.
func (w *wireEvent) summary() scheduler.Summary {
	fails := func(fs []jsonFailure) []scheduler.Failure {
		var out []scheduler.Failure
		for _, f := range fs {
			out = append(out, scheduler.Failure{Line: f.Line, Name: f.File, Err: errOf(f.Error)})
		}
		return out
	}
	sum := scheduler.Summary{Done: w.Done, Skipped: w.Skipped, Failed: fails(w.Failed), Expired: fails(w.Expired),
		Bytes: w.Bytes, Elapsed: time.Duration(w.ElapsedMS) * time.Millisecond, Interrupted: w.Interrupted}
	for _, h := range w.Hosts {
		sum.Hosts = append(sum.Hosts, scheduler.HostBytes{Host: h.Host, Bytes: h.Bytes})
	}
	return sum
}
