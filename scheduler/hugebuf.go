package scheduler

import "sync"

// hugeBuffers hands out the connections' direct-write buffers from memory
// the kernel backs with transparent huge pages where it can (see
// hugebuf_linux.go). A direct write pins the pages of its buffer and gives
// the device one segment per physically contiguous run of them: from 4 KiB
// pages a 512 KiB write is 128 pins and up to 128 segments, from a 2 MiB
// page it is one. Measured on uncapped (2 GiB, 16 connections, 6 runs
// each, interleaved): 0.92-1.10 s (mostly 0.94) and 0.85-0.99 CPU s,
// against 0.94-1.45 s (mostly 1.1 and more) and 0.85-1.03 CPU s.
//
// Two 1 MiB buffers share each 2 MiB page, so memory is what it was. The
// mappings outlive every Copy that uses them: release runs only once the
// run's connections have stopped.
type hugeBuffers struct {
	mu      sync.Mutex
	spare   [][]byte
	regions [][]byte // to unmap
	off     bool     // mapping failed once: plain aligned buffers from now on
}

// get returns a buffer of directBuffer bytes aligned for direct I/O.
func (h *hugeBuffers) get() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := len(h.spare); n > 0 {
		b := h.spare[n-1]
		h.spare = h.spare[:n-1]
		return b
	}
	if !h.off {
		region, bufs, ok := mapHuge(directBuffer)
		if ok {
			h.regions = append(h.regions, region)
			h.spare = append(h.spare, bufs[1:]...)
			return bufs[0]
		}
		h.off = true
	}
	return alignedBuffer(directBuffer)
}

// release unmaps every buffer handed out; none may be used afterwards.
func (h *hugeBuffers) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.regions {
		unmapHuge(r)
	}
	h.regions, h.spare = nil, nil
}

// hugePageSize is the size of an x86-64 or arm64 (4 KiB granule)
// transparent huge page, the unit the kernel backs a MADV_HUGEPAGE range
// with.
const hugePageSize = 2 << 20
