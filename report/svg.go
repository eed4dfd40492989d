package report

import (
	"fmt"
	"html/template"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/bulkget/bulkget/internal/bytesize"
)

// Drawing sizes, in CSS pixels.
const (
	chartW   = 1160 // every chart's width, so their time axes line up
	padLeft  = 250  // room for the waterfall's names and the charts' labels
	padRight = 16
	plotW    = chartW - padLeft - padRight
	rowH     = 14

	maxStacked   = 8   // hosts drawn apart in the throughput; the rest are "other"
	maxHostPlots = 8   // hosts with a connections chart
	maxRows      = 300 // waterfall rows
)

// palette colours hosts in the order of their bytes; "other" is grey.
var palette = []string{"#2f6fde", "#e8793a", "#2ba370", "#c94f9c", "#8a64d6", "#c9a227", "#3bb4c6", "#d44a4a"}

const otherColour = "#9aa3ad"

var markColours = [nMarks]string{"#d0312d", "#f0a020", "#7b3fb8", "#8b1a1a", "#1f8a8a", "#e07b00", "#5c6670"}

// svg collects the markup of one drawing. Every text it holds passes
// through esc.
type svg struct {
	b strings.Builder
}

func (s *svg) f(format string, a ...any) { fmt.Fprintf(&s.b, format, a...) }

func (s *svg) html() template.HTML { return template.HTML(s.b.String()) } //nolint:gosec // built from escaped parts

func esc(v string) string { return template.HTMLEscapeString(v) }

// timeline maps run time to x.
type timeline struct {
	span time.Duration
}

func (tl timeline) x(d time.Duration) float64 {
	if tl.span <= 0 {
		return padLeft
	}
	return padLeft + float64(plotW)*min(max(d.Seconds()/tl.span.Seconds(), 0), 1)
}

// axis draws time ticks along y from top to bottom of a plot.
func (tl timeline) axis(s *svg, top, bottom float64) {
	step := niceDuration(tl.span / 8)
	for d := time.Duration(0); d <= tl.span; d += step {
		x := tl.x(d)
		s.f(`<line class="grid" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, x, top, x, bottom)
		s.f(`<text class="tick" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x, bottom+12, esc(clock(d)))
	}
}

// niceDuration rounds d up to a step a person counts in.
func niceDuration(d time.Duration) time.Duration {
	for _, s := range []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second,
		15 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute,
		15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour} {
		if d <= s {
			return s
		}
	}
	return 24 * time.Hour
}

// clock is a run time as m:ss or h:mm:ss.
func clock(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d/time.Hour), int(d/time.Minute)%60, int(d/time.Second)%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%d:%02d", m, s)
}

// niceMax rounds v up to 1, 2 or 5 times a power of ten, for an axis.
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// niceBytes rounds a rate up to a nice number of the binary unit it is
// printed in, so that the axis reads 200 MiB/s rather than 190.7 MiB/s.
func niceBytes(v float64) float64 {
	unit := 1.0
	for v/unit >= 1024 {
		unit *= 1024
	}
	return niceMax(v/unit) * unit
}

// stack is the hosts drawn apart in the throughput chart: the ones with
// the most bytes, and "other" (index -1) for the rest.
type stack struct {
	hosts  []int
	colour map[int]string
}

func (b *Builder) stack() stack {
	order := make([]int, len(b.hosts))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return b.hosts[order[i]].bytes > b.hosts[order[j]].bytes })
	st := stack{colour: map[int]string{}}
	for _, h := range order {
		if len(st.hosts) < maxStacked && slot(h) == h && h < maxSeriesHosts {
			st.colour[h] = palette[len(st.hosts)%len(palette)]
			st.hosts = append(st.hosts, h)
		} else {
			st.colour[h] = otherColour
		}
	}
	return st
}

// rates returns the bytes per second of time line sl (see slot) in each
// bucket.
func (b *Builder) rates(h int, span time.Duration) []float64 {
	s := &b.ser
	out := make([]float64, s.n)
	if h >= len(s.hosts) {
		return out
	}
	for i := range out {
		// The last bucket is cut short by the end; counted as at least
		// half a bucket, so that its few last bytes do not draw a spike.
		d := max(min(s.step, span-time.Duration(i)*s.step), s.step/2)
		out[i] = s.hosts[h].bytes[i] / d.Seconds()
	}
	return out
}

// throughputChart draws the rate of every host stacked, the total on top
// and the run's limit as a dashed line.
func (b *Builder) throughputChart(tl timeline, st stack) (template.HTML, float64) {
	const h, top = 300.0, 10.0
	n := b.ser.n
	layers := make([][]float64, 0, len(st.hosts)+1)
	colours := []string{}
	names := []string{}
	for _, hi := range st.hosts {
		layers = append(layers, b.rates(hi, tl.span))
		colours = append(colours, st.colour[hi])
		names = append(names, b.hosts[hi].name)
	}
	if len(b.hosts) > len(st.hosts) {
		other := make([]float64, n)
		for sl := 0; sl <= maxSeriesHosts && sl < len(b.hosts); sl++ {
			if st.colour[sl] != otherColour {
				continue // drawn apart
			}
			for i, r := range b.rates(sl, tl.span) {
				other[i] += r
			}
		}
		layers = append(layers, other)
		colours = append(colours, otherColour)
		names = append(names, fmt.Sprintf("%d other hosts", len(b.hosts)-len(st.hosts)))
	}
	total := make([]float64, n)
	for _, l := range layers {
		for i, r := range l {
			total[i] += r
		}
	}
	peak := 0.0
	for _, r := range total {
		peak = max(peak, r)
	}
	ymax := niceBytes(max(peak, float64(b.run.limit)) * 1.05)
	y := func(r float64) float64 { return top + h - h*r/ymax }
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = tl.x(time.Duration(i)*b.ser.step + b.ser.step/2)
	}
	if n > 0 {
		xs[0], xs[n-1] = tl.x(0), tl.x(tl.span)
	}
	var s svg
	s.f(`<svg class="chart" viewBox="0 0 %d %.0f" width="%d" height="%.0f" role="img" aria-label="throughput over time">`,
		chartW, top+h+30, chartW, top+h+30)
	for k := 0; k <= 4; k++ {
		r := ymax * float64(k) / 4
		s.f(`<line class="grid" x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>`, padLeft, y(r), chartW-padRight, y(r))
		s.f(`<text class="tick" x="%d" y="%.1f" text-anchor="end">%s/s</text>`, padLeft-6, y(r)+4, esc(size(int64(r))))
	}
	tl.axis(&s, top, top+h)
	base := make([]float64, n)
	for k, l := range layers {
		var pts strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&pts, "%.1f,%.1f ", xs[i], y(base[i]+l[i]))
		}
		for i := n - 1; i >= 0; i-- {
			fmt.Fprintf(&pts, "%.1f,%.1f ", xs[i], y(base[i]))
		}
		s.f(`<polygon fill="%s" fill-opacity="0.85" points="%s"><title>%s</title></polygon>`, colours[k],
			strings.TrimSpace(pts.String()), esc(names[k]))
		for i := range base {
			base[i] += l[i]
		}
	}
	if n > 0 {
		var pts strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&pts, "%.1f,%.1f ", xs[i], y(total[i]))
		}
		s.f(`<polyline class="total" points="%s"><title>total</title></polyline>`, strings.TrimSpace(pts.String()))
	}
	if b.run.limit > 0 {
		ly := y(float64(b.run.limit))
		s.f(`<line class="limit" x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>`, padLeft, ly, chartW-padRight, ly)
		s.f(`<text class="limitlabel" x="%d" y="%.1f" text-anchor="end">limit %s/s</text>`, chartW-padRight-4, ly-4,
			esc(size(b.run.limit)))
	}
	s.f(`</svg>`)
	return s.html(), peak
}

// connsChart draws host h's allowed level (a line), its requests in flight
// (an area) and its marks (symbols above the plot).
func (b *Builder) connsChart(tl timeline, h int, colour string) template.HTML {
	const ph, top = 110.0, 34.0
	n := b.ser.n
	hs := b.ser.host(h)
	inflight := carry(hs.inflight[:n], 0)
	levels := b.hosts[h].levels
	ymax := 1
	for i := 0; i < n; i++ {
		ymax = max(ymax, inflight[i])
	}
	for _, p := range levels {
		ymax = max(ymax, p.n)
	}
	yTop := float64(ymax) * 1.15
	y := func(v int) float64 { return top + ph - ph*float64(v)/yTop }
	edge := func(i int) float64 { return min(tl.x(time.Duration(i)*b.ser.step), tl.x(tl.span)) }
	var s svg
	s.f(`<svg class="chart" viewBox="0 0 %d %.0f" width="%d" height="%.0f" role="img" aria-label="connections to %s">`,
		chartW, top+ph+28, chartW, top+ph+28, esc(b.hosts[h].name))
	s.f(`<text class="hostname" x="%d" y="12">%s</text>`, padLeft, esc(b.hosts[h].name))
	for _, v := range []int{0, ymax / 2, ymax} {
		s.f(`<line class="grid" x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>`, padLeft, y(v), chartW-padRight, y(v))
		s.f(`<text class="tick" x="%d" y="%.1f" text-anchor="end">%d</text>`, padLeft-6, y(v)+4, v)
	}
	tl.axis(&s, top, top+ph)
	if n > 0 {
		var pts strings.Builder
		fmt.Fprintf(&pts, "%.1f,%.1f ", edge(0), y(0))
		for i := 0; i < n; i++ {
			fmt.Fprintf(&pts, "%.1f,%.1f %.1f,%.1f ", edge(i), y(inflight[i]), edge(i+1), y(inflight[i]))
		}
		fmt.Fprintf(&pts, "%.1f,%.1f", edge(n), y(0))
		s.f(`<polygon fill="%s" fill-opacity="0.35" points="%s"><title>requests in flight</title></polygon>`, colour, pts.String())
	}
	if len(levels) > 0 {
		var pts strings.Builder
		for i, p := range levels {
			x := tl.x(p.at.Sub(b.start))
			if i > 0 {
				fmt.Fprintf(&pts, "%.1f,%.1f ", x, y(levels[i-1].n))
			}
			fmt.Fprintf(&pts, "%.1f,%.1f ", x, y(p.n))
		}
		fmt.Fprintf(&pts, "%.1f,%.1f", tl.x(tl.span), y(levels[len(levels)-1].n))
		s.f(`<polyline class="level" stroke="%s" points="%s"><title>connections allowed</title></polyline>`, colour,
			pts.String())
	}
	for k := 0; k < nMarks; k++ {
		if k == markRestart || k == markNote {
			continue // about a file: on its waterfall row
		}
		my := top - 14 + float64(k)*3
		for i := 0; i < n; i++ {
			c := hs.marks[k][i]
			if c == 0 {
				continue
			}
			x := (edge(i) + edge(i+1)) / 2
			s.f(`<circle class="mark" cx="%.1f" cy="%.1f" r="%.1f" fill="%s"><title>%s: %d %s</title></circle>`,
				x, my, min(2+math.Log2(float64(c)), 5), markColours[k], clock(time.Duration(i)*b.ser.step), c, markNames[k])
		}
	}
	s.f(`</svg>`)
	return s.html()
}

// carry replaces each -1 with the value before it (first before any).
func carry(v []int, first int) []int {
	out := make([]int, len(v))
	prev := first
	for i, x := range v {
		if x >= 0 {
			prev = x
		}
		out[i] = prev
	}
	return out
}

// waterfall draws one row per file: its spans coloured by the host that
// delivered them, and its marks. Rows are the files in start order, or the
// slowest first when there are more than maxRows; left says how many were
// not drawn.
func (b *Builder) waterfall(tl timeline, st stack) template.HTML {
	rows, _ := b.rows()
	const top = 6.0
	height := top + float64(len(rows))*rowH + 22
	var s svg
	s.f(`<svg class="chart" viewBox="0 0 %d %.0f" width="%d" height="%.0f" role="img" aria-label="waterfall of files">`,
		chartW, height, chartW, height)
	tl.axis(&s, top, height-22)
	most := 1 // connections of the busiest span drawn: the full height
	for _, f := range rows {
		for _, sp := range f.spans {
			most = max(most, sp.conns)
		}
	}
	for r, f := range rows {
		y := top + float64(r)*rowH
		end := f.end
		if end.IsZero() {
			end = b.end
		}
		s.f(`<g class="row"><title>%s</title>`, esc(b.rowTitle(f)))
		s.f(`<text class="name" x="%d" y="%.1f" text-anchor="end">%s</text>`, padLeft-8, y+10, esc(tail(f.name, 38)))
		x0, x1 := tl.x(f.start.Sub(b.start)), tl.x(end.Sub(b.start))
		class := "bar"
		if f.state == fileActive {
			class = "bar open"
		}
		s.f(`<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%d"/>`, class, x0, y+2, max(x1-x0, 1), rowH-4)
		for _, sp := range f.spans {
			if sp.bytes == 0 {
				continue
			}
			sx0, sx1 := tl.x(sp.from.Sub(b.start)), tl.x(sp.to.Sub(b.start))
			h := f.host
			if sp.src >= 0 && sp.src < len(f.src) {
				h = f.src[sp.src].host
			}
			colour := otherColour
			if c, ok := st.colour[h]; ok {
				colour = c
			}
			// Taller for more connections, so a file's splits and the
			// tail where they end show at a glance.
			bh := float64(rowH-4) * (0.35 + 0.65*float64(min(sp.conns, most))/float64(most))
			s.f(`<rect class="span" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`, sx0, y+rowH-2-bh,
				max(sx1-sx0, 0.8), bh, colour)
		}
		for _, m := range f.marks {
			mx := tl.x(m.at.Sub(b.start))
			s.f(`<rect x="%.1f" y="%.1f" width="2" height="%d" fill="%s"/>`, mx-1, y, rowH, markColours[m.kind])
		}
		if f.state == fileFailed || f.state == fileExpired {
			s.f(`<text class="fail" x="%.1f" y="%.1f">✕</text>`, x1+2, y+11)
		}
		s.f(`</g>`)
	}
	s.f(`</svg>`)
	return s.html()
}

// rows are the files the waterfall draws, and how many it leaves out.
func (b *Builder) rows() (rows []*file, left int) {
	all := b.endedRows
	for _, f := range b.files {
		if f.state != fileSkipped && !f.start.IsZero() {
			rows = append(rows, f)
			if f.state == fileActive {
				all++
			}
		}
	}
	if all > maxRows || all > len(rows) {
		sort.Slice(rows, func(i, j int) bool {
			di, dj := b.took(rows[i]), b.took(rows[j])
			if di != dj {
				return di > dj
			}
			return rows[i].line < rows[j].line
		})
		rows = rows[:min(len(rows), maxRows)]
		return rows, all - len(rows)
	}
	sort.Slice(rows, func(i, j int) bool {
		if !rows[i].start.Equal(rows[j].start) {
			return rows[i].start.Before(rows[j].start)
		}
		return rows[i].line < rows[j].line
	})
	return rows, 0
}

// took is how long a file has been going, to its end or the run's.
func (b *Builder) took(f *file) time.Duration {
	end := f.end
	if end.IsZero() {
		end = b.end
	}
	return end.Sub(f.start)
}

func (b *Builder) rowTitle(f *file) string {
	var t strings.Builder
	fmt.Fprintf(&t, "%s (line %d): %s", f.name, f.line, stateNames[f.state])
	d := b.took(f)
	fmt.Fprintf(&t, ", %s in %s", size(f.run), d.Round(time.Millisecond))
	if d > 0 {
		fmt.Fprintf(&t, " (%s/s)", size(int64(float64(f.run)/d.Seconds())))
	}
	if f.resumed > 0 {
		fmt.Fprintf(&t, ", %s already on disk", size(f.resumed))
	}
	for _, sp := range f.spans {
		if sp.bytes > 0 {
			fmt.Fprintf(&t, "\n+%s–%s: %d conn, %s", clock(sp.from.Sub(b.start)), clock(sp.to.Sub(b.start)), sp.conns, size(sp.bytes))
			if sp.src >= 0 && sp.src < len(f.src) && f.src[sp.src].host >= 0 {
				fmt.Fprintf(&t, " from %s", b.hosts[f.src[sp.src].host].name)
			}
		}
	}
	for _, m := range f.marks {
		fmt.Fprintf(&t, "\n%s at +%s: %s", markNames[m.kind], clock(m.at.Sub(b.start)), short(m.what, 160))
	}
	if f.moreMark > 0 {
		fmt.Fprintf(&t, "\n… %d more", f.moreMark)
	}
	if f.err != "" {
		fmt.Fprintf(&t, "\n%s", f.err)
	}
	return t.String()
}

// short cuts s to n runes, with an ellipsis.
func short(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// tail cuts s to its last n runes, with an ellipsis: the end of a path
// tells files apart better than its folders.
func tail(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return "…" + string(r[len(r)-n+1:])
}

// size is a byte count for people, in binary units as bulkget prints them.
func size(n int64) string { return bytesize.Format(n) }
