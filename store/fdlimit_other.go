//go:build !unix

package store

// openFileLimit: no descriptor limit is known here.
func openFileLimit() int { return 0 }
