// Package scheduler runs a whole download: it decides which connection
// fetches which bytes of which file, and when.
//
// # Algorithm
//
// Run starts one worker per connection of the total budget (Options.
// Connections). A free worker takes, in order of preference:
//
//  1. a segment that failed earlier and whose backoff has expired;
//  2. the next file of the list whose host has room (Options.MaxPerHost,
//     Options.MaxFiles): its first request is a GET for "bytes=0-", which
//     is at once the probe (size, validators, range support) and segment 0,
//     so a list of small files costs exactly one request per file;
//  3. half of the largest remaining segment anywhere in the run, provided
//     at least 2 × Options.MinSegment is left (work stealing). The running
//     segment's end shrinks under it (segment.Cursor.Split) and the worker
//     starts a new ranged request for the tail.
//
// Step 3 is also how a large file gets its connections in the first place:
// there is no up-front plan, so connections never idle while any segment
// still has twice the minimum segment left, and the tail of the run keeps
// every connection busy.
//
// Every ranged request after the probe carries If-Range. A 200 in reply
// means the file changed (validator differs) or the server stopped
// honouring ranges; either way the file restarts from zero under a new
// generation, the old generation's transfers are cancelled, and their
// results are ignored. A file of unknown size, or from a server without
// ranges, is fetched as one stream and, if that fails, fetched again from
// byte zero.
//
// Failures are classified by segment.Permanent: permanent ones (most 4xx),
// and the file system refusing a path, fail the file at once; transient
// ones are retried with capped exponential backoff and full jitter, up to
// Options.Retries failures in a row without progress. The first retry
// after an answer that broke (reset, stalled or cut short mid-body, or
// with the wrong range) goes at once. A Retry-After rests the connection
// it was sent to for that long (the host has one connection fewer
// meanwhile, see restLocked); the range itself may be retried by another
// connection. A watchdog cancels requests that receive nothing for
// Options.StallTimeout.
//
// # Concurrency
//
// One mutex guards the run's bookkeeping; it is taken when a worker picks
// work and when it finishes, never per chunk of data. The data path touches
// only the segment's cursor and a few atomics.
//
// # On disk
//
// Everything on disk goes through package store: a file is a store.Part
// (<name>.part), written at each segment's offset, checkpointed into its
// sidecar state (package state) and, once every segment is complete and
// the checksums match, committed under <name>. store's package comment
// gives the sync orders and what an interruption leaves behind: finished
// files, and .part files with their states.
package scheduler
