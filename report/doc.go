// Package report turns the event stream of a run into one self-contained
// HTML page: throughput over time (total and per host, with the rate limit),
// connections per host (the allowed level, the requests in flight, and marks
// for refusals, retries and stalls), a waterfall of files and tables of
// hosts, files and failures.
//
// The input is the `--progress json` stream, one object per line, as
// cmd/bulkget writes it (documented in docs/usage.md). `bulkget --report`
// feeds its own copy of that stream to a Builder while the run goes on, and
// `bulkget report EVENTS.jsonl` feeds a saved one, so both make the same page
// from the same facts.
//
// Memory and page size are bounded whatever the run's length or list: time
// series live in at most maxBuckets buckets whose width doubles (and
// neighbours merge) when the run outgrows them, and only the first
// maxSeriesHosts hosts have a time line of their own; each file keeps a
// bounded number of spans and marks; a finished file keeps its record only
// while it is among the maxKept slowest, and leaves counters otherwise; the
// page draws at most a fixed number of files, hosts and table rows, the
// slowest first, and says how many it left out.
//
// A Builder is not safe for concurrent use: one goroutine feeds it and
// renders it. WriteFile replaces the page atomically (temp file in the same
// folder, sync, rename), so a reader sees the previous page or the new one;
// an interruption leaves at most a hidden temp file beside it.
package report
