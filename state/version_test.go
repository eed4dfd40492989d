package state

import (
	"bytes"
	"encoding/binary"
	"os"
	"reflect"
	"testing"
)

// encodeV1 is Encode as version 1 wrote it: the URL first, then what
// version 2 stores.
func encodeV1(url string, f *File) []byte {
	b := mustEncodeV2Payload(f)
	return frame(version1, append(binary.AppendUvarint(nil, uint64(len(url))), append([]byte(url), b...)...))
}

// mustEncodeV2Payload is the payload as version 2 wrote it: the current
// one without the CRCs and their kinds.
func mustEncodeV2Payload(f *File) []byte {
	if err := f.Validate(); err != nil {
		panic(err)
	}
	var p []byte
	for _, s := range [...]string{f.ETag, f.LastModified} {
		p = binary.AppendUvarint(p, uint64(len(s)))
		p = append(p, s...)
	}
	p = binary.AppendUvarint(p, uint64(f.Size))
	p = binary.AppendUvarint(p, uint64(len(f.Segments)))
	for _, s := range f.Segments {
		p = binary.AppendUvarint(p, uint64(s.End-s.Start))
		p = binary.AppendUvarint(p, uint64(s.Done))
	}
	return p
}

// encodeV2 is Encode as version 2 wrote it.
func encodeV2(f *File) []byte { return frame(version2, mustEncodeV2Payload(f)) }

// TestVersion2StatesResume reads states of the previous version, which had
// no CRCs: every claim is kept, and the File has no CRCs.
func TestVersion2StatesResume(t *testing.T) {
	for name, want := range sampleFiles() {
		if want.Sums != 0 {
			continue
		}
		f, err := Decode(encodeV2(want))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if f.Outdated() || !reflect.DeepEqual(f, want) {
			t.Fatalf("%s: decoded %+v, want %+v", name, f, want)
		}
	}
}

func TestCRCsRoundTrip(t *testing.T) {
	f := &File{Size: 10, Segments: []Segment{{0, 4, 4}, {4, 10, 0}}, Sums: CRC32C | CRC64NVME,
		CRCs: []CRC{{0xdeadbeef, 0x0123456789abcdef}, {}}}
	b, err := Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	g, err := Decode(b)
	if err != nil || !reflect.DeepEqual(f, g) {
		t.Fatalf("decoded %+v, %v", g, err)
	}
	for _, bad := range []*File{
		{Size: 10, Segments: []Segment{{0, 10, 0}}, Sums: CRC32C, CRCs: []CRC{{CRC32C: 1}}}, // a CRC of nothing
		{Size: 10, Segments: []Segment{{0, 10, 5}}, Sums: CRC32C, CRCs: []CRC{{CRC64NVME: 1}}},
		{Size: 10, Segments: []Segment{{0, 10, 5}}, Sums: CRC32C},
		{Size: 10, Segments: []Segment{{0, 10, 5}}, Sums: 4, CRCs: []CRC{{}}},
	} {
		if _, err := Encode(bad); err == nil {
			t.Errorf("Encode accepted %+v", bad)
		}
	}
}

const plantedURL = "https://user:s3cr3t@example.com/data/file.bin?X-Amz-Signature=PLANTED&token=PLANTED"

// TestVersion1FileFromDisk reads a state written by bulkget's version 1
// encoder (testdata/v1.state, holding a URL with a password and a
// signature) and checks that it resumes with every claim, and that saving
// it again keeps no trace of the URL.
func TestVersion1FileFromDisk(t *testing.T) {
	b, err := os.ReadFile("testdata/v1.state")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("s3cr3t")) {
		t.Fatal("fixture lost its planted secret")
	}
	f, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode of a version 1 state: %v", err)
	}
	if !f.Outdated() {
		t.Errorf("a version 1 state is not reported Outdated")
	}
	want := sampleFiles()["typical"]
	if f.Size != want.Size || f.ETag != want.ETag || f.LastModified != want.LastModified ||
		!reflect.DeepEqual(f.Segments, want.Segments) {
		t.Fatalf("decoded %+v, want %+v", f, want)
	}
	out, err := Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"s3cr3t", "PLANTED", "example.com"} {
		if bytes.Contains(out, []byte(secret)) {
			t.Errorf("re-encoded state still holds %q", secret)
		}
	}
	if !bytes.Equal(out, mustEncode(t, want)) || binary.BigEndian.Uint16(out[len(magic):]) != Version {
		t.Errorf("re-encoding is not the current version's encoding of the same File")
	}
	g, err := Decode(out)
	if err != nil || g.Outdated() {
		t.Errorf("re-encoded state: Outdated %v, err %v", g != nil && g.Outdated(), err)
	}
}

func TestVersion1RoundTrip(t *testing.T) {
	for name, f := range sampleFiles() {
		if len(f.ETag)+len(f.LastModified)+len(plantedURL) > maxStringLen*3 || f.Sums != 0 {
			continue
		}
		t.Run(name, func(t *testing.T) {
			g, err := Decode(encodeV1(plantedURL, f))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !g.Outdated() {
				t.Errorf("not Outdated")
			}
			g.outdated = false
			if !reflect.DeepEqual(f, g) {
				t.Fatalf("version 1 decodes to\n %+v\nwant %+v", g, f)
			}
		})
	}
}

func TestVersion1Damage(t *testing.T) {
	b := encodeV1(plantedURL, sampleFiles()["empty segment"])
	for n := 0; n < len(b); n++ {
		wantInvalid(t, b[:n], "version 1 truncated")
	}
	for i := range b {
		for bit := 0; bit < 8; bit++ {
			c := append([]byte(nil), b...)
			c[i] ^= 1 << bit
			wantInvalid(t, c, "version 1 bit flip")
		}
	}
	// A version 2 payload framed as version 1 reads its ETag as the URL and
	// is out of step from there on.
	wantInvalid(t, frame(version1, mustEncodeV2Payload(sampleFiles()["typical"])), "version 2 payload as version 1")
}
