package h1

import (
	"bufio"
	"bytes"
	"net/http"
	"net/url"
	"testing"
)

// writeBoth writes req with writePlain and with (*http.Request).Write: when
// writePlain takes a request, the bytes must be the same.
func writeBoth(t testing.TB, req *http.Request) (taken bool) {
	var fast, want bytes.Buffer
	w := bufio.NewWriter(&fast)
	if !writePlain(w, req) {
		w.Flush()
		if fast.Len() != 0 {
			t.Fatalf("declined %v but wrote %q", req.URL, fast.String())
		}
		return false
	}
	w.Flush()
	if err := req.Write(&want); err != nil {
		t.Fatalf("took a request net/http refuses (%v): %q", err, fast.String())
	}
	if fast.String() != want.String() {
		t.Fatalf("wrote\n%q\nnet/http writes\n%q", fast.String(), want.String())
	}
	return true
}

func newGet(t testing.TB, raw string, header http.Header) *http.Request {
	req, err := http.NewRequest(http.MethodGet, raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	return req
}

func TestWritePlainIsWhatNetHTTPWrites(t *testing.T) {
	for _, req := range []*http.Request{
		newGet(t, "http://127.0.0.1:8080/f00001.bin", http.Header{"Range": {"bytes=0-"}, "Accept-Encoding": {"identity"}, "User-Agent": {"bulkget/1"}}),
		newGet(t, "http://example.test/a%20b/c?x=1&y=%2F#frag", nil),
		newGet(t, "http://[::1]:9/x", http.Header{"If-Range": {`"etag"`}, "X-Many": {" a ", "b\t"}, "Authorization": {"Bearer t"}}),
		newGet(t, "http://example.test/", http.Header{"User-Agent": {""}}),
		newGet(t, "http://example.test/", http.Header{"User-Agent": {"  "}, "X-Empty": {}}),
		newGet(t, "http://example.test/", http.Header{"Host": {"ignored"}, "Content-Length": {"9"}}),
		newGet(t, "http://example.test/ünï", nil),
	} {
		if !writeBoth(t, req) {
			t.Errorf("declined the plain request to %v", req.URL)
		}
	}
	head := newGet(t, "http://example.test/h", nil)
	head.Method = http.MethodHead
	if !writeBoth(t, head) {
		t.Error("declined a HEAD")
	}
}

func TestWritePlainLeavesTheRestToNetHTTP(t *testing.T) {
	closing := newGet(t, "http://example.test/", http.Header{"Connection": {"close"}})
	closing.Close = true
	zone := newGet(t, "http://example.test/", nil)
	zone.Host = "[fe80::1%25eth0]:80"
	idn := newGet(t, "http://example.test/", nil)
	idn.Host = "bücher.example"
	ctl := newGet(t, "http://example.test/", nil)
	ctl.URL.Opaque = "/a\x01b"
	many := http.Header{}
	for i := range 17 {
		many["X-"+string(rune('A'+i))] = []string{"v"}
	}
	for _, req := range []*http.Request{closing, zone, idn, ctl, newGet(t, "http://example.test/", many)} {
		if writeBoth(t, req) {
			t.Errorf("took %v (Host %q), which net/http should write", req.URL, req.Host)
		}
	}
}

// FuzzWritePlain holds writePlain to net/http's bytes for any target and
// header values that pass validHeader.
func FuzzWritePlain(f *testing.F) {
	f.Add("127.0.0.1:8080", "/f00001.bin", "a=1", "bytes=0-", "bulkget/1")
	f.Add("[::1]:9", "/a b/ü", "", " x ", "")
	f.Fuzz(func(t *testing.T, host, path, query, rng, ua string) {
		u := &url.URL{Scheme: "http", Host: host, Path: path, RawQuery: query}
		req := &http.Request{Method: http.MethodGet, URL: u, Host: host, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Range": {rng}, "User-Agent": {ua}}}
		if !validHeader(req.Header) {
			return
		}
		writeBoth(t, req)
	})
}
