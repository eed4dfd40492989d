package main

import (
	"encoding/json"
	"io"
	"time"

	"github.com/bulkget/bulkget/internal/mask"
	"github.com/bulkget/bulkget/manifest"
	"github.com/bulkget/bulkget/scheduler"
)

// jsonLines writes one JSON object per line for every event, a progress
// object at most every interval, and a summary object at the end. The
// field names are an interface: they are documented in docs/usage.md
// ("Machine-readable output") and only ever added to.
type jsonLines struct {
	enc   *json.Encoder
	every time.Duration
	run   *jsonRun // the run line, until it is written

	t    tally
	win  window
	next time.Time
	bad  []*manifest.LineError
}

func newJSONLines(w io.Writer, every time.Duration) *jsonLines {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // names and URLs with & < > stay readable
	return &jsonLines{enc: enc, every: every, t: newTally()}
}

// settings makes the stream open with a run line saying opts.
func (j *jsonLines) settings(opts scheduler.Options) *jsonLines {
	j.run = &jsonRun{jsonHead: jsonHead{Type: "run"}, Version: version, Limit: opts.RateLimit,
		Connections: opts.Connections, PerHost: opts.MaxPerHost, Adaptive: opts.Adaptive}
	return j
}

// jsonRun is the first line: the settings a reader needs to judge the run
// (the rate limit a report draws, the connections allowed).
type jsonRun struct {
	jsonHead
	Version     string `json:"version"`
	Limit       int64  `json:"limit"` // bytes per second, 0 for none
	Connections int    `json:"connections"`
	PerHost     int    `json:"per_host"`
	Adaptive    bool   `json:"adaptive"`
}

// head writes the run line before the first other line.
func (j *jsonLines) head(t time.Time) {
	if j.run == nil {
		return
	}
	j.run.Time = jsonTime(t)
	j.emit(j.run)
	j.run = nil
}

// jsonTime is RFC 3339 in UTC with milliseconds: sortable as text, and
// parsed by jq's fromdate once the fraction is cut.
func jsonTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

type jsonHead struct {
	Type string `json:"type"`
	Time string `json:"time"`
}

type jsonFile struct {
	jsonHead
	Line int    `json:"line"`
	File string `json:"file"`
}

type jsonProgressFile struct {
	Line        int          `json:"line"`
	File        string       `json:"file"`
	Bytes       int64        `json:"bytes"`
	Total       int64        `json:"total"`
	Connections int          `json:"connections"`
	Sources     []jsonSource `json:"sources,omitempty"`
}

// jsonSource is one source of a file with mirrors: index 0 is the list's
// url, 1 onwards its mirrors in list order.
type jsonSource struct {
	Index       int    `json:"index"`
	Host        string `json:"host"`
	Bytes       int64  `json:"bytes"` // in this run
	Connections int    `json:"connections"`
	Dropped     string `json:"dropped,omitempty"` // why the file stopped using it
}

// jsonSources is nil for a file with one source, so that its objects are
// what they were before mirrors.
func jsonSources(srcs []scheduler.SourceProgress) []jsonSource {
	if len(srcs) == 0 {
		return nil
	}
	out := make([]jsonSource, len(srcs))
	for i, s := range srcs {
		out[i] = jsonSource{Index: s.Index, Host: hostText(s.Host), Bytes: s.Bytes, Connections: s.Conns,
			Dropped: mask.Text(s.Dropped)}
	}
	return out
}

// jsonHost is one host's bytes, in the summary object and the --summary
// file alike.
type jsonHost struct {
	Host  string `json:"host"`
	Bytes int64  `json:"bytes"`
}

// jsonHosts is the bytes per host of a run with mirrors, nil otherwise.
func jsonHosts(hosts []scheduler.HostBytes) []jsonHost {
	if len(hosts) == 0 {
		return nil
	}
	out := make([]jsonHost, len(hosts))
	for i, h := range hosts {
		out[i] = jsonHost{hostText(h.Host), h.Bytes}
	}
	return out
}

// jsonHostProgress is a host with requests running, in a progress object.
type jsonHostProgress struct {
	Host        string `json:"host"`
	Connections int    `json:"connections"` // requests to it now
	Limit       int    `json:"limit"`       // connections allowed to it now
	Hedges      int    `json:"hedges"`      // its requests taken over by a hedge so far
}

func jsonHostsProgress(hosts []scheduler.HostProgress) []jsonHostProgress {
	if len(hosts) == 0 {
		return nil
	}
	out := make([]jsonHostProgress, len(hosts))
	for i, h := range hosts {
		out[i] = jsonHostProgress{hostText(h.Host), h.Conns, h.Limit, h.Hedges}
	}
	return out
}

type jsonFailure struct {
	Line  int    `json:"line"`
	File  string `json:"file,omitempty"`
	Error string `json:"error"`
}

func (j *jsonLines) emit(v any) {
	// An encoding error can only come from the writer; a consumer that
	// went away is told by SIGPIPE, and there is nobody else to tell.
	_ = j.enc.Encode(v)
}

func (j *jsonLines) event(e scheduler.Event) {
	j.head(e.Time)
	if j.next.IsZero() {
		j.win.at, j.next = e.Time, e.Time.Add(j.every)
	}
	j.t.add(e)
	head := jsonHead{Time: jsonTime(e.Time)}
	file := func(typ string) jsonFile {
		head.Type = typ
		return jsonFile{jsonHead: head, Line: e.Line, File: e.Name}
	}
	switch e.Kind {
	case scheduler.Started:
		j.emit(struct {
			jsonFile
			Host  string `json:"host,omitempty"`
			Total int64  `json:"total"`
		}{file("started"), hostText(e.Host), e.Total})
	case scheduler.Resumed:
		j.emit(struct {
			jsonFile
			Host  string `json:"host,omitempty"`
			Bytes int64  `json:"bytes"`
			Total int64  `json:"total"`
		}{file("resumed"), hostText(e.Host), e.Bytes, e.Total})
	case scheduler.Skipped:
		j.emit(struct {
			jsonFile
			Verified string `json:"verified,omitempty"`
			Reason   string `json:"reason,omitempty"`
		}{file("skipped"), e.Verified, e.Reason})
	case scheduler.Retrying:
		j.emit(struct {
			jsonFile
			Bytes   int64  `json:"bytes"`
			Total   int64  `json:"total"`
			Attempt int    `json:"attempt"`
			DelayMS int64  `json:"delay_ms"`
			Error   string `json:"error"`
		}{file("retry"), e.Bytes, e.Total, e.Attempt, e.Delay.Milliseconds(), errText(e.Err)})
	case scheduler.Warning:
		if e.Name == "" { // about the run, not one file
			head.Type = "warning"
			j.emit(struct {
				jsonHead
				Error string `json:"error"`
			}{head, errText(e.Err)})
			break
		}
		j.emit(struct {
			jsonFile
			Error string `json:"error"`
		}{file("warning"), errText(e.Err)})
	case scheduler.Done:
		run := e.Bytes - j.t.resumed[e.Line]
		j.emit(struct {
			jsonFile
			Bytes     int64        `json:"bytes"`
			ElapsedMS int64        `json:"elapsed_ms"`
			Speed     int64        `json:"speed"`
			Verified  string       `json:"verified"`
			Sources   []jsonSource `json:"sources,omitempty"`
		}{file("done"), e.Bytes, e.Elapsed.Milliseconds(), perSecond(run, e.Elapsed), e.Verified, jsonSources(e.Sources)})
	case scheduler.Failed:
		j.emit(struct {
			jsonFile
			Bytes   int64        `json:"bytes"`
			Error   string       `json:"error"`
			Sources []jsonSource `json:"sources,omitempty"`
		}{file("failed"), e.Bytes, errText(e.Err), jsonSources(e.Sources)})
	case scheduler.Expired:
		j.emit(struct {
			jsonFile
			Bytes   int64        `json:"bytes"`
			Total   int64        `json:"total"`
			Error   string       `json:"error"`
			Sources []jsonSource `json:"sources,omitempty"`
		}{file("expired"), e.Bytes, e.Total, errText(e.Err), jsonSources(e.Sources)})
	case scheduler.HostLimit:
		head.Type = "host"
		j.emit(struct {
			jsonHead
			Host        string `json:"host"`
			Connections int    `json:"connections"`
			Error       string `json:"error,omitempty"`
		}{head, e.Name, e.Conns, errText(e.Err)})
	case scheduler.Progress:
		if e.Time.Before(j.next) {
			return
		}
		j.next = e.Time.Add(j.every)
		j.progress(e)
	}
}

func (j *jsonLines) progress(e scheduler.Event) {
	done := j.t.bytes()
	total, estimated := j.t.total()
	speed := j.win.advance(e.Time, j.t.runBytes)
	files := make([]jsonProgressFile, 0, len(j.t.active))
	for _, f := range j.t.active {
		files = append(files, jsonProgressFile{Line: f.Line, File: f.Name, Bytes: f.Bytes, Total: f.Total,
			Connections: f.Conns, Sources: jsonSources(f.Sources)})
	}
	v := struct {
		jsonHead
		FilesDone      int                `json:"files_done"`
		FilesTotal     int                `json:"files_total"`
		Bytes          int64              `json:"bytes"`
		Total          int64              `json:"total"`
		TotalEstimated bool               `json:"total_estimated"`
		Speed          int64              `json:"speed"`
		ETAMS          *int64             `json:"eta_ms,omitempty"`
		Files          []jsonProgressFile `json:"files"`
		Hosts          []jsonHostProgress `json:"hosts,omitempty"`
	}{jsonHead{"progress", jsonTime(e.Time)}, j.t.filesDone, j.t.filesTotal, done, total, estimated,
		int64(speed), nil, files, jsonHostsProgress(e.Hosts)}
	if d, ok := eta(total-done, speed); ok {
		ms := d.Milliseconds()
		v.ETAMS = &ms
	}
	j.emit(v)
}

// BadLines reports the list lines refused before the run, one object each,
// and remembers them for the summary.
func (j *jsonLines) BadLines(bad []*manifest.LineError) {
	j.head(time.Now())
	now := jsonTime(time.Now())
	for _, b := range bad {
		j.emit(struct {
			jsonHead
			Line  int    `json:"line"`
			Error string `json:"error"`
		}{jsonHead{"invalid", now}, b.Line, b.Reason})
	}
	j.bad = append(j.bad, bad...)
}

func (j *jsonLines) finish(sum scheduler.Summary) {
	j.head(time.Now())
	failed := make([]jsonFailure, 0, len(sum.Failed))
	for _, f := range sum.Failed {
		failed = append(failed, jsonFailure{f.Line, f.Name, errText(f.Err)})
	}
	expired := make([]jsonFailure, 0, len(sum.Expired))
	for _, f := range sum.Expired {
		expired = append(expired, jsonFailure{f.Line, f.Name, errText(f.Err)})
	}
	invalid := make([]jsonFailure, 0, len(j.bad))
	for _, b := range j.bad {
		invalid = append(invalid, jsonFailure{Line: b.Line, Error: b.Reason})
	}
	j.emit(struct {
		jsonHead
		Done        int           `json:"done"`
		Skipped     int           `json:"skipped"`
		Failed      []jsonFailure `json:"failed"`
		Expired     []jsonFailure `json:"expired"`
		Invalid     []jsonFailure `json:"invalid"`
		Bytes       int64         `json:"bytes"`
		ElapsedMS   int64         `json:"elapsed_ms"`
		Speed       int64         `json:"speed"`
		Interrupted bool          `json:"interrupted"`
		Hosts       []jsonHost    `json:"hosts,omitempty"`
	}{jsonHead{"summary", jsonTime(time.Now())}, sum.Done, sum.Skipped, failed, expired, invalid, sum.Bytes,
		sum.Elapsed.Milliseconds(), perSecond(sum.Bytes, sum.Elapsed), sum.Interrupted, jsonHosts(sum.Hosts)})
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// perSecond is a speed in whole bytes per second.
func perSecond(n int64, d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(float64(n) / d.Seconds())
}
