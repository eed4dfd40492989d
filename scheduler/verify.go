package scheduler

import (
	"errors"
	"io/fs"
	"os"
	"syscall"

	"github.com/bulkget/bulkget/checksum"
	"github.com/bulkget/bulkget/manifest"
	"github.com/bulkget/bulkget/segment"
	"github.com/bulkget/bulkget/store"
)

// noSpace reports whether err means the disk is full: retrying will not help
// this file, and the others must be told clearly.
func noSpace(err error) bool {
	return errors.Is(err, store.ErrNoSpace) || errors.Is(err, syscall.ENOSPC)
}

// fileSystemRefusal reports whether err is the file system refusing an
// operation on a path in a way that trying again cannot change: a file
// where the name needs a folder, a name too long, no permission, a
// read-only file system. The file fails at once with that reason rather
// than after Options.Retries attempts of the same refusal.
func fileSystemRefusal(err error) bool {
	var pe *fs.PathError
	var le *os.LinkError
	if !errors.As(err, &pe) && !errors.As(err, &le) {
		return false
	}
	for _, errno := range []syscall.Errno{syscall.ENOTDIR, syscall.EISDIR, syscall.ENAMETOOLONG, syscall.EROFS, syscall.EACCES, syscall.EPERM} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

// newSums returns the sums for the list's checksums of e, nil if it has none.
func newSums(e manifest.Entry) *checksum.Sums {
	var wants []checksum.Want
	if e.SHA256 != "" {
		wants = append(wants, checksum.Want{Algo: checksum.SHA256, Hex: e.SHA256, Source: "list"})
	}
	if e.MD5 != "" {
		wants = append(wants, checksum.Want{Algo: checksum.MD5, Hex: e.MD5, Source: "list"})
	}
	return checksum.NewSums(wants...)
}

// sumsFor returns the sums f's content is to be checked with: the list's
// checksums, which win, or else the server's digest that pickDigest
// prefers; nil when there is nothing to check.
func sumsFor(e manifest.Entry, digests []segment.Digest) *checksum.Sums {
	if s := newSums(e); s != nil {
		return s
	}
	d, ok := pickDigest(digests)
	if !ok {
		return nil
	}
	return checksum.NewSums(checksum.Want{Algo: d.Algo, Hex: d.Hex(), Source: d.Source})
}

// digestPreference orders the server's digests: the CRCs first, since
// they are computed per segment as the bytes arrive and combined at the
// end, so that checking them costs no read of the file; then the
// cryptographic hashes, strongest first.
var digestPreference = []string{segment.CRC32C, segment.CRC64NVME, segment.SHA256, segment.SHA512, segment.MD5}

// pickDigest chooses the one server digest a file is checked against.
func pickDigest(ds []segment.Digest) (segment.Digest, bool) {
	for _, algo := range digestPreference {
		for _, d := range ds {
			if d.Algo == algo {
				return d, true
			}
		}
	}
	return segment.Digest{}, false
}
