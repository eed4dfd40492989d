package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/bulkget/bulkget/internal/atomicfile"
	"github.com/bulkget/bulkget/internal/mask"
	"github.com/bulkget/bulkget/manifest"
	"github.com/bulkget/bulkget/scheduler"
	"github.com/bulkget/bulkget/store"
	"github.com/urfave/cli/v2"
)

func summaryFlag() cli.Flag {
	return &cli.StringFlag{Name: "summary", Category: catMany, EnvVars: env("SUMMARY"), TakesFile: true,
		Usage: "write the outcome as JSON to this file at the end, even if files failed (schema in docs/usage.md)"}
}

// summarySchema is the version of the --summary format. Fields may be added
// without changing it; renaming, removing or changing the meaning of one
// needs a new version, because the readers are other people's scripts.
const summarySchema = 1

// summaryJSON is the --summary file. docs/usage.md documents every field.
type summaryJSON struct {
	Schema         int           `json:"schema"`
	Version        string        `json:"bulkget_version"`
	List           string        `json:"list"`
	Dir            string        `json:"dir"`
	Shard          *shardJSON    `json:"shard"`
	Started        time.Time     `json:"started"`
	ElapsedSeconds float64       `json:"elapsed_seconds"`
	Interrupted    bool          `json:"interrupted"`
	ExitStatus     int           `json:"exit_status"`
	Error          string        `json:"error,omitempty"`
	Entries        int           `json:"entries"`
	Done           int           `json:"done"`
	Skipped        int           `json:"skipped"`
	Remaining      int           `json:"remaining"`
	Bytes          int64         `json:"bytes"`
	Failed         []failureJSON `json:"failed"`
	// Expired are files stopped by an expired URL, their bytes kept.
	Expired []failureJSON `json:"expired"`
	// Verified says, per file done in this run, what it was checked
	// against.
	Verified []verifiedJSON `json:"verified"`
	// Hosts is the bytes per host, in the order the hosts first appear in
	// the list, when some file had mirrors; absent otherwise.
	Hosts []jsonHost `json:"hosts,omitempty"`
}

type verifiedJSON struct {
	Line     int    `json:"line"`
	Name     string `json:"name"`
	Verified string `json:"verified"`
}

type shardJSON struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// Failure kinds: a file the run gave up on, or a list line that was never a
// file.
const (
	failDownload = "download"
	failExpired  = "expired"
	failList     = "list"
)

type failureJSON struct {
	Kind   string `json:"kind"`
	Line   int    `json:"line"`
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// summaryReport collects what --summary writes while getAction goes along.
// Its methods do nothing without --summary.
type summaryReport struct {
	path  string
	start time.Time
	s     summaryJSON
	ran   bool // the scheduler produced a Summary
}

// newSummaryReport starts the report for --summary path. It creates the
// file's folder now, so that a path that cannot be written fails before the
// download rather than after hours of it.
func newSummaryReport(path, list string, shard shardSpec) (*summaryReport, error) {
	r := &summaryReport{path: path, start: time.Now()}
	if path == "" {
		return r, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("--summary: %w", err)
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return nil, fmt.Errorf("--summary: %s is a folder; give a file name", path)
	}
	r.s = summaryJSON{Schema: summarySchema, Version: version, List: list, Started: r.start.UTC(), Failed: []failureJSON{}, Expired: []failureJSON{},
		Verified: []verifiedJSON{}}
	if shard.on() {
		r.s.Shard = &shardJSON{Index: shard.Index, Count: shard.Count}
	}
	return r, nil
}

func (r *summaryReport) setDir(dir string) { r.s.Dir = dir }

// handOver leaves the summary to another process: the background half of
// -b, which runs the download, writes it.
func (r *summaryReport) handOver() { r.path = "" }

// listRead records the entries this run is responsible for and the list's
// bad lines. Every shard reads the whole list, so every shard reports every
// bad line: the list is wrong wherever it is read.
func (r *summaryReport) listRead(entries int, bad []*manifest.LineError) {
	r.s.Entries = entries
	for _, b := range bad {
		r.s.Failed = append(r.s.Failed, failureJSON{Kind: failList, Line: b.Line, Reason: b.Reason})
	}
}

func (r *summaryReport) runDone(sum scheduler.Summary) {
	r.ran = true
	r.s.Done, r.s.Skipped, r.s.Bytes, r.s.Interrupted = sum.Done, sum.Skipped, sum.Bytes, sum.Interrupted
	r.s.Hosts = jsonHosts(sum.Hosts)
	for _, f := range sum.Failed {
		reason := "failed"
		if f.Err != nil {
			reason = f.Err.Error()
		}
		r.s.Failed = append(r.s.Failed, failureJSON{Kind: failDownload, Line: f.Line, Name: f.Name, Reason: reason})
	}
	for _, f := range sum.Expired {
		r.s.Expired = append(r.s.Expired, failureJSON{Kind: failExpired, Line: f.Line, Name: f.Name, Reason: f.Err.Error()})
	}
	for _, v := range sum.Verified {
		r.s.Verified = append(r.s.Verified, verifiedJSON{Line: v.Line, Name: v.Name, Verified: v.What})
	}
	sort.SliceStable(r.s.Verified, func(i, j int) bool { return r.s.Verified[i].Line < r.s.Verified[j].Line })
}

// finish writes the summary for the error getAction returns, and returns the
// error to return in its place: a summary that cannot be written fails a run
// that would otherwise succeed, since whoever asked for it is waiting for it.
func (r *summaryReport) finish(err error, stderr io.Writer) error {
	if r.path == "" {
		return err
	}
	s := r.s
	s.ElapsedSeconds = math.Round(time.Since(r.start).Seconds()*1000) / 1000
	s.ExitStatus = exitOK
	if err != nil {
		s.ExitStatus = exitUsage // what runMain makes of an error without a code
		var ec cli.ExitCoder
		if errors.As(err, &ec) {
			s.ExitStatus = ec.ExitCode()
		}
		if !r.ran {
			s.Error = mask.Text(err.Error())
		}
	}
	downloadFailures := 0
	for _, f := range s.Failed {
		if f.Kind == failDownload {
			downloadFailures++
		}
	}
	s.Remaining = max(0, s.Entries-s.Done-s.Skipped-downloadFailures)
	// By line, so that a list line and a download failure read in list
	// order, as a person fixing the list would go through them.
	sort.SliceStable(s.Failed, func(i, j int) bool { return s.Failed[i].Line < s.Failed[j].Line })

	b, jerr := json.MarshalIndent(s, "", "  ")
	if jerr == nil {
		jerr = writeFileAtomic(r.path, append(b, '\n'))
	}
	if jerr == nil {
		return err
	}
	if err == nil {
		return cli.Exit(fmt.Sprintf("--summary: %v", jerr), exitFailed)
	}
	fmt.Fprintf(stderr, "bulkget: --summary: %v\n", jerr)
	return err
}

// writeFileAtomic replaces path with data so that a reader sees the old file
// or the new one, never a part: the temp file is in the same folder (a rename
// across file systems is a copy), synced before the rename (or a crash could
// leave the new name on empty blocks), and removed if anything fails.
//
// The file is readable by its owner only, like the resume state: failure
// reasons quote URLs (redacted, but what was downloaded from where is the
// user's business).
func writeFileAtomic(path string, data []byte) error {
	return atomicfile.Write(path, data, store.SummaryTempPattern(filepath.Base(path)))
}
