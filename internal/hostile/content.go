package hostile

import (
	"crypto/sha256"
	"encoding/hex"
	"hash/fnv"
	"io"
)

// Content is deterministic: byte i of the file called name is a function of
// name and i alone, different for every name and with no short period, so
// that a byte written at the wrong offset or taken from another file is
// caught by a hash of the whole file.

// seed is the name's starting point for the byte generator.
func seed(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

// mix is splitmix64's finaliser.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// word is the 8 bytes at block k (offsets 8k to 8k+7) of a file.
func word(s uint64, k int64) uint64 {
	return mix(s + uint64(k)*0x9e3779b97f4a7c15)
}

// Byte is byte i of the file called name.
func Byte(name string, i int64) byte {
	return byte(word(seed(name), i/8) >> (8 * (i % 8)))
}

// fill writes the bytes of the file from offset off into p.
func fill(s uint64, off int64, p []byte) {
	for j := range p {
		i := off + int64(j)
		p[j] = byte(word(s, i/8) >> (8 * (i % 8)))
	}
}

// Content returns n bytes of the file called name from offset off.
func Content(name string, off, n int64) []byte {
	p := make([]byte, n)
	fill(seed(name), off, p)
	return p
}

// WriteContent writes n bytes of the file called name, from offset off, to
// w in pieces of at most 64 KiB.
func WriteContent(w io.Writer, name string, off, n int64) error {
	s := seed(name)
	buf := make([]byte, min(n, 64<<10))
	for n > 0 {
		p := buf[:min(n, int64(len(buf)))]
		fill(s, off, p)
		if _, err := w.Write(p); err != nil {
			return err
		}
		off += int64(len(p))
		n -= int64(len(p))
	}
	return nil
}

// SHA256Hex is the hex SHA-256 of the first size bytes of the file called
// name.
func SHA256Hex(name string, size int64) string {
	h := sha256.New()
	WriteContent(h, name, 0, size)
	return hex.EncodeToString(h.Sum(nil))
}

// SHA256OfBytes is the hex SHA-256 of b.
func SHA256OfBytes(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
