package origin

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
)

// gamma is the splitmix64 increment (2^64 / golden ratio). Using the
// splitmix64 sequence makes every 8-byte word addressable on its own, which is
// what lets range requests start anywhere without generating the prefix.
const gamma = 0x9e3779b97f4a7c15

// mix is the splitmix64 output finalizer.
func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// seed derives the generator state for one (name, version) pair. The version
// is mixed separately so that versions of the same name share no words.
func seed(name string, version int) uint64 {
	h := uint64(0xcbf29ce484222325) // FNV-1a 64
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 0x100000001b3
	}
	return mix(h ^ mix(uint64(int64(version))+gamma))
}

// Content fills p with the bytes of file name (content version version)
// starting at byte offset off. Byte k of the file is byte k%8 (little endian)
// of word(k/8) = mix(seed + (k/8+1)*gamma), so any slice of a file equals the
// same slice of a generation that started at offset 0.
func Content(name string, version int, off int64, p []byte) {
	if len(p) == 0 {
		return
	}
	if off < 0 {
		panic("origin: negative offset")
	}
	s := seed(name, version)
	blk := uint64(off) >> 3
	if r := off & 7; r != 0 {
		var tmp [8]byte
		binary.LittleEndian.PutUint64(tmp[:], mix(s+(blk+1)*gamma))
		n := copy(p, tmp[r:])
		p = p[n:]
		blk++
	}
	x := s + (blk+1)*gamma
	// Four independent words per iteration lets the multiplies overlap.
	for len(p) >= 32 {
		x1 := x + gamma
		x2 := x1 + gamma
		x3 := x2 + gamma
		binary.LittleEndian.PutUint64(p[0:8], mix(x))
		binary.LittleEndian.PutUint64(p[8:16], mix(x1))
		binary.LittleEndian.PutUint64(p[16:24], mix(x2))
		binary.LittleEndian.PutUint64(p[24:32], mix(x3))
		x = x3 + gamma
		p = p[32:]
	}
	for len(p) >= 8 {
		binary.LittleEndian.PutUint64(p, mix(x))
		x += gamma
		p = p[8:]
	}
	if len(p) > 0 {
		var tmp [8]byte
		binary.LittleEndian.PutUint64(tmp[:], mix(x))
		copy(p, tmp[:])
	}
}

// SHA256Hex returns the hex SHA-256 of the whole file of the given size. It
// streams through a fixed buffer so that multi-GiB files cost no memory.
func SHA256Hex(name string, version int, size int64) string {
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for off := int64(0); off < size; {
		n := int64(len(buf))
		if size-off < n {
			n = size - off
		}
		Content(name, version, off, buf[:n])
		h.Write(buf[:n])
		off += n
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ETag returns the strong entity tag (including quotes) the server sends for
// that file state. Size takes part so that re-adding a name with a different
// size is a different entity even at version 0.
func ETag(name string, version int, size int64) string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], uint64(int64(version)))
	binary.LittleEndian.PutUint64(b[8:], uint64(size))
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write(b[:])
	return `"` + hex.EncodeToString(h.Sum(nil)[:16]) + `"`
}

// ReplicaETag is the ETag replica replica (> 0) of a farm (see
// Options.Replicas) sends for the same bytes as ETag's.
func ReplicaETag(name string, version, replica int, size int64) string {
	return ETag(name+"\x00replica"+strconv.Itoa(replica), version, size)
}
