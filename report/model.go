package report

import (
	"bytes"
	"container/heap"
	"encoding/json"
	"fmt"
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

// progress credits each file in progress with what it wrote since the
// previous look, and records every host's requests in flight.
func (b *Builder) progress(e *event, t time.Time) {
	if e.FilesTotal > 0 {
		b.filesTotal = e.FilesTotal
	}
	inflight := make([]int, len(b.hosts))
	for i := range e.Files {
		pf := &e.Files[i]
		f, ok := b.files[pf.Line]
		if !ok || f.state != fileActive {
			continue // a look taken before the file's end was reported
		}
		if f.total < 0 {
			f.total = pf.Total
		}
		b.credit(f, pf.Bytes, pf.Sources, pf.Connections, t)
		if len(pf.Sources) == 0 {
			if f.host >= 0 {
				inflight = grow(inflight, f.host)
				inflight[f.host] += pf.Connections
			}
			continue
		}
		for _, s := range pf.Sources {
			h := b.hostOf(s.Host)
			if h >= 0 {
				inflight = grow(inflight, h)
				inflight[h] += s.Connections
			}
		}
	}
	// The scheduler's own count, when the stream has it, includes the
	// requests still waiting for their first answer, which the files'
	// connections miss: most of them on a list of small files.
	if len(e.Hosts) > 0 {
		b.hostLooks = true
	}
	if b.hostLooks {
		inflight = make([]int, len(b.hosts))
		for _, eh := range e.Hosts {
			h := b.hostOf(eh.Host)
			inflight = grow(inflight, h)
			inflight[h] = eh.Connections
			if eh.Limit > 0 && eh.Limit != b.hosts[h].level {
				b.level(h, t, eh.Limit)
			}
			for ; b.hosts[h].hedges < eh.Hedges; b.hosts[h].hedges++ { // a running count
				b.markHost(h, t, markHedge)
			}
		}
	}
	bySlot := make([]int, min(len(b.hosts), maxSeriesHosts+1))
	for h := range b.hosts {
		n := 0
		if h < len(inflight) {
			n = inflight[h]
		}
		b.hosts[h].peak = max(b.hosts[h].peak, n)
		bySlot[slot(h)] += n
	}
	for i, n := range bySlot {
		b.ser.inflight(i, t, n)
	}
	b.last = t
}

// credit records that f has bytes on disk (and srcs delivered what they
// say) at t, and gives the bytes new since the previous look to the hosts
// they came from.
func (b *Builder) credit(f *file, onDisk int64, srcs []eventSource, conns int, t time.Time) {
	from := f.lastT
	if from.IsZero() || from.Before(b.last) {
		from = maxTime(b.last, f.start)
	}
	if from.After(t) {
		from = t
	}
	var delta int64
	best, bestN := -1, int64(0)
	if len(srcs) == 0 {
		if run := onDisk - f.resumed; run > f.run {
			delta = run - f.run
			b.give(f.host, from, t, delta)
			f.run = run
		}
	} else {
		for _, s := range srcs {
			for len(f.src) <= s.Index {
				f.src = append(f.src, fileSource{host: -1})
			}
			fs := &f.src[s.Index]
			if fs.host < 0 {
				fs.host = b.hostOf(s.Host)
			}
			if s.Dropped != "" {
				fs.dropped = mask.Text(s.Dropped)
			}
			if s.Bytes > fs.run {
				d := s.Bytes - fs.run
				b.give(fs.host, from, t, d)
				fs.run, f.run, delta = s.Bytes, f.run+d, delta+d
				if d > bestN {
					best, bestN = s.Index, d
				}
			}
		}
	}
	if f.start.IsZero() {
		f.start = from
	}
	f.addSpan(span{from: from, to: t, conns: conns, src: best, bytes: delta})
	f.lastT = t
}

// maxSeriesHosts hosts, the first to appear, have a time line of their
// own; the others share one, so that a list spread over thousands of hosts
// costs the memory of a few.
const maxSeriesHosts = 32

// slot is the time line of host h.
func slot(h int) int { return min(h, maxSeriesHosts) }

// give puts n bytes from host h on the time line between from and to.
func (b *Builder) give(h int, from, to time.Time, n int64) {
	if n <= 0 {
		return
	}
	if h < 0 {
		h = b.hostOf("unknown host")
	}
	b.hosts[h].bytes += n
	b.ser.spread(slot(h), from, to, float64(n))
}

// reconcile gives the bytes the summary counts and no event did (those
// written after the last progress line of an interrupted run) to the hosts
// that were still delivering.
func (b *Builder) reconcile(e *event, t time.Time) {
	var have int64
	for _, h := range b.hosts {
		have += h.bytes
	}
	missing := e.Bytes - have
	if missing <= 0 {
		return
	}
	b.residual = missing
	to := maxTime(t, b.last)
	if len(e.Hosts) > 0 {
		for _, eh := range e.Hosts {
			h := b.hostOf(eh.Host)
			if h >= 0 && eh.Bytes > b.hosts[h].bytes {
				b.give(h, b.last, to, eh.Bytes-b.hosts[h].bytes)
			}
		}
		return
	}
	weight := map[int]int64{}
	var sum int64
	for _, f := range b.files {
		if f.state == fileActive && f.host >= 0 {
			weight[f.host] += f.run + 1
			sum += f.run + 1
		}
	}
	if sum == 0 {
		top := -1
		for i, h := range b.hosts {
			if top < 0 || h.bytes > b.hosts[top].bytes {
				top = i
			}
		}
		b.give(top, b.last, to, missing)
		return
	}
	// In host order, so that the split is the same every time; the last
	// host takes what rounding left.
	given, seen := int64(0), 0
	for h := range b.hosts {
		w, ok := weight[h]
		if !ok {
			continue
		}
		seen++
		n := missing * w / sum
		if seen == len(weight) {
			n = missing - given
		}
		b.give(h, b.last, to, n)
		given += n
	}
}

// retire counts a file that ended and keeps its record only while it is
// among the maxKept slowest: memory follows the files in flight, not the
// list.
func (b *Builder) retire(f *file) {
	b.ended[f.state]++
	if f.state != fileSkipped && !f.start.IsZero() {
		b.endedRows++
	}
	if f.state == fileFailed || f.state == fileExpired {
		what := f.err
		if f.state == fileExpired {
			what = "expired: " + what
		}
		if len(b.failures) < maxFailed {
			b.failures = append(b.failures, failRow{f.line, f.name, what})
		} else {
			b.failuresOut++
		}
	}
	heap.Push(&b.kept, kept{f, b.took(f)})
	if b.kept.Len() > maxKept {
		gone := heap.Pop(&b.kept).(kept)
		delete(b.files, gone.f.line)
	}
}

type kept struct {
	f    *file
	took time.Duration
}

// keptHeap is a min-heap of finished files by time taken.
type keptHeap []kept

func (h keptHeap) Len() int { return len(h) }
func (h keptHeap) Less(i, j int) bool {
	if h[i].took != h[j].took {
		return h[i].took < h[j].took
	}
	return h[i].f.line > h[j].f.line
}
func (h keptHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *keptHeap) Push(x any)   { *h = append(*h, x.(kept)) }
func (h *keptHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (b *Builder) file(line int, name string) *file {
	f, ok := b.files[line]
	if !ok {
		f = &file{line: line, name: name, host: -1, total: -1}
		b.files[line] = f
	}
	if f.name == "" {
		f.name = name
	}
	return f
}

func (b *Builder) setHost(f *file, name string) {
	if f.host >= 0 || name == "" {
		return
	}
	f.host = b.hostOf(name)
	if f.host >= 0 {
		b.hosts[f.host].files++
	}
}

// hostOf returns the index of the host named name ("" is none: -1), adding
// it on first sight. A name never carries credentials into the page.
func (b *Builder) hostOf(name string) int {
	if name == "" {
		return -1
	}
	if i := strings.LastIndexByte(name, '@'); i >= 0 {
		name = name[i+1:]
	}
	name = mask.Text(name)
	if i, ok := b.hostIdx[name]; ok {
		return i
	}
	i := len(b.hosts)
	b.hosts = append(b.hosts, &host{name: name})
	b.hostIdx[name] = i
	if b.run.seen && !b.run.adaptive && b.run.perHost > 0 {
		b.level(i, b.start, b.run.perHost) // a fixed share until told otherwise
	}
	return i
}

// levelPoint is a change of a host's allowed connections.
type levelPoint struct {
	at time.Time
	n  int
}

// maxLevelPoints bounds the changes kept per host; more thin out evenly.
const maxLevelPoints = 1024

// level records that host h is allowed n connections from t on. Changes
// are kept as they came, not in buckets: a cut and the refusals before it
// often fall within one bucket, and the chart should show the knee.
func (b *Builder) level(h int, t time.Time, n int) {
	ho := b.hosts[h]
	if ho.level == 0 || n < ho.minLevel {
		ho.minLevel = n
	}
	ho.level, ho.maxLevel = n, max(ho.maxLevel, n)
	ho.levels = append(ho.levels, levelPoint{t, n})
	if len(ho.levels) > maxLevelPoints {
		thin := ho.levels[:0]
		for i, p := range ho.levels {
			if i%2 == 0 || i == len(ho.levels)-1 {
				thin = append(thin, p)
			}
		}
		ho.levels = thin
	}
}

func (b *Builder) markHost(h int, t time.Time, kind int) {
	if h < 0 {
		return
	}
	b.hosts[h].marks[kind]++
	b.ser.mark(slot(h), t, kind)
}

func (b *Builder) markFile(f *file, t time.Time, kind int, what string) {
	if len(f.marks) >= maxMarks {
		f.moreMark++
		return
	}
	f.marks = append(f.marks, mark{at: t, kind: kind, what: mask.Text(what)})
}

func (b *Builder) notice(t time.Time, text string) {
	text = mask.Text(text)
	// "server HOST does not serve byte ranges…": the host's own notice.
	if rest, ok := strings.CutPrefix(text, "server "); ok {
		if name, _, ok := strings.Cut(rest, " "); ok {
			if i, ok := b.hostIdx[name]; ok {
				b.hosts[i].notices = appendCapped(b.hosts[i].notices, text)
			}
		}
	}
	if len(b.notices) >= maxNotices {
		b.noticesLeft++
		return
	}
	b.notices = append(b.notices, fmt.Sprintf("%s  %s", t.UTC().Format("15:04:05"), text))
}

// blamed is the host a failed request of f went to: the one whose URL the
// error quotes (a mirror, say), else the host of f's list url.
func (b *Builder) blamed(f *file, err string) int {
	if i := strings.Index(err, "://"); i >= 0 {
		rest := err[i+3:]
		if j := strings.IndexAny(rest, "/\" \t"); j >= 0 {
			rest = rest[:j]
		}
		if j := strings.LastIndexByte(rest, '@'); j >= 0 {
			rest = rest[j+1:]
		}
		if h, ok := b.hostIdx[rest]; ok {
			return h
		}
	}
	return f.host
}

// classify tells a failed request's kind from its error text.
func classify(err string) int {
	switch {
	case strings.Contains(err, "429") || strings.Contains(err, "503") || strings.Contains(err, "refused requests"):
		return markRefused
	case strings.Contains(err, "stall") || strings.Contains(err, "nothing received"):
		return markStall
	}
	return markRetry
}

// conns is the file's connections at its latest span.
func (f *file) conns() int {
	if len(f.spans) == 0 {
		return 1
	}
	return f.spans[len(f.spans)-1].conns
}

// addSpan extends the latest span when nothing changed, and halves the
// spans' resolution when there are too many.
func (f *file) addSpan(s span) {
	if n := len(f.spans); n > 0 {
		l := &f.spans[n-1]
		if l.conns == s.conns && (l.src == s.src || s.bytes == 0) {
			l.to, l.bytes = s.to, l.bytes+s.bytes
			return
		}
	}
	f.spans = append(f.spans, s)
	if len(f.spans) <= maxSpans {
		return
	}
	out := f.spans[:0]
	for i := 0; i < len(f.spans); i += 2 {
		a := f.spans[i]
		if i+1 < len(f.spans) {
			c := f.spans[i+1]
			if c.bytes > a.bytes {
				a.src = c.src
			}
			a.to, a.conns, a.bytes = c.to, max(a.conns, c.conns), a.bytes+c.bytes
		}
		out = append(out, a)
	}
	f.spans = out
}

func appendCapped(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	if len(s) >= 8 {
		return s
	}
	return append(s, v)
}

func grow(s []int, i int) []int {
	for len(s) <= i {
		s = append(s, 0)
	}
	return s
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
