package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync/atomic"
)

// Options configures a Dir.
type Options struct {
	// Connections is how many connections the run uses: with the limit
	// on open files it decides whether small files may be held open
	// without a name until their batch commits (see unnamedFits).
	Connections int
	// NoDirectIO writes every part through the page cache.
	NoDirectIO bool
	// NoSpaceCheck skips comparing a part's size with the free space, and
	// preallocation, for filesystems that misreport either.
	NoSpaceCheck bool
	// Finalizing is the most parts the caller commits at once (waiting
	// for their batch included).
	Finalizing int
	// Busy reports whether transfers are running, that is whether more
	// parts may join a commit batch soon; nil: assume so.
	Busy func() bool
}

// Dir is an output folder as one run writes it. It is safe for concurrent
// use; it assumes the run holds the folder's lock (folderlock.Acquire), so
// that nothing else writes there meanwhile.
type Dir struct {
	fs      FS
	root    *os.Root // fs.Root(), for reading
	owned   *OS      // the FS Open made, closed with d; nil for New's
	path    string
	opts    Options
	commits *batchCommitter // nil: every part is committed alone
	dirs    dirSyncer
	folders folders
	space   spaceGauge
	huge    hugeBuffers
	// noUnnamed is set once unnamed files are known not to work here, or
	// when the limit on open files cannot hold them (see unnamedFits).
	noUnnamed atomic.Bool
}

// Open prepares the folder root (whose path is dir, for statfs) for a run,
// on the real file system. Close it once every part is committed or
// aborted.
func Open(root *os.Root, dir string, o Options) *Dir {
	fsys := NewOS(root)
	d := New(fsys, dir, o)
	d.owned = fsys
	return d
}

// New is Open on the file system fsys, which the caller closes after d:
// every change d makes to the folder goes through it.
func New(fsys FS, dir string, o Options) *Dir {
	return newDir(fsys, dir, o, kernelRelease())
}

// newDir is New on a kernel of the given release (uname -r).
func newDir(fsys FS, dir string, o Options, release string) *Dir {
	d := &Dir{fs: fsys, root: fsys.Root(), path: dir, opts: o}
	d.space.dir = dir
	d.noUnnamed.Store(!unnamedFits(fileLimit(), o.Connections, o.Finalizing))
	if fsys.HasSyncFS() && syncFSReportsErrors(release) {
		d.commits = newBatchCommitter(fsys, o.Busy)
	}
	return d
}

// FS is the file system d writes through, for the state beside each part
// (see package state).
func (d *Dir) FS() FS { return d.fs }

// Close waits for every CommitAsync to be answered and releases what the
// run's parts and buffers held; no Part or Buffers of d may be used
// afterwards.
func (d *Dir) Close() error {
	if d.commits != nil {
		d.commits.close()
	}
	d.huge.release()
	if d.owned != nil {
		return d.owned.Close()
	}
	return nil
}

// Fresh reports whether name's folder was missing or empty (but for the
// lock) when this run first asked: then nothing of name can be on disk
// from an earlier run. It must be asked before anything is created there.
func (d *Dir) Fresh(name string) bool { return d.folders.fresh(d.root, name) }

// Create opens a new part for name, size bytes long (-1: unknown), and
// claims its room: a file that cannot fit fails here with a *NoSpaceError
// (matching ErrNoSpace), not hours into its download.
//
// With fresh set the caller knows nothing of name is on disk (Fresh was
// true and no part was made since): a small file directly in the folder is
// then written without a name, and no leftovers are looked for. Otherwise
// an existing .part is unlinked, not truncated, so that a transfer of an
// abandoned attempt still writing to it cannot touch the new one; the
// caller removes its state first. ranged says the part will be written in
// segments: a large one then gets direct I/O.
func (d *Dir) Create(name string, size int64, fresh, ranged bool) (*Part, error) {
	if !d.opts.NoSpaceCheck && size > 0 {
		if free, ok := d.space.claim(size); !ok {
			return nil, &NoSpaceError{Need: size, Free: free}
		}
	}
	p := &Part{d: d, name: name, size: size}
	if fresh && d.commits != nil && size > 0 && size <= unnamedMax && !strings.Contains(name, "/") && !d.noUnnamed.Load() {
		f, err := d.fs.CreateUnnamed()
		if err == nil {
			p.file, p.unnamed = f, true
			return p, nil
		}
		// The .part path does not depend on it; only a refusal of
		// unnamed files as such turns them off for the run.
		if errors.Is(err, errors.ErrUnsupported) {
			d.noUnnamed.Store(true)
		}
	}
	if err := d.folders.mkdirAll(d.fs, name); err != nil {
		return nil, fmt.Errorf("create folder for %s: %w", name, noSpace(err))
	}
	part := PartName(name)
	// Look before removing: a lookup that finds nothing takes no lock on
	// the folder, an unlink does, and with thousands of files in one
	// folder those locks add up.
	if !fresh {
		if _, err := d.root.Lstat(part); err == nil {
			if err := d.fs.Remove(part); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("remove old %s: %w", part, err)
			}
		}
	}
	f, err := d.fs.Create(part)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", part, noSpace(err))
	}
	p.file = f
	// Preallocating makes a full disk show at the start of a file, not
	// hours into it; a small file is written before that could matter, and
	// allocating its blocks twice (reserved, then written) costs a journal
	// update each in a list of thousands.
	if size > smallFile {
		grow := f.Allocate
		if d.opts.NoSpaceCheck {
			grow = f.Truncate
		}
		if err := grow(size); err != nil {
			f.Close()
			if errors.Is(noSpace(err), ErrNoSpace) {
				return nil, &NoSpaceError{Need: size, Free: freeSpace(d.path)}
			}
			return nil, fmt.Errorf("preallocate %s (%d bytes): %w", part, size, err)
		}
	}
	d.withDirect(p, ranged)
	return p, nil
}

// Resume opens name's existing .part, size bytes long, to continue
// writing it in segments.
func (d *Dir) Resume(name string, size int64) (*Part, error) {
	part := PartName(name)
	f, err := d.fs.OpenFile(part, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", part, err)
	}
	p := &Part{d: d, name: name, size: size, file: f}
	d.withDirect(p, true)
	return p, nil
}

// PartSize returns the size of name's .part, or an error if there is none.
func (d *Dir) PartSize(name string) (int64, error) {
	fi, err := d.root.Stat(PartName(name))
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// RemoveLeftovers removes what an interrupted run may have left of the
// finished file name besides its state (see state.Remove): its .part, and
// the temp file of a verification record (see Record) that a crash cut
// short. Nothing else would ever remove the latter.
func (d *Dir) RemoveLeftovers(name string) error {
	for _, n := range [...]string{PartName(name), TempName(VerifiedName(name))} {
		// A lookup that finds nothing takes no lock on the folder.
		if _, err := d.root.Lstat(n); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := d.fs.Remove(n); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// withDirect gives a large segmented part its direct-I/O descriptor.
func (d *Dir) withDirect(p *Part, ranged bool) {
	if ranged && p.size >= directMin && !d.opts.NoDirectIO {
		if f, align := d.fs.OpenDirect(PartName(p.name)); f != nil {
			p.direct, p.align = f, align
		}
	}
}

// unnamedMax is the size up to which a file directly in a folder that was
// empty is written as an unnamed file (O_TMPFILE) and given its name once
// complete, instead of going through name.part: it arrives in a read or
// two, so a crash costs nothing worth resuming, while thousands of them
// cost far less CPU that way (see createUnnamedAt).
const unnamedMax = 64 << 10
