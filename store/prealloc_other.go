//go:build !linux

package store

import "os"

// preallocate sets the file's size; without fallocate the file is sparse.
func preallocate(f *os.File, size int64) error {
	return f.Truncate(size)
}
