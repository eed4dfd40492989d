package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func sampleFiles() map[string]*File {
	many := &File{Size: 1000 * 1000}
	for i := int64(0); i < 1000; i++ {
		many.Segments = append(many.Segments, Segment{Start: i * 1000, End: (i + 1) * 1000, Done: i % 1001})
	}
	mostSources := &File{Size: 5, ETag: `"p"`, Segments: []Segment{{0, 5, 2}}}
	for i := range MaxSources {
		mostSources.Sources = append(mostSources.Sources, Source{Key: fmt.Sprintf("k%02d", i), ETag: fmt.Sprintf(`"e%d"`, i)})
	}
	return map[string]*File{
		"one byte": {Size: 1, Segments: []Segment{{0, 1, 0}}},
		"one byte done": {
			Size: 1, Segments: []Segment{{0, 1, 1}},
		},
		"typical": {
			Size:         10 << 20,
			ETag:         `"5f3a-abc"`,
			LastModified: "Wed, 21 Oct 2015 07:28:00 GMT",
			Segments: []Segment{
				{0, 4 << 20, 4 << 20},
				{4 << 20, 8 << 20, 123456},
				{8 << 20, 10 << 20, 0},
			},
		},
		"with CRCs": {
			Size: 10 << 20, ETag: `"abc"`, Sums: CRC32C | CRC64NVME,
			Segments: []Segment{{0, 4 << 20, 4 << 20}, {4 << 20, 10 << 20, 7}},
			CRCs:     []CRC{{0x12345678, 0x9abcdef012345678}, {0xffffffff, 1}},
		},
		"with CRC-32C": {
			Size: 3, Sums: CRC32C, Segments: []Segment{{0, 1, 1}, {1, 3, 0}}, CRCs: []CRC{{CRC32C: 7}, {}},
		},
		"empty segment": {
			Size: 2, Segments: []Segment{{0, 0, 0}, {0, 2, 1}, {2, 2, 0}},
		},
		"huge size": {
			Size:     math.MaxInt64,
			Segments: []Segment{{0, math.MaxInt64 - 1, math.MaxInt64 - 1}, {math.MaxInt64 - 1, math.MaxInt64, 1}},
		},
		"non-utf8 and long strings": {
			ETag: "\xff\x00\xfe" + strings.Repeat("x", maxStringLen-3), LastModified: strings.Repeat("é", 1000),
			Size: 300, Segments: []Segment{{0, 300, 150}},
		},
		"many segments": many,
		"with sources": {
			Size: 10 << 20, ETag: `"5f3a-abc"`, LastModified: "Wed, 21 Oct 2015 07:28:00 GMT",
			Segments: []Segment{{0, 4 << 20, 4 << 20}, {4 << 20, 10 << 20, 99}},
			Sources: []Source{
				{Key: "3q2+7w", ETag: `"mirror-1"`, LastModified: "Thu, 22 Oct 2015 08:00:00 GMT"},
				{Key: "\x00\xff", ETag: `W/"weak"`},                         // opaque bytes
				{Key: "no-validators"},                                      // a mirror that sends neither
				{Key: strings.Repeat("k", maxStringLen), LastModified: "x"}, // longest key
			},
		},
		"sources and CRCs": {
			Size: 3, Sums: CRC32C | CRC64NVME, Segments: []Segment{{0, 3, 3}}, CRCs: []CRC{{1, 2}},
			Sources: []Source{{Key: "a", ETag: `"a"`}, {Key: "b", ETag: `"b"`}},
		},
		"most sources": mostSources,
	}
}

func TestEncodedStateDecodesToTheSameFile(t *testing.T) {
	for name, f := range sampleFiles() {
		t.Run(name, func(t *testing.T) {
			b, err := Encode(f)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			g, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(f, g) {
				t.Fatalf("round trip mismatch:\n got %+v\nwant %+v", g, f)
			}
			if g.DoneBytes() != f.DoneBytes() {
				t.Fatalf("DoneBytes %d != %d", g.DoneBytes(), f.DoneBytes())
			}
			b2, err := Encode(g)
			if err != nil || !bytes.Equal(b, b2) {
				t.Fatalf("re-encode differs (err %v)", err)
			}
		})
	}
}

func TestDoneBytesSumsWhatEverySegmentHasDone(t *testing.T) {
	f := sampleFiles()["typical"]
	if got, want := f.DoneBytes(), int64(4<<20+123456); got != want {
		t.Fatalf("DoneBytes = %d, want %d", got, want)
	}
}

func mustEncode(t testing.TB, f *File) []byte {
	t.Helper()
	b, err := Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func wantInvalid(t *testing.T, b []byte, what string) {
	t.Helper()
	f, err := Decode(b)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("%s: Decode = %+v, %v; want ErrInvalid", what, f, err)
	}
	if f != nil {
		t.Fatalf("%s: Decode returned a File alongside an error", what)
	}
}

func TestEveryTruncatedStateIsInvalid(t *testing.T) {
	for name, f := range sampleFiles() {
		if name == "many segments" || name == "non-utf8 and long strings" || name == "with sources" {
			continue // quadratic in length; covered by the smaller files
		}
		b := mustEncode(t, f)
		for n := 0; n < len(b); n++ {
			wantInvalid(t, b[:n], name+" truncated")
		}
	}
}

func TestBytesAfterAStateMakeItInvalid(t *testing.T) {
	b := mustEncode(t, sampleFiles()["typical"])
	wantInvalid(t, append(append([]byte(nil), b...), 0), "one trailing zero")
	wantInvalid(t, append(append([]byte(nil), b...), b...), "doubled")
}

func TestEverySingleBitFlipMakesAStateInvalid(t *testing.T) {
	for _, name := range []string{"typical", "one byte", "empty segment", "sources and CRCs"} {
		b := mustEncode(t, sampleFiles()[name])
		for i := range b {
			for bit := 0; bit < 8; bit++ {
				c := append([]byte(nil), b...)
				c[i] ^= 1 << bit
				wantInvalid(t, c, name+" bit flip")
			}
		}
	}
}

func TestRandomBytesNeverDecodeToAState(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	good := mustEncode(t, sampleFiles()["typical"])
	for i := 0; i < 20000; i++ {
		n := r.IntN(200)
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		// Half the time keep a valid header so the garbage gets past the
		// cheap checks and must be stopped by length or checksum.
		if i%2 == 0 && n >= headerLen {
			copy(b, good[:headerLen-4])
			binary.BigEndian.PutUint32(b[headerLen-4:], uint32(n-headerLen-trailerLen))
		}
		wantInvalid(t, b, "garbage")
	}
}

func TestOnlyTheCurrentVersionDecodes(t *testing.T) {
	b := mustEncode(t, sampleFiles()["typical"])
	payload := b[headerLen : len(b)-trailerLen]
	for _, v := range []uint16{0, Version + 1, math.MaxUint16} {
		_, err := Decode(frame(v, payload))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "version") {
			t.Errorf("version %d: err = %v", v, err)
		}
	}
	if _, err := Decode(frame(Version, payload)); err != nil {
		t.Fatalf("re-framed valid payload: %v", err)
	}
}

func TestStateWithoutTheMagicIsInvalid(t *testing.T) {
	b := mustEncode(t, sampleFiles()["typical"])
	b[0] = 'X'
	// Fix up the checksum so only the magic is wrong.
	binary.BigEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], castagnoli))
	wantInvalid(t, b, "bad magic")
}

// payload helpers build payloads that carry a valid checksum, to reach the
// parser's own checks.
func uv(vs ...uint64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.AppendUvarint(b, v)
	}
	return b
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestPayloadThatIsNotMinimalOrConsistentIsInvalid(t *testing.T) {
	strs := uv(0, 0) // empty ETag, LastModified
	cases := map[string][]byte{
		"empty payload":         nil,
		"valid then trailing":   cat(strs, uv(10, 1, 10, 5), []byte{0}),
		"non-minimal varint":    cat([]byte{0x80, 0x00}, uv(0, 10, 1, 10, 5)),
		"non-minimal size":      cat(strs, []byte{0x8a, 0x00}, uv(1, 10, 5)),
		"varint overflow":       cat(strs, bytes.Repeat([]byte{0xff}, 10), []byte{0x01}),
		"size above int64":      cat(strs, uv(math.MaxUint64), uv(1, 10, 5)),
		"zero size":             cat(strs, uv(0, 1, 0, 0)),
		"zero segments":         cat(strs, uv(10, 0)),
		"absurd segment count":  cat(strs, uv(10, 1<<40)),
		"count above limit":     cat(strs, uv(10, maxSegments+1), make([]byte, 2*(maxSegments+1))),
		"count beyond input":    cat(strs, uv(10, 3, 10, 5)),
		"segments short":        cat(strs, uv(20, 2, 10, 5, 5, 0)),
		"segments long":         cat(strs, uv(10, 2, 10, 5, 1, 0)),
		"segment overruns":      cat(strs, uv(10, 1, 11, 0)),
		"done exceeds length":   cat(strs, uv(10, 1, 10, 11)),
		"string too long":       cat(uv(maxStringLen+1), make([]byte, maxStringLen+1), uv(0, 10, 1, 10, 5)),
		"string beyond input":   cat(uv(100), []byte("abc")),
		"absurd string length":  cat(uv(1 << 62)),
		"truncated in segments": cat(strs, uv(10, 1, 10)),
	}
	// These payloads are laid out as version 2, which shares the parser.
	for name, p := range cases {
		t.Run(name, func(t *testing.T) { wantInvalid(t, frame(version2, p), name) })
	}
	// Version 3 added the kinds of CRC after the size, version 4 the
	// sources after them: the CRC cases are checked in both.
	for name, c := range map[string]struct{ sums, rest []byte }{
		"unknown CRC":      {uv(4), uv(1, 10, 5)},
		"CRC truncated":    {uv(1), cat(uv(1, 10, 5), []byte{1, 2, 3})},
		"CRC of nothing":   {uv(1), cat(uv(1, 10, 0), []byte{0, 0, 0, 1})},
		"CRC not kept set": {uv(0), cat(uv(1, 10, 5), []byte{0, 0, 0, 1})},
	} {
		t.Run(name+" v3", func(t *testing.T) { wantInvalid(t, frame(version3, cat(strs, uv(10), c.sums, c.rest)), name) })
		t.Run(name+" v4", func(t *testing.T) { wantInvalid(t, frame(Version, cat(strs, uv(10), c.sums, uv(0), c.rest)), name) })
	}
	src := func(key, etag, lm string) []byte {
		return cat(uv(uint64(len(key))), []byte(key), uv(uint64(len(etag))), []byte(etag), uv(uint64(len(lm))), []byte(lm))
	}
	seg := uv(1, 10, 5)
	for name, p := range map[string][]byte{
		"no source count":           cat(strs, uv(10, 0)),
		"non-minimal source count":  cat(strs, uv(10, 0), []byte{0x80, 0x00}, seg),
		"source count above limit":  cat(strs, uv(10, 0, MaxSources+1), bytes.Repeat(src("k", "", ""), MaxSources+1), seg),
		"absurd source count":       cat(strs, uv(10, 0, 1<<40), seg),
		"source count beyond input": cat(strs, uv(10, 0, 3), src("a", "", ""), seg),
		"source with empty key":     cat(strs, uv(10, 0, 1), src("", "e", "l"), seg),
		"sources with the same key": cat(strs, uv(10, 0, 2), src("a", "1", ""), src("a", "2", ""), seg),
		"source key too long":       cat(strs, uv(10, 0, 1), src(strings.Repeat("k", maxStringLen+1), "", ""), seg),
		"truncated in a source":     cat(strs, uv(10, 0, 1), uv(1), []byte("a"), uv(5), []byte("ab")),
		"sources without segments":  cat(strs, uv(10, 0, 1), src("a", "", "")),
	} {
		t.Run(name, func(t *testing.T) { wantInvalid(t, frame(Version, p), name) })
	}
	// Sanity check that the helpers build valid payloads when asked to.
	for v, p := range map[uint16][]byte{
		Version:  cat(strs, uv(10, 1, 2), src("a", `"x"`, ""), src("b", "", "y"), uv(1, 10, 5), []byte{0, 0, 0, 1}),
		version3: cat(strs, uv(10, 1, 1, 10, 5), []byte{0, 0, 0, 1}),
		version2: cat(strs, uv(10, 1, 10, 5)),
	} {
		if _, err := Decode(frame(v, p)); err != nil {
			t.Fatalf("valid hand-built version %d payload: %v", v, err)
		}
	}
}

func TestPayloadLengthAboveTheLimitIsInvalid(t *testing.T) {
	b := []byte(magic)
	b = binary.BigEndian.AppendUint16(b, Version)
	b = binary.BigEndian.AppendUint32(b, math.MaxUint32)
	b = append(b, 0, 0, 0, 0)
	wantInvalid(t, b, "payload length above limit")
}

func TestStateThatDoesNotTileItsSizeWithinLimitsIsInvalidAndNeverEncoded(t *testing.T) {
	seg := func(s ...Segment) []Segment { return s }
	cases := map[string]*File{
		"nil":               nil,
		"zero size":         {Size: 0, Segments: seg(Segment{0, 0, 0})},
		"negative size":     {Size: -5, Segments: seg(Segment{0, 0, 0})},
		"no segments":       {Size: 10},
		"gap at start":      {Size: 10, Segments: seg(Segment{1, 10, 0})},
		"gap in middle":     {Size: 10, Segments: seg(Segment{0, 4, 0}, Segment{5, 10, 0})},
		"short cover":       {Size: 10, Segments: seg(Segment{0, 4, 0}, Segment{4, 9, 0})},
		"beyond size":       {Size: 10, Segments: seg(Segment{0, 4, 0}, Segment{4, 11, 0})},
		"overlap":           {Size: 10, Segments: seg(Segment{0, 5, 0}, Segment{4, 10, 0})},
		"unsorted":          {Size: 10, Segments: seg(Segment{5, 10, 0}, Segment{0, 5, 0})},
		"duplicate":         {Size: 10, Segments: seg(Segment{0, 10, 0}, Segment{0, 10, 0})},
		"reversed segment":  {Size: 10, Segments: seg(Segment{0, 6, 0}, Segment{6, 4, 0}, Segment{4, 10, 0})},
		"negative start":    {Size: 10, Segments: seg(Segment{-1, 10, 0})},
		"done > length":     {Size: 10, Segments: seg(Segment{0, 5, 6}, Segment{5, 10, 0})},
		"negative done":     {Size: 10, Segments: seg(Segment{0, 10, -1})},
		"last-mod too long": {LastModified: strings.Repeat("l", maxStringLen+1), Size: 1, Segments: seg(Segment{0, 1, 0})},
		"etag too long":     {ETag: strings.Repeat("e", maxStringLen+1), Size: 1, Segments: seg(Segment{0, 1, 0})},
		"too many segments": {Size: maxSegments + 1, Segments: make([]Segment, maxSegments+1)},
		"too many sources":  {Size: 1, Segments: seg(Segment{0, 1, 0}), Sources: make([]Source, MaxSources+1)},
		"source without key": {Size: 1, Segments: seg(Segment{0, 1, 0}),
			Sources: []Source{{Key: "a"}, {ETag: `"e"`}}},
		"sources with the same key": {Size: 1, Segments: seg(Segment{0, 1, 0}),
			Sources: []Source{{Key: "a", ETag: "1"}, {Key: "b"}, {Key: "a", ETag: "2"}}},
		"source key too long": {Size: 1, Segments: seg(Segment{0, 1, 0}),
			Sources: []Source{{Key: strings.Repeat("k", maxStringLen+1)}}},
		"source etag too long": {Size: 1, Segments: seg(Segment{0, 1, 0}),
			Sources: []Source{{Key: "a", ETag: strings.Repeat("e", maxStringLen+1)}}},
		"source last-mod too long": {Size: 1, Segments: seg(Segment{0, 1, 0}),
			Sources: []Source{{Key: "a", LastModified: strings.Repeat("l", maxStringLen+1)}}},
		"overflowing end": {Size: math.MaxInt64, Segments: seg(
			Segment{0, math.MaxInt64, 0}, Segment{math.MaxInt64, math.MinInt64, 0})},
	}
	for i := range cases["too many segments"].Segments {
		cases["too many segments"].Segments[i] = Segment{int64(i), int64(i + 1), 0}
	}
	for i := range cases["too many sources"].Sources {
		cases["too many sources"].Sources[i] = Source{Key: fmt.Sprint(i)}
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			if err := f.Validate(); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate = %v, want ErrInvalid", err)
			}
			if b, err := Encode(f); !errors.Is(err, ErrInvalid) || b != nil {
				t.Fatalf("Encode = %d bytes, %v; want ErrInvalid", len(b), err)
			}
		})
	}
	for name, f := range sampleFiles() {
		if err := f.Validate(); err != nil {
			t.Errorf("%s: Validate = %v", name, err)
		}
	}
}
