package h1

import (
	"bufio"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
)

// defaultUserAgent is what net/http sends when the request sets none.
const defaultUserAgent = "Go-http-client/1.1"

// writePlain writes req, a GET or HEAD without a body whose header passed
// validHeader, byte for byte as (*http.Request).Write would, without its
// allocations (a transfer writer, a sorter, a replacer pass per value).
// It returns false, having written nothing, for what it does not handle
// (a Host that would need punycode or a zone removed, control bytes in
// the target, Close, a length or transfer coding, more header names than
// its fixed list holds); Write handles those. FuzzWritePlain holds it to Write's output.
func writePlain(w *bufio.Writer, req *http.Request) bool {
	if req.Close || req.ContentLength != 0 || len(req.TransferEncoding) > 0 {
		return false
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !plainHost(host) {
		return false
	}
	target := req.URL.RequestURI()
	for i := 0; i < len(target); i++ {
		if c := target[i]; c < ' ' || c == 0x7f {
			return false
		}
	}
	var keyArr [16]string
	keys := keyArr[:0]
	for k := range req.Header {
		switch k {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		if len(keys) == len(keyArr) {
			return false
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)

	w.WriteString(req.Method)
	w.WriteByte(' ')
	w.WriteString(target)
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(host)
	w.WriteString("\r\n")
	ua := defaultUserAgent
	if vs, ok := req.Header["User-Agent"]; ok {
		ua = ""
		if len(vs) > 0 {
			ua = vs[0]
		}
	}
	if ua != "" { // tested before trimming, as net/http does
		w.WriteString("User-Agent: ")
		w.WriteString(textproto.TrimString(ua))
		w.WriteString("\r\n")
	}
	for _, k := range keys {
		for _, v := range req.Header[k] {
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(textproto.TrimString(v))
			w.WriteString("\r\n")
		}
	}
	w.WriteString("\r\n")
	return true
}

// plainHost accepts a Host header net/http would send unchanged: ASCII
// letters, digits and the punctuation of names, ports and IPv6 literals,
// and no zone (which net/http strips).
func plainHost(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		switch c := h[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-._:[]", c) >= 0:
		default:
			return false
		}
	}
	return true
}
