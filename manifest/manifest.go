package manifest

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bulkget/bulkget/internal/mask"
)

// Entry is one file to download.
type Entry struct {
	Line   int    // physical line in the list where the record starts (a header is line 1)
	Name   string // relative slash-separated path inside the output folder, cleaned
	URL    string
	SHA256 string // lowercase hex, "" if absent
	MD5    string // lowercase hex, "" if absent
	Size   int64  // -1 if absent

	// Mirrors are further URLs for the same file, in list order, each
	// valid as URL is, none equal to URL or to another mirror; nil if
	// the line has none.
	Mirrors []string
}

// MaxMirrors is the most URLs a line's mirrors field may hold. A file is
// rarely served from more than a handful of places; the bound keeps a
// runaway field (a whole list pasted into one cell) from becoming
// thousands of sources for one file.
const MaxMirrors = 32

// LineError is a problem with one line of the list. Error() returns
// "line N: reason".
type LineError struct {
	Line   int
	Reason string
}

func (e *LineError) Error() string {
	return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
}

var errEmpty = errors.New("the list is empty: it has no header line")

// ErrEntryAsHeader is wrapped by the error of a list whose first line,
// where the header belongs, is an entry: its url field is an absolute http
// or https URL, which no column title is. Reading it as a header would
// silently drop that file, so the list is refused instead; the message
// names the line and both fixes.
var ErrEntryAsHeader = errors.New(`the first line is an entry, not a header: its url field is an http(s) URL. ` +
	`Add a header line such as "filename,url" above it, or pass --no-header if the list has none`)

// Options say how to read a list. The zero value reads the documented
// format, whose first line is a header.
type Options struct {
	// NoHeader: the list has no header line. Every line is an entry of
	// filename,url followed by anything at all, from the first on.
	NoHeader bool
}

// errUnclosed ends reading because everything after the opening quote has
// been taken as one field: reporting it as a single bad line would hide that
// the rest of the list was never looked at.
var errUnclosed = errors.New(`a quote opened in this record is never closed, so the rest of the list cannot be read`)

var utf8BOM = []byte("\xef\xbb\xbf")

// columns holds the index of each column in a record, -1 when absent.
type columns struct {
	name, url, sha256, md5, size, mirrors int
}

// positional are the columns of a list without named columns:
// filename,url followed by anything at all.
var positional = columns{name: 0, url: 1, sha256: -1, md5: -1, size: -1, mirrors: -1}

// Reader reads entries one at a time, holding only the current record in
// memory.
type Reader struct {
	lines *lineFilter
	csv   *csv.Reader
	cols  columns
	err   error // sticky: io.EOF or a fatal error
}

// NewReader reads and interprets the header. It fails if the list has no
// header (only blank lines and comments, or nothing at all), if the header
// cannot be parsed, if it names a column twice, or if it is an entry
// (ErrEntryAsHeader).
func NewReader(r io.Reader) (*Reader, error) {
	return Options{}.NewReader(r)
}

// NewReader is the package's NewReader reading as o says. With NoHeader it
// reads no header, and a list of only blank lines and comments is empty
// rather than an error.
func (o Options) NewReader(r io.Reader) (*Reader, error) {
	return newReader(r, o, false)
}

// newReader can record where lineFilter saw records start, so that tests can
// check it agrees with encoding/csv.
func newReader(r io.Reader, o Options, trace bool) (*Reader, error) {
	src := bufio.NewReaderSize(r, 64<<10)
	b, err := src.Peek(len(utf8BOM))
	switch {
	case bytes.Equal(b, utf8BOM):
		_, _ = src.Discard(len(utf8BOM))
	case err != nil && err != io.EOF && err != bufio.ErrBufferFull:
		// bufio forgets an error once Peek has reported it.
		return nil, fmt.Errorf("line 1: %w", err)
	}

	lines := &lineFilter{src: src, trace: trace}
	for !lines.sepKnown && !lines.eof && lines.err == nil {
		lines.fill()
	}
	if !lines.sepKnown {
		if lines.err != nil {
			return nil, fmt.Errorf("line %d: %w", lines.errLine, lines.err)
		}
		if o.NoHeader {
			return &Reader{lines: lines, err: io.EOF}, nil
		}
		return nil, errEmpty
	}

	c := csv.NewReader(lines)
	c.Comma = rune(lines.sep)
	c.FieldsPerRecord = -1
	c.ReuseRecord = true
	rd := &Reader{lines: lines, csv: c}
	if o.NoHeader {
		rd.cols = positional
		return rd, nil
	}

	header, err := c.Read()
	if err != nil {
		_, err = rd.fail(err)
		if err == io.EOF { // cannot happen: the header line is not blank
			return nil, errEmpty
		}
		var le *LineError
		if errors.As(err, &le) {
			return nil, fmt.Errorf("line %d: unreadable header: %s", le.Line, le.Reason)
		}
		return nil, err
	}
	rd.cols, err = interpretHeader(header)
	if err != nil {
		return nil, fmt.Errorf("line %d: %w", lines.headerLine, err)
	}
	if rd.cols.url < len(header) && isAbsoluteHTTP(strings.TrimSpace(header[rd.cols.url])) {
		return nil, fmt.Errorf("line %d: %w", lines.headerLine, ErrEntryAsHeader)
	}
	return rd, nil
}

// isAbsoluteHTTP reports whether s is an http or https URL with a host:
// what a url field holds and a column title never does.
func isAbsoluteHTTP(s string) bool {
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	scheme := strings.ToLower(u.Scheme)
	return (scheme == "http" || scheme == "https") && u.Host != ""
}

// interpretHeader uses the header's column names when it has both a name
// column and a url column. Otherwise the header is taken to be a title line
// and the first two columns are the name and the url.
func interpretHeader(header []string) (columns, error) {
	cols := columns{name: -1, url: -1, sha256: -1, md5: -1, size: -1, mirrors: -1}
	named := map[string]*int{
		"filename": &cols.name, "name": &cols.name, "path": &cols.name,
		"url": &cols.url, "sha256": &cols.sha256, "md5": &cols.md5, "size": &cols.size,
		"mirrors": &cols.mirrors, "mirror": &cols.mirrors,
	}
	seen := map[*int]string{}
	var dup error
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		p, ok := named[h]
		if !ok {
			continue
		}
		if *p >= 0 {
			// Guessing which of two columns was meant could download
			// every file under the wrong name.
			switch {
			case dup != nil:
			case seen[p] == h:
				dup = fmt.Errorf("header has %q twice (columns %d and %d)", h, *p+1, i+1)
			default:
				dup = fmt.Errorf("header has both %q (column %d) and %q (column %d); keep one", seen[p], *p+1, h, i+1)
			}
			continue
		}
		*p = i
		seen[p] = h
	}
	if cols.name < 0 || cols.url < 0 {
		return positional, nil
	}
	if dup != nil {
		return columns{}, dup
	}
	return cols, nil
}

// Next returns the next entry. For a bad line it returns a *LineError and
// the caller may call Next again. At the end of the list it returns io.EOF.
// Any other error ends the reading and is returned again by later calls.
func (r *Reader) Next() (Entry, error) {
	if r.err != nil {
		return Entry{}, r.err
	}
	rec, err := r.csv.Read()
	if err != nil {
		return r.fail(err)
	}
	line, _ := r.csv.FieldPos(0)
	e, reason := r.entry(rec, line)
	if reason != "" {
		return Entry{}, &LineError{Line: line, Reason: reason}
	}
	return e, nil
}

// fail sorts an error from encoding/csv into a bad line, the end of the list,
// or a fatal error.
func (r *Reader) fail(err error) (Entry, error) {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		if pe.Err == csv.ErrQuote && r.lines.eof && pe.StartLine == r.lines.openQuote {
			r.err = fmt.Errorf("line %d: %w", pe.StartLine, errUnclosed)
			return Entry{}, r.err
		}
		return Entry{}, &LineError{Line: pe.StartLine, Reason: quoteReason(pe)}
	}
	if err == io.EOF {
		r.err = io.EOF
		return Entry{}, io.EOF
	}
	// Everything else comes from lineFilter, which knows where it was.
	r.err = fmt.Errorf("line %d: %w", r.lines.errLine, err)
	return Entry{}, r.err
}

func quoteReason(pe *csv.ParseError) string {
	at := fmt.Sprintf("column %d", pe.Column)
	if pe.Line != pe.StartLine {
		at = fmt.Sprintf("line %d, column %d", pe.Line, pe.Column)
	}
	switch pe.Err {
	case csv.ErrBareQuote:
		return fmt.Sprintf(`stray " inside an unquoted field at %s; quote the whole field and double the " inside it`, at)
	case csv.ErrQuote:
		return fmt.Sprintf(`closing " at %s is followed by text; a quoted field must end at a separator or the end of the line`, at)
	}
	return pe.Err.Error()
}

// entry validates one record. It returns the first problem found, so a line
// with several problems needs several fixes; listing them all would make long
// lists of bad lines hard to read.
func (r *Reader) entry(rec []string, line int) (Entry, string) {
	c := r.cols
	for _, col := range []struct {
		what string
		i    int
	}{{"name", c.name}, {"url", c.url}} {
		if col.i >= len(rec) {
			return Entry{}, fmt.Sprintf("missing %s column: the line has %d field%s and %s is column %d (wrong separator?)",
				col.what, len(rec), plural(len(rec)), col.what, col.i+1)
		}
	}
	field := func(i int) string {
		if i < 0 || i >= len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}

	e := Entry{Line: line, Size: -1}
	name, u := field(c.name), field(c.url)
	if name == "" {
		return Entry{}, "empty name"
	}
	var err error
	if e.Name, err = cleanName(name); err != nil {
		return Entry{}, err.Error()
	}
	if u == "" {
		return Entry{}, "empty url"
	}
	if reason := checkURL("url", u); reason != "" {
		return Entry{}, reason
	}
	e.URL = u

	var reason string
	if e.SHA256, reason = hexDigest("sha256", field(c.sha256), 64); reason != "" {
		return Entry{}, reason
	}
	if e.MD5, reason = hexDigest("md5", field(c.md5), 32); reason != "" {
		return Entry{}, reason
	}
	if s := field(c.size); s != "" {
		if e.Size, reason = parseSize(s); reason != "" {
			return Entry{}, reason
		}
	}
	if e.Mirrors, reason = parseMirrors(field(c.mirrors), u); reason != "" {
		return Entry{}, reason
	}
	return e, ""
}

// parseMirrors checks a mirrors field: URLs separated by any run of white
// space, each checked as the url column is. A URL equal to the line's url
// or to an earlier mirror adds no source and is dropped. Mirrors are
// numbered as written, duplicates included, so that "mirror 3" is the
// third URL the user sees in the field.
func parseMirrors(s, primary string) ([]string, string) {
	var ms []string
	n := 0
	for m := range strings.FieldsSeq(s) {
		n++
		if n > MaxMirrors {
			return nil, fmt.Sprintf("more than %d mirrors; list at most %d further URLs for one file", MaxMirrors, MaxMirrors)
		}
		if reason := checkURL(fmt.Sprintf("mirror %d", n), m); reason != "" {
			return nil, reason
		}
		if m != primary && !slices.Contains(ms, m) {
			ms = append(ms, m)
		}
	}
	return ms, ""
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// checkURL says what is wrong with s as a download URL, or "" if nothing
// is: it must be http or https with a host. what names the field in the
// reason ("url", "mirror 2"). The URL is shown through mask.URL, so a
// reason never prints a password or a query.
func checkURL(what, s string) string {
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Sprintf("invalid %s %q: %v", what, mask.URL(s), mask.Text(err.Error()))
	}
	switch u.Scheme {
	case "http", "https":
	case "":
		return fmt.Sprintf("%s %q has no scheme; it must start with http:// or https://", what, mask.URL(s))
	default:
		return fmt.Sprintf("%s scheme %q is not supported; use http or https", what, u.Scheme)
	}
	if u.Hostname() == "" {
		return fmt.Sprintf("%s %q has no host", what, mask.URL(s))
	}
	return ""
}

// hexDigest checks an optional checksum; "" means the line has none.
func hexDigest(what, s string, n int) (string, string) {
	if s == "" {
		return "", ""
	}
	if len(s) != n {
		return "", fmt.Sprintf("%s %q must be %d hex digits, not %d characters", what, s, n, utf8.RuneCountInString(s))
	}
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return "", fmt.Sprintf("%s %q is not hexadecimal", what, s)
		}
	}
	return strings.ToLower(s), ""
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// parseSize accepts plain decimal digits only: strconv.ParseInt would also
// take "+5" and "-0", which are more likely typos than sizes.
func parseSize(s string) (int64, string) {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Sprintf("size %q is not a whole number of bytes", s)
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Sprintf("size %q is too large", s)
	}
	return n, ""
}

// ReadAll reads every entry, collecting all bad lines (in order) instead of
// stopping. A name that is already taken is reported on the later line; so is
// a name that needs an earlier file to be a folder ("a" and "a/b"), since the
// two cannot both be written. fatal is non-nil only when the list cannot be
// read on: no header, an I/O error, or a quote that is never closed. Entries
// and bad lines found before a fatal error are returned with it.
func ReadAll(r io.Reader) (entries []Entry, bad []*LineError, fatal error) {
	return Options{}.ReadAll(r)
}

// ReadAll is the package's ReadAll reading as o says.
func (o Options) ReadAll(r io.Reader) (entries []Entry, bad []*LineError, fatal error) {
	rd, err := o.NewReader(r)
	if err != nil {
		return nil, nil, err
	}
	names := newNameSet()
	for {
		e, err := rd.Next()
		if err == io.EOF {
			return entries, bad, nil
		}
		if le, ok := err.(*LineError); ok {
			bad = append(bad, le)
			continue
		}
		if err != nil {
			return entries, bad, err
		}
		if le := names.claim(e); le != nil {
			bad = append(bad, le)
			continue
		}
		entries = append(entries, e)
	}
}

// nameSet records which paths are files and which are folders, each with the
// first line that needed it.
type nameSet struct {
	files, dirs map[string]int
}

func newNameSet() *nameSet {
	return &nameSet{files: map[string]int{}, dirs: map[string]int{}}
}

func (s *nameSet) claim(e Entry) *LineError {
	bad := func(format string, args ...any) *LineError {
		return &LineError{Line: e.Line, Reason: fmt.Sprintf(format, args...)}
	}
	if l, ok := s.files[e.Name]; ok {
		return bad("duplicate name %q (also on line %d)", e.Name, l)
	}
	if l, ok := s.dirs[e.Name]; ok {
		return bad("name %q is already a folder for the file on line %d", e.Name, l)
	}
	for i := 0; i < len(e.Name); i++ {
		if e.Name[i] != '/' {
			continue
		}
		if l, ok := s.files[e.Name[:i]]; ok {
			return bad("name %q needs %q to be a folder, but line %d downloads a file with that name", e.Name, e.Name[:i], l)
		}
	}
	s.files[e.Name] = e.Line
	for i := len(e.Name) - 1; i > 0; i-- {
		if e.Name[i] != '/' {
			continue
		}
		dir := e.Name[:i]
		if _, ok := s.dirs[dir]; ok {
			break // its parents are recorded already
		}
		s.dirs[dir] = e.Line
	}
	return nil
}
