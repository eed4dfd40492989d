package store

import (
	"fmt"
	"sync"
	"time"
)

// batchCommitter gives small files their final names in batches. Each
// round is one filesystem sync (syncfs) followed by renames: the sync makes
// the data of every file queued before it durable, so those files may now
// be renamed, and it also makes the renames of the round before durable,
// so those files are now done. One sync per round replaces an fsync per
// file and one per folder: with thousands of small files the syncs, not
// the downloads, were the run's cost.
type batchCommitter struct {
	fs FS
	// busy says whether transfers are running, that is whether more
	// files may join a batch soon; nil: assume so.
	busy func() bool

	mu    sync.Mutex
	queue []*commitReq
	wake  chan struct{} // a request was queued; buffered, coalescing
	stop  chan struct{} // closed when no more requests will come
	done  chan struct{} // closed when the loop has answered everything
}

type commitReq struct {
	name string // final name
	// unnamed, if set, is the file to name (then closed); else the
	// data is in name + PartSuffix.
	unnamed File
	// done receives the outcome, on the committer's goroutine.
	done func(error)
}

const (
	// Rounds begin at most gatherWindow apart, and sooner once
	// batchSize files wait: the files wait a little, the connections
	// that fetched them do not; the size only stops a round from growing
	// without end. Wider windows mean fewer syncs but more files
	// finalizing at once, which holds up the connections (the scheduler
	// bounds the files finalizing); much smaller batches make syncfs a
	// real share of a list's CPU time.
	gatherWindow = 3 * time.Millisecond
	batchSize    = 256
)

func newBatchCommitter(fsys FS, busy func() bool) *batchCommitter {
	c := &batchCommitter{fs: fsys, busy: busy, wake: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c
}

// commit queues name+PartSuffix, written and closed, or the unnamed file,
// written and left open for the committer to close, to be made durable
// under name, and returns at once; done is called with the outcome, on the
// committer's goroutine, so it must not block for long. Calls must come
// before close.
//
// A thousand small files a second would otherwise mean a thousand
// goroutines parked on their rounds and a thousand wake-ups of the
// committer while it gathers: it is woken only when a round can start (the
// first request, a full batch, or no transfer left to wait for).
func (c *batchCommitter) commit(name string, unnamed File, done func(error)) {
	c.mu.Lock()
	c.queue = append(c.queue, &commitReq{name: name, unnamed: unnamed, done: done})
	n := len(c.queue)
	c.mu.Unlock()
	if n == 1 || n >= batchSize || (c.busy != nil && !c.busy()) {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// close stops the loop once every commit has been answered.
func (c *batchCommitter) close() {
	close(c.stop)
	<-c.done
}

func (c *batchCommitter) queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

func (c *batchCommitter) loop() {
	defer close(c.done)
	var renamed []*commitReq // renamed, waiting for the next sync
	var began time.Time      // when the last round began
	for {
		if len(renamed) == 0 && c.queued() == 0 {
			select {
			case <-c.wake:
				continue
			case <-c.stop:
				if c.queued() == 0 {
					return
				}
			}
		}
		c.gather(began)
		began = time.Now()
		c.mu.Lock()
		batch := c.queue
		c.queue = nil
		c.mu.Unlock()

		err := c.fs.SyncFS()
		if err != nil {
			err = fmt.Errorf("sync filesystem: %w", noSpace(err))
		}
		for _, req := range renamed {
			req.done(err)
		}
		renamed = renamed[:0]
		for _, req := range batch {
			nerr := err
			if nerr == nil {
				nerr = c.name(req)
			} else if req.unnamed != nil {
				req.unnamed.Close()
			}
			if nerr != nil {
				req.done(nerr)
				continue
			}
			renamed = append(renamed, req)
		}
	}
}

// name gives a synced file its final name.
func (c *batchCommitter) name(req *commitReq) error {
	if req.unnamed == nil {
		if err := c.fs.Rename(PartName(req.name), req.name); err != nil {
			return fmt.Errorf("rename %s: %w", PartName(req.name), err)
		}
		return nil
	}
	err := c.fs.Link(req.unnamed, req.name)
	if cerr := req.unnamed.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("name %s: %w", req.name, err)
	}
	return nil
}

// gather waits for a round's files to gather: until gatherWindow has
// passed since the previous round began, so that one sync covers many
// files, or until a full batch is queued. It does not wait at all when no
// transfer is running (the end of a run: nothing would join) or when the
// previous round took longer than the window: the files that came in
// meanwhile are the batch, and waiting more would only idle the committer
// while connections queue behind it (see Options.Finalizing).
func (c *batchCommitter) gather(prev time.Time) {
	waiting := func() bool { return c.queued() < batchSize && (c.busy == nil || c.busy()) }
	wait := time.Until(prev.Add(gatherWindow))
	if wait <= 0 || !waiting() {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	for waiting() {
		select {
		case <-c.wake:
		case <-t.C:
			return
		case <-c.stop:
			return
		}
	}
}
