package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"

	"github.com/bulkget/bulkget/internal/mask"
)

// Bounds on what is kept per file and per run, so that memory does not grow
// with the length of a run (see doc.go).
const (
	maxSpans   = 32   // spans per file; more merge pairwise
	maxMarks   = 16   // marks per file; more are only counted
	maxNotices = 200  // run notices kept; more are only counted
	maxFailed  = 1000 // failures listed; more are only counted
	// maxKept finished files keep their record (the slowest): enough for
	// the waterfall and the file table; the others leave counters only.
	maxKept = max(maxRows, maxFileRows)
)

// Mark kinds, on a host's connections chart and on a file's waterfall row.
const (
	markRefused = iota // 429/503: the server said too many
	markRetry          // any other failed request that will be retried
	markStall          // a request cut for receiving nothing
	markCut            // the host's limit went down
	markHedge          // a slow or silent request was taken over
	markRestart        // the file starts over (changed remotely, say)
	markNote           // any other warning about the file
	nMarks
)

var markNames = [nMarks]string{"refused", "retry", "stall", "limit cut", "hedge", "restart", "notice"}

// event is one line of the stream. Types share field names (see
// docs/usage.md), so one struct decodes them all.
type event struct {
	Type        string         `json:"type"`
	Time        string         `json:"time"`
	Line        int            `json:"line"`
	File        string         `json:"file"`
	Host        string         `json:"host"`
	Bytes       int64          `json:"bytes"`
	Total       int64          `json:"total"`
	Attempt     int            `json:"attempt"`
	Error       string         `json:"error"`
	Verified    string         `json:"verified"`
	Reason      string         `json:"reason"`
	ElapsedMS   int64          `json:"elapsed_ms"`
	Connections int            `json:"connections"`
	Sources     []eventSource  `json:"sources"`
	Files       []progressFile `json:"files"`
	FilesTotal  int            `json:"files_total"`

	// summary
	Done        int         `json:"done"`
	Skipped     int         `json:"skipped"`
	Failed      []failure   `json:"failed"`
	Expired     []failure   `json:"expired"`
	Invalid     []failure   `json:"invalid"`
	Interrupted bool        `json:"interrupted"`
	Hosts       []eventHost `json:"hosts"`
	Limit       int64       `json:"limit"`    // run
	PerHost     int         `json:"per_host"` // run
	Adaptive    bool        `json:"adaptive"` // run
	Version     string      `json:"version"`  // run
}

type eventSource struct {
	Index       int    `json:"index"`
	Host        string `json:"host"`
	Bytes       int64  `json:"bytes"`
	Connections int    `json:"connections"`
	Dropped     string `json:"dropped"`
}

type progressFile struct {
	Line        int           `json:"line"`
	File        string        `json:"file"`
	Bytes       int64         `json:"bytes"`
	Total       int64         `json:"total"`
	Connections int           `json:"connections"`
	Sources     []eventSource `json:"sources"`
}

// eventHost is a host in a summary (its bytes) or a progress line (its
// requests running and connections allowed).
type eventHost struct {
	Host        string `json:"host"`
	Bytes       int64  `json:"bytes"`
	Connections int    `json:"connections"`
	Limit       int    `json:"limit"`
	Hedges      int    `json:"hedges"`
}

type failure struct {
	Line  int    `json:"line"`
	File  string `json:"file"`
	Error string `json:"error"`
}

// Builder accumulates a run's events into what the page shows.
type Builder struct {
	run     runInfo
	start   time.Time // first event
	end     time.Time // latest event
	hosts   []*host
	hostIdx map[string]int
	files   map[int]*file
	ser     series
	last    time.Time // latest progress line (or the start)

	kept        keptHeap     // finished files still in files, fastest on top
	ended       [nStates]int // finished files by state, kept or not
	endedRows   int          // of those, the ones the waterfall could draw
	failures    []failRow    // by arrival; at most maxFailed
	failuresOut int          // failures beyond maxFailed
	hostLooks   bool         // progress lines list the hosts with requests running
	filesTotal  int
	summary     *event
	residual    int64 // bytes only the summary knew of
	notices     []string
	noticesLeft int
	invalid     []failure
	lines       int // lines taken
	skipped     int // lines that were not events
}

// runInfo is what the run line says about the run's settings.
type runInfo struct {
	seen     bool
	limit    int64
	conns    int
	perHost  int
	adaptive bool
	version  string
}

// host is what one host did over the run.
type host struct {
	name     string
	bytes    int64 // written from it in this run
	files    int   // files whose list url is on it
	peak     int   // most requests in flight at once
	level    int   // latest allowed level; 0 until known
	levels   []levelPoint
	minLevel int
	maxLevel int
	marks    [nMarks]int
	hedges   int // the scheduler's count of them, as last seen
	notices  []string
}

type fileState int

const (
	fileActive fileState = iota
	fileDone
	fileFailed
	fileExpired
	fileSkipped
	nStates
)

var stateNames = map[fileState]string{fileActive: "in progress", fileDone: "done", fileFailed: "failed",
	fileExpired: "expired", fileSkipped: "skipped"}

// file is one list line.
type file struct {
	line     int
	name     string
	host     int // index of its list url's host; -1 while unknown
	total    int64
	resumed  int64 // on disk before this run
	run      int64 // written in this run, as credited to hosts
	src      []fileSource
	start    time.Time
	end      time.Time
	lastT    time.Time // of the latest span
	state    fileState
	verified string
	err      string
	reason   string
	spans    []span
	marks    []mark
	moreMark int
	attempts int
}

type fileSource struct {
	host    int
	run     int64
	dropped string
}

// span is a stretch of a file's transfer between two looks at it: its
// connections then and the source that delivered most (-1: the only one).
type span struct {
	from, to time.Time
	conns    int
	src      int
	bytes    int64
}

type mark struct {
	at   time.Time
	kind int
	what string
}

// New returns an empty Builder.
func New() *Builder {
	return &Builder{hostIdx: map[string]int{}, files: map[int]*file{}}
}

// Write takes whole lines of the stream; a line that is not an event is
// counted and skipped, as a person reading the stream would skip it. The
// last line may lack its newline.
func (b *Builder) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		line := p
		if i >= 0 {
			line = p[:i]
		}
		b.Line(line)
		if i < 0 {
			break
		}
		p = p[i+1:]
	}
	return n, nil
}

// Line takes one line of the stream and reports whether it was an event.
func (b *Builder) Line(line []byte) bool {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return false
	}
	e := event{Total: -1}
	if err := json.Unmarshal(line, &e); err != nil || e.Type == "" {
		b.skipped++
		return false
	}
	t, err := time.Parse(time.RFC3339Nano, e.Time)
	if err != nil {
		b.skipped++
		return false
	}
	b.lines++
	b.take(&e, t)
	return true
}

func (b *Builder) take(e *event, t time.Time) {
	if b.start.IsZero() {
		b.start, b.last, b.ser = t, t, newSeries(t)
	}
	if t.After(b.end) {
		b.end = t
	}
	switch e.Type {
	case "run":
		b.run = runInfo{seen: true, limit: e.Limit, conns: e.Connections, perHost: e.PerHost, adaptive: e.Adaptive,
			version: e.Version}
	case "started":
		f := b.file(e.Line, e.File)
		if f.start.IsZero() || t.Before(f.start) { // a refused first request may have come before
			f.start = t
		}
		f.total, f.state = e.Total, fileActive
		b.setHost(f, e.Host)
	case "resumed":
		f := b.file(e.Line, e.File)
		if f.start.IsZero() {
			f.start = t
		}
		f.total, f.resumed, f.state = e.Total, e.Bytes, fileActive
		b.setHost(f, e.Host)
	case "skipped":
		f := b.file(e.Line, e.File)
		f.state, f.verified, f.reason, f.start, f.end = fileSkipped, e.Verified, e.Reason, t, t
		b.retire(f)
	case "retry":
		f := b.file(e.Line, e.File)
		if f.start.IsZero() && f.state == fileActive {
			f.start = t // its first request failed before any answer
		}
		f.attempts++
		kind := classify(e.Error)
		b.markFile(f, t, kind, e.Error)
		b.markHost(b.blamed(f, e.Error), t, kind)
	case "warning":
		if e.File == "" {
			b.notice(t, e.Error)
			break
		}
		f := b.file(e.Line, e.File)
		kind := markNote
		if strings.Contains(e.Error, "restarting") || strings.Contains(e.Error, "starting over") {
			kind = markRestart
		}
		b.markFile(f, t, kind, e.Error)
	case "host":
		h := b.hostOf(e.Host)
		if h < 0 {
			break
		}
		b.level(h, t, e.Connections)
		if e.Error != "" {
			b.markHost(h, t, markCut)
			b.hosts[h].notices = appendCapped(b.hosts[h].notices, mask.Text(e.Error))
		}
	case "progress":
		b.progress(e, t)
	case "done", "failed", "expired":
		f := b.file(e.Line, e.File)
		if f.state != fileActive {
			break // told twice
		}
		if e.ElapsedMS > 0 && f.start.IsZero() { // a stream cut before its start
			f.start = t.Add(-time.Duration(e.ElapsedMS) * time.Millisecond)
		}
		b.credit(f, e.Bytes, e.Sources, f.conns(), t)
		f.end = t
		switch e.Type {
		case "done":
			f.state, f.verified = fileDone, e.Verified
			f.total = e.Bytes
		case "failed":
			f.state, f.err = fileFailed, mask.Text(e.Error)
		case "expired":
			f.state, f.err = fileExpired, mask.Text(e.Error)
		}
		b.retire(f)
	case "invalid":
		if len(b.invalid) < maxFailed {
			b.invalid = append(b.invalid, failure{Line: e.Line, Error: mask.Text(e.Error)})
		}
	case "summary":
		b.summary = e
		b.reconcile(e, t)
	}
}
