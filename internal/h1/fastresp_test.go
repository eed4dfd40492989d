package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func getRequest(t testing.TB) *http.Request {
	req, err := http.NewRequest(http.MethodGet, "http://example.test/f", nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// readBoth reads raw with readPlain and, separately, with net/http.
// readPlain must either decline without consuming anything or agree with
// net/http on everything a caller can see, body included.
func readBoth(t testing.TB, raw string) (accepted bool) {
	req := getRequest(t)
	br := bufio.NewReaderSize(strings.NewReader(raw), 64<<10)
	br.Peek(1) // as exchange does: the header is read before parsing
	before := br.Buffered()
	fast, ok := readPlain(br, req)
	if !ok {
		if br.Buffered() != before {
			t.Fatalf("declined %q but consumed %d bytes", raw, before-br.Buffered())
		}
		return false
	}
	fastBody, fastErr := io.ReadAll(fast.Body)

	want, err := http.ReadResponse(bufio.NewReader(strings.NewReader(raw)), req)
	if err != nil {
		t.Fatalf("accepted %q, which net/http refuses: %v", raw, err)
	}
	wantBody, wantErr := io.ReadAll(want.Body)
	if fast.StatusCode != want.StatusCode || fast.Status != want.Status || fast.Proto != want.Proto ||
		fast.ContentLength != want.ContentLength || fast.Close != want.Close {
		t.Fatalf("%q: got %d %q %s len %d close %v, net/http %d %q %s len %d close %v", raw,
			fast.StatusCode, fast.Status, fast.Proto, fast.ContentLength, fast.Close,
			want.StatusCode, want.Status, want.Proto, want.ContentLength, want.Close)
	}
	if !reflect.DeepEqual(fast.Header, want.Header) {
		t.Fatalf("%q: header %v, net/http %v", raw, fast.Header, want.Header)
	}
	if !bytes.Equal(fastBody, wantBody) || (fastErr == nil) != (wantErr == nil) {
		t.Fatalf("%q: body %q (%v), net/http %q (%v)", raw, fastBody, fastErr, wantBody, wantErr)
	}
	return true
}

func TestReadPlainAgreesWithNetHTTP(t *testing.T) {
	for _, raw := range []string{
		"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-3/10\r\nContent-Length: 4\r\nEtag: \"x\"\r\n\r\nabcd",
		"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nhi",
		"HTTP/1.1 404 Not Found\r\ncontent-length: 3\r\nx-odd_name: a\r\n\r\nnop",
		"HTTP/1.1 200 OK\r\nSet-Cookie: a\r\nset-cookie: b\r\nContent-Length: 1\r\n\r\nz",
		"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 1\r\n\r\nz",
		"HTTP/1.1 200 OK\r\nContent-Length:   5  \r\nX-Tab:\tv\t\r\nX-Empty:\r\n\r\nhello",
		"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n",
		// Bodies that end early must fail the same way.
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
	} {
		if !readBoth(t, raw) {
			t.Errorf("declined the plain response %q", raw)
		}
	}
}

func TestReadPlainLeavesTheRestToNetHTTP(t *testing.T) {
	for _, raw := range []string{
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\n\r\nclose-delimited",
		"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nz",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz",
		"HTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
		"HTTP/1.1 200 OK\nContent-Length: 1\n\nz",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-Fold: a\r\n b\r\n\r\nz",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nz",
		"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nz",
		"HTTP/1.1 200 OK\r\nContent-Length: -0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nBad Key: v\r\n\r\nz",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX: a\x01b\r\n\r\nz",
		"HTTP/1.1 2000 OK\r\nContent-Length: 1\r\n\r\nz",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n", // header not complete yet
	} {
		if readBoth(t, raw) {
			t.Errorf("took %q, which net/http should read", raw)
		}
	}
	head, err := http.NewRequest(http.MethodHead, "http://example.test/f", nil)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(strings.NewReader("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"))
	br.Peek(1)
	if _, ok := readPlain(br, head); ok {
		t.Error("took the answer to a HEAD, whose Content-Length announces no body")
	}
}

func TestLengthBodyEndsWithTheLastByte(t *testing.T) {
	b := &lengthBody{r: bufio.NewReader(strings.NewReader("abcdefNEXT")), left: 6}
	p := make([]byte, 64)
	n, err := b.Read(p)
	if n != 6 || err != io.EOF || string(p[:n]) != "abcdef" {
		t.Fatalf("Read = %d %v %q, want the 6 bytes with io.EOF", n, err, p[:n])
	}
	short := &lengthBody{r: bufio.NewReader(strings.NewReader("ab")), left: 6}
	if _, err := io.ReadAll(short); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short body: %v, want io.ErrUnexpectedEOF", err)
	}
}

// FuzzReadPlain holds the fast path to net/http: whatever it accepts,
// net/http must accept and read the same way.
func FuzzReadPlain(f *testing.F) {
	f.Add("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-3/10\r\nContent-Length: 4\r\n\r\nabcd")
	f.Add("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	f.Add("HTTP/1.1 200 OK\r\nA: 1\r\na: 2\r\nContent-Length: 3\r\n\r\nxy")
	f.Add("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	f.Fuzz(func(t *testing.T, raw string) {
		readBoth(t, raw)
	})
}
