package checksum

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"sync/atomic"
)

// The algorithms, as bulkget names them in lists, events and summaries.
const (
	SHA256    = "sha256"
	SHA512    = "sha512"
	MD5       = "md5"
	CRC32C    = "crc32c"
	CRC64NVME = "crc64nvme"
)

// None is the Label of a file nothing vouched for.
const None = "none"

// MismatchError is a complete file whose content does not match the
// checksum it was checked against: the list's, or one the server sent.
type MismatchError struct {
	Algo, Want, Got string
	// Source is who vouched for Want: "list", or the header that carried
	// it ("x-goog-hash", "repr-digest", …).
	Source string
}

func (e *MismatchError) Error() string {
	src := e.Source
	if src == "" {
		src = "list"
	}
	return fmt.Sprintf("%s mismatch: %s says %s, file has %s", e.Algo, src, e.Want, e.Got)
}

// New returns a hash computing algo, nil for an unknown one; Sum gives a
// CRC big-endian, as the digest headers carry it.
func New(algo string) hash.Hash {
	switch algo {
	case SHA256:
		return sha256.New()
	case SHA512:
		return sha512.New()
	case MD5:
		return md5.New()
	case CRC32C:
		return crc32.New(castagnoli)
	case CRC64NVME:
		return crc64.New(nvme)
	}
	return nil
}

// Want is one checksum a file is expected to have.
type Want struct {
	Algo string // SHA256, SHA512, MD5, CRC32C or CRC64NVME
	Hex  string // lower-case
	// Source is who vouches for it, as MismatchError.Source.
	Source string
}

// Sums hashes a file's content, in order, for the checksums it is to be
// verified against. Write, WriteAt through InOrder and HashRest must not
// run at once; Next may be read at any time.
type Sums struct {
	checks []check
	// next is the offset of the next byte in order: [0, next) is hashed.
	// Only the write at next advances it (writes never overlap), so the
	// hashes need no lock: the atomic orders one writer after the other.
	next atomic.Int64
}

type check struct {
	Want
	h hash.Hash
}

// NewSums returns the sums checking wants, nil without any. A Want of an
// unknown algorithm is left out.
func NewSums(wants ...Want) *Sums {
	s := &Sums{}
	for _, w := range wants {
		if h := New(w.Algo); h != nil {
			s.checks = append(s.checks, check{Want: w, h: h})
		}
	}
	if len(s.checks) == 0 {
		return nil
	}
	return s
}

// Wants are the checksums s checks, the first first.
func (s *Sums) Wants() []Want {
	out := make([]Want, len(s.checks))
	for i, c := range s.checks {
		out[i] = c.Want
	}
	return out
}

// Write hashes p as the next bytes in order.
func (s *Sums) Write(p []byte) (int, error) {
	for _, c := range s.checks {
		c.h.Write(p)
	}
	return len(p), nil
}

// Reset forgets everything hashed.
func (s *Sums) Reset() {
	for _, c := range s.checks {
		c.h.Reset()
	}
	s.next.Store(0)
}

// Next is the offset of the first byte not hashed yet.
func (s *Sums) Next() int64 { return s.next.Load() }

// Check compares the sums with what they are expected to be: nil, or a
// *MismatchError.
func (s *Sums) Check() error {
	for _, c := range s.checks {
		if got := hex.EncodeToString(c.h.Sum(nil)); got != c.Hex {
			return &MismatchError{Algo: c.Algo, Want: c.Hex, Got: got, Source: c.Source}
		}
	}
	return nil
}

// Label says what the sums check, for the user: "sha256 from list",
// "crc32c from x-goog-hash"; None for nil sums.
func (s *Sums) Label() string {
	if s == nil || len(s.checks) == 0 {
		return None
	}
	return Label(s.checks[0].Want)
}

// Label says what w checks, as Sums.Label.
func Label(w Want) string { return w.Algo + " from " + w.Source }

// HashFile hashes size bytes of f from the start and returns how many it
// read.
func (s *Sums) HashFile(f io.ReaderAt, size int64) (int64, error) {
	s.Reset()
	return s.HashRest(f, size)
}

// HashRest hashes what the sums have not hashed yet, [Next, size), read
// from f (the bytes that arrived out of order), and returns how many it
// read.
func (s *Sums) HashRest(f io.ReaderAt, size int64) (int64, error) {
	from := s.next.Load()
	if from >= size {
		return 0, nil
	}
	buf := make([]byte, 1<<20)
	n, err := io.CopyBuffer(s, io.NewSectionReader(f, from, size-from), buf)
	if err != nil {
		return n, fmt.Errorf("read back for checksum: %w", err)
	}
	s.next.Store(size)
	return n, nil
}

// InOrder returns a WriterAt that writes to w and feeds the sums with the
// file's in-order prefix as it grows: a single stream is hashed whole as
// it is written, so its checksum costs no second read, and of a segmented
// file only what arrived ahead of the prefix is read back at the end.
func (s *Sums) InOrder(w io.WriterAt) io.WriterAt { return inOrder{w: w, s: s} }

type inOrder struct {
	w io.WriterAt
	s *Sums
}

func (o inOrder) WriteAt(p []byte, off int64) (int, error) {
	n, err := o.w.WriteAt(p, off)
	if n > 0 && o.s.next.Load() == off {
		o.s.Write(p[:n])
		o.s.next.Store(off + int64(n))
	}
	return n, err
}
