package segment

import (
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/bulkget/bulkget/checksum"
)

// Digest algorithms, as bulkget names them in events and summaries
// (package checksum computes them).
const (
	SHA256    = checksum.SHA256
	SHA512    = checksum.SHA512
	MD5       = checksum.MD5
	CRC32C    = checksum.CRC32C
	CRC64NVME = checksum.CRC64NVME
)

// digestLen is the length in bytes of each algorithm's value; a value of
// another length is not that algorithm's and is ignored.
var digestLen = map[string]int{SHA256: 32, SHA512: 64, MD5: 16, CRC32C: 4, CRC64NVME: 8}

// Digest is a checksum of the whole remote file that a response vouches
// for: what the finished file must hash to.
type Digest struct {
	Algo   string // SHA256, SHA512, MD5, CRC32C or CRC64NVME
	Sum    []byte // the raw value; CRCs big-endian
	Source string // the header it came from, as it is named to the user: "repr-digest", "x-goog-hash", …
}

// Hex is the value in lower-case hex, the form the list's checksums take.
func (d Digest) Hex() string { return hex.EncodeToString(d.Sum) }

func digest(algo, source string, sum []byte) (Digest, bool) {
	if n, ok := digestLen[algo]; !ok || len(sum) != n {
		return Digest{}, false
	}
	return Digest{Algo: algo, Sum: sum, Source: source}, true
}

// b64 decodes standard base64, padded or not: servers differ.
func b64(s string) ([]byte, bool) {
	s = strings.TrimRight(s, "=")
	b, err := base64.RawStdEncoding.Strict().DecodeString(s)
	return b, err == nil && len(b) > 0
}

// members splits a comma-separated header list (every value of every
// field line) into its trimmed, non-empty members.
func members(values []string) []string {
	var out []string
	for _, v := range values {
		for m := range strings.SplitSeq(v, ",") {
			if m = strings.TrimSpace(m); m != "" {
				out = append(out, m)
			}
		}
	}
	return out
}

// ParseReprDigest reads Repr-Digest (RFC 9530), a structured-field
// dictionary of byte sequences: `sha-256=:base64:, sha-512=:base64:`.
// Members of other algorithms, parameters and malformed members are
// ignored: an unusable member must not hide a usable one.
func ParseReprDigest(values []string) []Digest {
	var out []Digest
	for _, m := range members(values) {
		key, val, ok := strings.Cut(m, "=")
		if !ok {
			continue
		}
		val, _, _ = strings.Cut(val, ";") // parameters
		val = strings.TrimSpace(val)
		if len(val) < 2 || val[0] != ':' || val[len(val)-1] != ':' {
			continue
		}
		algo := ""
		switch strings.TrimSpace(key) { // structured-field keys are lower case
		case "sha-256":
			algo = SHA256
		case "sha-512":
			algo = SHA512
		default:
			continue
		}
		// An sf byte sequence is padded base64.
		sum, err := base64.StdEncoding.Strict().DecodeString(val[1 : len(val)-1])
		if err != nil {
			continue
		}
		if d, ok := digest(algo, "repr-digest", sum); ok {
			out = append(out, d)
		}
	}
	return out
}

// ParseDigest reads the older Digest header (RFC 3230, instance digests):
// `SHA-256=base64, MD5=base64`, algorithm names in any case.
func ParseDigest(values []string) []Digest {
	var out []Digest
	for _, m := range members(values) {
		key, val, ok := strings.Cut(m, "=")
		if !ok {
			continue
		}
		algo := ""
		switch strings.ToLower(strings.TrimSpace(key)) {
		case "sha-256":
			algo = SHA256
		case "sha-512":
			algo = SHA512
		case "md5":
			algo = MD5
		default:
			continue
		}
		sum, ok := b64(strings.Trim(strings.TrimSpace(val), `"`))
		if !ok {
			continue
		}
		if d, ok := digest(algo, "digest", sum); ok {
			out = append(out, d)
		}
	}
	return out
}

// ParseContentMD5 reads Content-MD5 (RFC 1864): the base64 MD5 of the
// body. It vouches for the whole file only when the body is the whole
// file; the caller decides that.
func ParseContentMD5(v string) (Digest, bool) {
	sum, ok := b64(strings.TrimSpace(v))
	if !ok {
		return Digest{}, false
	}
	return digest(MD5, "content-md5", sum)
}

// ParseGoogHash reads x-goog-hash (Google Cloud Storage), which may come
// as several field lines or one list: `crc32c=base64, md5=base64`. The
// md5 is absent for composite objects; the crc32c is always of the whole
// object.
func ParseGoogHash(values []string) []Digest {
	var out []Digest
	for _, m := range members(values) {
		key, val, ok := strings.Cut(m, "=")
		if !ok {
			continue
		}
		algo := ""
		switch strings.ToLower(strings.TrimSpace(key)) {
		case "crc32c":
			algo = CRC32C
		case "md5":
			algo = MD5
		default:
			continue
		}
		sum, ok := b64(strings.TrimSpace(val))
		if !ok {
			continue
		}
		if d, ok := digest(algo, "x-goog-hash", sum); ok {
			out = append(out, d)
		}
	}
	return out
}

// amzChecksums are the x-amz-checksum-* headers bulkget can verify.
var amzChecksums = [...]struct{ header, algo string }{
	{"X-Amz-Checksum-Crc32c", CRC32C},
	{"X-Amz-Checksum-Crc64nvme", CRC64NVME},
	{"X-Amz-Checksum-Sha256", SHA256},
}

// ParseAmzChecksum reads the S3 checksums of h. They vouch for the whole
// object only when x-amz-checksum-type is FULL_OBJECT or absent: a
// COMPOSITE checksum, marked also by its "-N" suffix (the number of
// parts), is a checksum of the parts' checksums, which the file's bytes
// alone cannot reproduce.
func ParseAmzChecksum(h http.Header) []Digest {
	if t := strings.TrimSpace(h.Get("X-Amz-Checksum-Type")); t != "" && !strings.EqualFold(t, "FULL_OBJECT") {
		return nil
	}
	var out []Digest
	for _, c := range amzChecksums {
		v := strings.TrimSpace(h.Get(c.header))
		if v == "" || strings.Contains(v, "-") {
			continue // empty, or a composite "-N"; '-' is not in base64
		}
		sum, ok := b64(v)
		if !ok {
			continue
		}
		if d, ok := digest(c.algo, strings.ToLower(c.header), sum); ok {
			out = append(out, d)
		}
	}
	return out
}

// ParseHexETag reads an ETag (or X-Linked-Etag) that is a SHA-256 in hex:
// 64 hex digits, quoted or not, never weak. Whether a host means a SHA-256
// by it is for ETagMeansSHA256 to say.
func ParseHexETag(v, source string) (Digest, bool) {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "W/") {
		return Digest{}, false
	}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	if len(v) != 64 {
		return Digest{}, false
	}
	sum, err := hex.DecodeString(v)
	if err != nil {
		return Digest{}, false
	}
	return digest(SHA256, source, sum)
}

// sha256ETagHosts are the hosts known to send the SHA-256 of a file as its
// ETag (or, on the redirect to their CDN, as X-Linked-Etag) when the ETag
// is 64 hex digits. Hugging Face does so for files stored with Git LFS or
// Xet, the large ones; its smaller files carry a git blob id (40 digits),
// which is not taken for anything. A host is added only on its own
// documentation: elsewhere a 64-digit ETag means whatever the server likes.
var sha256ETagHosts = []struct {
	name   string
	prefix bool // name is a host prefix before one of the domains below: "cdn-lfs" covers cdn-lfs-us-1
}{
	{"huggingface.co", false},
	{"hf.co", false},
	{"cdn-lfs", true},
}

// ETagMeansSHA256 says whether host is known to mean a file's SHA-256 by
// a 64-hex ETag (see sha256ETagHosts).
func ETagMeansSHA256(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, h := range sha256ETagHosts {
		if !h.prefix {
			if host == h.name {
				return true
			}
			continue
		}
		for _, domain := range [...]string{".huggingface.co", ".hf.co"} {
			if sub, ok := strings.CutSuffix(host, domain); ok && strings.HasPrefix(sub, h.name) && !strings.Contains(sub, ".") {
				return true
			}
		}
	}
	return false
}

// Digests collects what hresp vouches for about the whole remote file:
// Repr-Digest, Digest, x-goog-hash, the full-object x-amz-checksum-*
// headers, Content-MD5 when full says the body is the whole file, and a
// 64-hex ETag or X-Linked-Etag from a host that means a SHA-256 by it, on
// the final response or on a redirect that led to it. Duplicates (the
// same algorithm twice) keep the first, in that order.
func Digests(hresp *http.Response, full bool) []Digest {
	h := hresp.Header
	var out []Digest
	add := func(ds ...Digest) {
		for _, d := range ds {
			if !hasAlgo(out, d.Algo) {
				out = append(out, d)
			}
		}
	}
	add(ParseReprDigest(h.Values("Repr-Digest"))...)
	add(ParseDigest(h.Values("Digest"))...)
	add(ParseGoogHash(h.Values("X-Goog-Hash"))...)
	add(ParseAmzChecksum(h)...)
	if full {
		if d, ok := ParseContentMD5(h.Get("Content-Md5")); ok {
			add(d)
		}
	}
	for resp := hresp; resp != nil; {
		req := resp.Request
		if req == nil || req.URL == nil {
			break
		}
		if ETagMeansSHA256(req.URL.Hostname()) {
			if d, ok := ParseHexETag(resp.Header.Get("X-Linked-Etag"), "x-linked-etag"); ok {
				add(d)
			}
			if d, ok := ParseHexETag(resp.Header.Get("ETag"), "etag"); ok {
				add(d)
			}
		}
		resp = req.Response // the redirect that led here
	}
	return out
}

func hasAlgo(ds []Digest, algo string) bool {
	for _, d := range ds {
		if d.Algo == algo {
			return true
		}
	}
	return false
}
