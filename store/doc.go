// Package store is where bulkget's bytes land: the output folder as a run
// writes it. It owns the part files, their preallocation and direct I/O,
// the syncs and renames that commit them, the free-space check, the
// budget of open files, and the names of everything bulkget keeps on disk
// (names.go: PartSuffix, StateSuffix, TempSuffix, LockName, and
// VerifiedAttr or VerifiedSuffix for the record of a finished file's
// verification, see Record). It decides nothing about what to fetch.
//
// Every change it makes to the folder (and every change package state
// makes) goes through an FS: NewOS, the real file system, in every run; a
// recording one in the power-cut test (package store/crashtest), which
// sees the same calls in the same order. Open makes the OS one, New takes
// any.
//
// # What the scheduler sees
//
//	d := Open(root, dir, opts)              once per run; d.Close() at the end
//	p := d.Create(name, size, fresh, ranged) or d.Resume(name, size)
//	p.WriteAt(b, off)                        concurrently, on disjoint ranges
//	p.Checkpoint(save)                       fdatasync, then save the state
//	p.Commit() or p.CommitAsync(done)        once complete and verified
//	p.Abort()                                otherwise: the .part stays
//
// # Durability
//
// A file is written to <name>.part (preallocated to its size, so a full
// disk shows at its start) and only ever renamed to <name> once complete,
// so a file under its final name is complete and verified. The orders:
//
//	checkpoint: fdatasync(.part) → write <name>.part.state.tmp → fsync it
//	            → rename over <name>.part.state → fsync folder (state.Save)
//	commit:     complete → verify (caller) → fsync(.part) → rename to
//	            <name> → fsync folder → remove the state (caller)
//
// A state therefore never claims a byte that is not durable. SyncDir is
// the one folder sync: a file system that cannot sync folders at all is
// taken at its word (see SyncDir). A folder the run creates is synced into
// its parent when it is made, or a power cut could take it away with
// every file committed in it. Small files
// are committed in batches: one syncfs makes the data of every file queued
// before it durable, then they are renamed, and the next round's syncfs
// makes those renames durable before their commits are reported. syncfs is
// trusted for that only where it reports write-back errors (Linux 5.8 on);
// elsewhere each file is synced on its own. A small file directly in a
// folder that was empty has no name at all (O_TMPFILE) until its batch
// links it under its final name.
//
// # What an interruption leaves
//
// A crash, kill -9 or power cut at any point leaves finished files under
// their names and, for the others, <name>.part with the state of its last
// checkpoint, or a .part without a state (started over), or a state without
// a .part (ignored and removed), or a .tmp beside a state (never read,
// overwritten by the next save), or the .tmp of a record sidecar (removed
// when a later run finds the finished file). Unnamed files vanish with the
// process.
// Nothing under a final name is ever partial. The lock file stays, holding
// no lock (see package folderlock).
//
// # Concurrency
//
// Dir is safe for concurrent use. A Part takes concurrent WriteAt calls on
// non-overlapping ranges; its other methods are for one goroutine at a
// time, and none may be called after Commit, CommitAsync or Abort.
package store
