package report

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/bulkget/bulkget/internal/atomicfile"
)

// maxFileRows bounds the file table: a list of 100,000 files shows its
// slowest, and says so.
const maxFileRows = 500

// Figures are the page's totals, embedded in it as JSON (the script
// element with id "bulkget-figures") for tests and tools. They are counted
// from the events, not copied from the summary line; ResidualBytes is what
// only the summary knew of (written after the last progress line of an
// interrupted run), given to the hosts still delivering.
type Figures struct {
	Schema        int          `json:"schema"`
	State         string       `json:"state"`
	Bytes         int64        `json:"bytes"`
	ResidualBytes int64        `json:"residual_bytes"`
	Done          int          `json:"done"`
	Skipped       int          `json:"skipped"`
	Failed        int          `json:"failed"`
	Expired       int          `json:"expired"`
	InProgress    int          `json:"in_progress"`
	Hosts         []HostFigure `json:"hosts"`
	ElapsedMS     int64        `json:"elapsed_ms"`
	Rows          int          `json:"waterfall_rows"`
	RowsLeftOut   int          `json:"waterfall_left_out"`
	Lines         int          `json:"event_lines"`
}

// HostFigure is what one host did in this run.
type HostFigure struct {
	Host    string `json:"host"`
	Bytes   int64  `json:"bytes"`
	Refused int    `json:"refused"`
	Retries int    `json:"retries"`
	Stalls  int    `json:"stalls"`
	Cuts    int    `json:"limit_cuts"`
	Hedges  int    `json:"hedges"`
	Peak    int    `json:"peak_in_flight"`
}

type fact struct{ Label, Value string }

type hostRow struct {
	Colour, Host                           string
	Files                                  int
	Bytes, Share, Peak, Level              string
	Refused, Retries, Stalls, Cuts, Hedges int
	Notices                                []string
	BytesN                                 int64
}

type fileRow struct {
	Line                                    int
	Name, State, Size, Took, Rate, Verified string
	Retries                                 int
	Sources                                 []string
	Failed                                  bool
}

type failRow struct {
	Line       int
	Name, What string
}

type legend struct{ Colour, Name string }

type view struct {
	Title, State, Generated string
	Facts                   []fact
	Throughput              template.HTML
	Legend                  []legend
	Conns                   []template.HTML
	ConnsLeft               int
	Waterfall               template.HTML
	WaterfallNote           string
	Hosts                   []hostRow
	Files                   []fileRow
	FilesNote               string
	Failures                []failRow
	FailuresNote            string
	Notices                 []string
	NoticesLeft             int
	Figures                 template.JS
	Marks, FileMarks        []legend
}

// Figures counts the page's totals.
func (b *Builder) Figures() Figures {
	fg := Figures{Schema: 1, State: b.state(), ResidualBytes: b.residual, Lines: b.lines}
	for _, h := range b.hosts {
		fg.Bytes += h.bytes
	}
	for _, h := range b.byBytes() {
		ho := b.hosts[h]
		fg.Hosts = append(fg.Hosts, HostFigure{Host: ho.name, Bytes: ho.bytes, Refused: ho.marks[markRefused],
			Retries: ho.marks[markRetry], Stalls: ho.marks[markStall], Cuts: ho.marks[markCut], Hedges: ho.marks[markHedge], Peak: ho.peak})
	}
	fg.Done, fg.Skipped, fg.Failed, fg.Expired = b.ended[fileDone], b.ended[fileSkipped], b.ended[fileFailed],
		b.ended[fileExpired]
	for _, f := range b.files {
		if f.state == fileActive {
			fg.InProgress++
		}
	}
	fg.ElapsedMS = b.elapsed().Milliseconds()
	rows, left := b.rows()
	fg.Rows, fg.RowsLeftOut = len(rows), left
	return fg
}

func (b *Builder) byBytes() []int {
	order := make([]int, len(b.hosts))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return b.hosts[order[i]].bytes > b.hosts[order[j]].bytes })
	return order
}

func (b *Builder) state() string {
	switch {
	case b.summary == nil:
		return "running"
	case b.summary.Interrupted:
		return "interrupted"
	case len(b.summary.Failed) > 0 || len(b.summary.Expired) > 0 || len(b.summary.Invalid) > 0:
		return "finished with failures"
	}
	return "finished"
}

func (b *Builder) elapsed() time.Duration {
	if b.summary != nil && b.summary.ElapsedMS > 0 {
		return time.Duration(b.summary.ElapsedMS) * time.Millisecond
	}
	return b.end.Sub(b.start)
}

// Render writes the page.
func (b *Builder) Render(w io.Writer) error {
	v := b.view()
	if err := page.Execute(w, v); err != nil {
		return fmt.Errorf("report: render: %w", err)
	}
	return nil
}

func (b *Builder) view() view {
	fg := b.Figures()
	span := max(b.end.Sub(b.start), time.Second)
	tl := timeline{span: span}
	st := b.stack()
	v := view{State: fg.State, Generated: time.Now().UTC().Format("2006-01-02 15:04:05 UTC")}
	v.Title = "bulkget run"
	if !b.start.IsZero() {
		v.Title = "bulkget run of " + b.start.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	var peak float64
	v.Throughput, peak = b.throughputChart(tl, st)
	for _, h := range st.hosts {
		v.Legend = append(v.Legend, legend{st.colour[h], b.hosts[h].name})
	}
	if len(b.hosts) > len(st.hosts) {
		v.Legend = append(v.Legend, legend{otherColour, fmt.Sprintf("%d other hosts", len(b.hosts)-len(st.hosts))})
	}
	for k := 0; k < nMarks; k++ {
		l := legend{markColours[k], markNames[k]}
		if k != markRestart && k != markNote {
			v.Marks = append(v.Marks, l)
		}
		if k != markCut && k != markHedge {
			v.FileMarks = append(v.FileMarks, l)
		}
	}
	for _, h := range b.byBytes() {
		if len(v.Conns) >= maxHostPlots || h >= maxSeriesHosts {
			v.ConnsLeft++
			continue
		}
		v.Conns = append(v.Conns, b.connsChart(tl, h, st.colour[h]))
	}
	v.Waterfall = b.waterfall(tl, st)
	if fg.RowsLeftOut > 0 {
		v.WaterfallNote = fmt.Sprintf("The %d slowest files, slowest first; %d more not drawn.", fg.Rows, fg.RowsLeftOut)
	}
	elapsed := b.elapsed()
	avg := "-"
	if elapsed > 0 {
		avg = size(int64(float64(fg.Bytes)/elapsed.Seconds())) + "/s"
	}
	limit := "none"
	if b.run.limit > 0 {
		limit = size(b.run.limit) + "/s"
	}
	total := b.filesTotal
	if s := b.summary; s != nil {
		total = max(total, s.Done+s.Skipped+len(s.Failed)+len(s.Expired))
	}
	files := fmt.Sprintf("%d done, %d skipped, %d failed", fg.Done, fg.Skipped, fg.Failed)
	if fg.Expired > 0 {
		files += fmt.Sprintf(", %d expired", fg.Expired)
	}
	if fg.InProgress > 0 {
		files += fmt.Sprintf(", %d unfinished", fg.InProgress)
	}
	if total > 0 {
		files += fmt.Sprintf(" of %d", total)
	}
	v.Facts = []fact{
		{"state", fg.State},
		{"downloaded", size(fg.Bytes)},
		{"files", files},
		{"time", elapsed.Round(100 * time.Millisecond).String()},
		{"average", avg},
		{"peak", size(int64(peak)) + "/s"},
		{"rate limit", limit},
		{"hosts", fmt.Sprint(len(b.hosts))},
	}
	if b.run.seen {
		conns := fmt.Sprintf("%d, at most %d per host", b.run.conns, b.run.perHost)
		if b.run.adaptive {
			conns += ", adaptive"
		}
		v.Facts = append(v.Facts, fact{"connections", conns})
	}
	v.Hosts = b.hostRows(st, fg.Bytes)
	v.Files, v.FilesNote = b.fileRows()
	v.Failures, v.FailuresNote = b.failRows()
	v.Notices, v.NoticesLeft = b.notices, b.noticesLeft
	// encoding/json escapes <, > and &, so the block cannot close its
	// script element early.
	js, _ := json.Marshal(fg)
	v.Figures = template.JS(js) //nolint:gosec // JSON with HTML characters escaped
	return v
}

func (b *Builder) hostRows(st stack, total int64) []hostRow {
	var rows []hostRow
	for _, i := range b.byBytes() {
		h := b.hosts[i]
		share := "-"
		if total > 0 {
			share = fmt.Sprintf("%.1f%%", 100*float64(h.bytes)/float64(total))
		}
		level := "-"
		switch {
		case h.level == 0:
		case h.minLevel == h.maxLevel:
			level = fmt.Sprint(h.level)
		default:
			level = fmt.Sprintf("%d (%d–%d)", h.level, h.minLevel, h.maxLevel)
		}
		rows = append(rows, hostRow{Colour: st.colour[i], Host: h.name, Files: h.files, Bytes: size(h.bytes), BytesN: h.bytes,
			Share: share, Peak: fmt.Sprint(h.peak), Level: level, Refused: h.marks[markRefused], Retries: h.marks[markRetry],
			Stalls: h.marks[markStall], Cuts: h.marks[markCut], Hedges: h.marks[markHedge], Notices: h.notices})
	}
	return rows
}

// fileRows lists files by list line, or the slowest first when there are
// too many.
func (b *Builder) fileRows() ([]fileRow, string) {
	files := make([]*file, 0, len(b.files))
	for _, f := range b.files {
		files = append(files, f)
	}
	note := ""
	if all := b.allFiles(); all > maxFileRows || all > len(files) {
		sort.Slice(files, func(i, j int) bool {
			di, dj := b.took(files[i]), b.took(files[j])
			if di != dj {
				return di > dj
			}
			return files[i].line < files[j].line
		})
		files = files[:min(len(files), maxFileRows)]
		note = fmt.Sprintf("The %d slowest of %d files, slowest first.", len(files), all)
	} else {
		sort.Slice(files, func(i, j int) bool { return files[i].line < files[j].line })
	}
	rows := make([]fileRow, 0, len(files))
	for _, f := range files {
		r := fileRow{Line: f.line, Name: f.name, State: stateNames[f.state], Size: "?", Took: "-", Rate: "-",
			Verified: f.verified, Retries: f.attempts, Failed: f.state == fileFailed || f.state == fileExpired}
		if f.total >= 0 {
			r.Size = size(f.total)
		}
		if f.state != fileSkipped {
			d := b.took(f)
			r.Took = d.Round(time.Millisecond).String()
			if d > 0 {
				r.Rate = size(int64(float64(f.run)/d.Seconds())) + "/s"
			}
		}
		if f.state == fileSkipped && f.reason != "" {
			r.State += " (" + f.reason + ")"
		}
		for _, s := range f.src {
			name := "?"
			if s.host >= 0 {
				name = b.hosts[s.host].name
			}
			t := name + " " + size(s.run)
			if s.dropped != "" {
				t += " (dropped: " + s.dropped + ")"
			}
			r.Sources = append(r.Sources, t)
		}
		if len(f.src) == 0 && f.host >= 0 {
			r.Sources = []string{b.hosts[f.host].name}
		}
		rows = append(rows, r)
	}
	return rows, note
}

// failRows lists the files given up and the list lines refused, by line.
func (b *Builder) failRows() ([]failRow, string) {
	rows := slices.Clone(b.failures)
	for _, l := range b.invalid {
		rows = append(rows, failRow{l.Line, "(list line)", l.Error})
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Line < rows[j].Line })
	note := ""
	if b.failuresOut > 0 {
		note = fmt.Sprintf("%d of %d files given up; the others are only counted.", len(b.failures),
			len(b.failures)+b.failuresOut)
	}
	return rows, note
}

// allFiles counts the files the run has heard of, kept or not.
func (b *Builder) allFiles() int {
	n := 0
	for _, c := range b.ended {
		n += c
	}
	for _, f := range b.files {
		if f.state == fileActive {
			n++
		}
	}
	return n
}

// WriteFile renders the page into path atomically: a reader (a browser
// reloading it during the run) sees the previous page or this one, whole.
// Like the --summary file it is readable by its owner only (CreateTemp's
// 0600): failure reasons name files and servers.
// The temp file is in path's folder so that the rename is not a copy, and
// is synced first so that a crash cannot leave the name on empty blocks.
func (b *Builder) WriteFile(path string) (err error) {
	var buf bytes.Buffer
	if err := b.Render(&buf); err != nil {
		return err
	}
	if err := atomicfile.Write(path, buf.Bytes(), "."+filepath.Base(path)+".*.tmp"); err != nil {
		return fmt.Errorf("report: write %s: %w", path, err)
	}
	return nil
}

//go:embed page.html
var pageHTML string

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"join": strings.Join,
}).Parse(pageHTML))
