// Package scheduler runs a whole download: it decides which connection
// fetches which bytes of which file, and when.
//
// # Algorithm
//
// Run starts one worker per connection of the total budget
// (Options.Connections). Each worker loops: next picks work, exec runs it,
// finish records the outcome. A free worker takes, in order (picks.go):
//
//  1. a segment that failed earlier and whose backoff has expired;
//  2. the next file of the list whose host has room (Options.MaxPerHost,
//     Options.MaxFiles). Its first step is resumeOrSkip (no request, but
//     for Options.Update one conditional request of the first byte with
//     the recorded validators, segment.Revalidate): skip a file already
//     under its name, or install the saved state of an interrupted one.
//     Otherwise its first request is a GET for "bytes=0-",
//     which is at once the probe (size, validators, range support) and
//     segment 0, so a list of small files costs one request per file. A
//     200 to it is not proof that ranges fail: the first range past byte 0
//     decides, for the file and its host (trial.go);
//  3. what the work policy (package pick) chooses over a snapshot of the
//     run's ranges (pickWork): the whole rest of a request that has gone
//     quiet (a hedge); else half of the range with the most time left
//     anywhere in the run, provided at least 2 × Options.MinSegment is
//     left (work stealing: the running segment's end shrinks under it,
//     segment.Cursor.Split), or at the end of the run, when nothing is that
//     large, the range that will take longest to finish; else the rest of
//     a request far slower than the median of the run's requests, of every
//     host.
//
// Step 3's stealing is how a large file gets its connections in the first place: there
// is no up-front plan, so connections never idle while work remains.
//
// Every request after the probe, a resumed file's included, carries the
// file's size and If-Range. An answer of another version (another
// validator) is never written: it may come from another replica behind
// the same name, and is retried until the other version persists
// (farm.go). A version that persists, a 206 of another size, or a 200 with
// the file's own validator mean the file changed or the server stopped
// honouring ranges: the file restarts from zero under a new generation,
// the old generation's transfers are cancelled and their results ignored.
// A file of unknown size, or from a server without ranges, is fetched as
// one stream.
//
// # Failures
//
// classify (outcome.go) is the one place that decides what an error means:
// retry the range (at once the first time an answer broke mid-body, then
// with capped exponential backoff and full jitter), rest (the host refused
// for load: it gets fewer connections, host.go), restart the file, or fail
// the file. An answer with broken framing (segment.Malformed) fails the
// file at its second. A range fails its file after Options.Retries failures in a row
// without progress; a takeover by a hedge counts as one. The watchdog
// (watchdog.go) cuts a request that receives nothing for
// Options.StallTimeout, or less than the floor on speed over that long.
//
// # Reading order
//
// run.go (types, Run: construction, workers, shutdown), picks.go (what a
// free connection does next), transfer.go (one request: exec, transfer,
// onProbe), trial.go (a whole 200 to the probe, tried), outcome.go (classify and finish), finalize.go (verify and
// commit a complete file), then the helpers: farm.go (replicas that
// disagree), resume.go, checkpoint.go,
// host.go (a host's connections, decided by its hostlimit.Controller),
// shed.go, bursts.go (cuts on hosts that pace in bursts), watchdog.go, expire.go (expired
// links), verify.go (which checksum a file is checked against). The
// mechanisms live in leaf packages: checksum (hashes, CRC combining),
// httpclient (the HTTP client and its TLS, netrc and header rules),
// signedurl (a signed URL's stated expiry); the engine's judgement lives
// in hostlimit (how many connections a host gets) and pick (hedge, steal
// or tail).
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
