//go:build unix

package store

import "golang.org/x/sys/unix"

// openFileLimit returns the process's limit on open descriptors (the soft
// one, which Go raises to the hard one at start-up), or 0 when it is
// unknown or too large to constrain a run.
func openFileLimit() int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > 1<<20 {
		return 0
	}
	return int(lim.Cur)
}
