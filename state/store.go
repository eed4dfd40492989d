package state

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"

	"github.com/bulkget/bulkget/store"
)

// stateMode is owner-only: a state holds no URL, but what is downloaded,
// and how far, is nobody else's business either.
const stateMode = 0o600

// Save atomically replaces the state file name (relative, slash-separated)
// in the folder fsys with the encoding of f, writing store.TempName(name)
// first (fixed, so that one orphaned by a crash is overwritten by the next
// Save and removed by Remove; the folder's lock keeps a single writer).
//
// Contract: every byte f claims (Segment.Done) must already be durable in
// the .part file — the caller must have fdatasync'd it after the last
// WriteAt covered by f and before calling Save. Save only makes the claim
// durable; it cannot make the data durable.
//
// When Save returns nil the new state has reached stable storage. When it
// returns an error the state on disk is either the previous one or the new
// one (never a mixture), and the temp file has been removed where possible.
func Save(fsys store.FS, name string, f *File) error {
	tmp := store.TempName(name)
	renamed, err := save(fsys, name, tmp, f)
	if err != nil && !renamed {
		// Best effort: the original error is what matters, and a leftover
		// temp file is harmless because Load never reads it.
		_ = fsys.Remove(tmp)
	}
	if err != nil {
		return fmt.Errorf("state: save %s: %w", name, err)
	}
	return nil
}

// save does the work of Save; renamed reports whether the temp file was
// already renamed into place (and so must not be removed on error).
func save(fsys store.FS, name, tmp string, f *File) (renamed bool, err error) {
	b, err := Encode(f)
	if err != nil {
		return false, err
	}
	tf, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, stateMode)
	if err != nil {
		return false, err
	}
	if _, err := tf.WriteAt(b, 0); err != nil {
		tf.Close()
		return false, fmt.Errorf("write: %w", err)
	}
	// Without this fsync the rename can reach the disk before the data,
	// and a power cut would leave an empty or torn state under the final
	// name, losing all progress instead of just the latest increment.
	if err := tf.Sync(); err != nil {
		tf.Close()
		return false, fmt.Errorf("fsync: %w", err)
	}
	// Close errors are checked because some filesystems (NFS) report
	// deferred write failures only here.
	if err := tf.Close(); err != nil {
		return false, fmt.Errorf("close: %w", err)
	}
	if err := fsys.Rename(tmp, name); err != nil {
		return false, fmt.Errorf("rename: %w", err)
	}
	// The rename lives in the directory; until the directory is synced a
	// power cut may roll it back, so the caller could not rely on the new
	// state (for example to drop in-memory progress it would otherwise
	// re-fetch).
	if err := store.SyncDir(fsys, path.Dir(name)); err != nil {
		return true, err
	}
	return true, nil
}

// Load reads and decodes the state file name inside root, and checks it
// against partSize, the current size of the .part file it describes.
//
// Errors:
//   - errors.Is(err, fs.ErrNotExist): there is no state; start fresh.
//   - errors.Is(err, ErrInvalid): the state exists but cannot be trusted
//     (torn, garbage, other version, or describing a file of another size);
//     discard it and start fresh.
//   - anything else is an I/O error reading the state; the caller should
//     not silently discard progress on account of it.
//
// Load does not compare URL, ETag or LastModified with the server; that is
// the caller's job once it has the server's answer.
func Load(root *os.Root, name string, partSize int64) (*File, error) {
	r, err := root.Open(name)
	if err != nil {
		return nil, fmt.Errorf("state: load %s: %w", name, err)
	}
	defer r.Close()
	// Reading one byte past the largest valid encoding is enough to
	// reject an oversized file without reading all of it into memory.
	b, err := io.ReadAll(io.LimitReader(r, int64(maxEncoded)+1))
	if err != nil {
		return nil, fmt.Errorf("state: load %s: %w", name, err)
	}
	if len(b) > maxEncoded {
		return nil, fmt.Errorf("state: load %s: %w: larger than %d bytes", name, ErrInvalid, maxEncoded)
	}
	f, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("state: load %s: %w", name, err)
	}
	// A .part of another size means it was truncated, recreated or
	// preallocated for another version of the resource; the segment claims
	// refer to a layout that no longer exists.
	if f.Size != partSize {
		return nil, fmt.Errorf("state: load %s: %w: state is for size %d, .part is %d bytes", name, ErrInvalid, f.Size, partSize)
	}
	return f, nil
}

// Remove deletes the state file name (and any temp file a crashed Save left
// next to it) and syncs the folder so the removal is durable. A missing
// state is not an error.
func Remove(fsys store.FS, name string) error {
	removed := false
	for _, n := range [...]string{name, store.TempName(name)} {
		// A lookup that finds nothing is cheap and takes no lock on the
		// folder; an unlink of a missing file does both.
		if _, err := fsys.Root().Lstat(n); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		err := fsys.Remove(n)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("state: remove %s: %w", n, err)
		}
		removed = removed || err == nil
	}
	if !removed {
		// Nothing changed in the folder: nothing to make durable. This is
		// the common case for small files, which never get a state.
		return nil
	}
	if err := store.SyncDir(fsys, path.Dir(name)); err != nil {
		return fmt.Errorf("state: remove %s: %w", name, err)
	}
	return nil
}
