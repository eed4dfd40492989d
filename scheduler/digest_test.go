package scheduler

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"hash/crc64"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulkget/bulkget/manifest"
)

// digestKind is one way a server vouches for a file: the headers it sends
// for content b, and the label bulkget must report for it.
type digestKind struct {
	name    string
	label   string
	headers func(b []byte) http.Header
	// host, if set, is the host the file is fetched from (the test's
	// client dials the test server whatever the host).
	host string
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func sha256Of(b []byte) []byte { s := sha256.Sum256(b); return s[:] }
func sha512Of(b []byte) []byte { s := sha512.Sum512(b); return s[:] }
func md5Bytes(b []byte) []byte { s := md5.Sum(b); return s[:] }
func crc32cOf(b []byte) []byte {
	return binary.BigEndian.AppendUint32(nil, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}
func crc64nvmeOf(b []byte) []byte {
	return binary.BigEndian.AppendUint64(nil, crc64.Checksum(b, crc64.MakeTable(0x9A6C9329AC4BC9B5))) // CRC-64/NVME, reflected
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

var digestKinds = []digestKind{
	{name: "repr-digest sha-256", label: "sha256 from repr-digest",
		headers: func(b []byte) http.Header { return hdr("Repr-Digest", "sha-256=:"+b64(sha256Of(b))+":") }},
	{name: "repr-digest sha-512", label: "sha512 from repr-digest",
		headers: func(b []byte) http.Header { return hdr("Repr-Digest", "sha-512=:"+b64(sha512Of(b))+":") }},
	{name: "digest SHA-256", label: "sha256 from digest",
		headers: func(b []byte) http.Header { return hdr("Digest", "SHA-256="+b64(sha256Of(b))) }},
	{name: "digest MD5", label: "md5 from digest",
		headers: func(b []byte) http.Header { return hdr("Digest", "MD5="+b64(md5Bytes(b))) }},
	{name: "x-goog-hash crc32c", label: "crc32c from x-goog-hash",
		headers: func(b []byte) http.Header {
			return hdr("X-Goog-Hash", "crc32c="+b64(crc32cOf(b)), "X-Goog-Hash", "md5="+b64(md5Bytes(b)))
		}},
	{name: "x-goog-hash md5", label: "md5 from x-goog-hash",
		headers: func(b []byte) http.Header { return hdr("X-Goog-Hash", "md5="+b64(md5Bytes(b))) }},
	{name: "x-amz-checksum-crc32c", label: "crc32c from x-amz-checksum-crc32c",
		headers: func(b []byte) http.Header {
			return hdr("X-Amz-Checksum-Crc32c", b64(crc32cOf(b)), "X-Amz-Checksum-Type", "FULL_OBJECT")
		}},
	{name: "x-amz-checksum-crc64nvme", label: "crc64nvme from x-amz-checksum-crc64nvme",
		headers: func(b []byte) http.Header { return hdr("X-Amz-Checksum-Crc64nvme", b64(crc64nvmeOf(b))) }},
	{name: "x-amz-checksum-sha256", label: "sha256 from x-amz-checksum-sha256",
		headers: func(b []byte) http.Header { return hdr("X-Amz-Checksum-Sha256", b64(sha256Of(b))) }},
	{name: "hugging face etag", label: "sha256 from etag", host: "huggingface.co",
		headers: func(b []byte) http.Header { return hdr("Etag", `"`+hex.EncodeToString(sha256Of(b))+`"`) }},
	{name: "hugging face cdn etag", label: "sha256 from etag", host: "cdn-lfs-us-1.hf.co",
		headers: func(b []byte) http.Header { return hdr("Etag", `"`+hex.EncodeToString(sha256Of(b))+`"`) }},
}

// digestServer serves body as name.bin with the headers of kind on every
// answer; lie sends the digest of other bytes instead.
func digestServer(body []byte, kind digestKind, lie bool) *misbehave {
	m := &misbehave{body: body}
	vouched := body
	if lie {
		vouched = append([]byte{body[0] ^ 1}, body[1:]...)
	}
	m.header = kind.headers(vouched)
	m.noRanges = kind.name == "content-md5" // sent with a whole body only
	return m
}

// runDigest downloads name.bin from m through host (or the server's own
// address) and returns the summary and events.
func runDigest(t *testing.T, m *misbehave, host string, opts Options) (Summary, *recorder) {
	t.Helper()
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	url := srv.URL
	var d deps
	if host != "" {
		addr := srv.Listener.Addr().String()
		d.wrap = func(next http.RoundTripper) http.RoundTripper {
			tr := next.(*http.Transport).Clone()
			tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			}
			t.Cleanup(tr.CloseIdleConnections)
			return tr
		}
		url = "http://" + host
	}
	rec := &recorder{}
	opts.Reporter = rec
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sum, err := runWith(ctx, []manifest.Entry{{Line: 2, Name: "name.bin", URL: url + "/name.bin", Size: -1}}, opts, d)
	if err != nil {
		t.Fatal(err)
	}
	return sum, rec
}

func TestEveryServerDigestIsVerifiedAndALieCaught(t *testing.T) {
	kinds := append(digestKinds, digestKind{name: "content-md5", label: "md5 from content-md5",
		headers: func(b []byte) http.Header { return hdr("Content-Md5", b64(md5Bytes(b))) }})
	for _, size := range []struct {
		name  string
		bytes int
	}{{"small", 20 << 10}, {"segmented", 6 << 20}} {
		for _, kind := range kinds {
			if kind.name == "content-md5" && size.name == "segmented" {
				continue // sent only with a whole body, which a ranged file never gets
			}
			body := content(size.bytes)
			t.Run(size.name+"/"+kind.name, func(t *testing.T) {
				m := digestServer(body, kind, false)
				if size.name == "segmented" {
					m.pace = 5 * time.Millisecond // long enough to be split, however loaded the machine
				}
				opts := testOptions(t.TempDir())
				sum, rec := runDigest(t, m, kind.host, opts)
				if sum.Done != 1 {
					t.Fatalf("done %d, failed %v", sum.Done, sum.Failed)
				}
				if size.name == "segmented" && m.reqs.Load() < 2 {
					t.Errorf("%d requests: the file was not segmented", m.reqs.Load())
				}
				if len(sum.Verified) != 1 || sum.Verified[0].What != kind.label {
					t.Errorf("summary says verified %+v, want %q", sum.Verified, kind.label)
				}
				for _, e := range rec.events {
					if e.Kind == Done && e.Verified != kind.label {
						t.Errorf("done event says %q, want %q", e.Verified, kind.label)
					}
				}
			})
			t.Run(size.name+"/"+kind.name+"/lie", func(t *testing.T) {
				m := digestServer(body, kind, true)
				dir := t.TempDir()
				sum, rec := runDigest(t, m, kind.host, testOptions(dir))
				failedWith(t, sum, dir, "mismatch")
				msg := sum.Failed[0].Err.Error()
				algo, source, _ := strings.Cut(kind.label, " from ")
				if !strings.Contains(msg, algo+" mismatch: "+source+" says ") || !strings.Contains(msg, ", file has ") {
					t.Errorf("failure %q does not give both values", msg)
				}
				if n := rec.count(Warning); n < 1 {
					t.Errorf("no warning before the re-fetch")
				}
			})
		}
	}
}

func TestListChecksumWinsOverTheServers(t *testing.T) {
	body := content(20 << 10)
	m := digestServer(body, digestKinds[4], true) // the server lies
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	opts := testOptions(t.TempDir())
	rec := &recorder{}
	opts.Reporter = rec
	sum, err := Run(context.Background(), []manifest.Entry{{Line: 2, Name: "name.bin", URL: srv.URL + "/name.bin", Size: -1,
		SHA256: hex.EncodeToString(sha256Of(body))}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Done != 1 || len(sum.Verified) != 1 || sum.Verified[0].What != "sha256 from list" {
		t.Fatalf("done %d, verified %+v, failed %v", sum.Done, sum.Verified, sum.Failed)
	}
}

func TestNothingVouchedForSaysNone(t *testing.T) {
	m := &misbehave{body: content(20 << 10)}
	sum, _, _ := runOne(t, m, testOptions(t.TempDir()))
	if sum.Done != 1 || len(sum.Verified) != 1 || sum.Verified[0].What != "none" {
		t.Fatalf("done %d, verified %+v", sum.Done, sum.Verified)
	}
}

// procReadChars is the bytes this process has read with read(2) and its
// kin so far (rchar in /proc/self/io): sockets, page cache and disk alike.
func procReadChars(t *testing.T) (int64, bool) {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "rchar: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// TestAFileCheckedByCRCIsNeverReadBack: a segmented file checked by a
// server's CRC-32C or CRC-64/NVME is verified from its segments' CRCs,
// with no byte read back; one checked by a list SHA-256 reads back only
// what arrived ahead of its in-order prefix. The process's own count of
// bytes read (rchar) agrees: the download's socket reads, and no more.
func TestAFileCheckedByCRCIsNeverReadBack(t *testing.T) {
	const size = 16 << 20
	body := content(size)
	for _, kind := range []digestKind{digestKinds[4], digestKinds[7]} {
		t.Run(kind.name, func(t *testing.T) {
			m := digestServer(body, kind, false)
			m.pace = 2 * time.Millisecond // long enough to be split, however loaded the machine
			opts := testOptions(t.TempDir())
			opts.Connections = 8
			before, procOK := procReadChars(t)
			sum, _ := runDigest(t, m, "", opts)
			after, _ := procReadChars(t)
			if sum.Done != 1 || sum.Verified[0].What != kind.label {
				t.Fatalf("done %d, verified %+v, failed %v", sum.Done, sum.Verified, sum.Failed)
			}
			if m.reqs.Load() < 3 {
				t.Errorf("%d requests: not segmented", m.reqs.Load())
			}
			if sum.ReadBack != 0 {
				t.Errorf("%d bytes read back", sum.ReadBack)
			}
			// The socket reads are the file once (plus headers); a read back
			// would be the file again.
			if procOK && after-before > size+size/4 {
				t.Errorf("the process read %d bytes for a %d-byte file", after-before, size)
			}
		})
	}
	t.Run("sha256 from list", func(t *testing.T) {
		m := &misbehave{body: body}
		srv := httptest.NewServer(m)
		t.Cleanup(srv.Close)
		opts := testOptions(t.TempDir())
		opts.Connections = 8
		sum, err := Run(context.Background(), []manifest.Entry{{Line: 2, Name: "name.bin", URL: srv.URL + "/name.bin", Size: -1,
			SHA256: hex.EncodeToString(sha256Of(body))}}, opts)
		if err != nil || sum.Done != 1 {
			t.Fatalf("done %d, err %v, failed %v", sum.Done, err, sum.Failed)
		}
		if sum.ReadBack <= 0 || sum.ReadBack >= size {
			t.Errorf("read back %d of %d bytes: want more than nothing (it was segmented), less than the whole", sum.ReadBack, size)
		}
		t.Logf("read back %d of %d bytes (%.0f%%)", sum.ReadBack, size, 100*float64(sum.ReadBack)/size)
	})
}

// TestCRCsSurviveAnInterruption: the segments' CRCs are saved with their
// progress, so a resumed file is still checked without a read back.
func TestCRCsSurviveAnInterruption(t *testing.T) {
	const size = 8 << 20
	body := content(size)
	kind := digestKinds[4]
	m := digestServer(body, kind, false)
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	entries := []manifest.Entry{{Line: 2, Name: "name.bin", URL: srv.URL + "/name.bin", Size: -1}}

	opts := testOptions(dir)
	opts.Connections = 4
	opts.RateLimit = 8 << 20
	opts.CheckpointInterval = 50 * time.Millisecond
	// A deadline would make the rate limiter refuse waits past it: cancel.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(500*time.Millisecond, cancel)
	sum, err := Run(ctx, entries, opts)
	if err != nil || !sum.Interrupted {
		t.Fatalf("first run: %+v, %v: want it interrupted", sum, err)
	}

	opts = testOptions(dir)
	opts.Connections = 4
	rec := &recorder{}
	opts.Reporter = rec
	sum, err = Run(context.Background(), entries, opts)
	if err != nil || sum.Done != 1 {
		t.Fatalf("second run: %+v, %v", sum, err)
	}
	if rec.count(Resumed) != 1 || sum.Bytes >= size {
		t.Errorf("resumed %d times, fetched %d of %d bytes: not a resume", rec.count(Resumed), sum.Bytes, size)
	}
	if sum.Verified[0].What != kind.label || sum.ReadBack != 0 {
		t.Errorf("verified %q with %d bytes read back", sum.Verified[0].What, sum.ReadBack)
	}
}

// TestAVerifiedFileIsNeverHashedAgain: a re-run of a finished list with
// SHA-256 checksums skips every file on its verification record, reading
// none; a file changed since (its modification time moved) is hashed again,
// and fetched again when it no longer matches.
func TestAVerifiedFileIsNeverHashedAgain(t *testing.T) {
	const size = 4 << 20
	body := content(size)
	m := &misbehave{body: body}
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	var entries []manifest.Entry
	for i, name := range []string{"a.bin", "b.bin", "c.bin"} {
		entries = append(entries, manifest.Entry{Line: i + 2, Name: name, URL: srv.URL + "/" + name, Size: -1,
			SHA256: hex.EncodeToString(sha256Of(body))})
	}
	sum, err := Run(context.Background(), entries, testOptions(dir))
	if err != nil || sum.Done != 3 {
		t.Fatalf("first run: %+v, %v", sum, err)
	}
	reqs := m.reqs.Load()

	sum, err = Run(context.Background(), entries, testOptions(dir))
	if err != nil || sum.Skipped != 3 {
		t.Fatalf("re-run: %+v, %v", sum, err)
	}
	if sum.ReadBack != 0 || m.reqs.Load() != reqs {
		t.Errorf("re-run read %d bytes back and sent %d requests", sum.ReadBack, m.reqs.Load()-reqs)
	}
	for _, v := range sum.Verified {
		if v.What != "sha256 from list, recorded" {
			t.Errorf("%s: verified %q", v.Name, v.What)
		}
	}

	// b.bin is changed behind bulkget's back, keeping its size.
	bad := append([]byte{body[0] ^ 0xff}, body[1:]...)
	if err := os.WriteFile(filepath.Join(dir, "b.bin"), bad, 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err = Run(context.Background(), entries, testOptions(dir))
	if err != nil || sum.Skipped != 2 || sum.Done != 1 {
		t.Fatalf("run after a change: %+v, %v", sum, err)
	}
	if sum.ReadBack < size {
		t.Errorf("read back %d bytes: the changed file was not hashed", sum.ReadBack)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "b.bin")); !bytes.Equal(got, body) {
		t.Error("the changed file was not fetched again")
	}
}
