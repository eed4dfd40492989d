package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
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
			// Version 2: the current encoding carries the same File.
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
