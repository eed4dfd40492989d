package store

import "unsafe"

// DirectBuffer is the size of a connection's buffer for a part with direct
// I/O: each direct write is one whole buffer, and returns only once the
// device has the data, so larger writes mean fewer system calls and block
// requests per byte.
const DirectBuffer = 1 << 20

// Buffers are one connection's buffers, reused from part to part: one of
// the size asked for, and one of DirectBuffer bytes, taken the first time
// a part with direct I/O needs it. Both are aligned for direct I/O. A
// Buffers is for one goroutine at a time.
type Buffers struct {
	plain  []byte
	direct []byte
	huge   *hugeBuffers
}

// Buffers returns a connection's buffers, the plain one size bytes long.
// They are valid until d is closed.
func (d *Dir) Buffers(size int) *Buffers {
	return &Buffers{plain: alignedBuffer(size), huge: &d.huge}
}

// Plain returns the buffer of the size asked for.
func (b *Buffers) Plain() []byte { return b.plain }

// Direct returns the buffer for writing a part with direct I/O.
func (b *Buffers) Direct() []byte {
	if b.direct == nil {
		b.direct = b.huge.get()
	}
	return b.direct
}

// alignedBuffer returns size bytes starting on a directAlign boundary. Go's
// heap does not move objects, so the alignment lasts.
func alignedBuffer(size int) []byte {
	b := make([]byte, size+directAlign)
	skip := int((directAlign - uintptr(unsafe.Pointer(&b[0]))%directAlign) % directAlign)
	return b[skip : skip+size : skip+size]
}
