package scheduler

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"syscall"

	"github.com/bulkget/bulkget/manifest"
	"github.com/bulkget/bulkget/store"
)

// ChecksumError is a complete file whose content does not match the list.
type ChecksumError struct {
	Algo, Want, Got string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("%s mismatch: list says %s, file has %s", e.Algo, e.Want, e.Got)
}

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

// sums hashes a file's content for the checksums its entry names.
type sums struct {
	sha, md hash.Hash
	next    int64 // offset of the next byte expected in order; -1 once out of order
}

func newSums(e manifest.Entry) *sums {
	if !hasSums(e) {
		return nil
	}
	s := &sums{}
	if e.SHA256 != "" {
		s.sha = sha256.New()
	}
	if e.MD5 != "" {
		s.md = md5.New()
	}
	if s.sha == nil && s.md == nil {
		return nil
	}
	return s
}

// hasSums says whether the list gives e a checksum to verify.
func hasSums(e manifest.Entry) bool { return e.SHA256 != "" || e.MD5 != "" }

func (s *sums) Write(p []byte) (int, error) {
	if s.sha != nil {
		s.sha.Write(p)
	}
	if s.md != nil {
		s.md.Write(p)
	}
	return len(p), nil
}

func (s *sums) reset() {
	if s.sha != nil {
		s.sha.Reset()
	}
	if s.md != nil {
		s.md.Reset()
	}
	s.next = 0
}

// check compares the sums with the entry's.
func (s *sums) check(e manifest.Entry) error {
	if s.sha != nil {
		if got := hex.EncodeToString(s.sha.Sum(nil)); got != e.SHA256 {
			return &ChecksumError{Algo: "sha256", Want: e.SHA256, Got: got}
		}
	}
	if s.md != nil {
		if got := hex.EncodeToString(s.md.Sum(nil)); got != e.MD5 {
			return &ChecksumError{Algo: "md5", Want: e.MD5, Got: got}
		}
	}
	return nil
}

// hashFile reads size bytes of f through the sums: for segmented downloads,
// which arrive out of order, at disk speed after completion.
func (s *sums) hashFile(f io.ReaderAt, size int64) error {
	s.reset()
	buf := make([]byte, 1<<20)
	if _, err := io.CopyBuffer(s, io.NewSectionReader(f, 0, size), buf); err != nil {
		return fmt.Errorf("read back for checksum: %w", err)
	}
	s.next = size
	return nil
}

// inOrder is a WriterAt that feeds the sums while a single stream writes
// the file front to back, so its checksum costs no second read.
type inOrder struct {
	w io.WriterAt
	s *sums
}

func (o inOrder) WriteAt(p []byte, off int64) (int, error) {
	n, err := o.w.WriteAt(p, off)
	if o.s.next == off {
		o.s.Write(p[:n])
		o.s.next += int64(n)
	} else {
		o.s.next = -1
	}
	return n, err
}
