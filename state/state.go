package state

import (
	"errors"
	"fmt"
)

// Version is the sidecar format version written by Encode. Decode also
// accepts the previous versions: 3, which had no Sources, 2, which had no
// CRCs either, and 1, whose URL it reads and drops (see File.Outdated); any
// other version is reported as ErrInvalid so the caller restarts the
// download instead of trusting bytes it cannot parse.
const Version = 4

// version3 had no Sources: every file had one source.
const version3 = 3

// version2 had no CRCs of the segments.
const version2 = 2

// version1 stored the file's whole URL, credentials and signed query
// included, ahead of the validators.
const version1 = 1

// ErrInvalid is wrapped by every error that means "this state cannot be
// trusted". Callers should treat it like a missing state: discard it and
// start the file over.
var ErrInvalid = errors.New("state: invalid state file")

// Limits that keep a hostile or corrupt sidecar from making Decode allocate
// without bound. Validate enforces the same limits so that Encode never
// produces something Decode would refuse.
const (
	maxSegments  = 1 << 20
	maxStringLen = 64 << 10
	// MaxSources is the most Sources a File may hold.
	MaxSources = 64
)

// Segment is a byte range [Start, End) of the file of which the first Done
// bytes (from Start) are durably written.
type Segment struct {
	Start, End, Done int64
}

// File is the resumable progress of one download. It holds no URL: a
// resume is recognised by the file's name, size and validators (see the
// package doc), and a URL can carry credentials that must not rest on disk.
type File struct {
	Size         int64 // total size, > 0: states are only kept for files of known size
	ETag         string
	LastModified string
	// Segments are sorted by Start, non-overlapping, and cover exactly
	// [0, Size) with no gaps. Empty segments (Start == End) are allowed so
	// that a splitter producing more segments than bytes still saves.
	Segments []Segment
	// Sums says which CRCs CRCs holds (CRC32C, CRC64NVME; 0: none).
	Sums Sums
	// CRCs, when Sums is not 0, has one entry per segment: the CRCs of
	// that segment's Done bytes, so that the whole file's CRC can be
	// combined from them without reading it back. A CRC of nothing is 0.
	CRCs []CRC
	// Sources holds the validators of the file's other sources (mirrors),
	// in the caller's order; ETag and LastModified above are those of the
	// source that probed the file. A file with one source has none (Decode
	// returns nil). At most MaxSources, with distinct, non-empty keys.
	Sources []Source

	// outdated: decoded from an older version of the format, which may
	// hold a secret until the state is saved again.
	outdated bool
}

// Sums is a set of CRCs kept per segment.
type Sums uint8

// The CRCs a state can keep.
const (
	CRC32C    Sums = 1 << iota // CRC-32C (Castagnoli)
	CRC64NVME                  // CRC-64/NVME
	allSums   = CRC32C | CRC64NVME
)

// CRC is the CRCs of one segment's done bytes; a CRC not in File.Sums is 0.
type CRC struct {
	CRC32C    uint32
	CRC64NVME uint64
}

// Source is the validators of one of a file's other sources, each host
// having its own ETag and Last-Modified for the same bytes.
type Source struct {
	// Key names the source without holding a secret: the caller passes a
	// short hash of its scheme, host and path, never the URL itself (see
	// "No secrets" in the package doc). The state stores it as opaque
	// bytes; it must be non-empty and at most 64 KiB.
	Key          string
	ETag         string
	LastModified string
}

// Outdated reports that f was decoded from an older version of the format.
// The caller should save it again at once: the old encoding may hold a URL
// with its credentials, which the current one drops.
func (f *File) Outdated() bool { return f.outdated }

// DoneBytes returns the number of bytes the state claims are durable.
func (f *File) DoneBytes() int64 {
	var n int64
	for _, s := range f.Segments {
		n += s.Done
	}
	return n
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// Validate checks the structural invariants. Because a segment's claims are
// only meaningful relative to the file's layout, a state that does not tile
// [0, Size) exactly is rejected as a whole rather than repaired: repairing
// would mean guessing which claims are true.
func (f *File) Validate() error {
	if f == nil {
		return invalidf("nil file")
	}
	if f.Size <= 0 {
		return invalidf("size %d is not positive", f.Size)
	}
	for _, s := range [...]struct{ name, v string }{
		{"ETag", f.ETag}, {"Last-Modified", f.LastModified},
	} {
		if len(s.v) > maxStringLen {
			return invalidf("%s is %d bytes, limit %d", s.name, len(s.v), maxStringLen)
		}
	}
	if len(f.Segments) == 0 {
		return invalidf("no segments")
	}
	if len(f.Segments) > maxSegments {
		return invalidf("%d segments, limit %d", len(f.Segments), maxSegments)
	}
	// Requiring each Start to equal the previous End rules out gaps,
	// overlaps and misordering in one check; with the first Start at 0 and
	// End >= Start, every value is non-negative, so End-Start cannot
	// overflow.
	var next int64
	for i, s := range f.Segments {
		if s.Start != next {
			if s.Start < next {
				return invalidf("segment %d starts at %d, overlapping or out of order (expected %d)", i, s.Start, next)
			}
			return invalidf("segment %d starts at %d, leaving a gap (expected %d)", i, s.Start, next)
		}
		if s.End < s.Start {
			return invalidf("segment %d ends at %d before its start %d", i, s.End, s.Start)
		}
		if s.End > f.Size {
			return invalidf("segment %d ends at %d beyond size %d", i, s.End, f.Size)
		}
		if s.Done < 0 || s.Done > s.End-s.Start {
			return invalidf("segment %d claims %d done bytes of %d", i, s.Done, s.End-s.Start)
		}
		next = s.End
	}
	if next != f.Size {
		return invalidf("segments cover [0, %d), size is %d", next, f.Size)
	}
	if err := validateSources(f.Sources); err != nil {
		return err
	}
	if f.Sums&^allSums != 0 {
		return invalidf("unknown CRCs %#x", uint8(f.Sums))
	}
	if f.Sums == 0 {
		if f.CRCs != nil {
			return invalidf("CRCs without a kind")
		}
		return nil
	}
	if len(f.CRCs) != len(f.Segments) {
		return invalidf("%d CRCs for %d segments", len(f.CRCs), len(f.Segments))
	}
	for i, c := range f.CRCs {
		// A CRC not kept, or of nothing, is 0: one encoding per File.
		if (f.Sums&CRC32C == 0 || f.Segments[i].Done == 0) && c.CRC32C != 0 ||
			(f.Sums&CRC64NVME == 0 || f.Segments[i].Done == 0) && c.CRC64NVME != 0 {
			return invalidf("segment %d has a CRC it cannot have", i)
		}
	}
	return nil
}

func validateSources(sources []Source) error {
	if len(sources) == 0 {
		return nil
	}
	if len(sources) > MaxSources {
		return invalidf("%d sources, limit %d", len(sources), MaxSources)
	}
	seen := make(map[string]bool, len(sources))
	for i, src := range sources {
		if src.Key == "" {
			return invalidf("source %d has no key", i)
		}
		if seen[src.Key] {
			return invalidf("source %d repeats the key of an earlier source", i)
		}
		seen[src.Key] = true
		for _, s := range [...]struct{ name, v string }{
			{"key", src.Key}, {"ETag", src.ETag}, {"Last-Modified", src.LastModified},
		} {
			if len(s.v) > maxStringLen {
				return invalidf("source %d: %s is %d bytes, limit %d", i, s.name, len(s.v), maxStringLen)
			}
		}
	}
	return nil
}
