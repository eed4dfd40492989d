package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/bulkget/bulkget/scheduler"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// maxFileBars keeps the display within a screen; further files in progress
// are counted on the total bar instead.
const maxFileBars = 12

// bars draws one mpb bar per file in progress and a total bar under them.
type bars struct {
	w     io.Writer
	p     *mpb.Progress
	total *mpb.Bar
	start time.Time

	mu       sync.Mutex
	files    map[int]*fileBar // by list line
	lastTick time.Time
	hidden   int
	status   string
}

type fileBar struct {
	bar  *mpb.Bar
	last time.Time
}

func newBars(w io.Writer) *bars {
	b := &bars{w: w, files: map[int]*fileBar{}, start: time.Now(), lastTick: time.Now()}
	b.p = mpb.NewWithContext(context.Background(), mpb.WithOutput(w), mpb.WithWidth(100),
		mpb.WithRefreshRate(150*time.Millisecond), mpb.WithAutoRefresh())
	b.total = b.p.New(0, mpb.BarStyle().Lbound("[").Rbound("]"),
		mpb.BarPriority(1<<30),
		mpb.PrependDecorators(decor.Any(func(decor.Statistics) string {
			b.mu.Lock()
			defer b.mu.Unlock()
			return b.status
		}, decor.WCSyncSpaceR)),
		mpb.AppendDecorators(
			decor.Counters(decor.SizeB1024(0), "% .1f / % .1f"),
			decor.Name(" "),
			decor.EwmaSpeed(decor.SizeB1024(0), "% .1f", 30),
			decor.Name(" ETA "),
			decor.EwmaETA(decor.ET_STYLE_GO, 30),
		))
	return b
}

func (b *bars) Report(e scheduler.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch e.Kind {
	case scheduler.Done:
		if fb := b.files[e.Line]; fb != nil {
			fb.bar.SetTotal(e.Bytes, true)
			delete(b.files, e.Line)
		}
		b.printAbove(doneLine(e))
	case scheduler.Failed:
		if fb := b.files[e.Line]; fb != nil {
			fb.bar.Abort(true)
			delete(b.files, e.Line)
		}
		b.printAbove(failureLine(e.Name, e.Line, e.Err))
	case scheduler.Skipped:
		b.printAbove(fmt.Sprintf("= %s: already downloaded, skipped", e.Name))
	case scheduler.Resumed:
		b.printAbove(fmt.Sprintf("↻ %s: resuming at %s of %s", e.Name, formatSize(e.Bytes), formatSize(e.Total)))
	case scheduler.Retrying:
		b.printAbove(fmt.Sprintf("retry %s: %v (attempt %d)", e.Name, e.Err, e.Attempt))
	case scheduler.Warning:
		b.printAbove(fmt.Sprintf("warning %s: %v", e.Name, e.Err))
	case scheduler.Progress:
		b.progress(e)
	}
}

func (b *bars) printAbove(line string) {
	fmt.Fprintln(b.p, line)
}

func (b *bars) progress(e scheduler.Event) {
	var total int64
	b.hidden = 0
	for _, f := range e.Files {
		if f.Total > 0 {
			total += f.Total - f.Bytes
		}
		fb := b.files[f.Line]
		if fb == nil {
			if len(b.files) >= maxFileBars {
				b.hidden++
				continue
			}
			fb = &fileBar{last: e.Time, bar: b.p.New(max(f.Total, 0), mpb.BarStyle(),
				mpb.BarRemoveOnComplete(),
				mpb.PrependDecorators(decor.Name(shorten(f.Name, 28), decor.WCSyncSpaceR)),
				mpb.AppendDecorators(
					decor.Counters(decor.SizeB1024(0), "% .1f / % .1f"),
					decor.Name(" "),
					decor.EwmaSpeed(decor.SizeB1024(0), "% .1f", 30),
				))}
			fb.bar.SetCurrent(f.Bytes)
			b.files[f.Line] = fb
			continue
		}
		if f.Total > 0 {
			fb.bar.SetTotal(f.Total, false)
		}
		fb.bar.EwmaSetCurrent(f.Bytes, e.Time.Sub(fb.last))
		fb.last = e.Time
	}
	more := ""
	if b.hidden > 0 {
		more = fmt.Sprintf(" (+%d more in progress)", b.hidden)
	}
	b.status = fmt.Sprintf("total %d/%d files%s", e.FilesDone, e.FilesTotal, more)
	// The total bar tracks bytes of this run against what is known so far.
	b.total.SetTotal(e.BytesDone+total, false)
	b.total.EwmaSetCurrent(e.BytesDone, e.Time.Sub(b.lastTick))
	b.lastTick = e.Time
}

func (b *bars) Close(sum scheduler.Summary) {
	b.mu.Lock()
	for _, fb := range b.files {
		fb.bar.Abort(true)
	}
	b.files = map[int]*fileBar{}
	b.total.SetTotal(b.total.Current(), true)
	b.mu.Unlock()
	b.p.Wait()
	writeSummary(b.w, sum, false)
}

// shorten cuts the middle out of a long name so both ends stay readable.
func shorten(name string, width int) string {
	r := []rune(name)
	if len(r) <= width || width < 5 {
		return name
	}
	keep := width - 1
	return string(r[:keep/2]) + "…" + string(r[len(r)-(keep-keep/2):])
}
