package report

// What the charts mark on a host or a file (level changes, refusals,
// retries, stalls, notices), and the small helpers of the model.

import (
	"fmt"
	"strings"
	"time"

	"github.com/bulkget/bulkget/internal/mask"
)

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
