package checksum

import (
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"hash/crc64"
	"io"
	"sync"
)

// CRCs of segments are combined into the CRC of the whole file without
// reading it: for a CRC with pre- and post-inversion, as CRC-32C and
// CRC-64/NVME are,
//
//	crc(A‖B) = crc(A) · x^(8·len(B)) mod P  ⊕  crc(B)
//
// (zlib's crc32_combine, generalised to any width up to 64 bits). The
// polynomial arithmetic is in the reflected bit order the CRCs use: the
// top bit of the width is x⁰.

// gf2 is a reflected CRC polynomial of width bits, with its powers
// x^(2^k) mod P.
type gf2 struct {
	poly  uint64 // reflected
	top   uint64 // x⁰: 1 << (width-1)
	once  sync.Once
	x2n   [128]uint64 // x2n[k] = x^(2^k) mod P
	width int
}

// mul returns a·b mod P.
func (g *gf2) mul(a, b uint64) uint64 {
	var p uint64
	for m := g.top; m != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
		}
		if b&1 != 0 {
			b = b>>1 ^ g.poly
		} else {
			b >>= 1
		}
	}
	return p
}

func (g *gf2) table() *[128]uint64 {
	g.once.Do(func() {
		g.x2n[0] = g.top >> 1 // x¹
		for k := 1; k < len(g.x2n); k++ {
			g.x2n[k] = g.mul(g.x2n[k-1], g.x2n[k-1])
		}
	})
	return &g.x2n
}

// xPow8n returns x^(8n) mod P.
func (g *gf2) xPow8n(n uint64) uint64 {
	t := g.table()
	p := g.top // x⁰
	for k := 3; n != 0; k, n = k+1, n>>1 {
		if n&1 != 0 {
			p = g.mul(t[k], p)
		}
	}
	return p
}

// combine returns the CRC of A‖B from crc(A), crc(B) and len(B).
func (g *gf2) combine(crcA, crcB uint64, lenB int64) uint64 {
	if lenB <= 0 {
		return crcA
	}
	return g.mul(g.xPow8n(uint64(lenB)), crcA) ^ crcB
}

// crc64NVME is the CRC-64/NVME polynomial, reflected (normal form
// 0xAD93D23594C93659), the one S3's x-amz-checksum-crc64nvme uses.
const crc64NVME = 0x9A6C9329AC4BC9B5

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	nvme       = crc64.MakeTable(crc64NVME)
)

// Kind is a CRC that can be computed piece by piece, in any order, and
// combined: CRC32C or CRC64NVME. A Kind is immutable and safe for
// concurrent use.
type Kind struct {
	algo string
	gf   *gf2
	// update folds p into crc.
	update func(crc uint64, p []byte) uint64
	// bytes is crc as a digest carries it, big-endian.
	bytes func(crc uint64) []byte
}

var (
	crc32c = &Kind{algo: CRC32C, gf: &gf2{poly: uint64(crc32.Castagnoli), top: 1 << 31, width: 32},
		update: func(crc uint64, p []byte) uint64 { return uint64(crc32.Update(uint32(crc), castagnoli, p)) },
		bytes:  func(crc uint64) []byte { return binary.BigEndian.AppendUint32(nil, uint32(crc)) }}
	crc64nvme = &Kind{algo: CRC64NVME, gf: &gf2{poly: crc64NVME, top: 1 << 63, width: 64},
		update: func(crc uint64, p []byte) uint64 { return crc64.Update(crc, nvme, p) },
		bytes:  func(crc uint64) []byte { return binary.BigEndian.AppendUint64(nil, crc) }}
)

// CRC returns the Kind named algo, or nil when algo is not a CRC that
// combines.
func CRC(algo string) *Kind {
	switch algo {
	case CRC32C:
		return crc32c
	case CRC64NVME:
		return crc64nvme
	}
	return nil
}

// Algo is the kind's name: CRC32C or CRC64NVME.
func (k *Kind) Algo() string { return k.algo }

// Update returns crc with p folded in; the CRC of nothing is 0.
func (k *Kind) Update(crc uint64, p []byte) uint64 { return k.update(crc, p) }

// Combine returns the CRC of A‖B from crc(A), crc(B) and len(B).
func (k *Kind) Combine(crcA, crcB uint64, lenB int64) uint64 { return k.gf.combine(crcA, crcB, lenB) }

// Hex is crc in lower-case hex, big-endian, as a list or a digest header
// carries it.
func (k *Kind) Hex(crc uint64) string { return hex.EncodeToString(k.bytes(crc)) }

// Span is the CRC of the bytes written so far to one contiguous range,
// [at, at+n). It is safe for concurrent use.
type Span struct {
	mu     sync.Mutex
	at, n  int64
	crc    uint64
	broken bool // a write landed elsewhere than at+n: the CRC covers no range
}

// Add folds p, written at off, into the span's CRC of kind k. A write
// anywhere but at the span's end breaks the span: it then covers no range.
func (s *Span) Add(k *Kind, p []byte, off int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if off != s.at+s.n {
		s.broken = true
		return
	}
	s.crc = k.update(s.crc, p)
	s.n += int64(len(p))
}

// Get returns where the covered bytes start, how many they are and their
// CRC; ok is false if the CRC covers no range.
func (s *Span) Get() (at, n int64, crc uint64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.at, s.n, s.crc, !s.broken
}

// Set starts the span at at with n bytes of CRC crc already covered (a
// resumed segment).
func (s *Span) Set(at, n int64, crc uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.at, s.n, s.crc, s.broken = at, n, crc, false
}

// Writer returns a WriterAt that writes to w and folds what it wrote into
// s: the CRCs of a file's segments, combined at the end, are the file's,
// so a file checked by CRC is never read back.
func (k *Kind) Writer(w io.WriterAt, s *Span) io.WriterAt { return spanWriter{w: w, s: s, k: k} }

type spanWriter struct {
	w io.WriterAt
	s *Span
	k *Kind
}

func (c spanWriter) WriteAt(p []byte, off int64) (int, error) {
	n, err := c.w.WriteAt(p, off)
	if n > 0 {
		c.s.Add(c.k, p[:n], off)
	}
	return n, err
}
