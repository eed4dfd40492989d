//go:build !unix

package store

// dirSyncRefused: Windows cannot flush a folder handle opened for reading
// (FlushFileBuffers fails with access denied), nor open one for writing
// through os.Root, so a folder sync is never available there.
func dirSyncRefused(error) bool { return true }
