package scheduler

import (
	"context"
	"sync"

	"github.com/bulkget/bulkget/manifest"
)

// Size is what a probe learnt about one entry.
type Size struct {
	Entry manifest.Entry
	Bytes int64 // -1 if the server does not say
	Err   error
}

// Probe asks the server of every entry for its size, with one 1-byte
// request each, over at most opts.Connections connections. It writes
// nothing; it is what a dry run uses to tell the total to download.
func Probe(ctx context.Context, entries []manifest.Entry, opts Options) []Size {
	opts.Dir = "."
	opts, err := opts.withDefaults()
	out := make([]Size, len(entries))
	if err != nil {
		for i, e := range entries {
			out[i] = Size{Entry: e, Bytes: -1, Err: err}
		}
		return out
	}
	client := clientFor(opts)
	defer client.CloseIdleConnections()
	r := &run{opts: opts, http: client}
	secrets := headerSecrets(opts.Header)
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(opts.Connections, max(len(entries), 1)) {
		wg.Go(func() {
			for i := range work {
				n, err := r.remoteSize(ctx, entries[i].URL)
				if err != nil {
					n = -1
				}
				out[i] = Size{Entry: entries[i], Bytes: n, Err: redactWith(secrets, err)}
			}
		})
	}
	for i := range entries {
		if ctx.Err() != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	return out
}
