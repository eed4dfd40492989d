package state

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math"
)

const (
	magic      = "BGST"
	headerLen  = len(magic) + 2 + 4 // magic, uint16 version, uint32 payload length
	trailerLen = 4                  // CRC-32C
	// maxPayload bounds the payload length field by the largest payload a
	// valid File can encode to, so a corrupt length is rejected before it
	// is compared against anything or used to size a read.
	maxPayload = 3*(binary.MaxVarintLen64+maxStringLen) + // ETag, LastModified (and version 1's URL)
		4*binary.MaxVarintLen64 + // Size, sums, source count, segment count
		MaxSources*3*(binary.MaxVarintLen64+maxStringLen) + // per source: key, ETag, LastModified
		maxSegments*(2*binary.MaxVarintLen64+4+8) // per segment: length, done, CRC-32C, CRC-64
	// maxEncoded is the largest valid encoding; Load reads at most one byte
	// more so an oversized file is detected without reading all of it.
	maxEncoded = headerLen + maxPayload + trailerLen
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Encode validates f and returns its sidecar encoding. The encoding is
// canonical: Decode accepts exactly one byte string per File, which is what
// lets the fuzzer check that decode-then-encode is the identity.
func Encode(f *File) ([]byte, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	// Segment starts are implied by the running sum of lengths, so they are
	// not stored: the encoding cannot even express a gap or an overlap.
	payload := make([]byte, 0, 2*binary.MaxVarintLen64+len(f.ETag)+len(f.LastModified)+
		2*binary.MaxVarintLen64+len(f.Segments)*2*binary.MaxVarintLen64)
	for _, s := range [...]string{f.ETag, f.LastModified} {
		payload = binary.AppendUvarint(payload, uint64(len(s)))
		payload = append(payload, s...)
	}
	payload = binary.AppendUvarint(payload, uint64(f.Size))
	payload = binary.AppendUvarint(payload, uint64(f.Sums))
	payload = binary.AppendUvarint(payload, uint64(len(f.Sources)))
	for _, src := range f.Sources {
		for _, s := range [...]string{src.Key, src.ETag, src.LastModified} {
			payload = binary.AppendUvarint(payload, uint64(len(s)))
			payload = append(payload, s...)
		}
	}
	payload = binary.AppendUvarint(payload, uint64(len(f.Segments)))
	for i, s := range f.Segments {
		payload = binary.AppendUvarint(payload, uint64(s.End-s.Start))
		payload = binary.AppendUvarint(payload, uint64(s.Done))
		if f.Sums&CRC32C != 0 {
			payload = binary.BigEndian.AppendUint32(payload, f.CRCs[i].CRC32C)
		}
		if f.Sums&CRC64NVME != 0 {
			payload = binary.BigEndian.AppendUint64(payload, f.CRCs[i].CRC64NVME)
		}
	}
	return frame(Version, payload), nil
}

// frame wraps payload in the header and checksum trailer.
func frame(version uint16, payload []byte) []byte {
	b := make([]byte, 0, headerLen+len(payload)+trailerLen)
	b = append(b, magic...)
	b = binary.BigEndian.AppendUint16(b, version)
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	b = append(b, payload...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// Decode parses a sidecar encoding of the current or a previous version
// (version 1's URL it drops, marking the File Outdated). Every error wraps
// ErrInvalid. The checksum is verified before the payload is interpreted,
// and the declared length must match the input exactly, so a truncated or
// extended file never reaches the parser; the parser is still written to
// survive arbitrary payloads because a checksum is not a security boundary.
func Decode(b []byte) (*File, error) {
	if len(b) < headerLen+trailerLen {
		return nil, invalidf("%d bytes is shorter than the minimum %d", len(b), headerLen+trailerLen)
	}
	if !bytes.Equal(b[:len(magic)], []byte(magic)) {
		return nil, invalidf("bad magic %q", b[:len(magic)])
	}
	// The version is checked before the checksum so that a file from a
	// different bulkget release is reported as such rather than as corrupt.
	v := binary.BigEndian.Uint16(b[len(magic):])
	if v != Version && v != version3 && v != version2 && v != version1 {
		return nil, invalidf("unsupported version %d (want %d, %d, %d or %d)", v, Version, version3, version2, version1)
	}
	n := binary.BigEndian.Uint32(b[len(magic)+2:])
	if n > maxPayload {
		return nil, invalidf("payload length %d exceeds limit %d", n, maxPayload)
	}
	if want := headerLen + int(n) + trailerLen; len(b) != want {
		return nil, invalidf("length %d, header says %d", len(b), want)
	}
	body := b[:len(b)-trailerLen]
	if got, want := crc32.Checksum(body, castagnoli), binary.BigEndian.Uint32(b[len(body):]); got != want {
		return nil, invalidf("checksum mismatch (computed %08x, stored %08x)", got, want)
	}
	return decodePayload(v, body[headerLen:])
}

func decodePayload(version uint16, p []byte) (*File, error) {
	d := decoder{b: p}
	if version == version1 {
		_ = d.str() // the URL: read to skip it, never kept
	}
	f := &File{
		ETag:         d.str(),
		LastModified: d.str(),
		Size:         d.int(),
		outdated:     version == version1,
	}
	if version >= version3 {
		sums := d.uvarint()
		if sums&^uint64(allSums) != 0 {
			return nil, invalidf("unknown CRCs %#x", sums)
		}
		f.Sums = Sums(sums)
	}
	if version >= Version {
		if err := d.sources(f); err != nil {
			return nil, err
		}
	}
	count := d.uvarint()
	if d.err != nil {
		return nil, d.err
	}
	// Each segment takes at least two bytes, which bounds the allocation by
	// the input we already hold as well as by the hard limit.
	if count == 0 || count > maxSegments || count > uint64(len(d.b))/2 {
		return nil, invalidf("segment count %d impossible for %d remaining bytes", count, len(d.b))
	}
	f.Segments = make([]Segment, count)
	if f.Sums != 0 {
		f.CRCs = make([]CRC, count)
	}
	var start int64
	for i := range f.Segments {
		length, done := d.int(), d.int()
		if f.Sums&CRC32C != 0 {
			f.CRCs[i].CRC32C = uint32(d.fixed(4))
		}
		if f.Sums&CRC64NVME != 0 {
			f.CRCs[i].CRC64NVME = d.fixed(8)
		}
		if d.err != nil {
			return nil, d.err
		}
		if length > f.Size-start {
			return nil, invalidf("segment %d of length %d overruns size %d", i, length, f.Size)
		}
		f.Segments[i] = Segment{Start: start, End: start + length, Done: done}
		start += length
	}
	if len(d.b) != 0 {
		return nil, invalidf("%d trailing payload bytes", len(d.b))
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return f, nil
}

// sources reads the source count and the sources into f.Sources, leaving
// it nil when there are none.
func (d *decoder) sources(f *File) error {
	n := d.uvarint()
	if d.err != nil {
		return d.err
	}
	// A source takes at least four bytes (a key of one byte and two empty
	// validators), which bounds the allocation by the input as well as by
	// the hard limit.
	if n > MaxSources || n > uint64(len(d.b))/4 {
		return invalidf("source count %d impossible for %d remaining bytes", n, len(d.b))
	}
	if n == 0 {
		return nil
	}
	f.Sources = make([]Source, n)
	for i := range f.Sources {
		f.Sources[i] = Source{Key: d.str(), ETag: d.str(), LastModified: d.str()}
	}
	return d.err
}

// decoder is a cursor over the payload that records the first error, so the
// parse reads linearly and checks once per group of fields.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = invalidf("malformed varint")
		return 0
	}
	// binary.Uvarint accepts padded encodings such as 0x80 0x00; a final
	// zero byte after a continuation means the value had a shorter form.
	// Rejecting it keeps the encoding canonical.
	if n > 1 && d.b[n-1] == 0 {
		d.err = invalidf("non-minimal varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// fixed reads an n-byte big-endian number.
func (d *decoder) fixed(n int) uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < n {
		d.err = invalidf("%d bytes left for a %d-byte CRC", len(d.b), n)
		return 0
	}
	var v uint64
	for _, c := range d.b[:n] {
		v = v<<8 | uint64(c)
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int() int64 {
	v := d.uvarint()
	if v > math.MaxInt64 {
		if d.err == nil {
			d.err = invalidf("value %d overflows int64", v)
		}
		return 0
	}
	return int64(v)
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > maxStringLen || n > uint64(len(d.b)) {
		d.err = invalidf("string length %d exceeds limit or remaining %d bytes", n, len(d.b))
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
