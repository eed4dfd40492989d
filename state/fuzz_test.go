package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzDecode checks that Decode never panics, that every error is
// ErrInvalid, and that anything it accepts is valid, canonical in the
// current version, and re-encoded from an older version without loss. When
// frame is set the input is used as a payload behind a correct header and
// checksum: without that the fuzzer would almost never get past the CRC and
// the payload parser would go untested.
func FuzzDecode(f *testing.F) {
	for _, file := range sampleFiles() {
		b := mustEncode(f, file)
		if len(b) > 4096 {
			continue
		}
		f.Add(b, false)
		f.Add(b[headerLen:len(b)-trailerLen], true)
		f.Add(b[:len(b)/2], false)
		if len(file.Sources) != 0 {
			continue
		}
		if v3 := encodeV3(file); len(v3) <= 4096 {
			f.Add(v3, false)
		}
		if v1 := encodeV1(plantedURL, file); len(v1) <= 4096 && file.Sums == 0 {
			f.Add(v1, false)
			f.Add(encodeV2(file), false)
		}
	}
	f.Add([]byte{}, false)
	f.Add([]byte(magic), false)
	f.Add([]byte{0, 0, 0, 10, 1, 10, 5}, true)
	f.Fuzz(func(t *testing.T, data []byte, framed bool) {
		in := data
		if framed {
			in = frame(Version, data)
		}
		file, err := Decode(in)
		if err != nil {
			if file != nil {
				t.Fatalf("Decode returned a File with error %v", err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if err := file.Validate(); err != nil {
			t.Fatalf("Decode accepted an invalid File: %v", err)
		}
		out, err := Encode(file)
		if err != nil {
			t.Fatalf("Encode of decoded File: %v", err)
		}
		if v := binary.BigEndian.Uint16(in[len(magic):]); v != Version && !file.Outdated() {
			// Versions 2 and 3: the current encoding carries the same
			// File (without sources, which they could not hold).
			if file.Sources != nil {
				t.Fatalf("version %d decoded with sources", v)
			}
			again, err := Decode(out)
			if err != nil || !reflect.DeepEqual(file, again) {
				t.Fatalf("re-encoded version %d: %v", v, err)
			}
			return
		}
		if file.Outdated() {
			// An older version: the current encoding must carry the
			// same File, minus what the old one held and this drops.
			again, err := Decode(out)
			if err != nil || again.Outdated() {
				t.Fatalf("re-encoded old version: %v", err)
			}
			file.outdated = false
			if !reflect.DeepEqual(file, again) {
				t.Fatalf("re-encoding an old version changed the File:\n%+v\n%+v", file, again)
			}
			return
		}
		if !bytes.Equal(in, out) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", in, out)
		}
	})
}

// FuzzSourcesRoundTrip builds Files whose sources come from arbitrary
// strings: Encode refuses exactly what Validate refuses (empty or repeated
// keys, too many sources), and anything it encodes decodes to the same File
// and encodes to the same bytes again. spec holds one source a line, its
// key, ETag and Last-Modified separated by tabs.
func FuzzSourcesRoundTrip(f *testing.F) {
	f.Add(`"p"`, "", "a\t\"e\"\tThu, 22 Oct 2015 08:00:00 GMT\nb\t\t", uint8(3))
	f.Add("", "", "a\na", uint8(0))
	f.Add("", "", "\t\"no key\"", uint8(1))
	f.Add("", "", strings.Repeat("k\n", MaxSources+1), uint8(1))
	f.Add("", "", "", uint8(1))
	f.Fuzz(func(t *testing.T, etag, lastModified, spec string, crcs uint8) {
		file := &File{Size: 10, ETag: etag, LastModified: lastModified, Segments: []Segment{{0, 4, 4}, {4, 10, 0}}}
		if crcs&1 != 0 {
			file.Sums, file.CRCs = CRC32C|CRC64NVME, []CRC{{uint32(crcs), uint64(crcs) << 32}, {}}
		}
		if spec != "" {
			for line := range strings.SplitSeq(spec, "\n") {
				var s Source
				fields := strings.SplitN(line, "\t", 3)
				for i, p := range []*string{&s.Key, &s.ETag, &s.LastModified} {
					if i < len(fields) {
						*p = fields[i]
					}
				}
				file.Sources = append(file.Sources, s)
			}
		}
		b, err := Encode(file)
		if verr := file.Validate(); verr != nil {
			if err == nil || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate refuses (%v) but Encode returned %v", verr, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Encode of a valid File: %v", err)
		}
		g, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode of an encoded File: %v", err)
		}
		if !reflect.DeepEqual(file, g) {
			t.Fatalf("round trip changed the File:\n%+v\n%+v", file, g)
		}
		if again := mustEncode(t, g); !bytes.Equal(b, again) {
			t.Fatalf("re-encoding differs:\n%x\n%x", b, again)
		}
	})
}
