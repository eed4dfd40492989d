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

	"github.com/bulkget/bulkget/checksum"
	"github.com/bulkget/bulkget/folderlock"
	"github.com/bulkget/bulkget/hostlimit"
	"github.com/bulkget/bulkget/internal/mask"
	"github.com/bulkget/bulkget/manifest"
	"github.com/bulkget/bulkget/segment"
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
	expired // its URL expired and no fresh one could be had; bytes kept
)

// file is one entry of the list and everything the run knows about it.
// Fields are guarded by run.mu unless noted.
type file struct {
	index int
	entry manifest.Entry
	// sources are where the file comes from: the list's url, then its
	// mirrors (source.go).
	sources []*source
	// stranded: every source left expired and no fresh URL could be
	// found; the file ends as expired once its running transfers have
	// ended (expire.go). expiredErr says why.
	stranded   bool
	expiredErr error
	state      fileState
	// gen counts restarts from zero; a transfer started under an older
	// generation has its outcome ignored.
	gen      int
	restarts int
	// faults counts the file's failed requests in rounds, whatever its
	// splits (streak.go).
	faults faultStreak
	// malformed counts the answers whose framing was broken
	// (segment.Malformed), which cap the file's attempts (classify).
	malformed int
	probed    bool  // size and range support are known
	size      int64 // -1: unknown (a stream without length)
	ranged    bool  // segments may be split and fetched in parallel
	noRanges  bool  // the server answered a ranged request with 200: never split again
	// rangesOnTrial: the probe's answer was a 200, and the first answer to
	// a range past byte 0 is to tell whether ranges work (trial.go).
	rangesOnTrial bool
	// trialDecided, when not nil, is closed once the trial is answered or
	// ends; the probe's stream holds its reads until then (trial.go).
	trialDecided chan struct{}
	out          *store.Part
	segs         []*seg // unfinished segments of the current generation
	all          []*seg // every segment of the current generation, for checkpoints
	// tryResume is set until the first request of the file decides
	// between resuming a .part, skipping a finished file, or starting over.
	tryResume bool
	// unconfirmed: the saved state is installed, and no answer has yet
	// shown the remote file unchanged (the Resumed event waits for one).
	unconfirmed bool
	// sums hashes the file's in-order prefix as it is written, for the
	// checksum it is to be checked with (sumsFor); nil when that is a CRC
	// computed per segment (crc), or nothing.
	sums *checksum.Sums
	// crc is the CRC each segment computes of what it writes (seg.sum),
	// when the file is checked by one; nil otherwise.
	crc *checksum.Kind
	// digests are what the server vouches for about the whole file, from
	// the probe or, if it had none, a later answer for the same version
	// (segment.Digests); cleared on a restart.
	digests []segment.Digest
	// verified says what the finished file was checked against, for the
	// Done event and the summary ("sha256 from list", "none").
	verified string
	// record is what verify checked, to be kept with the finished file
	// (store.Record), with the server's validators; nil when nothing was
	// checked and the server gave no validators.
	record *store.Record
	// skipReason says why the file was skipped, for the Skipped event,
	// when it is not just there already.
	skipReason string
	// checkRetried: the file already failed its checksum once.
	checkRetried bool
	// suspects are the hosts of the sources set aside after that failure,
	// which are named once the file verifies without them.
	suspects []string
	conns    int
	started  time.Time
	written  atomic.Int64 // bytes in the .part for this generation

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
	f *file
	// src is the source of the current attempt, chosen when it is picked.
	src       *source
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
	// Where the current attempt's bytes land: it began at offset
	// attemptFrom with attemptRecv received. Set by next, read by the
	// attempt's connection.
	attemptFrom, attemptRecv int64
	// burstAt is the offset where the bytes after the attempt's latest
	// pause began, burstLen the length of its latest burst between two
	// pauses (0: none yet); see bursts.go.
	burstAt, burstLen atomic.Int64
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
	// sum is the CRC of what the segment wrote, when its file has a crc.
	sum checksum.Span
	// awaiting: the current attempt's request has been sent and not yet
	// answered; counted in its host's awaiting. Guarded by mu.
	awaiting bool
	// trial: the current attempt is its file's trial of ranges
	// (trial.go). Guarded by mu.
	trial bool
	// answered says the current attempt's request got a response that
	// was not a refusal, even one with the wrong range: the server is
	// up. Written by the connection running the attempt, read by its
	// finish.
	answered bool
}

// Received implements segment.Observer: any byte proves the link is alive.
func (s *seg) Received(n int) {
	now := int64(time.Since(s.epoch))
	h := s.src.host
	gap := now - s.alive.Swap(now)
	if gap > h.pause.Load() && gap < h.pauseCap {
		h.pause.Store(gap) // a pause after which the request went on
	}
	s.noteBurst(h, gap)
	s.recv.Add(int64(n))
	h.recv.Add(int64(n))
}

// Written implements segment.Observer.
func (s *seg) Written(n int64) {
	s.f.written.Add(n)
	s.src.bytes.Add(n)
	s.src.genBytes.Add(n)
	s.src.host.written.Add(n)
	s.bytes.Add(n)
	s.got.Add(n)
}

// run is the state of one Run call.
type run struct {
	opts Options
	// http sends the run's requests: the client built from Options.
	http *http.Client
	deps deps
	root *os.Root
	rep  Reporter // redacting: no event carries a secret
	// secrets are the values of the user's headers, hidden in messages.
	secrets *mask.Secrets
	epoch   time.Time
	ctx     context.Context // the run's; every file's context derives from it

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced whenever work may have appeared
	idle      int           // workers waiting on changed
	hosts     []*host
	mirrored  bool // some file has mirrors
	active    []*file
	openFiles int
	remaining int
	done      int
	skipped   int
	ckNow     chan struct{} // asks the checkpointer for a round now
	failures  []Failure
	verified  []Verified
	// expiredFiles are the files stranded by an expired URL (expire.go).
	expiredFiles []Failure
	// refreshWG waits for the searches for fresh URLs.
	refreshWG sync.WaitGroup
	bytes     atomic.Int64
	readBack  atomic.Int64 // bytes read back from disk to verify files
	// sizeOnly counts the finished files Options.Update could compare by
	// size only: they had no recorded validators.
	sizeOnly atomic.Int64
	ttfb     atomic.Int64 // moving average of time to first byte, ns
	running  atomic.Int32 // transfers in progress
	disk     *store.Dir
	// finalizing bounds the files being verified, synced and renamed
	// at once; finWG waits for them.
	finalizing chan struct{}
	finWG      sync.WaitGroup
	limiter    *rate.Limiter    // nil: no rate limit
	limits     hostlimit.Params // what each host's controller starts with
	chunk      int              // bytes read per limiter wait
}

// Run downloads every entry into opts.Dir and returns when each one is done
// or failed, or when ctx is cancelled. Entries must have valid, unique names
// (see manifest). The error is non-nil only if the run could not start.
func Run(ctx context.Context, entries []manifest.Entry, opts Options) (Summary, error) {
	return runWith(ctx, entries, opts, deps{})
}

// RunOn is Run writing to the output folder through the file system that
// fsys makes of it (store.NewOS when nil): a recording one, say, that sees
// every write, sync and rename of the run (package store/crashtest). The
// run closes nothing fsys returns.
func RunOn(ctx context.Context, entries []manifest.Entry, opts Options, fsys func(*os.Root) store.FS) (Summary, error) {
	return runWith(ctx, entries, opts, deps{fsys: fsys})
}

// runWith is Run with its dependencies handed in.
func runWith(ctx context.Context, entries []manifest.Entry, opts Options, d deps) (Summary, error) {
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
	lock, err := folderlock.Acquire(opts.Dir)
	if err != nil {
		return Summary{}, err
	}
	defer lock.Release()
	if opts.Held != nil {
		defer opts.Held()() // deferred after the lock's release: runs before it
	}
	root, err := os.OpenRoot(opts.Dir)
	if err != nil {
		return Summary{}, fmt.Errorf("scheduler: output folder: %w", err)
	}
	defer root.Close()
	client := clientFor(opts)
	defer client.CloseIdleConnections()
	r := newRun(ctx, root, opts, d.client(client), d)
	defer r.disk.Close()
	if capped != nil {
		r.rep.Report(Event{Kind: Warning, Time: time.Now(), Total: -1, Err: capped})
	}
	r.enqueue(entries)
	r.work(ctx)
	if n := r.sizeOnly.Load(); n > 0 {
		r.rep.Report(Event{Kind: Warning, Time: time.Now(), Total: -1,
			Err: fmt.Errorf("no recorded validators for %d files: --update can only compare sizes", n)})
	}
	return r.shutdown(ctx), nil
}

// newRun builds the run's state: its disk, its limiter; its requests go
// through client.
func newRun(ctx context.Context, root *os.Root, opts Options, client *http.Client, d deps) *run {
	r := &run{
		opts:       opts,
		limits:     hostlimit.DefaultParams(min(opts.MaxPerHost, opts.Connections), opts.Adaptive),
		root:       root,
		rep:        opts.Reporter,
		epoch:      time.Now(),
		ctx:        ctx,
		changed:    make(chan struct{}),
		ckNow:      make(chan struct{}, 1),
		finalizing: make(chan struct{}, maxFinalizing),
		http:       client,
		deps:       d.withDefaults(),
		chunk:      opts.BufferSize,
	}
	if r.rep == nil {
		r.rep = discard{}
	}
	r.secrets = headerSecrets(opts.Header)
	r.rep = redacting{next: r.rep, secrets: r.secrets}
	so := store.Options{Connections: opts.Connections, NoDirectIO: opts.NoDirectIO,
		NoSpaceCheck: opts.NoSpaceCheck, Finalizing: maxFinalizing, Busy: func() bool { return r.running.Load() > 0 }}
	if d.fsys == nil {
		r.disk = store.Open(root, opts.Dir, so)
	} else {
		r.disk = store.New(d.fsys(root), opts.Dir, so)
	}
	if opts.RateLimit > 0 {
		// Reads of about 20 ms of the whole cap keep the flow smooth; the
		// burst equals one read so no wait is ever larger than the burst,
		// and the bucket starts empty so the first second is not a spike.
		r.chunk = int(min(max(opts.RateLimit/50, 16<<10), int64(opts.BufferSize)))
		r.limiter = rate.NewLimiter(rate.Limit(opts.RateLimit), r.chunk)
		r.limiter.AllowN(time.Now(), r.chunk)
	}
	return r
}

// enqueue queues every entry behind the host of each of its sources, in
// list order; an entry whose URL has no host fails at once, a mirror
// without one is left out with a warning.
func (r *run) enqueue(entries []manifest.Entry) {
	byHost := map[string]*host{}
	hostOf := func(u *url.URL) *host {
		h := byHost[u.Host]
		if h == nil {
			h = r.newHost(u.Host)
			byHost[u.Host] = h
			r.hosts = append(r.hosts, h)
		}
		return h
	}
	for i, e := range entries {
		u, err := url.Parse(e.URL)
		if err != nil || u.Host == "" {
			fl := Failure{Line: e.Line, Name: e.Name, Err: fmt.Errorf("bad url %q", RedactURL(e.URL))}
			r.failures = append(r.failures, fl)
			r.rep.Report(Event{Kind: Failed, Time: time.Now(), Line: fl.Line, Name: fl.Name, Total: -1, Err: fl.Err})
			continue
		}
		f := &file{index: i, entry: e, size: -1, tryResume: true}
		f.addSource(u, hostOf(u))
		for k, m := range e.Mirrors {
			mu, err := url.Parse(m)
			if err != nil || mu.Host == "" || (mu.Scheme != "http" && mu.Scheme != "https") {
				r.rep.Report(Event{Kind: Warning, Time: time.Now(), Line: e.Line, Name: e.Name, Total: -1,
					Err: fmt.Errorf("mirror %d: bad url %q; left out", k+1, RedactURL(m))})
				continue
			}
			f.addSource(mu, hostOf(mu))
		}
		r.mirrored = r.mirrored || f.mirrored()
		for k, src := range f.sources {
			if !slices.ContainsFunc(f.sources[:k], func(o *source) bool { return o.host == src.host }) {
				src.host.pending = append(src.host.pending, f)
			}
		}
		r.remaining++
	}
}

// addSource adds u, fetched through h, to f's sources.
func (f *file) addSource(u *url.URL, h *host) {
	src := &source{index: len(f.sources), host: h, key: sourceKey(u)}
	src.setTarget(u)
	f.sources = append(f.sources, src)
}

// work runs one worker per connection, and the background jobs (watchdog,
// progress, checkpoints), until every file has ended or ctx is done.
func (r *run) work(ctx context.Context) {
	var wg sync.WaitGroup
	for range r.opts.Connections {
		wg.Go(func() {
			w := &worker{bufs: r.disk.Buffers(r.opts.BufferSize)}
			defer w.stop()
			for s := r.next(ctx); s != nil; s = r.next(ctx) {
				r.exec(ctx, s, w)
			}
		})
	}
	bg, stopBG := context.WithCancel(ctx)
	var bgWG sync.WaitGroup
	// The watchdog's own jobs (renewing URLs) join bgWG while it runs.
	bgWG.Go(func() { r.watchdog(bg, &bgWG) })
	bgWG.Go(func() { r.ticker(bg) })
	bgWG.Go(func() { r.checkpointer(bg) })
	bgWG.Go(func() { r.limitHosts(bg) })
	wg.Wait()
	r.refreshWG.Wait()
	r.finWG.Wait()
	stopBG()
	bgWG.Wait()
}

// shutdown saves whatever was interrupted as far as it got, so that the
// next run continues from there, and returns the summary.
func (r *run) shutdown(ctx context.Context) Summary {
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
		Failed:      redactFailures(r.secrets, r.failures),
		Expired:     redactFailures(r.secrets, r.expiredFiles),
		Verified:    r.verified,
		Bytes:       r.bytes.Load(),
		Hosts:       r.hostBytesLocked(),
		ReadBack:    r.readBack.Load(),
		Elapsed:     time.Since(r.epoch),
		Interrupted: ctx.Err() != nil && r.remaining > 0,
	}
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
				Bytes: f.written.Load(), Total: f.size, Conns: f.conns, Sources: sourcesProgress(f)})
		}
		for _, h := range r.hosts {
			if h.conns > 0 || h.hedges > 0 { // a running count must not be missed
				e.Hosts = append(e.Hosts, HostProgress{Host: h.name, Conns: h.conns, Limit: h.ctl.Level(), Hedges: h.hedges})
			}
		}
		r.mu.Unlock()
		r.rep.Report(e)
	})
}
