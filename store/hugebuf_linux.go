package store

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

const hugePage = hugePageSize

// mapHuge maps a region holding one huge-page-aligned 2 MiB range, asks
// for huge pages there, and cuts the range into buffers of size bytes.
// The rest of the region is never touched, so it costs address space, not
// memory. ok is false if the kernel refused the mapping.
func mapHuge(size int) (region []byte, bufs [][]byte, ok bool) {
	if size <= 0 || hugePage%size != 0 || size%directAlign != 0 {
		return nil, nil, false
	}
	region, err := unix.Mmap(-1, 0, 2*hugePage, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, nil, false
	}
	skip := int((hugePage - uintptr(unsafe.Pointer(&region[0]))%hugePage) % hugePage)
	page := region[skip : skip+hugePage : skip+hugePage]
	// Without huge pages (THP off, or none free) the range is still
	// ordinary aligned memory: the advice failing changes nothing else.
	_ = unix.Madvise(page, unix.MADV_HUGEPAGE)
	for off := 0; off < hugePage; off += size {
		bufs = append(bufs, page[off:off+size:off+size])
	}
	return region, bufs, true
}

func unmapHuge(region []byte) { _ = unix.Munmap(region) }
