package hostile

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Reply is a response as it goes on the wire: a status line, header lines
// in order (duplicates and nonsense allowed), and a body. Behaviours build
// one with File.Reply, change what they want, and write it with WriteTo.
type Reply struct {
	Status int
	Reason string // "" is the standard text for Status
	// Proto is the status line's protocol, "HTTP/1.1" if empty.
	Proto string
	// Header lines, "Name: value" each, written as they are.
	Header []string
	// RawHead is written as it is between the status line and the header
	// lines: a flood of headers, an endless line, anything.
	RawHead []byte

	// The body is Body if not nil, else bytes [Start, End) of the file
	// called Name.
	Body       []byte
	Name       string
	Start, End int64
	// Rate caps the body at so many bytes a second (0: as fast as the
	// socket takes it).
	Rate int64
	// Chunked frames the body as chunks of at most 64 KiB followed by
	// Trailer lines; no Content-Length is written for it.
	Chunked bool
	Trailer []string
	// NoLength leaves out Content-Length (the body is delimited by the
	// close of the connection, which the behaviour must then do).
	NoLength bool
	// After is written straight after the body, in the same write: bytes
	// beyond the response that a client must not take for the next one.
	After []byte
}

// Get returns the value of the first header line called name, and whether
// there is one.
func (rp *Reply) Get(name string) (string, bool) {
	for _, l := range rp.Header {
		k, v, _ := strings.Cut(l, ":")
		if strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// Del removes every header line called name.
func (rp *Reply) Del(name string) {
	kept := rp.Header[:0]
	for _, l := range rp.Header {
		k, _, _ := strings.Cut(l, ":")
		if !strings.EqualFold(strings.TrimSpace(k), name) {
			kept = append(kept, l)
		}
	}
	rp.Header = kept
}

// Set replaces the header lines called name by one.
func (rp *Reply) Set(name, value string) {
	rp.Del(name)
	rp.Add(name, value)
}

// Add appends a header line.
func (rp *Reply) Add(name, value string) {
	rp.Header = append(rp.Header, name+": "+value)
}

// BodyLen is the length of the body.
func (rp *Reply) BodyLen() int64 {
	if rp.Body != nil {
		return int64(len(rp.Body))
	}
	return rp.End - rp.Start
}

// Head is the status line and header block, the blank line included. It
// adds Content-Length (unless the reply is chunked, NoLength, or has a
// Content-Length line already) and Transfer-Encoding for a chunked one.
func (rp *Reply) Head() string {
	var b strings.Builder
	proto := rp.Proto
	if proto == "" {
		proto = "HTTP/1.1"
	}
	reason := rp.Reason
	if reason == "" {
		reason = http.StatusText(rp.Status)
	}
	fmt.Fprintf(&b, "%s %d %s\r\n", proto, rp.Status, reason)
	for _, l := range rp.Header {
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	_, hasLength := rp.Get("Content-Length")
	switch {
	case rp.Chunked:
		b.WriteString("Transfer-Encoding: chunked\r\n")
	case !rp.NoLength && !hasLength:
		fmt.Fprintf(&b, "Content-Length: %d\r\n", rp.BodyLen())
	}
	b.WriteString("\r\n")
	return b.String()
}

// WriteTo writes the whole reply to c and flushes it. It stops at the
// first write error (the client went away) or when the server closes.
func (rp *Reply) WriteTo(c *Conn) error {
	head := rp.Head()
	if rp.RawHead != nil {
		status, rest, _ := strings.Cut(head, "\r\n")
		if _, err := c.WriteString(status + "\r\n"); err != nil {
			return err
		}
		if _, err := c.Write(rp.RawHead); err != nil {
			return err
		}
		head = rest
	}
	if _, err := c.WriteString(head); err != nil {
		return err
	}
	if err := rp.writeBody(c); err != nil {
		return err
	}
	if _, err := c.Write(rp.After); err != nil {
		return err
	}
	return c.Flush()
}

func (rp *Reply) writeBody(c *Conn) error {
	total := rp.BodyLen()
	piece := int64(64 << 10)
	var tick time.Duration
	if rp.Rate > 0 {
		// Twenty pieces a second, at least a byte each.
		piece = max(rp.Rate/20, 1)
		tick = time.Duration(float64(time.Second) * float64(piece) / float64(rp.Rate))
	}
	for off := int64(0); off < total; {
		n := min(piece, total-off)
		if rp.Chunked {
			if _, err := c.WriteString(strconv.FormatInt(n, 16) + "\r\n"); err != nil {
				return err
			}
		}
		var err error
		if rp.Body != nil {
			_, err = c.Write(rp.Body[off : off+n])
		} else {
			err = WriteContent(c, rp.Name, rp.Start+off, n)
		}
		if err != nil {
			return err
		}
		if rp.Chunked {
			if _, err := c.WriteString("\r\n"); err != nil {
				return err
			}
		}
		off += n
		if tick > 0 && off < total {
			if err := c.Flush(); err != nil {
				return err
			}
			if !c.Sleep(tick) {
				return errClosing
			}
		}
	}
	if rp.Chunked {
		var b strings.Builder
		b.WriteString("0\r\n")
		for _, l := range rp.Trailer {
			b.WriteString(l)
			b.WriteString("\r\n")
		}
		b.WriteString("\r\n")
		if _, err := c.WriteString(b.String()); err != nil {
			return err
		}
	}
	return nil
}

var errClosing = fmt.Errorf("hostile: server closing")

// File is a well-behaved file: its Reply to a request honours a single
// Range (206 with Content-Range, whose end is inclusive; 416 for a range
// past the end), If-Range against ETag and LastModified, and keep-alive.
// Several ranges in one request are answered with the whole file, as
// RFC 9110 allows.
type File struct {
	Name         string // the content's name (see Byte)
	Size         int64
	ETag         string // with its quotes; "" sends none
	LastModified string
	Rate         int64 // body bytes a second, 0 for no cap
}

// Reply is what a well-behaved server answers to r.
func (f File) Reply(r *Request) *Reply {
	rp := &Reply{Status: 200, Name: f.Name, Start: 0, End: f.Size, Rate: f.Rate}
	rp.Add("Accept-Ranges", "bytes")
	if f.ETag != "" {
		rp.Add("ETag", f.ETag)
	}
	if f.LastModified != "" {
		rp.Add("Last-Modified", f.LastModified)
	}
	rng := r.Header.Get("Range")
	if rng == "" {
		return rp
	}
	if ir := r.Header.Get("If-Range"); ir != "" && ir != f.ETag && ir != f.LastModified {
		return rp // changed since: the whole file
	}
	start, end, ok := ParseRange(rng, f.Size)
	switch {
	case !ok:
		return rp
	case start >= f.Size:
		rp.Status, rp.End = 416, 0
		rp.Add("Content-Range", fmt.Sprintf("bytes */%d", f.Size))
		return rp
	}
	rp.Status, rp.Start, rp.End = 206, start, end
	rp.Add("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end-1, f.Size))
	return rp
}

// Serve implements Behavior: the well-behaved answer.
func (f File) Serve(c *Conn, r *Request) bool {
	return f.Reply(r).WriteTo(c) == nil
}

// With is a behaviour that builds the well-behaved reply to each request,
// hands it to change, and writes what change made of it. change returns
// whether the connection may be kept.
func (f File) With(change func(r *Request, rp *Reply) (keepAlive bool)) Behavior {
	return BehaviorFunc(func(c *Conn, r *Request) bool {
		rp := f.Reply(r)
		keep := change(r, rp)
		return rp.WriteTo(c) == nil && keep
	})
}

// ParseRange reads a Range header of one range against a file of size
// bytes: "bytes=a-b", "bytes=a-" or "bytes=-n". It returns [start, end)
// with end capped at size, and false for anything else (several ranges,
// other units, nonsense). A start at or past size is returned as is for
// the caller to answer 416.
func ParseRange(v string, size int64) (start, end int64, ok bool) {
	spec, found := strings.CutPrefix(strings.TrimSpace(v), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false
	}
	if first == "" { // the last n bytes
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n <= 0 {
			return 0, 0, false
		}
		return max(size-n, 0), size, true
	}
	a, err := strconv.ParseInt(first, 10, 64)
	if err != nil || a < 0 {
		return 0, 0, false
	}
	if last == "" {
		return a, size, true
	}
	b, err := strconv.ParseInt(last, 10, 64)
	if err != nil || b < a {
		return 0, 0, false
	}
	return a, min(b+1, size), true
}
