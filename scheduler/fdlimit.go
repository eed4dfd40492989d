package scheduler

// How a run fits the limit on open descriptors; openFileLimit reads it
// (fdlimit_unix.go).

// unnamedFits says whether a limit of limit open descriptors (0: none
// known) leaves room for maxFinalizing unnamed files, each held open until
// its round names it, beside what conns connections need (a socket each,
// a second while one redials, the file each writes, its direct-I/O twin)
// and the run's own few. Where it does not, small files are written as
// name.part instead, closed before they wait for their round: under
// `ulimit -n 128` the unnamed files waiting to be named took the
// descriptors that new connections needed, and files failed with "too
// many open files".
func unnamedFits(limit, conns int) bool {
	return limit == 0 || limit-(64+4*conns) >= maxFinalizing
}

// connectionsFit returns how many of conns connections a limit of limit
// open descriptors (0: none known) can carry: each needs its socket and the
// file it writes, and the run itself about 16 (standard streams, the
// poller, the lock, the folder, a state being saved, a socket being
// replaced). More connections than that fail files with "too many open
// files" (486 of 5,000 under `ulimit -n 24` at 16 connections).
func connectionsFit(limit, conns int) int {
	if limit == 0 {
		return conns
	}
	return max(1, min(conns, (limit-16)/2))
}
