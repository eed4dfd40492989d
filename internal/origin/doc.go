// Package origin is a deterministic, deliberately misbehaving HTTP origin
// server for bulkget's tests, benchmarks and the `bulkget demo` command.
//
// # What it serves
//
// A Server listens on 127.0.0.1 only (New for plain HTTP/1.1, NewTLS for
// HTTPS with a self-signed certificate offering h2 and http/1.1). Files are
// registered with Add(name, size) and exist only as a formula, so a 10 GiB
// file costs no memory; names may contain '/' and are served at URL(name).
// GET and HEAD are supported, other methods get 405, unknown names 404.
//
// Responses carry Accept-Ranges, a strong ETag derived from (name, version,
// size), a Last-Modified of a fixed base time plus version seconds, and
// Content-Type application/octet-stream. One range per request is honoured
// (bytes=a-b, bytes=a-, bytes=-n); unsatisfiable ranges get 416 and malformed
// or multi-range headers are ignored (200, whole file). If-Range must equal
// the current ETag or Last-Modified string for the range to be honoured.
//
// # Content formula
//
// Byte k of file (name, version) is byte k%8, little endian, of
//
//	word(k/8) = mix(seed(name, version) + (k/8 + 1) * 0x9e3779b97f4a7c15)
//
// where mix is the splitmix64 finalizer and seed hashes the name with FNV-1a
// and folds in the version. Each word is independent, so Content can start at
// any offset and runs at several GB/s; SHA256Hex gives the expected digest of
// a whole file without a server, which is how tests check downloads. ETag and
// LastModified return the validators the server sends, for If-Range tests.
//
// # Misbehaviour
//
// Options set server-wide behaviour: per-connection and total rate limits,
// first-byte latency, no range support, and no length at all (a streamed 200).
// The rate limits are token buckets; the per-connection one lives with the
// TCP connection, so it spans keep-alive requests and HTTP/2 streams. A
// response starts with at most a small burst (32 KiB, or 20 ms of traffic at
// high rates) but may catch up for up to a second of time lost to scheduling
// or a paused reader, so the average over a few seconds stays within about 2%
// of the limit even on a loaded machine.
//
// Options.Replicas serves every file as a farm of replicas behind one
// address would, each answer from one replica, in turn per request or per
// TCP connection (ReplicaPerConn): replica i > 0 sends ReplicaETag and a
// Last-Modified i days later for the same bytes, or, with
// ReplicaBytesDiffer, serves version+i (a deploy half done). An If-Match
// that names no ETag of the version served gets 412 with no body and no
// ETag, as nginx answers, unless IgnoreIfMatch.
//
// Options.Fault is called once per request for a registered file, before the
// latency sleep, with a Request describing it. N is the per-file request
// count, so a hook can fail "the 3rd request". Ranged is true when the server
// means to answer with a range (a single valid Range, ranges enabled, If-Range
// satisfied), before IgnoreRange is applied. The returned Fault can answer an
// error status, reset the connection mid-body, stall, send a short body,
// ignore the range or serve a range shifted by one byte.
//
// Body faults only trigger when their offset falls inside the body being
// sent; a stall with StallFor resumes the body afterwards. ResetAfter waits
// (up to 2 s) for the kernel to deliver the bytes already written before
// sending the RST, so the client reliably reads exactly that many bytes and
// then gets ECONNRESET. ShortBy closes the connection gracefully, which the
// client sees as io.ErrUnexpectedEOF. Over HTTP/2 the connection is shared
// with other requests, so ResetAfter resets only the stream (RST_STREAM) and
// ShortBy ends the stream early (or resets it when no length was declared).
//
// # Concurrency
//
// Counters are updated as handlers run, so a client can finish reading
// before the last bytes are counted: call WaitIdle before asserting on Stats.
// ResetStats also restarts the per-file counts behind FileRequests and
// Request.N (which count HEAD as well as GET).
//
// Every Server method is safe for concurrent use, including SetOptions and
// SetVersion while requests are in flight. A running response keeps the
// content version it started with but picks up rate changes on its next
// chunk. The fault hook is called concurrently from request goroutines and
// must be safe for that. Close cancels a server-wide context that every
// sleep, stall and throttle waits on, so it returns promptly even with
// stalled handlers.
package origin
