package store

import "sync"

// How a run fits the limit on open descriptors; openFileLimit reads it
// (fdlimit_unix.go), once per process.
var fileLimit = sync.OnceValue(openFileLimit)

// ConnectionsFit returns how many of conns connections the process's limit
// on open descriptors can carry, and that limit (0: none known). Each
// connection needs its socket, the part it writes, and room for one idle
// socket the HTTP client keeps for reuse (its pool holds at most one per
// connection of the run), and the run itself
// about 16 (standard streams, the poller, the lock, the folder, a state
// being saved, a socket being replaced); beyond that, files fail with "too
// many open files".
func ConnectionsFit(conns int) (fit, limit int) {
	limit = fileLimit()
	return connectionsFit(limit, conns), limit
}

func connectionsFit(limit, conns int) int {
	if limit == 0 {
		return conns
	}
	return max(1, min(conns, (limit-16)/3))
}

// unnamedFits says whether a limit of limit open descriptors (0: none
// known) leaves room for finalizing unnamed files, each held open until
// its batch names it, beside what conns connections need (a socket each,
// a second while one redials, the part each writes, its direct-I/O twin)
// and the run's own few. Where it does not, small files are written as
// name.part instead, closed before they wait for their batch: otherwise
// the waiting files take the descriptors new connections need.
func unnamedFits(limit, conns, finalizing int) bool {
	return limit == 0 || limit-(64+4*conns) >= finalizing
}
