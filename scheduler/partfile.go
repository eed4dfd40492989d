package scheduler

import (
	"errors"
	"os"
	"sync/atomic"
	"unsafe"
)

// partFile is an open .part. Everything goes through the embedded buffered
// descriptor, except that a large segmented download also gets a second
// descriptor opened for direct I/O, and the block-aligned bulk of every
// write goes through that one. Direct writes skip the page cache: no copy
// into it (the largest CPU cost per byte of a fast download) and no
// gigabytes of dirty pages for the kernel to throttle and write back. The
// unaligned ends of a write, which direct I/O refuses, go through the page
// cache; the kernel keeps the two views of the file coherent.
type partFile struct {
	*os.File
	direct *os.File    // nil: buffered only
	align  int64       // direct writes cover whole blocks of this size
	off    atomic.Bool // direct I/O failed once: buffered from then on
	// unnamed: the file has no name yet (see unnamedMax); the batch
	// committer names it, and there is no .part to checkpoint.
	unnamed bool
}

// directAlign is the memory alignment of buffers for direct writes, and
// the least alignment of their file offsets: a page, which satisfies every
// common logical block size. File offsets are aligned to the filesystem's
// block when that is larger, so a direct write never shares a block with
// the buffered ends of a neighbouring write.
const directAlign = 4096

// directMin is the size from which a segmented file is written directly;
// below it the page cache costs little and a file may well be read soon.
const directMin = 32 << 20

func (p *partFile) Alignment() int {
	if p.direct == nil {
		return 0
	}
	return int(p.align)
}

func (p *partFile) WriteAt(b []byte, off int64) (int, error) {
	if p.direct == nil || p.off.Load() {
		return p.File.WriteAt(b, off)
	}
	head := int((p.align - off%p.align) % p.align)
	if head >= len(b) {
		return p.File.WriteAt(b, off)
	}
	mid := (len(b) - head) / int(p.align) * int(p.align)
	if mid == 0 || uintptr(unsafe.Pointer(&b[head]))%directAlign != 0 {
		return p.File.WriteAt(b, off)
	}
	n, err := p.File.WriteAt(b[:head], off)
	if err != nil {
		return n, err
	}
	w, err := p.direct.WriteAt(b[head:head+mid], off+int64(head))
	n += w
	if err != nil {
		if w > 0 || !errors.Is(err, errDirectRefused) {
			return n, err
		}
		// The filesystem took the open but not the write (some do):
		// the page cache it is.
		p.off.Store(true)
		return p.File.WriteAt(b, off)
	}
	if tail := b[head+mid:]; len(tail) > 0 {
		w, err := p.File.WriteAt(tail, off+int64(head+mid))
		n += w
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Close closes both descriptors.
func (p *partFile) Close() error {
	if p.direct != nil {
		p.direct.Close()
	}
	return p.File.Close()
}

// directBuffer is a connection's buffer for direct writes, each of which
// is one whole buffer. A direct write returns only once the device has the
// data, so larger writes mean fewer system calls, block requests and device
// notifications per GiB. Measured on uncapped (2 GiB, 16 connections):
// before huge pages, 256 KiB writes 1.11-1.20 CPU s, 512 KiB halves of a
// buffer written by a second goroutine while the other half filled
// 0.89-1.14; on huge pages, those halves 0.83-0.88 and whole 1 MiB
// buffers written in turn 0.75-0.80 (5 runs each, interleaved, no slower:
// the socket's buffer holds what arrives during a write). 2 MiB buffers
// in halves were no better than 1 MiB whole, at twice the memory.
const directBuffer = 1 << 20

// connBuffers are one connection's buffers, reused from segment to segment.
type connBuffers struct {
	plain  []byte // Options.BufferSize
	direct []byte // directBuffer, taken from huge on the first direct file
	huge   *hugeBuffers
}

func (b *connBuffers) forDirect() []byte {
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
