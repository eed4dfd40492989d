package store

import (
	"testing"
	"unsafe"
)

func TestHugeBuffersAreAlignedAndApart(t *testing.T) {
	h := &hugeBuffers{}
	var bufs [][]byte
	for range 5 {
		b := h.get()
		if len(b) != DirectBuffer || cap(b) != DirectBuffer {
			t.Fatalf("buffer of len %d cap %d, want %d", len(b), cap(b), DirectBuffer)
		}
		if addr := uintptr(unsafe.Pointer(&b[0])); addr%directAlign != 0 {
			t.Fatalf("buffer at %#x is not aligned for direct I/O", addr)
		}
		for i := range b {
			b[i] = byte(len(bufs) + 1) // every page is writable
		}
		bufs = append(bufs, b)
	}
	for i, b := range bufs {
		for _, v := range b {
			if v != byte(i+1) {
				t.Fatalf("buffer %d was overwritten: buffers overlap", i)
			}
		}
	}
	if len(h.regions) > 0 {
		// Two buffers per huge page: 5 buffers took 3 mappings, each one
		// holding a 2 MiB range aligned to 2 MiB.
		if len(h.regions) != 3 {
			t.Errorf("%d mappings for 5 buffers, want 3", len(h.regions))
		}
		for i := 0; i+1 < len(bufs); i += 2 {
			a := uintptr(unsafe.Pointer(&bufs[i][0]))
			if a%hugePageSize != 0 || uintptr(unsafe.Pointer(&bufs[i+1][0])) != a+DirectBuffer {
				t.Errorf("buffers %d and %d do not share one aligned huge page", i, i+1)
			}
		}
	}
	h.release()
	if b := h.get(); len(b) != DirectBuffer {
		t.Fatalf("after release: buffer of %d bytes", len(b))
	}
	h.release()
}
