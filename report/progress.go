package report

// How the stream's progress lines and each file's end are credited to
// files and hosts, and which finished files are kept for the page.

import (
	"container/heap"
	"strings"
	"time"

	"github.com/bulkget/bulkget/internal/mask"
)

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
