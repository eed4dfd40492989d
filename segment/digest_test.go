package segment

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"net/http"
	"net/url"
	"slices"
	"testing"
)

var (
	body      = []byte("the quick brown fox")
	sha256Sum = func() []byte { s := sha256.Sum256(body); return s[:] }()
	sha512Sum = func() []byte { s := sha512.Sum512(body); return s[:] }()
	md5Sum    = func() []byte { s := md5.Sum(body); return s[:] }()
	crc32cSum = binary.BigEndian.AppendUint32(nil, crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
)

func b64s(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// got renders digests as "algo:hex@source" for comparing.
func got(ds []Digest) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Algo+":"+d.Hex()+"@"+d.Source)
	}
	return out
}

func want(pairs ...any) []string {
	var out []string
	for i := 0; i < len(pairs); i += 3 {
		out = append(out, pairs[i].(string)+":"+hex.EncodeToString(pairs[i+1].([]byte))+"@"+pairs[i+2].(string))
	}
	return out
}

func TestParseReprDigest(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string
		want []string
	}{
		{"sha-256", []string{"sha-256=:" + b64s(sha256Sum) + ":"}, want(SHA256, sha256Sum, "repr-digest")},
		{"both, two lines", []string{"sha-512=:" + b64s(sha512Sum) + ":", "sha-256=:" + b64s(sha256Sum) + ":"},
			want(SHA512, sha512Sum, "repr-digest", SHA256, sha256Sum, "repr-digest")},
		{"unknown algorithm skipped", []string{"unixsum=:AAAA:, sha-256=:" + b64s(sha256Sum) + ":"}, want(SHA256, sha256Sum, "repr-digest")},
		{"parameters ignored", []string{"sha-256=:" + b64s(sha256Sum) + ":;foo=1"}, want(SHA256, sha256Sum, "repr-digest")},
		{"not a byte sequence", []string{"sha-256=" + b64s(sha256Sum)}, nil},
		{"wrong length", []string{"sha-256=:" + b64s(md5Sum) + ":"}, nil},
		{"upper-case key is not sf", []string{"SHA-256=:" + b64s(sha256Sum) + ":"}, nil},
		{"empty", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if g := got(ParseReprDigest(tc.in)); !slices.Equal(g, tc.want) {
				t.Fatalf("got %v, want %v", g, tc.want)
			}
		})
	}
}

func TestParseDigest(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string
		want []string
	}{
		{"SHA-256", []string{"SHA-256=" + b64s(sha256Sum)}, want(SHA256, sha256Sum, "digest")},
		{"MD5 and sha-512", []string{"MD5=" + b64s(md5Sum) + ",sha-512=" + b64s(sha512Sum)},
			want(MD5, md5Sum, "digest", SHA512, sha512Sum, "digest")},
		{"unpadded", []string{"sha-256=" + base64.RawStdEncoding.EncodeToString(sha256Sum)}, want(SHA256, sha256Sum, "digest")},
		{"unknown", []string{"UNIXsum=123"}, nil},
		{"garbage", []string{"sha-256=!!!"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if g := got(ParseDigest(tc.in)); !slices.Equal(g, tc.want) {
				t.Fatalf("got %v, want %v", g, tc.want)
			}
		})
	}
}

func TestParseGoogHash(t *testing.T) {
	g := got(ParseGoogHash([]string{"crc32c=" + b64s(crc32cSum), "md5=" + b64s(md5Sum)}))
	if w := want(CRC32C, crc32cSum, "x-goog-hash", MD5, md5Sum, "x-goog-hash"); !slices.Equal(g, w) {
		t.Fatalf("got %v, want %v", g, w)
	}
	if g := got(ParseGoogHash([]string{"crc32c=" + b64s(crc32cSum) + ",md5=" + b64s(md5Sum)})); len(g) != 2 {
		t.Fatalf("one line: got %v", g)
	}
}

func TestParseAmzChecksum(t *testing.T) {
	crc64 := bytes.Repeat([]byte{7}, 8)
	for _, tc := range []struct {
		name string
		h    http.Header
		want []string
	}{
		{"full object", http.Header{"X-Amz-Checksum-Crc32c": {b64s(crc32cSum)}, "X-Amz-Checksum-Type": {"FULL_OBJECT"}},
			want(CRC32C, crc32cSum, "x-amz-checksum-crc32c")},
		{"type absent", http.Header{"X-Amz-Checksum-Crc64nvme": {b64s(crc64)}, "X-Amz-Checksum-Sha256": {b64s(sha256Sum)}},
			want(CRC64NVME, crc64, "x-amz-checksum-crc64nvme", SHA256, sha256Sum, "x-amz-checksum-sha256")},
		{"composite type", http.Header{"X-Amz-Checksum-Crc32c": {b64s(crc32cSum)}, "X-Amz-Checksum-Type": {"COMPOSITE"}}, nil},
		{"composite suffix", http.Header{"X-Amz-Checksum-Sha256": {b64s(sha256Sum) + "-3"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if g := got(ParseAmzChecksum(tc.h)); !slices.Equal(g, tc.want) {
				t.Fatalf("got %v, want %v", g, tc.want)
			}
		})
	}
}

func TestContentMD5OnlyOnAWholeBody(t *testing.T) {
	h := http.Header{"Content-Md5": {b64s(md5Sum)}}
	resp := &http.Response{Header: h, Request: &http.Request{URL: &url.URL{Host: "example.com"}}}
	if g := got(Digests(resp, true)); !slices.Equal(g, want(MD5, md5Sum, "content-md5")) {
		t.Fatalf("whole body: %v", g)
	}
	if g := Digests(resp, false); len(g) != 0 {
		t.Fatalf("partial body: %v", g)
	}
}

func TestETagIsSHA256OnlyWhereTheHostSaysSo(t *testing.T) {
	etag := `"` + hex.EncodeToString(sha256Sum) + `"`
	for _, tc := range []struct {
		host string
		ok   bool
	}{
		{"huggingface.co", true}, {"hf.co", true}, {"cdn-lfs.huggingface.co", true}, {"cdn-lfs-us-1.hf.co", true},
		{"cdn-lfs.hf.co.", true}, {"example.com", false}, {"evilhuggingface.co", false}, {"cdn-lfs.evil.huggingface.co", false},
		{"s3.amazonaws.com", false},
	} {
		resp := &http.Response{Header: http.Header{"Etag": {etag}}, Request: &http.Request{URL: &url.URL{Host: tc.host}}}
		if g := Digests(resp, false); (len(g) == 1) != tc.ok {
			t.Errorf("%s: got %v, want ok=%v", tc.host, g, tc.ok)
		}
	}
	// A git blob id (40 digits) and a weak tag are never taken.
	for _, e := range []string{`"` + hex.EncodeToString(sha256Sum[:20]) + `"`, "W/" + etag} {
		if _, ok := ParseHexETag(e, "etag"); ok {
			t.Errorf("%s taken as a SHA-256", e)
		}
	}
}

func TestXLinkedEtagOnTheRedirect(t *testing.T) {
	hop := &http.Response{Header: http.Header{"X-Linked-Etag": {`"` + hex.EncodeToString(sha256Sum) + `"`}},
		Request: &http.Request{URL: &url.URL{Host: "huggingface.co"}}}
	final := &http.Response{Header: http.Header{"Etag": {`"abc"`}},
		Request: &http.Request{URL: &url.URL{Host: "cas-bridge.xethub.hf.co"}, Response: hop}}
	if g := got(Digests(final, false)); !slices.Equal(g, want(SHA256, sha256Sum, "x-linked-etag")) {
		t.Fatalf("got %v", g)
	}
}

// checkDigests is what every parser's output must satisfy: a known
// algorithm with a value of its length, and a source.
func checkDigests(t *testing.T, ds []Digest) {
	t.Helper()
	for _, d := range ds {
		if n, ok := digestLen[d.Algo]; !ok || len(d.Sum) != n || d.Source == "" {
			t.Fatalf("bad digest %+v", d)
		}
	}
}

func FuzzParseReprDigest(f *testing.F) {
	f.Add("sha-256=:" + b64s(sha256Sum) + ":, sha-512=:" + b64s(sha512Sum) + ":")
	f.Add("sha-256=:AAAA:;a=b")
	f.Add(":::,=,")
	f.Fuzz(func(t *testing.T, s string) {
		ds := ParseReprDigest([]string{s})
		checkDigests(t, ds)
		for _, d := range ds { // what it read, written back, reads the same
			key := map[string]string{SHA256: "sha-256", SHA512: "sha-512"}[d.Algo]
			again := ParseReprDigest([]string{key + "=:" + b64s(d.Sum) + ":"})
			if len(again) != 1 || !bytes.Equal(again[0].Sum, d.Sum) {
				t.Fatalf("round trip of %+v: %+v", d, again)
			}
		}
	})
}

func FuzzParseDigest(f *testing.F) {
	f.Add("SHA-256=" + b64s(sha256Sum) + ", MD5=" + b64s(md5Sum))
	f.Add(`md5="` + b64s(md5Sum) + `"`)
	f.Add("=,=")
	f.Fuzz(func(t *testing.T, s string) { checkDigests(t, ParseDigest([]string{s})) })
}

func FuzzParseContentMD5(f *testing.F) {
	f.Add(b64s(md5Sum))
	f.Add("====")
	f.Fuzz(func(t *testing.T, s string) {
		if d, ok := ParseContentMD5(s); ok {
			checkDigests(t, []Digest{d})
		}
	})
}

func FuzzParseGoogHash(f *testing.F) {
	f.Add("crc32c=" + b64s(crc32cSum) + ",md5=" + b64s(md5Sum))
	f.Add("crc32c=n03x6A==")
	f.Fuzz(func(t *testing.T, s string) { checkDigests(t, ParseGoogHash([]string{s})) })
}

func FuzzParseAmzChecksum(f *testing.F) {
	f.Add(b64s(crc32cSum), "", "FULL_OBJECT")
	f.Add(b64s(crc32cSum)+"-4", b64s(sha256Sum), "")
	f.Fuzz(func(t *testing.T, crc, sha, typ string) {
		h := http.Header{}
		h.Set("X-Amz-Checksum-Crc32c", crc)
		h.Set("X-Amz-Checksum-Sha256", sha)
		h.Set("X-Amz-Checksum-Type", typ)
		ds := ParseAmzChecksum(h)
		checkDigests(t, ds)
		for _, d := range ds {
			if bytes.ContainsRune([]byte(crc+sha), '-') && d.Algo == CRC32C && bytes.ContainsRune([]byte(crc), '-') {
				t.Fatalf("composite value taken: %q", crc)
			}
		}
	})
}

func FuzzParseHexETag(f *testing.F) {
	f.Add(`"` + hex.EncodeToString(sha256Sum) + `"`)
	f.Add("W/\"" + hex.EncodeToString(sha256Sum) + `"`)
	f.Fuzz(func(t *testing.T, s string) {
		if d, ok := ParseHexETag(s, "etag"); ok {
			checkDigests(t, []Digest{d})
		}
	})
}
