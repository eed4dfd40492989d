package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"sync"
	"time"

	"github.com/bulkget/bulkget/control"
	"github.com/bulkget/bulkget/scheduler"
)

// Control socket ops. A new op (limit, pause, resume) is one more entry in
// live.ops.
const (
	opWatch  = "watch"
	opStatus = "status"
)

// watcherBacklog is how many lines a watcher may fall behind before lines
// are dropped for it; progress objects carry whole totals, so a watcher
// that lost some catches up with the next.
const watcherBacklog = 256

// rateWindow is the time over which status measures the run's rate.
const rateWindow = 5 * time.Second

// live is the run as its control socket shows it. It renders every event
// as the JSON lines of --progress json (a progress object on every tick)
// and passes each line to every watcher. It runs on a queue of its own,
// apart from the display's (see reporters); the socket's handlers read it
// under mu.
type live struct {
	pid     int
	started time.Time

	mu       sync.Mutex
	j        *jsonLines
	buf      bytes.Buffer
	progress []byte // the latest progress object: a new watcher's first line
	watchers map[chan []byte]struct{}
	ended    bool
	samples  []sample // recent bytes written, for the rate
}

type sample struct {
	at    time.Time
	bytes int64
}

func newLive(started time.Time) *live {
	l := &live{pid: os.Getpid(), started: started, watchers: map[chan []byte]struct{}{}}
	l.j = newJSONLines(&l.buf, 0)
	return l
}

func (l *live) event(e scheduler.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Reset()
	l.j.event(e)
	if l.buf.Len() == 0 {
		return
	}
	line := bytes.Clone(l.buf.Bytes())
	if e.Kind == scheduler.Progress {
		l.progress = line
		l.samples = append(l.samples, sample{e.Time, l.j.t.runBytes})
		for len(l.samples) > 2 && e.Time.Sub(l.samples[1].at) >= rateWindow {
			l.samples = l.samples[1:]
		}
	}
	l.send(line)
}

func (l *live) send(line []byte) {
	for w := range l.watchers {
		select {
		case w <- line:
		default: // this watcher is behind: it catches up on a later progress
		}
	}
}

func (l *live) finish(sum scheduler.Summary) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Reset()
	l.j.finish(sum)
	l.send(bytes.Clone(l.buf.Bytes()))
	for w := range l.watchers {
		close(w)
	}
	clear(l.watchers)
	l.ended = true
}

// ops are the requests the run's socket answers.
func (l *live) ops() map[string]control.Handler {
	return map[string]control.Handler{
		opWatch:  l.watch,
		opStatus: l.status,
	}
}

// watch streams the run's events, starting with its latest progress.
func (l *live) watch(ctx context.Context, _ control.Request, w io.Writer) error {
	ch := make(chan []byte, watcherBacklog)
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		return nil
	}
	if l.progress != nil {
		ch <- l.progress
	}
	l.watchers[ch] = struct{}{}
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.watchers, ch)
		l.mu.Unlock()
	}()
	for {
		select {
		case line, ok := <-ch:
			if !ok {
				return nil
			}
			if _, err := w.Write(line); err != nil {
				return nil // the watcher left
			}
		case <-ctx.Done():
			return nil
		}
	}
}

// liveStatus is the reply to a status request.
type liveStatus struct {
	Type       string `json:"type"` // "run"
	PID        int    `json:"pid"`
	Started    string `json:"started"`
	FilesDone  int    `json:"files_done"`
	FilesTotal int    `json:"files_total"`
	Bytes      int64  `json:"bytes"` // on disk, all files of the run
	Total      int64  `json:"total"`
	Estimated  bool   `json:"total_estimated"`
	Speed      int64  `json:"speed"` // over the last few seconds
}

func (l *live) status(_ context.Context, _ control.Request, w io.Writer) error {
	l.mu.Lock()
	t := &l.j.t
	total, estimated := t.total()
	st := liveStatus{Type: "run", PID: l.pid, Started: jsonTime(l.started), FilesDone: t.filesDone,
		FilesTotal: t.filesTotal, Bytes: t.bytes(), Total: total, Estimated: estimated}
	if n := len(l.samples); n >= 2 {
		a, b := l.samples[0], l.samples[n-1]
		st.Speed = perSecond(b.bytes-a.bytes, b.at.Sub(a.at))
	}
	l.mu.Unlock()
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
