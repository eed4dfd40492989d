package origin

import (
	"context"
	"sync"
	"time"
)

const (
	maxChunk = 32 << 10 // largest write while throttled
	minChunk = 512
)

// bucket is a token bucket whose balance may go negative: a writer debits the
// whole chunk up front and then sleeps off the debt. Refilling from wall-clock
// time means sleep overshoot is credited back on the next call instead of
// accumulating, which keeps the long-run rate accurate.
type bucket struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// maxCatchUp bounds how far a running response may catch up after the
// process was descheduled or the client stopped reading. Loaded test machines
// freeze processes for hundreds of milliseconds; without catch-up every such
// freeze would be lost throughput. It is harmless as a burst: the kernel's
// loopback socket buffers already hold more than that for a paused client.
const maxCatchUp = time.Second

// reserve debits n bytes at rate bytes/s and returns how long the caller has
// to wait before sending them. The rate is passed per call so that
// SetOptions takes effect on the next chunk of a running response.
//
// A caller that starts a response passes catchUp=false, which caps the
// credit at a small burst so that idle time between keep-alive requests is
// not saved up; later chunks of the same response pass true.
func (b *bucket) reserve(rate int64, n int, catchUp bool) time.Duration {
	if rate <= 0 {
		return 0
	}
	// The burst covers a chunk plus ordinary timer overshoot (~20 ms of
	// traffic at high rates).
	limit := float64(max(int64(chunkFor(rate)), rate/50))
	if catchUp {
		limit = max(limit, maxCatchUp.Seconds()*float64(rate))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	if b.last.IsZero() {
		b.tokens = limit
	} else {
		b.tokens += now.Sub(b.last).Seconds() * float64(rate)
	}
	b.tokens = min(b.tokens, limit)
	b.last = now
	b.tokens -= float64(n)
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / float64(rate) * float64(time.Second))
}

// burstWindow paces a connection in one-second windows (Options.BurstPacing):
// up to rate bytes go out at once at the start of a window, the rest wait
// for the next one. Windows follow each other a second apart from the
// connection's first byte, so the long-run rate is rate; after an idle
// gap the next window starts at the second the sender resumes in.
type burstWindow struct {
	mu    sync.Mutex
	start time.Time
	sent  int64
}

// reserve counts n bytes against the current window and returns how long
// to wait before sending them: zero while the window has room, else until
// the next window, which the n bytes then open. A chunk larger than the
// whole allowance still goes out alone in a window.
func (w *burstWindow) reserve(rate, n int64) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	if w.start.IsZero() {
		w.start = now
	} else if gone := now.Sub(w.start); gone >= time.Second {
		w.start = w.start.Add(gone.Truncate(time.Second))
		w.sent = 0
	}
	if w.sent > 0 && w.sent+n > rate {
		w.start = w.start.Add(time.Second)
		w.sent = n
		return w.start.Sub(now)
	}
	w.sent += n
	return 0
}

// chunkFor sizes writes so that a slow rate still sends something about every
// 50 ms rather than a large burst followed by a long silence.
func chunkFor(rate int64) int {
	c := rate / 20
	if c > maxChunk {
		c = maxChunk
	}
	if c < minChunk {
		c = minChunk
	}
	return int(c)
}

// sleepCtx waits for d or until ctx ends; it reports whether the full wait
// elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
