package crashtest

import (
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bulkget/bulkget/store"
)

// Block is the unit a write may be torn at: a power cut keeps or loses
// each 4 KiB-aligned piece of an unsynced write on its own.
const Block = 4096

// unit is one thing a power cut may keep or lose: a piece of a write
// within one block, a size change or an extended attribute of a file, or
// a change of a folder's names.
type unit struct {
	op   int // index in the log
	kind Kind
	ino  int
	off  int64
	data []byte
	size int64
	attr string // a setxattr's attribute
	dir  string // for names: the folder whose sync makes it durable
}

func (u unit) String(ops []Op) string {
	o := ops[u.op]
	if u.kind == Write {
		return fmt.Sprintf("#%d %s [%d, %d)", u.op, o.Path, u.off, u.off+int64(len(u.data)))
	}
	return o.String()
}

type inode struct {
	blocks  map[int64]*[Block]byte // durable content
	size    int64                  // durable size
	attrs   map[string][]byte      // durable extended attributes
	pending []unit                 // data, size and attributes since the last sync
	entry   string                 // the listed file whose data it holds; "" for others
	written int64                  // bytes written to it so far
}

// Model replays a log and holds, at each point, what is durable and what
// a power cut there may keep or lose. The rules:
//
//   - a write, truncate, fallocate or setxattr is pending until a sync of
//     its file: fdatasync covers data and size, fsync attributes too, and
//     syncfs everything. A pending write may be lost, kept, or kept in
//     part, torn at Block boundaries, in any order;
//   - a create, link, rename, unlink or mkdir is pending until a sync of
//     its folder (or syncfs); each pending one survives or not, the
//     survivors applied in their order, those that no longer apply (a
//     rename of a name that is not there) skipped;
//   - a sync covers what was logged before it, and a failed one nothing.
type Model struct {
	ops    []Op
	at     int // ops[:at] replayed
	inodes map[int]*inode
	names  map[string]int  // durable
	dirs   map[string]bool // durable
	ns     []unit          // pending names, in order
	// noted: the files the run reported done so far.
	noted map[string]int
}

// NewModel is the log ops of a run on the folder base, replayed up to its
// start: base is all durable.
func NewModel(ops []Op, base Snapshot) *Model {
	m := &Model{ops: ops, inodes: map[int]*inode{}, names: map[string]int{}, dirs: map[string]bool{".": true},
		noted: map[string]int{}}
	for _, d := range base.Dirs {
		m.dirs[d] = true
	}
	for name, ino := range base.Names {
		in := m.ino(ino)
		fd := base.Inodes[ino]
		in.size = int64(len(fd.Data))
		for off := int64(0); off < in.size; off += Block {
			b := new([Block]byte)
			copy(b[:], fd.Data[off:])
			in.blocks[off/Block] = b
		}
		for k, v := range fd.Attrs {
			in.attrs[k] = v
		}
		m.names[name] = ino
	}
	return m
}

func (m *Model) ino(n int) *inode {
	in := m.inodes[n]
	if in == nil {
		in = &inode{blocks: map[int64]*[Block]byte{}, attrs: map[string][]byte{}}
		m.inodes[n] = in
	}
	return in
}

// entryOf is the listed file whose data a file named name holds: name
// itself or its .part; "" for a state, a temp file or a record.
func entryOf(name string) string {
	for _, suffix := range store.ReservedSuffixes()[1:] {
		if strings.HasSuffix(name, suffix) {
			return ""
		}
	}
	return strings.TrimSuffix(name, store.PartSuffix)
}

// Len is the number of ops in the log.
func (m *Model) Len() int { return len(m.ops) }

// Ops is the log.
func (m *Model) Ops() []Op { return m.ops }

// Advance replays the log up to ops[:at]; at never goes back.
func (m *Model) Advance(at int) {
	for ; m.at < at && m.at < len(m.ops); m.at++ {
		m.apply(m.at)
	}
}

// At is how much of the log is replayed: a crash now is a crash after
// ops[:At()].
func (m *Model) At() int { return m.at }

func (m *Model) apply(i int) {
	o := m.ops[i]
	switch o.Kind {
	case Write:
		in := m.ino(o.Inode)
		in.written += int64(len(o.Data))
		for p := int64(0); p < int64(len(o.Data)); {
			off := o.Off + p
			n := min(int64(len(o.Data))-p, Block-off%Block)
			in.pending = append(in.pending, unit{op: i, kind: Write, ino: o.Inode, off: off, data: o.Data[p : p+n]})
			p += n
		}
	case Truncate, Allocate:
		in := m.ino(o.Inode)
		in.pending = append(in.pending, unit{op: i, kind: o.Kind, ino: o.Inode, size: o.Size})
	case SetAttr:
		in := m.ino(o.Inode)
		in.pending = append(in.pending, unit{op: i, kind: SetAttr, ino: o.Inode, attr: o.Name, data: o.Data})
	case Datasync, Fsync:
		if !o.Failed {
			m.flush(m.ino(o.Inode), o.Kind == Fsync)
		}
	case SyncFS:
		if !o.Failed {
			for _, in := range m.inodes {
				m.flush(in, true)
			}
			for _, u := range m.ns {
				m.applyName(m.names, m.dirs, u)
			}
			m.ns = nil
		}
	case Create, Link:
		m.ino(o.Inode).entry = entryOf(o.Name)
		m.ns = append(m.ns, unit{op: i, kind: o.Kind, ino: o.Inode, dir: path.Dir(o.Name)})
	case CreateUnnamed:
		m.ino(o.Inode)
	case Rename, Remove, Mkdir:
		m.ns = append(m.ns, unit{op: i, kind: o.Kind, dir: path.Dir(o.Name)})
	case SyncDir:
		if !o.Failed {
			dir := path.Clean(o.Name)
			m.ns = slices.DeleteFunc(m.ns, func(u unit) bool {
				if u.dir != dir {
					return false
				}
				m.applyName(m.names, m.dirs, u)
				return true
			})
		}
	case Note:
		m.noted[o.Name] = i
	}
}

// flush makes an inode's pending data and size durable, and with attrs
// its attributes too.
func (m *Model) flush(in *inode, attrs bool) {
	keep := in.pending[:0]
	for _, u := range in.pending {
		if u.kind == SetAttr && !attrs {
			keep = append(keep, u)
			continue
		}
		applyData(in, u)
	}
	in.pending = keep
}

func applyData(in *inode, u unit) {
	switch u.kind {
	case Write:
		b := in.blocks[u.off/Block]
		if b == nil {
			b = new([Block]byte)
			in.blocks[u.off/Block] = b
		}
		copy(b[u.off%Block:], u.data)
		in.size = max(in.size, u.off+int64(len(u.data)))
	case Truncate:
		in.size = u.size
		for k, b := range in.blocks {
			switch {
			case k*Block >= u.size:
				delete(in.blocks, k)
			case (k+1)*Block > u.size:
				clear(b[u.size-k*Block:])
			}
		}
	case Allocate:
		in.size = max(in.size, u.size)
	case SetAttr:
		in.attrs[u.attr] = u.data
	}
}

func (m *Model) applyName(names map[string]int, dirs map[string]bool, u unit) {
	o := m.ops[u.op]
	switch u.kind {
	case Create, Link:
		names[o.Name] = o.Inode
	case Rename:
		if ino, ok := names[o.Name]; ok {
			names[o.To] = ino
			delete(names, o.Name)
		}
	case Remove:
		delete(names, o.Name)
	case Mkdir:
		dirs[o.Name] = true
	}
}

// Pending is how many units (pieces of writes, size changes, attributes,
// name changes) a crash now may keep or lose.
func (m *Model) Pending() int {
	n := len(m.ns)
	for _, in := range m.inodes {
		n += len(in.pending)
	}
	return n
}

// pending lists the units in a fixed order: names first, then each
// file's by inode.
func (m *Model) pending() []unit {
	us := append([]unit(nil), m.ns...)
	inos := make([]int, 0, len(m.inodes))
	for n := range m.inodes {
		inos = append(inos, n)
	}
	slices.Sort(inos)
	for _, n := range inos {
		us = append(us, m.inodes[n].pending...)
	}
	return us
}

// Crash is one crash state: the point and, for each pending unit (in the
// order of pending), whether it survived.
type Crash struct {
	At   int
	Keep []bool
	// How says how the survivors were chosen: "all lost", "all kept",
	// "prefix", "random", "one lost", "one kept", "every subset".
	How string
}

// Describe names the crash point and what the power cut lost and kept.
func (m *Model) Describe(c Crash) string {
	var b strings.Builder
	if c.At == 0 {
		fmt.Fprintf(&b, "crash before the first operation")
	} else {
		fmt.Fprintf(&b, "crash after %s", m.ops[c.At-1])
	}
	us := m.pending()
	var lost, kept []string
	for i, u := range us {
		s := u.String(m.ops)
		if c.Keep[i] {
			kept = append(kept, s)
		} else {
			lost = append(lost, s)
		}
	}
	fmt.Fprintf(&b, " (%s); lost %d: %s; kept %d: %s", c.How, len(lost), abbreviate(lost), len(kept), abbreviate(kept))
	return b.String()
}

func abbreviate(s []string) string {
	if len(s) > 6 {
		return strings.Join(s[:6], ", ") + fmt.Sprintf(", … %d more", len(s)-6)
	}
	if len(s) == 0 {
		return "nothing"
	}
	return strings.Join(s, ", ")
}

// Figures of a crash state, for the report.
type Figures struct {
	// Unsynced is the bytes written to the listed files' data and not
	// yet covered by a sync.
	Unsynced int64
	// Written is, per listed file, the bytes written to its data so far.
	Written map[string]int64
}

// Figures returns the state's figures (the same for every crash at At).
func (m *Model) Figures() Figures {
	f := Figures{Written: map[string]int64{}}
	for _, in := range m.inodes {
		if in.entry == "" {
			continue
		}
		f.Written[in.entry] += in.written
		for _, u := range in.pending {
			if u.kind == Write {
				f.Unsynced += int64(len(u.data))
			}
		}
	}
	return f
}

// Noted is the files the run reported done before the crash point.
func (m *Model) Noted() []string {
	var s []string
	for n := range m.noted {
		s = append(s, n)
	}
	slices.Sort(s)
	return s
}

// Durable returns the bytes of name in the state where the power cut kept
// nothing pending; ok is false if there is no such file.
func (m *Model) Durable(name string) (b []byte, ok bool) {
	ino, ok := m.names[name]
	if !ok || !m.reachable(m.dirs, path.Dir(name)) {
		return nil, false
	}
	in := m.inodes[ino]
	b = make([]byte, in.size)
	for k, blk := range in.blocks {
		if k*Block < in.size {
			copy(b[k*Block:], blk[:])
		}
	}
	return b, true
}

func (m *Model) reachable(dirs map[string]bool, dir string) bool {
	for d := dir; d != "."; d = path.Dir(d) {
		if !dirs[d] {
			return false
		}
	}
	return true
}

// Materialize writes crash state c (c.At must be m.At()) into the empty
// folder dir: the folders and names that survived, each file with its
// durable bytes and the pending writes that survived applied in order,
// and a stale lock file, as a run killed by the power cut leaves.
func (m *Model) Materialize(c Crash, dir string) error {
	if c.At != m.at {
		return fmt.Errorf("crashtest: state at %d materialised at %d", c.At, m.at)
	}
	us := m.pending()
	names := maps.Clone(m.names)
	dirs := maps.Clone(m.dirs)
	kept := map[int][]unit{}
	for i, u := range us {
		if !c.Keep[i] {
			continue
		}
		if u.dir != "" { // a name
			m.applyName(names, dirs, u)
		} else {
			kept[u.ino] = append(kept[u.ino], u)
		}
	}
	ds := make([]string, 0, len(dirs))
	for d := range dirs {
		ds = append(ds, d)
	}
	slices.Sort(ds) // parents first
	for _, d := range ds {
		if d != "." && m.reachable(dirs, d) {
			if err := os.Mkdir(filepath.Join(dir, filepath.FromSlash(d)), 0o755); err != nil {
				return err
			}
		}
	}
	for name, ino := range names {
		if !m.reachable(dirs, path.Dir(name)) {
			continue // its folder did not survive
		}
		if err := m.writeFile(filepath.Join(dir, filepath.FromSlash(name)), m.inodes[ino], kept[ino]); err != nil {
			return err
		}
	}
	// A run that dies leaves its lock file, holding no lock, with the
	// PID of a process long gone.
	return os.WriteFile(filepath.Join(dir, store.LockName), []byte("999999999\n"), 0o644)
}

func (m *Model) writeFile(p string, in *inode, kept []unit) error {
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	ks := make([]int64, 0, len(in.blocks))
	for k := range in.blocks {
		if k*Block < in.size {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	buf := make([]byte, 0, 1<<20)
	start := int64(-1)
	flush := func() error {
		if len(buf) > 0 {
			if _, err := f.WriteAt(buf, start*Block); err != nil {
				return err
			}
		}
		buf = buf[:0]
		return nil
	}
	for _, k := range ks {
		if start < 0 || k != start+int64(len(buf))/Block || len(buf) == cap(buf) {
			if err := flush(); err != nil {
				return err
			}
			start = k
		}
		buf = append(buf, in.blocks[k][:]...)
	}
	if err := flush(); err != nil {
		return err
	}
	if err := f.Truncate(in.size); err != nil {
		return err
	}
	attrs := maps.Clone(in.attrs)
	size := in.size
	for _, u := range kept {
		switch u.kind {
		case Write:
			if _, err := f.WriteAt(u.data, u.off); err != nil {
				return err
			}
			size = max(size, u.off+int64(len(u.data)))
		case Truncate:
			size = u.size
			if err := f.Truncate(size); err != nil {
				return err
			}
		case Allocate:
			if u.size > size {
				size = u.size
				if err := f.Truncate(size); err != nil {
					return err
				}
			}
		case SetAttr:
			attrs[u.attr] = u.data
		}
	}
	for k, v := range attrs {
		if err := writeAttr(f, k, v); err != nil {
			return err
		}
	}
	// A record vouches for the file while its size and modification time
	// are the ones it holds: give the file the time it had when the
	// record was written, as the file system would have kept it.
	if mt, ok := recordedTime(attrs[store.VerifiedAttr]); ok {
		return os.Chtimes(p, time.Unix(0, mt), time.Unix(0, mt))
	}
	return nil
}

// recordedTime is the modification time a verification record holds.
func recordedTime(rec []byte) (int64, bool) {
	for _, line := range strings.Split(string(rec), "\n") {
		if v, ok := strings.CutPrefix(line, "mtime "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
