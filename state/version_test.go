package state

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
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

// encodeV3 is Encode as version 3 wrote it: version 2's payload with the
// kinds of CRC after the size and the CRCs after each segment's done count.
func encodeV3(f *File) []byte {
	if err := f.Validate(); err != nil || len(f.Sources) != 0 {
		panic(fmt.Sprintf("version 3 cannot hold %+v (%v)", f, err))
	}
	var p []byte
	for _, s := range [...]string{f.ETag, f.LastModified} {
		p = binary.AppendUvarint(p, uint64(len(s)))
		p = append(p, s...)
	}
	p = binary.AppendUvarint(p, uint64(f.Size))
	p = binary.AppendUvarint(p, uint64(f.Sums))
	p = binary.AppendUvarint(p, uint64(len(f.Segments)))
	for i, s := range f.Segments {
		p = binary.AppendUvarint(p, uint64(s.End-s.Start))
		p = binary.AppendUvarint(p, uint64(s.Done))
		if f.Sums&CRC32C != 0 {
			p = binary.BigEndian.AppendUint32(p, f.CRCs[i].CRC32C)
		}
		if f.Sums&CRC64NVME != 0 {
			p = binary.BigEndian.AppendUint64(p, f.CRCs[i].CRC64NVME)
		}
	}
	return frame(version3, p)
}

// fixtureFile is the File in testdata/v3.state (written by the version 3
// encoder) and, with fixtureSources, in testdata/v4.state.
func fixtureFile() *File {
	return &File{
		Size: 10 << 20, ETag: `"5f3a-abc"`, LastModified: "Wed, 21 Oct 2015 07:28:00 GMT",
		Segments: []Segment{{0, 4 << 20, 4 << 20}, {4 << 20, 8 << 20, 123456}, {8 << 20, 10 << 20, 0}},
		Sums:     CRC32C | CRC64NVME,
		CRCs:     []CRC{{0x12345678, 0x9abcdef012345678}, {0xdeadbeef, 0x0123456789abcdef}, {}},
	}
}

var fixtureSources = []Source{
	{Key: "3q2+7wAB", ETag: `"mirror-etag"`, LastModified: "Thu, 22 Oct 2015 08:00:00 GMT"},
	{Key: "cafef00d", ETag: `W/"weak"`},
	{Key: "0badc0de"},
}

// TestVersion3FileFromDisk reads a state written by bulkget's version 3
// encoder (testdata/v3.state, frozen when version 4 added the sources): it
// resumes with every claim and CRC and no sources, and is not Outdated
// (version 3 held no secret).
func TestVersion3FileFromDisk(t *testing.T) {
	b, err := os.ReadFile("testdata/v3.state")
	if err != nil {
		t.Fatal(err)
	}
	if v := binary.BigEndian.Uint16(b[len(magic):]); v != version3 {
		t.Fatalf("fixture is version %d", v)
	}
	if !bytes.Equal(b, encodeV3(fixtureFile())) {
		t.Fatalf("encodeV3 no longer writes what the version 3 encoder wrote")
	}
	f, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode of a version 3 state: %v", err)
	}
	if want := fixtureFile(); f.Outdated() || !reflect.DeepEqual(f, want) {
		t.Fatalf("decoded %+v, want %+v", f, want)
	}
}

// TestVersion3StatesResume reads states of the previous version, which had
// no sources: every claim and CRC is kept, and the File has no sources.
func TestVersion3StatesResume(t *testing.T) {
	for name, want := range sampleFiles() {
		if len(want.Sources) != 0 {
			continue
		}
		f, err := Decode(encodeV3(want))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if f.Outdated() || f.Sources != nil || !reflect.DeepEqual(f, want) {
			t.Fatalf("%s: decoded %+v, want %+v", name, f, want)
		}
	}
}

var update = flag.Bool("update", false, "rewrite testdata/v4.state from the current encoder")

// TestVersion4Golden decodes testdata/v4.state and, while 4 is the current
// version, checks that Encode writes exactly those bytes, so a layout change
// without a new Version fails here. Once Version moves on, the file stays as
// version 4's decode fixture; -update rewrites it only while Version is 4.
func TestVersion4Golden(t *testing.T) {
	want := fixtureFile()
	want.Sources = fixtureSources
	const path = "testdata/v4.state"
	if *update && Version == 4 {
		if err := os.WriteFile(path, mustEncode(t, want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if b := mustEncode(t, want); Version == 4 && !bytes.Equal(b, golden) {
		t.Errorf("Encode writes\n%x\nwhere version 4 wrote\n%x", b, golden)
	}
	f, err := Decode(golden)
	if err != nil {
		t.Fatalf("Decode of a version 4 state: %v", err)
	}
	if f.Outdated() || !reflect.DeepEqual(f, want) {
		t.Fatalf("decoded %+v, want %+v", f, want)
	}
}

// TestVersion2StatesResume reads states of the previous version, which had
// no CRCs: every claim is kept, and the File has no CRCs.
func TestVersion2StatesResume(t *testing.T) {
	for name, want := range sampleFiles() {
		if want.Sums != 0 || len(want.Sources) != 0 {
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
		if len(f.ETag)+len(f.LastModified)+len(plantedURL) > maxStringLen*3 || f.Sums != 0 || len(f.Sources) != 0 {
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
