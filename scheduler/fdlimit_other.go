//go:build !unix

package scheduler

// openFileLimit: no descriptor limit is known here.
func openFileLimit() int { return 0 }
