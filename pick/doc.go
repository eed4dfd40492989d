// Package pick chooses what a free connection does once no retry is due
// and no new file can start: take over a request that has gone quiet,
// split the range that will take longest, split at the end of the run
// whatever still crawls, or take over one far slower than the others.
//
// It is one pure function over a snapshot of the run's ranges, running or
// waiting (Choose), with its parameters in Params. It holds no state and
// changes nothing: the scheduler builds the Snapshot under its lock,
// applies the first Choice it can, and keeps every range's bookkeeping.
//
// The rules, in the order Choose tries them:
//
//	quiet hedge: a request silent for HedgeAfter (at the tail, for longer
//	    than the run's requests take to answer) holds its whole rest
//	    hostage, unless its host's other requests share the silence;
//	steal: the range with the most time left, at its source's speed,
//	    is split in two if both halves are at least MinSegment;
//	tail: once no file waits to start, the range that will take longest
//	    (a backoff, a silent request, a crawl) is split down to
//	    TailMinSegment if that time is well above a request's cost;
//	slow hedge: a request far below the run's median rate, with seconds
//	    left, is taken over.
//
// Every request's rate is one estimate, Request.Rate: what its current
// attempt received over its age.
package pick
