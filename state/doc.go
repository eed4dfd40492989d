// Package state owns bulkget's resume sidecar: its format, its atomic save
// and its validated load. (The output-folder lock is package folderlock.)
//
// Each download writes <name>.part (preallocated to the full size, segments
// filled with WriteAt) and records its progress in <name>.part.state (see
// store.StateName; package store names every file bulkget keeps). After a
// crash, kill -9 or power cut the next run loads the sidecar
// and fetches only what it does not claim. The package does no network I/O
// and knows nothing about HTTP beyond storing the validators (ETag,
// Last-Modified) the caller must compare before trusting a resume.
//
// # The one rule
//
// A state must never claim a byte that is not durably in the .part file:
// a false claim becomes silent corruption in the finished file, while a
// missing claim only costs a re-fetch. Hence the caller's contract for Save:
// WriteAt the data, fdatasync the .part, and only then Save a File whose
// Done counts include it. Everything in this package errs the same way: when
// in doubt a state is rejected (ErrInvalid) and the file restarts.
//
// # Format (Version 4)
//
// All integers in the header and trailer are big-endian.
//
//	offset  size  field
//	0       4     magic "BGST"
//	4       2     version (uint16) = 4
//	6       4     payload length N (uint32)
//	10      N     payload
//	10+N    4     CRC-32C (Castagnoli) of bytes [0, 10+N)
//
// The payload is a sequence of unsigned varints (encoding/binary, minimal
// form only) and length-prefixed strings (len, then the bytes):
//
//	ETag  LastModified  Size  sums
//	sources  sources × (Key, ETag, LastModified)
//	count  count × (length, done, [crc32c], [crc64nvme])
//
// sums is a set of bits (1: CRC-32C, 2: CRC-64/NVME) naming the CRCs each
// segment carries after its done count, as 4 and 8 big-endian bytes: the
// CRC of the segment's done bytes, which the whole file's CRC is combined
// from at the end without reading the file back. A CRC of nothing is 0.
//
// The first ETag and LastModified are the validators of the source that
// probed the file (its primary URL). A file fetched from mirrors as well
// keeps each other source's own validators in File.Sources, since every
// host has its own ETag and Last-Modified for the same bytes; a file with
// one source has a source count of 0. A source is named by an opaque,
// non-empty Key, unique within the file, which the caller derives from the
// URL without its secrets (a short hash of scheme, host and path); the
// state never interprets it.
//
// Older versions Decode still reads: version 3 had no sources (the File has
// none), version 2 had neither sums nor CRCs (a resumed file then has no
// CRCs and is read back to be checked), version 1 is described under "No
// secrets".
//
// Segment starts are not stored: segment i starts where segment i-1 ends,
// so the encoding cannot express a gap or an overlap, and the lengths must
// sum to Size. Strings are limited to 64 KiB, sources to MaxSources (64) and
// segments to 1<<20; both counts are checked against the limit and the bytes
// left before anything is allocated.
//
// # No secrets
//
// The state holds no URL, not even one stripped of its credentials and
// query: resuming never needs it (the file is known by its name, and the
// remote file by its size and validators, which every resumed request
// checks with If-Range), a path can itself carry a token (nginx secure_link,
// CDN tokens in the path), and a list whose URLs differ only in their
// signatures must resume every file it names. Version 1 stored the whole
// URL ahead of the ETag; Decode still reads it, skipping the URL, and marks
// the File Outdated so that the caller saves it again at once, which drops
// the secret from the disk. A mirror's Source is not named by its URL
// either, only by the caller's short hash of it (see Format). The state is
// written owner-only all the same.
//
// Decode requires the input length to equal 14+N exactly and the checksum to
// match, so every truncation, every appended byte and every single-bit flip
// is detected; the version is checked before the checksum so a file from
// another release is reported as such. Only the minimal varint form is
// accepted, which makes the current version's encoding canonical (one byte
// string per File). Any change to the layout must bump Version; an old
// binary then refuses the new file as invalid and restarts, which is safe
// (version 1 binaries restart version 2 states, and version 3 binaries
// version 4 states).
//
// # Atomic save
//
// Save writes <state>.tmp in the same folder, fsyncs it, closes it, renames
// it over <state>, and fsyncs the folder (store.SyncDir), every change
// through the folder's store.FS, so that a recording of a run sees it (see
// package store/crashtest). What a crash leaves behind:
//
//   - during the write or before the file fsync: a torn or empty .tmp and
//     the previous state untouched. Load never reads .tmp; the next Save
//     truncates it and Remove deletes it.
//   - after the file fsync, before the rename: a complete .tmp and the
//     previous state, which is still correct, merely behind (the data it
//     claims was synced before it was saved).
//   - after the rename, before the folder fsync: after a power cut the
//     folder holds either the old or the new state; both were fully synced
//     before being linked under the final name, so either is complete and
//     truthful.
//   - after the folder fsync: the new state.
//
// Without the file fsync the rename could reach the disk before the data
// (delayed allocation), leaving an empty state under the final name: the
// checksum would catch it, but all progress would be lost. The folder fsync
// is what makes a nil return from Save mean "durable".
//
// Save, Load and Remove on the same name must not run concurrently; the
// output-folder lock keeps other processes out, the caller keeps its own
// goroutines in line (typically one saver per file).
//
// When a download completes, the intended order is: fdatasync the .part,
// rename it to its final name, fsync the folder, then Remove the state. A
// crash in between leaves a state without a .part, which the caller ignores
// (and removes); the other order could leave a complete .part with no state,
// which would be downloaded again.
//
// # Load
//
// Load distinguishes three outcomes: fs.ErrNotExist (no state: start
// fresh), ErrInvalid (torn, garbage, other version, inconsistent segments,
// or a Size different from the .part's current size: discard and start
// fresh) and anything else (an I/O error: do not throw progress away over
// it). The .part size check catches a .part that was truncated or recreated
// since the state was written.
package state
