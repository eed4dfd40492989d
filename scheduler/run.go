package scheduler

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulkget/bulkget/manifest"
	"github.com/bulkget/bulkget/segment"
	"github.com/bulkget/bulkget/state"
	"github.com/bulkget/bulkget/store"
	"golang.org/x/time/rate"
)

type fileState int

const (
	pending fileState = iota
	active
	finalizing
	finished
	failed
)

// file is one entry of the list and everything the run knows about it.
// Fields are guarded by run.mu unless noted.
type file struct {
	index int
	entry manifest.Entry
	// target is entry.URL parsed, once for all of the file's requests.
	target *url.URL
	host   *host
	state  fileState
	// gen counts restarts from zero; a transfer started under an older
	// generation has its outcome ignored.
	gen       int
	restarts  int
	probed    bool  // size and range support are known
	size      int64 // -1: unknown (a stream without length)
	ranged    bool  // segments may be split and fetched in parallel
	noRanges  bool  // the server answered a ranged request with 200: never split again
	validator string
	etag      string
	// lastModified is kept for the state: it is the validator of servers
	// without strong ETags.
	lastModified string
	out          *store.Part
	segs         []*seg // unfinished segments of the current generation
	all          []*seg // every segment of the current generation, for checkpoints
	// tryResume is set until the first request of the file decides
	// between resuming a .part, skipping a finished file, or starting over.
	tryResume bool
	// unconfirmed: the saved state is installed, and no answer has yet
	// shown the remote file unchanged (the Resumed event waits for one).
	unconfirmed bool
	// sums hashes a single stream as it is written, for the list's
	// checksums; nil for segmented files (hashed after completion).
	sums *sums
	// checkRetried: the file already failed its checksum once.
	checkRetried bool
	conns        int
	started      time.Time
	written      atomic.Int64 // bytes in the .part for this generation

	// ckMu serialises everything that touches the sidecar state and the
	// .part's identity: checkpoints, creating a new .part, finalizing.
	ckMu  sync.Mutex
	saved int64 // f.written at the last checkpoint; guarded by ckMu
	// clean: nothing of this file was on disk when the run began (its
	// folder was fresh), so only what this run made needs removing:
	// madePart, madeState. Guarded by ckMu.
	clean, madePart, madeState bool
}

// seg is a segment of a file, running on a connection or waiting for one.
type seg struct {
	f         *file
	gen       int
	cur       *segment.Cursor
	running   bool
	attempts  int // consecutive failures without progress
	best      int64
	notBefore time.Time
	// cancel stops the transfer of a running segment; set and cleared
	// under mu (by exec and finish), so it never reaches the connection's
	// next transfer.
	cancel  context.CancelFunc
	stalled atomic.Bool
	alive   atomic.Int64 // nanoseconds since run start of the last byte received
	recv    atomic.Int64 // bytes received over every attempt
	// The watchdog measures the rate over windows of StallTimeout: the
	// current one began at winStart (ns since run start) with winRecv
	// received. tooSlow is the error it cut the attempt for. Guarded by mu.
	winStart, winRecv int64
	tooSlow           error
	epoch             time.Time
	bytes             *atomic.Int64

	began   time.Time    // start of the current attempt
	got     atomic.Int64 // bytes written in the current attempt
	hedged  bool         // another connection took over the rest
	hedgeOf *seg         // the slow segment this one took over from
	// answered says the current attempt's request got a response that
	// was not a refusal, even one with the wrong range: the server is
	// up. Written by the connection running the attempt, read by its
	// finish.
	answered bool
}

// Received implements segment.Observer: any byte proves the link is alive.
func (s *seg) Received(n int) {
	s.alive.Store(int64(time.Since(s.epoch)))
	s.recv.Add(int64(n))
}

// Written implements segment.Observer.
func (s *seg) Written(n int64) {
	s.f.written.Add(n)
	s.bytes.Add(n)
	s.got.Add(n)
}

type host struct {
	name    string
	conns   int
	pending []*file // in list order; head is next
	// AIMD politeness (see politeness.go): limit is the connections
	// currently allowed, ceiling the lowest concurrency ever refused.
	limit     int
	ceiling   int
	lastCut   time.Time
	lastRaise time.Time
	recent    outcomes
	lastOK    time.Time // last answer that was not a refusal
	// resting holds, for each refusal that came with a Retry-After, when
	// that wait ends: until then the host has one connection fewer (see
	// restLocked).
	resting []time.Time
}

// room is how many more connections h may have now, less those in use:
// no more than its limit, and no more than its share of the budget less
// those resting; call with mu held.
//
// The rests come off the budget, not off the limit: the refusals that
// rested connections have usually cut the limit too, and counting them
// twice would leave a host with no connection at all until the rests end.
// A host that tells every connection to wait still hears nothing until
// the first wait is over.
func (r *run) room(h *host) int {
	budget := min(r.opts.MaxPerHost, r.opts.Connections)
	return min(h.limit, budget-len(h.resting)) - h.conns
}

// run is the state of one Run call.
type run struct {
	opts Options
	// http sends the run's requests: Options.Client or the client built
	// for the run.
	http  *http.Client
	root  *os.Root
	rep   Reporter
	epoch time.Time
	ctx   context.Context // the run's; every file's context derives from it

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced whenever work may have appeared
	idle      int           // workers waiting on changed
	hosts     []*host
	active    []*file
	openFiles int
	remaining int
	done      int
	skipped   int
	ckNow     chan struct{} // asks the checkpointer for a round now
	failures  []Failure
	bytes     atomic.Int64
	ttfb      atomic.Int64 // moving average of time to first byte, ns
	running   atomic.Int32 // transfers in progress
	disk      *store.Dir
	// finalizing bounds the files being verified, synced and renamed
	// at once; finWG waits for them.
	finalizing chan struct{}
	finWG      sync.WaitGroup
	limiter    *rate.Limiter // nil: no rate limit
	chunk      int           // bytes read per limiter wait
}

// Run downloads every entry into opts.Dir and returns when each one is done
// or failed, or when ctx is cancelled. Entries must have valid, unique names
// (see manifest). The error is non-nil only if the run could not start.
func Run(ctx context.Context, entries []manifest.Entry, opts Options) (Summary, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return Summary{}, err
	}
	var capped error
	if fit, fdLimit := store.ConnectionsFit(opts.Connections); fit < opts.Connections {
		capped = fmt.Errorf("the limit on open files (%d, see ulimit -n) leaves room for %d connections, not %d; using %d",
			fdLimit, fit, opts.Connections, fit)
		opts.Connections = fit
		opts.MaxPerHost = min(opts.MaxPerHost, fit)
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return Summary{}, fmt.Errorf("scheduler: output folder: %w", err)
	}
	lock, err := state.AcquireLock(opts.Dir)
	if err != nil {
		return Summary{}, err
	}
	defer lock.Release()
	root, err := os.OpenRoot(opts.Dir)
	if err != nil {
		return Summary{}, fmt.Errorf("scheduler: output folder: %w", err)
	}
	defer root.Close()
	r := &run{
		opts:       opts,
		root:       root,
		rep:        opts.Reporter,
		epoch:      time.Now(),
		ctx:        ctx,
		changed:    make(chan struct{}),
		ckNow:      make(chan struct{}, 1),
		finalizing: make(chan struct{}, maxFinalizing),
	}
	r.disk = store.Open(root, opts.Dir, store.Options{Connections: opts.Connections, NoDirectIO: opts.NoDirectIO,
		NoSpaceCheck: opts.NoSpaceCheck, Finalizing: maxFinalizing, Busy: func() bool { return r.running.Load() > 0 }})
	defer r.disk.Close()
	client := opts.Client
	if client == nil {
		client = clientFor(opts)
		defer client.CloseIdleConnections()
	}
	r.http = client
	if r.rep == nil {
		r.rep = discard{}
	}
	if capped != nil {
		r.rep.Report(Event{Kind: Warning, Time: time.Now(), Total: -1, Err: capped})
	}
	r.chunk = opts.BufferSize
	if opts.RateLimit > 0 {
		// Reads of about 20 ms of the whole cap keep the flow smooth; the
		// burst equals one read so no wait is ever larger than the burst,
		// and the bucket starts empty so the first second is not a spike.
		r.chunk = int(min(max(opts.RateLimit/50, 16<<10), int64(opts.BufferSize)))
		r.limiter = rate.NewLimiter(rate.Limit(opts.RateLimit), r.chunk)
		r.limiter.AllowN(time.Now(), r.chunk)
	}
	var early []Failure
	byHost := map[string]*host{}
	for i, e := range entries {
		f := &file{index: i, entry: e, size: -1, tryResume: true}
		u, err := url.Parse(e.URL)
		if err != nil || u.Host == "" {
			early = append(early, Failure{Line: e.Line, Name: e.Name, Err: fmt.Errorf("bad url %q", e.URL)})
			continue
		}
		h := byHost[u.Host]
		if h == nil {
			h = &host{name: u.Host, limit: opts.MaxPerHost, ceiling: opts.MaxPerHost + 1}
			byHost[u.Host] = h
			r.hosts = append(r.hosts, h)
		}
		f.host, f.target = h, u
		h.pending = append(h.pending, f)
		r.remaining++
	}
	r.failures = early
	for _, fl := range early {
		r.rep.Report(Event{Kind: Failed, Time: time.Now(), Line: fl.Line, Name: fl.Name, Total: -1, Err: fl.Err})
	}

	var wg sync.WaitGroup
	for range opts.Connections {
		wg.Go(func() {
			w := &worker{bufs: r.disk.Buffers(opts.BufferSize)}
			defer w.stop()
			for {
				s := r.next(ctx)
				if s == nil {
					return
				}
				r.exec(ctx, s, w)
			}
		})
	}
	bg, stopBG := context.WithCancel(ctx)
	var bgWG sync.WaitGroup
	bgWG.Go(func() { r.watchdog(bg) })
	bgWG.Go(func() { r.ticker(bg) })
	bgWG.Go(func() { r.checkpointer(bg) })
	wg.Wait()
	r.finWG.Wait()
	stopBG()
	bgWG.Wait()

	// Whatever was interrupted is saved as far as it got, so that the next
	// run continues from here.
	r.mu.Lock()
	open := slices.Clone(r.active)
	r.mu.Unlock()
	for _, f := range open {
		r.checkpoint(f)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.active {
		if f.out != nil {
			f.out.Abort()
		}
	}
	return Summary{
		Done:        r.done,
		Skipped:     r.skipped,
		Failed:      r.failures,
		Bytes:       r.bytes.Load(),
		Elapsed:     time.Since(r.epoch),
		Interrupted: ctx.Err() != nil && r.remaining > 0,
	}, nil
}

// notify wakes every idle worker; call with mu held. It is called a few
// times per file, nearly always with every worker busy: a new channel each
// time was then an allocation per call for nobody.
func (r *run) notify() {
	if r.idle == 0 {
		return
	}
	close(r.changed)
	r.changed = make(chan struct{})
}

// next blocks until there is work for one connection and returns it marked
// running, or returns nil when the run is over.
func (r *run) next(ctx context.Context) *seg {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		if ctx.Err() != nil || r.remaining == 0 {
			return nil
		}
		now := time.Now()
		rested := r.endRestsLocked(now)
		s, wake := r.pickWaiting(now)
		if s == nil {
			s = r.pickNewFile()
		}
		if s == nil {
			// A connection that has gone quiet holds its whole remainder
			// hostage; taking that over comes before splitting healthy ones.
			s = r.pickHedge(now, true)
		}
		if s == nil {
			s = r.pickSteal(now)
		}
		if s == nil {
			s = r.pickHedge(now, false)
		}
		if s != nil {
			s.running = true
			s.began = now
			s.answered = false
			s.got.Store(0)
			s.stalled.Store(false)
			s.tooSlow = nil
			s.winStart, s.winRecv = int64(now.Sub(r.epoch)), s.recv.Load()
			s.alive.Store(int64(time.Since(r.epoch)))
			s.f.conns++
			s.f.host.conns++
			return s
		}
		if !rested.IsZero() && (wake.IsZero() || rested.Before(wake)) {
			wake = rested // a connection comes back then
		}
		ch := r.changed
		r.idle++
		r.mu.Unlock()
		var timer <-chan time.Time
		if !wake.IsZero() {
			t := time.NewTimer(time.Until(wake))
			timer = t.C
			select {
			case <-ch:
			case <-timer:
			case <-ctx.Done():
			}
			t.Stop()
		} else {
			select {
			case <-ch:
			case <-ctx.Done():
			}
		}
		r.mu.Lock()
		r.idle--
	}
}

func (r *run) hasRoom(f *file) bool {
	return r.room(f.host) > 0 && (r.opts.MaxPerFile == 0 || f.conns < r.opts.MaxPerFile)
}

// pickWaiting returns a segment whose retry time has come, or the earliest
// time one will.
func (r *run) pickWaiting(now time.Time) (*seg, time.Time) {
	var wake time.Time
	for _, f := range r.active {
		if f.state != active || !r.hasRoom(f) {
			continue
		}
		for _, s := range f.segs {
			if s.running {
				continue
			}
			if !s.notBefore.After(now) {
				return s, time.Time{}
			}
			if wake.IsZero() || s.notBefore.Before(wake) {
				wake = s.notBefore
			}
		}
	}
	return nil, wake
}

// pickNewFile opens the next file in list order whose host has room.
func (r *run) pickNewFile() *seg {
	if r.opts.MaxFiles > 0 && r.openFiles >= r.opts.MaxFiles {
		return nil
	}
	var best *host
	for _, h := range r.hosts {
		if len(h.pending) == 0 || r.room(h) <= 0 {
			continue
		}
		if best == nil || h.pending[0].index < best.pending[0].index {
			best = h
		}
	}
	if best == nil {
		return nil
	}
	f := best.pending[0]
	best.pending[0] = nil
	best.pending = best.pending[1:]
	f.state = active
	f.started = time.Now()
	r.openFiles++
	r.active = append(r.active, f)
	r.restartLocked(f)
	return f.segs[0]
}

// pickSteal splits the running segment with the most bytes left, anywhere
// in the run, and returns its second half as new work.
func (r *run) pickSteal(now time.Time) *seg {
	var victim *seg
	var most int64
	for _, f := range r.active {
		if f.state != active || !f.probed || !f.ranged || !r.hasRoom(f) {
			continue
		}
		for _, s := range f.segs {
			// A segment waiting out its backoff is split too: its first
			// half keeps the wait, the second goes to this connection
			// now. A server that is really down fails the new halves as
			// well and they back off in turn, so that costs a handful
			// of requests, while a server with sporadic faults no longer
			// leaves connections idle behind one unlucky range.
			if rest := s.cur.Splittable(); rest > most {
				victim, most = s, rest
			}
		}
	}
	min := r.opts.MinSegment
	if victim == nil || most < 2*min {
		if victim = r.tailVictim(now); victim == nil {
			return nil
		}
		min = tailMinSegment
	}
	mid, end, ok := victim.cur.Split(min)
	if !ok {
		return nil
	}
	f := victim.f
	s := r.newSeg(f, segment.NewCursor(mid, mid, end))
	f.segs = append(f.segs, s)
	f.all = append(f.all, s)
	return s
}

// tailMinSegment is the smallest piece the end of a run still splits off.
const tailMinSegment = 64 << 10

// tailQuiet is how long a request may stay silent at the end of the run
// before a free connection splits or takes over its range.
const tailQuiet = 200 * time.Millisecond

// atTail: no file is waiting to start, so a free connection has nothing to
// do but help the segments still running; call with mu held.
func (r *run) atTail() bool {
	for _, h := range r.hosts {
		if len(h.pending) > 0 {
			return false
		}
	}
	return true
}

// tailVictim handles the end of the run, when no file is waiting and no
// segment has 2 × MinSegment left: the connections that are done would idle
// while the last segments crawl home, each at one connection's speed (most
// servers cap each connection). It picks the segment that will take longest
// to finish and splits it if that time is well above the cost of a new
// request (a few times the observed time to first byte), so the last
// seconds of a run use every connection too.
//
// Two kinds of segment make no progress at all and are the longest of all:
// one waiting out a backoff (its whole rest waits, then crawls), and one
// whose request has not delivered a byte for a while (a
// stall the hedge would only take over after HedgeAfter). Splitting them
// puts the idle connections on their rest at once.
func (r *run) tailVictim(now time.Time) *seg {
	if !r.atTail() {
		return nil
	}
	ttfb := time.Duration(r.ttfb.Load())
	patience := 4 * max(ttfb, 25*time.Millisecond)
	var rates []float64 // bytes/s of the connections that are moving
	for _, f := range r.active {
		for _, s := range f.segs {
			if age := now.Sub(s.began); s.running && age >= 200*time.Millisecond && s.got.Load() > 0 {
				rates = append(rates, float64(s.got.Load())/age.Seconds())
			}
		}
	}
	crawl := func(rest int64) time.Duration { // at a typical connection's speed
		if len(rates) == 0 {
			return 0
		}
		slices.Sort(rates)
		return time.Duration(float64(rest) / rates[len(rates)/2] * float64(time.Second))
	}
	const stuck = time.Duration(1 << 62)
	var victim *seg
	var longest time.Duration
	for _, f := range r.active {
		if f.state != active || !f.probed || !f.ranged || !r.hasRoom(f) {
			continue
		}
		for _, s := range f.segs {
			rest := s.cur.Splittable()
			if rest < 2*tailMinSegment {
				continue
			}
			var left time.Duration
			age, got := now.Sub(s.began), s.got.Load()
			switch {
			case !s.running:
				left = s.notBefore.Sub(now) + crawl(rest)
			case got == 0 && age >= max(tailQuiet, 2*patience):
				left = stuck
			case age < 200*time.Millisecond || got == 0:
				continue
			default:
				left = time.Duration(float64(rest) / float64(got) * float64(age))
			}
			if left > longest {
				victim, longest = s, left
			}
		}
	}
	if victim == nil || longest < patience {
		return nil
	}
	return victim
}

func (r *run) newSeg(f *file, cur *segment.Cursor) *seg {
	_, pos, _ := cur.Bounds()
	return &seg{f: f, gen: f.gen, cur: cur, best: pos, epoch: r.epoch, bytes: &r.bytes}
}

// restartLocked (re)starts f from byte zero as a single unprobed segment.
// Transfers of the previous generation are cancelled and their outcome
// ignored; they write into the old .part inode, which the new probe unlinks.
func (r *run) restartLocked(f *file) {
	f.cancelRunning()
	if f.out != nil {
		f.out.Abort()
		f.out = nil
	}
	f.gen++
	f.probed, f.ranged, f.size, f.validator, f.etag = false, false, -1, "", ""
	f.unconfirmed = false
	f.written.Store(0)
	f.segs = []*seg{r.newSeg(f, segment.NewCursor(0, 0, -1))}
	f.all = slices.Clone(f.segs)
}

// watchdog cuts requests that have received nothing for StallTimeout, or
// less than the floor on speed over a whole StallTimeout, so that their
// segments are retried instead of hanging the run.
func (r *run) watchdog(ctx context.Context) {
	every(ctx, min(r.opts.StallTimeout/4, 250*time.Millisecond), nil, func() {
		now := int64(time.Since(r.epoch))
		r.mu.Lock()
		floors := r.floorsLocked(now)
		for _, f := range r.active {
			for _, s := range f.segs {
				if !s.running || s.cancel == nil {
					continue
				}
				if now-s.alive.Load() > int64(r.opts.StallTimeout) {
					s.stalled.Store(true)
					s.cancel()
					continue
				}
				r.judgeSpeedLocked(s, now, floors[f.host])
			}
		}
		events := r.raiseHostsLocked(time.Now())
		// Idle connections look again: a segment may have gone quiet (a
		// hedge), the tail estimates have moved, or a host has room again.
		r.notify()
		r.mu.Unlock()
		for _, e := range events {
			r.rep.Report(e)
		}
	})
}

// every runs fn each interval, and at once whenever now delivers (nil:
// never), until ctx is done: the loop of the run's background jobs.
func every(ctx context.Context, interval time.Duration, now <-chan struct{}, fn func()) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-now:
		}
		fn()
	}
}

// ticker emits Progress events.
func (r *run) ticker(ctx context.Context) {
	every(ctx, r.opts.ProgressInterval, nil, func() {
		r.mu.Lock()
		e := Event{Kind: Progress, Time: time.Now(), BytesDone: r.bytes.Load(), FilesDone: r.done + r.skipped,
			FilesTotal: r.done + r.skipped + len(r.failures) + r.remaining}
		e.Files = make([]FileProgress, 0, len(r.active))
		for _, f := range r.active {
			e.Files = append(e.Files, FileProgress{Line: f.entry.Line, Name: f.entry.Name,
				Bytes: f.written.Load(), Total: f.size, Conns: f.conns})
		}
		r.mu.Unlock()
		r.rep.Report(e)
	})
}
