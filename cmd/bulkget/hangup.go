package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/bulkget/bulkget/internal/mask"
	"github.com/bulkget/bulkget/scheduler"
	"github.com/bulkget/bulkget/store"
)

// What a run does when its terminal goes away (--on-hangup).
const (
	hangupContinue = "continue"
	hangupStop     = "stop"
)

// errHangup is the cause of a run stopped by --on-hangup stop.
var errHangup = errors.New("the terminal hung up")

// maxLogSize is where the log starts over: the full one becomes
// .bulkget.log.1, so the two never take more than twice this. At a
// progress line every 10 s a day of a quiet run writes about 1 MiB.
const maxLogSize = 8 << 20

// runLog is the run's log in its output folder: plain lines, each stamped
// with the time (UTC) and with every URL redacted. A write that fails (a
// full disk) is dropped: the log never stops the run. Safe for concurrent
// use.
type runLog struct {
	mu      sync.Mutex
	root    *os.Root // the output folder: the log cannot be a link out of it
	f       *os.File
	size    int64
	max     int64  // size at which it starts over
	partial []byte // a line not ended yet
	now     func() time.Time
}

// openRunLog opens (appending) the log of output folder dir, creating the
// folder if the run has not yet.
func openRunLog(dir string) (*runLog, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	l := &runLog{root: root, max: maxLogSize, now: time.Now}
	if err := l.open(); err != nil {
		root.Close()
		return nil, err
	}
	return l, nil
}

func (l *runLog) open() error {
	// Owner only, like the summary: error reasons quote hosts and names.
	f, err := l.root.OpenFile(store.LogName, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("log: %w", err)
	}
	l.f, l.size = f, fi.Size()
	return nil
}

// Write logs every complete line of p; the rest waits for its end.
func (l *runLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rest := p
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			l.partial = append(l.partial, rest...)
			break
		}
		line := append(l.partial, rest[:i]...)
		l.partial = nil
		l.line(string(line))
		rest = rest[i+1:]
	}
	return len(p), nil
}

func (l *runLog) line(s string) {
	if l.f == nil {
		return
	}
	if l.size >= l.max {
		l.f.Close()
		l.f = nil
		if l.root.Rename(store.LogName, store.LogName+".1") != nil || l.open() != nil {
			return
		}
	}
	text := l.now().UTC().Format("2006-01-02T15:04:05Z") + "  " + mask.Text(s) + "\n"
	n, _ := l.f.WriteString(text)
	l.size += int64(n)
}

// Close logs a line left unended and closes the file.
func (l *runLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		l.line(string(l.partial))
		l.partial = nil
	}
	var err error
	if l.f != nil {
		err = l.f.Close()
		l.f = nil
	}
	l.root.Close()
	return err
}

// console is where messages for people go: the terminal (stderr) while
// there is one, and the run's log once there is one. A write to it never
// fails and never waits for a terminal that is gone. Safe for concurrent
// use.
type console struct {
	mu   sync.Mutex
	term io.Writer
	raw  io.Writer // stderr as given, to tell what it is
	log  *runLog
}

func newConsole(stderr io.Writer) *console { return &console{term: stderr, raw: stderr} }

func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// The log first: a write to a pipe closed after the run stopped asking
	// for SIGPIPE ends the process.
	if c.log != nil {
		c.log.Write(p)
	}
	c.term.Write(p) // a dead terminal says EIO, a closed pipe EPIPE: nobody to tell
	return len(p), nil
}

// logTo copies every later message to l.
func (c *console) logTo(l *runLog) {
	c.mu.Lock()
	c.log = l
	c.mu.Unlock()
}

// lose stops writing to the terminal, unless stderr is a regular file,
// which outlives any terminal.
func (c *console) lose() {
	c.mu.Lock()
	if !isRegular(c.raw) {
		c.term = io.Discard
	}
	c.mu.Unlock()
}

// close closes the log, after the last message.
func (c *console) close() {
	c.mu.Lock()
	l := c.log
	c.log = nil
	c.mu.Unlock()
	if l != nil {
		l.Close()
	}
}

// stderrOf is the writer under w: the terminal (or pipe, or file) behind a
// console.
func stderrOf(w io.Writer) io.Writer {
	if c, ok := w.(*console); ok {
		return c.raw
	}
	return w
}

// isRegular reports whether w is a regular file (a redirection to a file).
func isRegular(w io.Writer) bool {
	f, ok := stderrOf(w).(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode().IsRegular()
}

// hangup keeps a run going when its terminal goes away (SIGHUP), or when
// a pipe it writes to closes (SIGPIPE): from then on the display stops and
// plain event lines go to the log in the output folder. With --on-hangup
// stop it also stops the run, as Ctrl-C does.
type hangup struct {
	list     string
	dir      string
	stop     bool
	detached bool // the background half of -b: logging from the start
	con      *console
	cancel   context.CancelCauseFunc
	every    time.Duration
	quiet    bool

	mu   sync.Mutex
	out  *queue
	log  *runLog
	lost bool
}

// watch handles SIGHUP and SIGPIPE until the returned function is called.
func (h *hangup) watch() (stop func()) {
	sig := make(chan os.Signal, 4)
	notifyHangup(sig)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sig:
				h.lose(s)
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(sig)
		close(done)
	}
}

// startLog opens the log now: a background run logs from the start.
func (h *hangup) startLog() error {
	l, err := openRunLog(h.dir)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.log = l
	h.mu.Unlock()
	h.con.logTo(l)
	h.header(l, ", in the background")
	return nil
}

// header starts the run's part of the log (which earlier runs may have
// begun) with what is downloading and by which process; how ends it.
func (h *hangup) header(l *runLog, how string) {
	fmt.Fprintf(l, "bulkget %s, pid %d: downloading %s into %s%s\n", version, os.Getpid(), h.list, h.dir, how)
}

// lose is called on each SIGHUP or SIGPIPE.
func (h *hangup) lose(s os.Signal) {
	if s == syscall.SIGPIPE && !outputGone() {
		return // a socket's, not the output's
	}
	if h.detached && s == syscall.SIGPIPE {
		// The -b parent read what it needed and left: expected, and no
		// reason to stop, whatever --on-hangup says.
		h.con.lose()
		return
	}
	h.mu.Lock()
	first := !h.lost
	h.lost = true
	out := h.out
	if h.log == nil {
		l, err := openRunLog(h.dir)
		if err == nil {
			h.log = l
			h.con.logTo(l)
			h.header(l, "")
		}
	}
	h.mu.Unlock()
	what := "the terminal hung up (SIGHUP)"
	if s == syscall.SIGPIPE {
		what = "output lost: a pipe bulkget writes to was closed (SIGPIPE)"
	}
	// The note goes to the terminal too, in case it is still there (a
	// SIGHUP sent by hand): it says where the rest goes.
	switch {
	case h.stop:
		fmt.Fprintf(h.con, "bulkget: %s; stopping (--on-hangup stop)\n", what)
	case first:
		fmt.Fprintf(h.con, "bulkget: %s; the download goes on, and its events are logged in %s\n",
			what, filepath.Join(h.dir, store.LogName))
	}
	h.con.lose()
	if h.stop {
		h.cancel(errHangup)
	}
	if first && out != nil && !h.detached {
		h.toLog(out)
	}
}

// setOutput hands the run's display over; a hangup that came before it is
// applied now.
func (h *hangup) setOutput(out *queue) {
	h.mu.Lock()
	h.out = out
	lost := h.lost
	h.mu.Unlock()
	if lost && !h.detached {
		h.toLog(out)
	}
}

// toLog makes out render plain lines into the log, carrying the totals
// over; the old display goes on only if it writes to a regular file.
func (h *hangup) toLog(out *queue) {
	h.mu.Lock()
	l := h.log
	h.mu.Unlock()
	if l == nil {
		return
	}
	out.replace(func(old renderer) renderer {
		p := &plain{w: l, quiet: h.quiet, every: h.every}
		if t := tallyOf(old); t != nil {
			p.t = t.clone()
			p.win = window{at: time.Now(), bytes: t.runBytes}
			p.nextLine = time.Now().Add(h.every)
		}
		if out.regular {
			return both{old, p}
		}
		if s, ok := old.(interface{ stop() }); ok {
			s.stop()
		}
		return p
	})
}

// both renders every event twice: a display that outlives the terminal,
// and the log.
type both struct{ a, b renderer }

func (r both) event(e scheduler.Event) { r.a.event(e); r.b.event(e) }
func (r both) finish(s scheduler.Summary) {
	r.a.finish(s)
	r.b.finish(s)
}

// tallyOf is the totals a renderer has counted so far, nil if it keeps
// none.
func tallyOf(r renderer) *tally {
	switch r := r.(type) {
	case *plain:
		return &r.t
	case *bars:
		return &r.t
	case *jsonLines:
		return &r.t
	case both:
		return tallyOf(r.a)
	}
	return nil
}
