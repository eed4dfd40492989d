package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bulkget/bulkget/scheduler"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// barsConfig sets what bars cannot find out by itself.
type barsConfig struct {
	// rows returns the terminal's height, asked again on every progress
	// tick so the display follows a resize; nil or 0 means unknown.
	rows func() int
	// refresh is how often mpb redraws.
	refresh time.Duration
	// width is the line width when the output is not a terminal (on a
	// terminal mpb reads the width on every redraw).
	width int
	// screen, if set, is the terminal to draw on (see screen.go).
	screen *screen
}

// Lines kept free on the screen besides the file bars: the total bar, the
// "+N more" line, and two for the records printed above and the prompt,
// so a full display never scrolls itself off the top.
const reservedRows = 4

// bars draws one bar per file in progress (as many as the screen holds)
// and a total bar under them. Records of finished files, retries and
// warnings are printed above the bars through mpb, which redraws the bars
// under them.
//
// bars runs on the queue's goroutine. mpb's decorators run on mpb's
// goroutines: they only read atomics and their own state, never anything
// that needs a lock held while calling mpb, which would deadlock against a
// redraw.
type bars struct {
	w     io.Writer
	cfg   barsConfig
	p     *mpb.Progress
	total *mpb.Bar
	t     tally

	shown    []*fileBar // in the order they appeared, oldest first
	byLine   map[int]*fileBar
	lastTick time.Time
	// before holds the files in progress at the previous tick, and now
	// those of this one (the two maps swap): only a file in progress on
	// two ticks in a row gets a bar, so a list of small files does not
	// flicker with bars that vanish at once, nor cost a bar each.
	before, now map[int]bool

	// Read by the total bar's decorators.
	filesDone, filesTotal atomic.Int64
	hidden                atomic.Int64 // files in progress without a bar
	connsInUse            atomic.Int64
	estimated             atomic.Bool
	mirrored              atomic.Bool  // some bar shows its sources
	width                 atomic.Int64 // of the terminal, at the latest redraw
}

type fileBar struct {
	line  int
	bar   *mpb.Bar
	last  time.Time
	size  int64        // last total given to mpb; -1 unknown
	conns atomic.Int64 // read by its decorator
	sized atomic.Bool
	// sources is the sources column of a file with mirrors ("3 sources"),
	// empty for one source; read by its decorator.
	sources atomic.Pointer[string]
}

func newBars(w io.Writer, cfg barsConfig) *bars {
	b := &bars{w: w, cfg: cfg, t: newTally(), byLine: map[int]*fileBar{}, before: map[int]bool{}, now: map[int]bool{}}
	opts := []mpb.ContainerOption{mpb.WithOutput(w), mpb.WithWidth(cfg.width), mpb.WithRefreshRate(cfg.refresh)}
	if cfg.screen != nil {
		opts = append(opts, mpb.WithConsoleWriter(cfg.screen))
	}
	// Also when the output is not a terminal (--progress bars into a file):
	// the user asked for bars.
	opts = append(opts, mpb.WithAutoRefresh())
	b.p = mpb.New(opts...)
	return b
}

// addTotal adds the total bar, at the first progress tick: before it, the
// number of files and their sizes are not known.
func (b *bars) addTotal() {
	more := mpb.BarFillerFunc(func(w io.Writer, _ decor.Statistics) error {
		// Written empty, the line takes no room at all.
		if n := b.hidden.Load(); n > 0 {
			_, err := fmt.Fprintf(w, "  +%d more in progress\n", n)
			return err
		}
		return nil
	})
	rate := newRateDecor(5 * time.Second)
	b.total = b.p.New(0, barStyle(),
		mpb.BarPriority(math.MaxInt32), // always the bottom line
		mpb.BarFillerMiddleware(rightMargin),
		mpb.BarTopExtender(more),
		mpb.PrependDecorators(decor.Any(func(st decor.Statistics) string {
			b.width.Store(int64(st.AvailableWidth))
			return fmt.Sprintf("total %d/%d files", b.filesDone.Load(), max(b.filesTotal.Load(), b.filesDone.Load()))
		}, decor.WCSyncWidthR)),
		mpb.AppendDecorators(b.columns(rate, func(st decor.Statistics) string {
			about := ""
			if b.estimated.Load() {
				about = "~"
			}
			return formatSize(st.Current) + " / " + about + formatSize(st.Total)
		}, &b.connsInUse, nil)...))
}

func barStyle() mpb.BarStyleComposer {
	return mpb.BarStyle().Lbound("[").Filler("=").Tip(">").Padding("-").Rbound("]")
}

// rightMargin keeps the last column free: a line that fills the terminal
// exactly leaves the cursor in a pending wrap, which some terminals resolve
// differently after a resize, and the redraw would then climb one line
// short.
func rightMargin(f mpb.BarFiller) mpb.BarFiller {
	return mpb.BarFillerFunc(func(w io.Writer, st decor.Statistics) error {
		st.AvailableWidth = min(st.AvailableWidth-1, 60)
		if st.AvailableWidth < 3 {
			return nil
		}
		return f.Fill(w, st)
	})
}

// Terminal widths below which the last columns are left out, rather than
// every line cut short with an ellipsis.
const (
	widthForConns = 100 // and the sources of files with mirrors
	widthForETA   = 80
)

// columns are the decorators right of a bar: bytes, percent, speed, time
// left, connections, and the sources of a file with mirrors (nil for the
// total bar). Each is its own column so mpb lines them up across bars.
//
// The sources column is written without padding of its own: while no
// file has mirrors it is empty on every bar and takes no room, so the
// bars are exactly what they were before mirrors.
func (b *bars) columns(rate *rateDecor, bytes decor.DecorFunc, conns *atomic.Int64, sources *atomic.Pointer[string]) []decor.Decorator {
	return []decor.Decorator{
		decor.Any(bytes, decor.WCSyncSpace),
		decor.Any(percent, decor.WCSyncSpace),
		rate,
		decor.Any(func(st decor.Statistics) string {
			if b.width.Load() < widthForETA {
				return ""
			}
			left := "-"
			if t, ok := eta(st.Total-st.Current, rate.value()); ok && st.Total > 0 {
				left = formatETA(t)
			}
			return "  ETA " + left
		}, decor.WCSyncWidthR),
		decor.Any(func(decor.Statistics) string {
			if b.width.Load() < widthForConns {
				return ""
			}
			return connsText(conns.Load())
		}, decor.WCSyncSpace),
		decor.Any(func(decor.Statistics) string {
			if sources == nil || !b.showSources(int(b.width.Load())) {
				return ""
			}
			if s := sources.Load(); s != nil && *s != "" {
				return "  " + *s
			}
			return ""
		}, decor.WCSyncWidthR),
	}
}

func percent(st decor.Statistics) string {
	if st.Total <= 0 {
		return ""
	}
	return strconv.FormatInt(min(100*st.Current/st.Total, 100), 10) + "%"
}

func connsText(n int64) string {
	if n == 1 {
		return "1 conn"
	}
	return strconv.FormatInt(n, 10) + " conns"
}

// sourcesText is the sources a file with mirrors uses: "3 sources", or
// "2/3 sources" once one was dropped; "" for a file with one source.
func sourcesText(srcs []scheduler.SourceProgress) string {
	if len(srcs) == 0 {
		return ""
	}
	inUse := 0
	for _, s := range srcs {
		if s.Dropped == "" {
			inUse++
		}
	}
	unit := "sources"
	if len(srcs) == 1 {
		unit = "source"
	}
	if inUse == len(srcs) {
		return strconv.Itoa(len(srcs)) + " " + unit
	}
	return strconv.Itoa(inUse) + "/" + strconv.Itoa(len(srcs)) + " " + unit
}

// setSources updates a bar's sources column, allocating only when the
// text changes.
func (fb *fileBar) setSources(srcs []scheduler.SourceProgress) {
	text := sourcesText(srcs)
	if old := fb.sources.Load(); old == nil || *old != text {
		fb.sources.Store(&text)
	}
}

// nameWidth gives the file name column what the other columns leave of a
// line of width tw, within bounds that keep names and bars readable.
func nameWidth(tw int) int {
	return min(max(tw-72, 16), 60)
}

// sourcesRoom is what the sources column takes ("  2/3 sources"), which
// the names give up while it is shown, so that the bars keep their
// length (on a terminal 100 wide the names go down to their least).
const sourcesRoom = 13

// showSources says whether the sources column is drawn on a terminal tw
// wide: with the connections they explain, while some bar has mirrors.
func (b *bars) showSources(tw int) bool {
	return tw >= widthForConns && b.mirrored.Load()
}

func (b *bars) event(e scheduler.Event) {
	b.t.add(e)
	switch e.Kind {
	case scheduler.Done:
		b.drop(e.Line)
		b.printAbove(doneLine(e, b.t.fileSpeed(e)))
	case scheduler.Failed:
		b.drop(e.Line)
		b.printAbove(failureLine(e.Name, e.Line, e.Err) + sourcesNote(e.Sources))
	case scheduler.Expired:
		b.drop(e.Line)
		b.printAbove(expiredLine(e.Name, e.Line, e.Err) + sourcesNote(e.Sources))
	case scheduler.Skipped:
		b.drop(e.Line)
		b.printAbove(skippedLine(e))
	case scheduler.Resumed:
		// The bytes from earlier runs count as done, without adding to
		// the speed: a plain SetCurrent feeds no moving average.
		if b.total != nil {
			b.total.SetCurrent(b.t.bytes())
		}
		b.printAbove(resumedLine(e))
	case scheduler.Retrying:
		b.printAbove(fmt.Sprintf("retry %s: %v (attempt %d, next try in %s)", e.Name, e.Err, e.Attempt, formatDuration(e.Delay)))
	case scheduler.Warning:
		b.printAbove(warningLine(e))
	case scheduler.HostLimit:
		// Raises come every second while a host recovers: only the cut is
		// worth a line above the bars.
		if e.Err != nil {
			b.printAbove(hostLine(e))
		}
	case scheduler.Progress:
		b.progress(e)
	}
	b.filesDone.Store(int64(b.t.filesDone))
}

func (b *bars) printAbove(line string) {
	// mpb holds the line until its next redraw and writes it over the
	// bars, which are then drawn again below it.
	fmt.Fprintln(b.p, line)
}

// drop takes a file's bar off the display.
func (b *bars) drop(line int) {
	fb := b.byLine[line]
	if fb == nil {
		return
	}
	fb.bar.Abort(true)
	delete(b.byLine, line)
	for i, x := range b.shown {
		if x == fb {
			b.shown = append(b.shown[:i], b.shown[i+1:]...)
			break
		}
	}
}

// maxFileBars is how many file bars fit on the screen now.
func (b *bars) maxFileBars() int {
	rows := 0
	if b.cfg.rows != nil {
		rows = b.cfg.rows()
	}
	if rows <= 0 {
		rows = 24
	}
	return max(rows-reservedRows, 1)
}

func (b *bars) progress(e scheduler.Event) {
	if b.total == nil {
		b.addTotal()
		b.total.SetCurrent(b.t.onDisk)
	}
	limit := b.maxFileBars()
	// The terminal may have shrunk: the newest bars go first, and come back
	// when there is room again.
	for len(b.shown) > limit {
		b.drop(b.shown[len(b.shown)-1].line)
	}
	clear(b.now)
	var inUse int64
	for _, f := range b.t.active {
		b.now[f.Line] = true
		inUse += int64(f.Conns)
		fb := b.byLine[f.Line]
		if fb == nil {
			if b.before[f.Line] && len(b.shown) < limit {
				b.add(f, e.Time)
			}
			continue
		}
		fb.conns.Store(int64(f.Conns))
		fb.setSources(f.Sources)
		if f.Total != fb.size && f.Total >= 0 {
			fb.size = f.Total
			fb.sized.Store(true)
			fb.bar.SetTotal(f.Total, false)
		}
		fb.bar.EwmaSetCurrent(f.Bytes, e.Time.Sub(fb.last))
		fb.last = e.Time
	}
	// A file that left without an event of its own (it cannot, but a bar
	// stuck on the screen would be worse than this loop).
	for i := len(b.shown) - 1; i >= 0; i-- {
		if !b.now[b.shown[i].line] {
			b.drop(b.shown[i].line)
		}
	}
	b.before, b.now = b.now, b.before
	mirrored := false
	for _, fb := range b.shown {
		if s := fb.sources.Load(); s != nil && *s != "" {
			mirrored = true
			break
		}
	}
	b.mirrored.Store(mirrored)
	b.hidden.Store(int64(len(b.t.active) - len(b.shown)))
	b.connsInUse.Store(inUse)
	b.filesTotal.Store(int64(b.t.filesTotal))
	total, estimated := b.t.total()
	b.estimated.Store(estimated)
	b.total.SetTotal(total, false)
	if b.lastTick.IsZero() {
		b.lastTick = b.t.start
	}
	b.total.EwmaSetCurrent(b.t.bytes(), e.Time.Sub(b.lastTick))
	b.lastTick = e.Time
}

// add gives a file in progress its bar, which starts at the bytes the
// file already has (on disk from an earlier run, or written before the bar
// had room) without counting them as speed.
func (b *bars) add(f scheduler.FileProgress, now time.Time) {
	fb := &fileBar{line: f.Line, last: now, size: f.Total}
	fb.conns.Store(int64(f.Conns))
	fb.setSources(f.Sources)
	fb.sized.Store(f.Total >= 0)
	name := f.Name
	// A bar made with total 0 never completes by itself: it leaves when
	// its file's event says so.
	fb.bar = b.p.New(max(f.Total, 0), barStyle(),
		mpb.BarRemoveOnComplete(),
		mpb.BarFillerMiddleware(rightMargin),
		mpb.PrependDecorators(decor.Any(func(st decor.Statistics) string {
			tw := st.AvailableWidth
			if b.showSources(tw) {
				tw -= sourcesRoom
			}
			return shorten(name, nameWidth(tw))
		}, decor.WCSyncWidthR)),
		mpb.AppendDecorators(b.columns(newRateDecor(5*time.Second), func(st decor.Statistics) string {
			if !fb.sized.Load() {
				return formatSize(st.Current) + " / ?"
			}
			return formatSize(st.Current) + " / " + formatSize(st.Total)
		}, &fb.conns, &fb.sources)...))
	fb.bar.SetCurrent(f.Bytes)
	b.shown = append(b.shown, fb)
	b.byLine[f.Line] = fb
}

func (b *bars) finish(sum scheduler.Summary) {
	b.stop()
	writeSummary(b.w, sum, false)
}

// stop takes the bars off and ends the display, without a summary: the
// terminal is gone.
func (b *bars) stop() {
	for len(b.shown) > 0 {
		b.drop(b.shown[0].line)
	}
	// The summary says what the total bar said, for good.
	b.hidden.Store(0)
	if b.total != nil {
		b.total.Abort(true)
	}
	b.p.Wait()
}

// rateDecor shows a moving average of the speed, which the ETA column
// reads too. Unlike mpb's EWMA decorators, its weight follows the time between
// samples rather than their count, so irregular progress ticks (or a slow
// tick after a pause) weigh what they are worth.
type rateDecor struct {
	decor.WC
	tau    float64       // seconds for the weight of old samples to fall to 1/e
	bps    atomic.Uint64 // float64 bits, negative until the first sample
	primed bool          // only EwmaUpdate's goroutine touches it
}

func newRateDecor(tau time.Duration) *rateDecor {
	d := &rateDecor{WC: decor.WC{C: decor.DSyncSpace}, tau: tau.Seconds()}
	d.Init()
	d.bps.Store(math.Float64bits(-1))
	return d
}

// EwmaUpdate takes n more bytes in dur; mpb calls it from EwmaSetCurrent,
// on the renderer's goroutine, while mpb's goroutines read the value.
func (d *rateDecor) EwmaUpdate(n int64, dur time.Duration) {
	if dur <= 0 || n < 0 {
		return
	}
	now := float64(n) / dur.Seconds()
	if !d.primed {
		d.primed = true
		d.bps.Store(math.Float64bits(now))
		return
	}
	old := math.Float64frombits(d.bps.Load())
	w := 1 - math.Exp(-dur.Seconds()/d.tau)
	d.bps.Store(math.Float64bits(old + w*(now-old)))
}

// value is the speed in bytes per second, 0 while unknown.
func (d *rateDecor) value() float64 { return max(math.Float64frombits(d.bps.Load()), 0) }

func (d *rateDecor) Decor(decor.Statistics) (string, int) {
	v := math.Float64frombits(d.bps.Load())
	if v < 0 {
		return d.Format("") // a bar just added has no speed yet, which is not 0 B/s
	}
	return d.Format(formatSize(int64(v)) + "/s")
}

// shorten cuts a long name in the middle to width. The folders go first:
// the file's own name is what tells the bars apart
// (weights/model-00001-of-00004.safetensors → weig…/model-00001-of-00004.safetensors).
// A file name too long by itself loses its middle, keeping both ends.
func shorten(name string, width int) string {
	r := []rune(name)
	if len(r) <= width || width < 5 {
		return name
	}
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		base := []rune(name[i:])
		if keep := width - len(base) - 1; keep >= 4 {
			return string(r[:keep]) + "…" + string(base)
		}
	}
	keep := width - 1
	return string(r[:keep/2]) + "…" + string(r[len(r)-(keep-keep/2):])
}
