// Package folderlock keeps one bulkget run per output folder.
//
// The lock file lives exactly as long as a run: Acquire creates (if
// needed) .bulkget.lock in the output folder, takes an exclusive,
// non-blocking lock on it and records the holder's PID ("PID\n", no fsync),
// and Release deletes it, so a finished, failed or interrupted run leaves no
// lock file; only a holder that dies without releasing (kill -9, a crash, a
// second Ctrl-C) leaves one, which the next holder reuses and deletes. The
// PID serves the error message another run gets: `output folder "DIR" is in
// use by another bulkget (pid N)`, or "pid unknown" if the record is absent
// or incomplete. Exclusion comes only from the kernel lock, never from the
// file's existence or content, so:
//
//   - a lock left by a process that died, however it died, never blocks:
//     the kernel drops the lock with the last descriptor;
//   - deleting the file on release lets no two processes hold the lock: on
//     Unix the holder unlinks it before unlocking, and Acquire, once it
//     has the lock, starts over unless the path still names the file it
//     locked; Windows cannot delete a file anyone has open, so Release
//     unlocks and closes first and the delete fails if someone opened it;
//   - the lock is per open file, not per process, so a second Acquire
//     on the same folder inside one process also fails.
//
// On Unix the lock is flock(LOCK_EX|LOCK_NB) (not fcntl locks, which are
// per process and vanish when any descriptor of the file is closed), and
// the lock file is opened with O_NOFOLLOW. flock may be unsupported or
// advisory-only on some network filesystems; Acquire then returns the
// error. On Windows it is LockFileEx on one byte far beyond end of file, so
// the PID stays readable under Windows' mandatory locking. On platforms
// with neither (AIX, Plan 9, WASI, js) the lock is a no-op that always
// succeeds (the file is still deleted on release): an O_EXCL marker would
// survive a crash and block every later run, which is worse than no lock.
package folderlock
