package main

import (
	"io"
	"sync"

	"github.com/bulkget/bulkget/manifest"
	"github.com/bulkget/bulkget/scheduler"
)

// queue renders scheduler events: it hands them from the scheduler's
// goroutines to a renderer running on a goroutine of its own. People's
// output goes to stderr; stdout carries only --progress json. Report only
// appends to a slice, so a worker that finishes a file never waits for a
// terminal, a pipe or mpb; and Progress snapshots that pile up behind a slow renderer collapse into the
// latest one, so the backlog stays bounded by the lifecycle events.
type queue struct {
	r renderer
	// regular says the renderer writes to a regular file, which outlives
	// the terminal (see hangup.toLog).
	regular bool

	mu      sync.Mutex
	pending []queued
	closed  bool

	wake chan struct{}
	stop chan struct{}
	done chan struct{}
}

// queued is an event, the list lines refused before the run, or a change
// of renderer.
type queued struct {
	e       scheduler.Event
	bad     []*manifest.LineError
	replace func(renderer) renderer
}

func newQueue(r renderer) *queue {
	q := &queue{r: r, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go q.loop()
	return q
}

// writesTo records whether the renderer's output w is a regular file.
func (q *queue) writesTo(w io.Writer) *queue {
	q.regular = isRegular(w)
	return q
}

// replace swaps the renderer for f(old), in order with the events: those
// reported before go to the old one, those after to the new.
func (q *queue) replace(f func(renderer) renderer) {
	q.push(queued{replace: f})
}

func (q *queue) Report(e scheduler.Event) {
	q.push(queued{e: e})
}

// BadLines passes the refused list lines on, in order with the events.
func (q *queue) BadLines(bad []*manifest.LineError) {
	if _, ok := q.r.(badLineReporter); ok && len(bad) > 0 {
		q.push(queued{bad: bad})
	}
}

func (q *queue) push(it queued) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	n := len(q.pending)
	if it.e.Kind == scheduler.Progress && n > 0 && q.pending[n-1].e.Kind == scheduler.Progress {
		q.pending[n-1] = it
	} else {
		q.pending = append(q.pending, it)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *queue) loop() {
	defer close(q.done)
	var batch []queued
	for {
		stopping := false
		select {
		case <-q.wake:
		case <-q.stop:
			stopping = true
		}
		q.mu.Lock()
		batch, q.pending = q.pending, batch[:0]
		q.mu.Unlock()
		for _, it := range batch {
			switch {
			case it.replace != nil:
				q.r = it.replace(q.r)
			case it.bad != nil:
				if br, ok := q.r.(badLineReporter); ok {
					br.BadLines(it.bad)
				}
			default:
				q.r.event(it.e)
			}
		}
		clear(batch) // let go of the Progress snapshots
		if stopping {
			return
		}
	}
}

// Close waits until every event reported so far is rendered, stops the
// display and prints the summary. Events reported after Close are dropped.
func (q *queue) Close(sum scheduler.Summary) {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	close(q.stop)
	<-q.done
	q.r.finish(sum)
}

// reporters passes every event to each of its reporters: the display's
// queue and the control socket's, each with its own goroutine, so that a
// terminal that stops reading (a laptop asleep at the end of an ssh
// connection) never holds up the watchers, nor they it.
type reporters []scheduler.Reporter

func (rs reporters) Report(e scheduler.Event) {
	for _, r := range rs {
		r.Report(e)
	}
}
