package h1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
)

// readPlain reads the common response without net/http's reader: an
// HTTP/1.1 final status, its whole header already buffered, CRLF line ends,
// a body framed by one Content-Length and nothing else. On a list of
// 20,000 small files net/http's ReadResponse was a tenth of the client's
// CPU, mostly in allocations (a string per header line and per value);
// here the header block becomes one string that every key and value
// slices. Anything else (1xx, HTTP/1.0, chunked or close-delimited bodies,
// folded or odd lines, HEAD, 204, 304) makes it return ok=false having
// consumed nothing, and http.ReadResponse reads the response as before:
// this path never accepts what that one would refuse or read differently
// (FuzzReadPlain holds it to that).
func readPlain(br *bufio.Reader, req *http.Request) (resp *http.Response, ok bool) {
	if req.Method != http.MethodGet {
		return nil, false
	}
	buf, _ := br.Peek(br.Buffered())
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		return nil, false
	}
	head := buf[:end+2] // every line with its CRLF
	// Status line: "HTTP/1.1 206 Partial Content".
	const proto = "HTTP/1.1 "
	if len(head) < len(proto)+3 || string(head[:len(proto)]) != proto {
		return nil, false
	}
	code := 0
	for _, c := range head[len(proto) : len(proto)+3] {
		if c < '0' || c > '9' {
			return nil, false
		}
		code = code*10 + int(c-'0')
	}
	switch {
	case code < 200, code > 599, code == http.StatusNoContent, code == http.StatusNotModified:
		return nil, false
	}
	lines := 0
	for i := 0; i < len(head); i++ {
		switch c := head[i]; {
		case c == '\n':
			if i == 0 || head[i-1] != '\r' {
				return nil, false // a bare LF: leave it to net/http
			}
			lines++
		case c == '\r':
			if i+1 >= len(head) || head[i+1] != '\n' {
				return nil, false
			}
		case c == '\t':
		case c < ' ' || c == 0x7f:
			return nil, false // control bytes are net/http's to refuse
		}
	}
	s := string(head) // the one allocation for every key and value
	statusEnd := strings.IndexByte(s, '\r')
	status := s[len(proto):statusEnd]
	if len(status) > 3 && status[3] != ' ' {
		return nil, false
	}
	h := make(http.Header, lines-1)
	vals := make([]string, 0, lines-1)
	length := int64(-1)
	closing := false
	for rest := s[statusEnd+2:]; rest != ""; {
		eol := strings.IndexByte(rest, '\r')
		line := rest[:eol]
		rest = rest[eol+2:]
		colon := strings.IndexByte(line, ':')
		if colon <= 0 {
			return nil, false
		}
		key := line[:colon]
		for i := 0; i < len(key); i++ {
			if !isTokenByte(key[i]) {
				return nil, false // also a folded line, which starts with a space
			}
		}
		key = textproto.CanonicalMIMEHeaderKey(key) // no copy if already canonical
		v := strings.Trim(line[colon+1:], " \t")
		switch key {
		case "Transfer-Encoding", "Trailer":
			return nil, false
		case "Content-Length":
			if length >= 0 {
				return nil, false // repeated: net/http decides what that means
			}
			// As net/http parses it: decimal digits only, no sign.
			n, err := strconv.ParseUint(v, 10, 63)
			if err != nil {
				return nil, false
			}
			length = int64(n)
		case "Connection":
			for _, tok := range strings.Split(v, ",") {
				if strings.EqualFold(strings.TrimSpace(tok), "close") {
					closing = true
				}
			}
		}
		if prev, seen := h[key]; seen {
			h[key] = append(prev, v)
			continue
		}
		vals = append(vals, v)
		h[key] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	if length < 0 {
		return nil, false
	}
	if closing {
		h.Del("Connection") // as net/http does once it has noted the close
	}
	var body io.ReadCloser = http.NoBody
	if length > 0 {
		body = &lengthBody{r: br, left: length}
	}
	br.Discard(end + 4)
	return &http.Response{
		Status:        status,
		StatusCode:    code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          body,
		ContentLength: length,
		Close:         closing,
		Request:       req,
	}, true
}

// lengthBody is a body of a known length. Like net/http's, it returns
// io.EOF with the last bytes and io.ErrUnexpectedEOF if the connection
// ends before them.
type lengthBody struct {
	r    *bufio.Reader
	left int64
}

func (b *lengthBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	switch {
	case b.left == 0:
		return n, io.EOF
	case err == io.EOF:
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *lengthBody) Close() error { return nil }
