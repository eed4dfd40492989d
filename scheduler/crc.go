package scheduler

import (
	"encoding/binary"
	"hash/crc32"
	"hash/crc64"
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

var (
	gfCRC32C    = &gf2{poly: uint64(crc32.Castagnoli), top: 1 << 31, width: 32}
	gfCRC64NVME = &gf2{poly: crc64NVME, top: 1 << 63, width: 64}
)

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

// crcKind is one of the CRCs computed per segment.
type crcKind struct {
	algo string
	gf   *gf2
	// update folds p into crc.
	update func(crc uint64, p []byte) uint64
	// bytes is crc as a digest carries it, big-endian.
	bytes func(crc uint64) []byte
}

var crcKinds = map[string]*crcKind{
	"crc32c": {algo: "crc32c", gf: gfCRC32C,
		update: func(crc uint64, p []byte) uint64 { return uint64(crc32.Update(uint32(crc), castagnoli, p)) },
		bytes:  func(crc uint64) []byte { return binary.BigEndian.AppendUint32(nil, uint32(crc)) }},
	"crc64nvme": {algo: "crc64nvme", gf: gfCRC64NVME,
		update: func(crc uint64, p []byte) uint64 { return crc64.Update(crc, nvme, p) },
		bytes:  func(crc uint64) []byte { return binary.BigEndian.AppendUint64(nil, crc) }},
}
