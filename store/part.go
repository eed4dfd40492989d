package store

import (
	"errors"
	"fmt"
	"path"
	"sync/atomic"
	"unsafe"
)

// Part is one file being written: name.part on disk, or, for a small file
// in a fresh folder, a file without a name until it is committed. It is
// the scheduler's whole view of the disk while a file downloads:
//
//	Create or Resume → WriteAt … → Checkpoint … → Commit or CommitAsync
//	                                           ↘ Abort (leaves the .part)
//
// WriteAt may be called concurrently on non-overlapping ranges; the other
// methods must not run concurrently with each other, and nothing may be
// called after Commit, CommitAsync or Abort.
//
// The bulk of a large segmented file is written with direct I/O: a second
// descriptor opened with O_DIRECT takes the block-aligned middle of every
// write, skipping the page cache (no copy into it, no dirty pages for the
// kernel to throttle); the unaligned ends go through the page cache, and
// the kernel keeps the two views coherent.
type Part struct {
	d       *Dir
	name    string // final name
	size    int64  // -1: unknown
	file    File
	direct  File        // the O_DIRECT descriptor; nil: buffered only
	align   int64       // direct writes cover whole blocks of this size
	off     atomic.Bool // direct I/O failed once: buffered from then on
	unnamed bool        // no name yet (see unnamedMax)
	closed  bool
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

// Name is the file's final name.
func (p *Part) Name() string { return p.name }

// Unnamed reports whether the part has no name on disk yet: there is no
// .part to checkpoint or resume, and a crash leaves nothing of it.
func (p *Part) Unnamed() bool { return p.unnamed }

// Direct reports whether writes go to the device with direct I/O: they
// are then best made from DirectBuffer-sized, aligned buffers (see
// Buffers.For).
func (p *Part) Direct() bool { return p.direct != nil }

// Alignment implements segment.Aligned: the block size of direct writes,
// or 0 when the part is written through the page cache.
func (p *Part) Alignment() int {
	if p.direct == nil {
		return 0
	}
	return int(p.align)
}

// Sequential says the part will be written front to back by one stream:
// direct I/O is not worth it then, and is dropped.
func (p *Part) Sequential() {
	if p.direct != nil {
		p.direct.Close()
		p.direct = nil
	}
}

// WriteAt writes b at off. An error that means the disk is full matches
// ErrNoSpace.
func (p *Part) WriteAt(b []byte, off int64) (int, error) {
	n, err := p.writeAt(b, off)
	return n, noSpace(err)
}

func (p *Part) writeAt(b []byte, off int64) (int, error) {
	if p.direct == nil || p.off.Load() {
		return p.file.WriteAt(b, off)
	}
	head := int((p.align - off%p.align) % p.align)
	if head >= len(b) {
		return p.file.WriteAt(b, off)
	}
	mid := (len(b) - head) / int(p.align) * int(p.align)
	if mid == 0 || uintptr(unsafe.Pointer(&b[head]))%directAlign != 0 {
		return p.file.WriteAt(b, off)
	}
	n, err := p.file.WriteAt(b[:head], off)
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
		return p.file.WriteAt(b, off)
	}
	if tail := b[head+mid:]; len(tail) > 0 {
		w, err := p.file.WriteAt(tail, off+int64(head+mid))
		n += w
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// ReadAt reads back what was written, for verifying a complete part.
func (p *Part) ReadAt(b []byte, off int64) (int, error) { return p.file.ReadAt(b, off) }

// Checkpoint makes every byte written so far durable (fdatasync), and only
// then calls save, which records them (state.Save). Bytes written while it
// runs may or may not be covered; save must claim only what was written
// before Checkpoint was called. save is not called if the sync fails (the
// part was closed by a restart, say), and that error is returned.
func (p *Part) Checkpoint(save func() error) error {
	if err := p.file.Datasync(); err != nil {
		return noSpace(err)
	}
	return save()
}

// smallFile is the size up to which a complete part is made durable by a
// shared filesystem sync rather than an fsync of its own (see Batched),
// and is written without preallocation.
const smallFile = 1 << 20

// Batched reports whether the part, complete at size bytes, is committed
// by CommitAsync in a batch sharing one filesystem sync; otherwise Commit
// syncs it alone. Parts are batched where syncfs reports write-back
// errors: unnamed ones, and small ones (not preallocated, so nothing to
// truncate).
func (p *Part) Batched(size int64) bool {
	return p.d.commits != nil && (p.unnamed || size >= 0 && size <= smallFile)
}

// Commit makes the complete, verified part durable under its final name
// and returns once it is: truncate to the size (preallocation may have
// overshot), fsync, close, rename over the final name, fsync the folder.
// A crash before the rename leaves the .part; after it, the final file.
// An error before the part is closed leaves it open, for the caller to
// checkpoint and Abort as it would any failed part.
func (p *Part) Commit() error {
	name, part := p.name, PartName(p.name)
	if p.size > smallFile {
		// A small file is not preallocated: it is exactly what was
		// written.
		if err := p.file.Truncate(p.size); err != nil {
			return fmt.Errorf("finalize %s: %w", name, err)
		}
	}
	if err := p.file.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", part, noSpace(err))
	}
	if p.unnamed {
		err := p.d.fs.Link(p.file, name)
		p.Abort()
		if err != nil {
			return fmt.Errorf("name %s: %w", name, err)
		}
	} else {
		if err := p.Abort(); err != nil {
			return fmt.Errorf("close %s: %w", part, noSpace(err))
		}
		if err := p.d.fs.Rename(part, name); err != nil {
			return fmt.Errorf("rename %s: %w", part, err)
		}
	}
	return p.d.dirs.sync(p.d.fs, path.Dir(name))
}

// CommitAsync hands a complete, verified part for which Batched is true to
// the batch committer and returns at once; done receives the outcome, on
// the committer's goroutine (it must not block for long), once the file is
// durable under its final name. A .part is closed first (syncfs covers it
// all the same); an unnamed file stays open until the committer names it.
// Only an error closing the .part is returned, and done is then not called.
func (p *Part) CommitAsync(done func(error)) error {
	var unnamed File
	if p.unnamed {
		unnamed = p.file
	} else if err := p.Abort(); err != nil {
		return fmt.Errorf("close %s: %w", PartName(p.name), noSpace(err))
	}
	p.d.commits.commit(p.name, unnamed, done)
	return nil
}

// Abort closes the part without committing it. A .part stays on disk, as
// far as it was written, for a checkpointed resume or for the next Create
// to replace; an unnamed file vanishes. Aborting a closed part does
// nothing.
func (p *Part) Abort() error {
	if p.closed {
		return nil
	}
	p.closed = true
	if p.direct != nil {
		p.direct.Close()
	}
	return p.file.Close()
}
