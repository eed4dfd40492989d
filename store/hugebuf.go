package store

import "sync"

// hugeBuffers hands out the connections' direct-write buffers from memory
// the kernel backs with transparent huge pages where it can (see
// hugebuf_linux.go). A direct write pins the pages of its buffer and gives
// the device one segment per physically contiguous run of them: from 4 KiB
// pages a 512 KiB write is 128 pins and up to 128 segments, from a 2 MiB
// page it is one.
//
// Two 1 MiB buffers share each 2 MiB page, so memory is what it would be
// without huge pages. The mappings outlive every write that uses them:
// release runs only once the run's connections have stopped (Dir.Close).
type hugeBuffers struct {
	mu      sync.Mutex
	spare   [][]byte
	regions [][]byte // to unmap
	off     bool     // mapping failed once: plain aligned buffers from now on
}

// get returns a buffer of DirectBuffer bytes aligned for direct I/O.
func (h *hugeBuffers) get() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := len(h.spare); n > 0 {
		b := h.spare[n-1]
		h.spare = h.spare[:n-1]
		return b
	}
	if !h.off {
		region, bufs, ok := mapHuge(DirectBuffer)
		if ok {
			h.regions = append(h.regions, region)
			h.spare = append(h.spare, bufs[1:]...)
			return bufs[0]
		}
		h.off = true
	}
	return alignedBuffer(DirectBuffer)
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
