// Package crashtest proves that no power cut can corrupt a download: it
// records every call by which a real run changes its output folder, builds
// the folder states a power cut could leave at each point of that record,
// and lets a test resume a real run from each of them (see
// powercut_test.go for the checks).
//
// # The record
//
// A Recorder is a store.FS wrapped around the real one (store.NewOS) and
// handed to scheduler.RunOn, so the run goes through exactly the code of
// every other run. It logs, in order: writes (file, offset, the bytes),
// truncate, fallocate, setxattr, fdatasync, fsync, syncfs, folder fsync,
// create (O_EXCL or O_CREAT), create O_TMPFILE, linkat, rename, unlink and
// mkdir, each with the bulkget function that made it. A sync is logged
// when it starts, so it covers only what was logged before it; everything
// else once it succeeded.
//
// # Crash states
//
// A Model replays the log (the rules are on Model): at each point a write
// since its file's last sync may be lost, kept or kept in part, torn at
// 4 KiB and reordered, and a name change since its folder's last sync may
// survive or not. States picks the states at a point: five extremes (all
// lost, all kept, metadata without the writes, names without the data,
// data without the names) and random prefixes, subsets and single units,
// or every subset in exhaustive mode.
// Materialize writes one into a fresh folder, with the stale lock file a
// dead run leaves.
//
// # Concurrency
//
// A Recorder is safe for concurrent use, like any store.FS; a Model is for
// one goroutine, and only moves forward through its log.
package crashtest
