package scheduler

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/bulkget/bulkget/manifest"
	"github.com/bulkget/bulkget/segment"
	"github.com/bulkget/bulkget/store"
)

// ChecksumError is a complete file whose content does not match the
// checksum it was checked against: the list's, or one the server sent.
type ChecksumError struct {
	Algo, Want, Got string
	// Source is who vouched for Want: "list", or the header that carried
	// it ("x-goog-hash", "repr-digest", …).
	Source string
}

func (e *ChecksumError) Error() string {
	src := e.Source
	if src == "" {
		src = "list"
	}
	return fmt.Sprintf("%s mismatch: %s says %s, file has %s", e.Algo, src, e.Want, e.Got)
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

// sums hashes a file's content for the checksums it is to be verified
// against: the list's, or else one the server sent (see pickDigest).
type sums struct {
	checks []check
	// next is the offset of the next byte in order: [0, next) is hashed.
	// Only the write at next advances it (writes never overlap), so the
	// hashes need no lock: the atomic orders one writer after the other.
	next atomic.Int64
}

// check is one expected checksum and the hash that computes it.
type check struct {
	algo, want, source string // want in lower-case hex; source as in ChecksumError
	h                  hash.Hash
}

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	nvme       = crc64.MakeTable(crc64NVME)
)

// crc64NVME is the CRC-64/NVME polynomial, reflected (normal form
// 0xAD93D23594C93659), the one S3's x-amz-checksum-crc64nvme uses.
const crc64NVME = 0x9A6C9329AC4BC9B5

// newHash returns the hash computing algo; Sum gives a CRC big-endian, as
// the digest headers carry it.
func newHash(algo string) hash.Hash {
	switch algo {
	case segment.SHA256:
		return sha256.New()
	case segment.SHA512:
		return sha512.New()
	case segment.MD5:
		return md5.New()
	case segment.CRC32C:
		return crc32.New(castagnoli)
	case segment.CRC64NVME:
		return crc64.New(nvme)
	}
	return nil
}

// newSums returns the sums for the list's checksums of e, nil if it has none.
func newSums(e manifest.Entry) *sums {
	if !hasSums(e) {
		return nil
	}
	s := &sums{}
	if e.SHA256 != "" {
		s.checks = append(s.checks, check{algo: segment.SHA256, want: e.SHA256, source: "list", h: sha256.New()})
	}
	if e.MD5 != "" {
		s.checks = append(s.checks, check{algo: segment.MD5, want: e.MD5, source: "list", h: md5.New()})
	}
	return s
}

// sumsFor returns the sums f's content is to be checked with: the list's
// checksums, which win, or else the server's digest that pickDigest
// prefers; nil when there is nothing to check.
func sumsFor(e manifest.Entry, digests []segment.Digest) *sums {
	if s := newSums(e); s != nil {
		return s
	}
	d, ok := pickDigest(digests)
	if !ok {
		return nil
	}
	return &sums{checks: []check{{algo: d.Algo, want: d.Hex(), source: d.Source, h: newHash(d.Algo)}}}
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

// hasSums says whether the list gives e a checksum to verify.
func hasSums(e manifest.Entry) bool { return e.SHA256 != "" || e.MD5 != "" }

func (s *sums) Write(p []byte) (int, error) {
	for _, c := range s.checks {
		c.h.Write(p)
	}
	return len(p), nil
}

func (s *sums) reset() {
	for _, c := range s.checks {
		c.h.Reset()
	}
	s.next.Store(0)
}

// check compares the sums with what they are expected to be.
func (s *sums) check() error {
	for _, c := range s.checks {
		if got := hex.EncodeToString(c.h.Sum(nil)); got != c.want {
			return &ChecksumError{Algo: c.algo, Want: c.want, Got: got, Source: c.source}
		}
	}
	return nil
}

// label says what the sums check, for the user: "sha256 from list",
// "crc32c from x-goog-hash".
func (s *sums) label() string {
	if s == nil || len(s.checks) == 0 {
		return verifiedNone
	}
	c := s.checks[0]
	return c.algo + " from " + c.source
}

// verifiedNone is the label of a file nothing vouched for.
const verifiedNone = "none"

// hashFile reads size bytes of f through the sums, from the start.
func (s *sums) hashFile(f io.ReaderAt, size int64, read *atomic.Int64) error {
	s.reset()
	return s.hashRest(f, size, read)
}

// hashRest reads what the sums have not hashed yet, [next, size), from f
// (the bytes that arrived out of order), counting the bytes into read.
func (s *sums) hashRest(f io.ReaderAt, size int64, read *atomic.Int64) error {
	from := s.next.Load()
	if from >= size {
		return nil
	}
	buf := make([]byte, 1<<20)
	n, err := io.CopyBuffer(s, io.NewSectionReader(f, from, size-from), buf)
	read.Add(n)
	if err != nil {
		return fmt.Errorf("read back for checksum: %w", err)
	}
	s.next.Store(size)
	return nil
}

// inOrder is a WriterAt that feeds the sums with the file's in-order
// prefix as it grows: a single stream is hashed whole as it is written,
// so its checksum costs no second read, and of a segmented file only what
// arrived ahead of the prefix is read back at the end.
type inOrder struct {
	w io.WriterAt
	s *sums
}

func (o inOrder) WriteAt(p []byte, off int64) (int, error) {
	n, err := o.w.WriteAt(p, off)
	if n > 0 && o.s.next.Load() == off {
		o.s.Write(p[:n])
		o.s.next.Store(off + int64(n))
	}
	return n, err
}

// crcWriter is a WriterAt that folds what a segment writes into the
// segment's CRC: the CRCs of the segments, combined at the end, are the
// file's, so a file checked by CRC is never read back.
type crcWriter struct {
	w    io.WriterAt
	s    *seg
	kind *crcKind
}

func (c crcWriter) WriteAt(p []byte, off int64) (int, error) {
	n, err := c.w.WriteAt(p, off)
	if n > 0 {
		c.s.sum.add(c.kind, p[:n], off)
	}
	return n, err
}

// segSum is the CRC of a segment's bytes written so far, [at, at+n).
type segSum struct {
	mu     sync.Mutex
	at, n  int64
	crc    uint64
	broken bool // a write landed elsewhere than at+n: the CRC covers no range
}

func (s *segSum) add(k *crcKind, p []byte, off int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if off != s.at+s.n {
		s.broken = true
		return
	}
	s.crc = k.update(s.crc, p)
	s.n += int64(len(p))
}

// get returns where the covered bytes start, how many they are and their
// CRC; ok is false if the CRC covers no range.
func (s *segSum) get() (at, n int64, crc uint64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.at, s.n, s.crc, !s.broken
}

// set starts the sum at at with n bytes of CRC crc already covered (a
// resumed segment).
func (s *segSum) set(at, n int64, crc uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.at, s.n, s.crc, s.broken = at, n, crc, false
}
