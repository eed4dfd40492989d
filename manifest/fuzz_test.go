package manifest

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

func TestEndsInQuoteTracksAQuotedFieldAcrossLines(t *testing.T) {
	tests := []struct {
		line    string
		inQuote bool
		want    bool
	}{
		{`a,b`, false, false},
		{`"a`, false, true},
		{`"a"`, false, false},
		{`"a""`, false, true},
		{`"a"""`, false, false},
		{`"a",b,"c`, false, true},
		{`a,"b,c`, false, true},
		{`a,"b"x,"c`, false, false}, // parse error: the rest of the line is dropped
		{`a"b,"c`, false, false},    // bare quote: likewise
		{`a,b"`, false, false},
		{`x`, true, true},
		{`x"`, true, false},
		{`x",y`, true, false},
		{`x",y,"z`, true, true},
		{`x""`, true, true},
		{``, true, true},
		{`"`, true, false},
		{`"a`, false, true},
		{`",`, false, true},
	}
	for _, tt := range tests {
		if got := endsInQuote([]byte(tt.line), ',', tt.inQuote); got != tt.want {
			t.Errorf("endsInQuote(%q, inQuote=%v) = %v, want %v", tt.line, tt.inQuote, got, tt.want)
		}
	}
	if !endsInQuote([]byte("a\t\"b,c"), '\t', false) {
		t.Errorf("a tab-separated quoted field with a comma should stay open")
	}
}

var (
	sha256RE = regexp.MustCompile(`^([0-9a-f]{64})?$`)
	md5RE    = regexp.MustCompile(`^([0-9a-f]{32})?$`)
)

// checkReader reads all of input, with and without a header, and checks
// what must hold for any input: lineFilter and encoding/csv agree on where
// records start, so that every record yields exactly one result on the line
// where lineFilter saw it begin, and every entry is safe to download.
func checkReader(t *testing.T, input []byte) {
	checkReaderWith(t, input, Options{})
	checkReaderWith(t, input, Options{NoHeader: true})
}

func checkReaderWith(t *testing.T, input []byte, o Options) {
	r, err := newReader(bytes.NewReader(input), o, true)
	if err != nil {
		if o.NoHeader && !errors.Is(err, errTooLong) && !strings.HasPrefix(err.Error(), "line ") {
			t.Fatalf("without a header, NewReader can fail only on reading: %v", err)
		}
		if err.Error() == "" {
			t.Fatal("NewReader failed with an empty message")
		}
		return
	}
	var lines []int
	var fatal error
	for calls := 0; ; calls++ {
		if calls > len(input)+2 {
			t.Fatal("Next does not come to an end")
		}
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		var le *LineError
		switch {
		case errors.As(err, &le):
			if le.Reason == "" {
				t.Fatalf("line %d: empty reason", le.Line)
			}
			lines = append(lines, le.Line)
		case err != nil:
			fatal = err
			if !errors.Is(err, errUnclosed) && !errors.Is(err, errTooLong) {
				t.Fatalf("unexpected fatal error %v", err)
			}
			if _, err2 := r.Next(); err2 != err {
				t.Fatalf("Next after fatal %v returned %v", err, err2)
			}
		default:
			if err := ValidName(e.Name); err != nil {
				t.Fatalf("line %d: entry with invalid name %q: %v", e.Line, e.Name, err)
			}
			if c, _ := cleanName(e.Name); c != e.Name {
				t.Fatalf("line %d: name %q is not clean", e.Line, e.Name)
			}
			u, err := url.Parse(e.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
				t.Fatalf("line %d: entry with bad url %q", e.Line, e.URL)
			}
			if !sha256RE.MatchString(e.SHA256) || !md5RE.MatchString(e.MD5) || e.Size < -1 {
				t.Fatalf("line %d: bad checksum or size in %+v", e.Line, e)
			}
			checkMirrors(t, e, r.cols.mirrors >= 0)
			lines = append(lines, e.Line)
		}
		if fatal != nil {
			if errors.Is(fatal, errUnclosed) {
				lines = append(lines, r.lines.openQuote)
			}
			break
		}
	}
	if !slices.IsSorted(lines) {
		t.Fatalf("line numbers go backwards: %v", lines)
	}
	first := 1 // the index in starts of the first record that is not the header
	if o.NoHeader {
		first = 0
	}
	if len(lines) > 0 && !o.NoHeader && lines[0] <= r.lines.headerLine {
		t.Fatalf("a result on line %d, not after the header on line %d", lines[0], r.lines.headerLine)
	}
	if fatal == nil || errors.Is(fatal, errUnclosed) {
		if starts := r.lines.starts[min(first, len(r.lines.starts)):]; !slices.Equal(lines, starts) {
			t.Fatalf("results on lines %v, but records start on lines %v", lines, starts)
		}
	}
	if (r.lines.openQuote != 0) != errors.Is(fatal, errUnclosed) {
		t.Fatalf("open quote at EOF on line %d, but fatal error is %v", r.lines.openQuote, fatal)
	}
	if !r.lines.sepKnown {
		// Only blank lines and comments: possible without a header.
		if len(lines) != 0 || len(r.lines.starts) != 0 {
			t.Fatalf("results %v from a list with no record", lines)
		}
		return
	}
	if !r.lines.blanked && (fatal == nil || errors.Is(fatal, errUnclosed)) {
		// Nothing was blanked that encoding/csv would keep, so plain
		// encoding/csv on the raw input must find the same records.
		if starts := csvStarts(bytes.TrimPrefix(input, utf8BOM), rune(r.lines.sep)); !slices.Equal(starts, r.lines.starts) {
			t.Fatalf("lineFilter saw records on lines %v, encoding/csv on %v", r.lines.starts, starts)
		}
	}
}

// checkMirrors checks what must hold for any entry's mirrors: each is a
// URL the url column would take, without white space (which separates
// them), none is the entry's URL or repeats another, there are at most
// MaxMirrors, and a list without a mirrors column has none.
func checkMirrors(t *testing.T, e Entry, column bool) {
	if e.Mirrors == nil {
		return
	}
	if !column {
		t.Fatalf("line %d: mirrors %q without a mirrors column", e.Line, e.Mirrors)
	}
	if len(e.Mirrors) == 0 || len(e.Mirrors) > MaxMirrors {
		t.Fatalf("line %d: %d mirrors, want nil or 1 to %d", e.Line, len(e.Mirrors), MaxMirrors)
	}
	for i, m := range e.Mirrors {
		if strings.IndexFunc(m, unicode.IsSpace) >= 0 {
			t.Fatalf("line %d: mirror %q holds white space", e.Line, m)
		}
		u, err := url.Parse(m)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
			t.Fatalf("line %d: mirror %q is not an http(s) URL with a host", e.Line, m)
		}
		if m == e.URL || slices.Contains(e.Mirrors[:i], m) {
			t.Fatalf("line %d: mirror %q repeats a source of %q %q", e.Line, m, e.URL, e.Mirrors)
		}
	}
}

// csvStarts lists the lines on which plain encoding/csv starts records.
func csvStarts(input []byte, sep rune) []int {
	c := csv.NewReader(bytes.NewReader(input))
	c.Comma, c.Comment, c.FieldsPerRecord = sep, '#', -1
	var starts []int
	for {
		_, err := c.Read()
		if err == io.EOF {
			return starts
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			starts = append(starts, pe.StartLine)
			continue
		}
		line, _ := c.FieldPos(0)
		starts = append(starts, line)
	}
}

// TestFilterAgreesWithCSV checks lineFilter's quote tracking against plain
// encoding/csv on inputs with no indented comments or space-only lines, where
// the two must see the same records.
func TestFilterAgreesWithCSV(t *testing.T) {
	inputs := []string{
		"h\na,b\n\"c\nd\",e\n#x\nf\n",
		"h\n\"a\"b\n\"c\n\"\"\n\"\nd\n",
		"h\n\"a\r\n\r\nb\"\r\nc\r",
		"h\n\"\"\"\n\"\n\"a\"\"b\"\"\"\nc\n",
		"h\na,\"\nb\"x,\"\nc\n",
	}
	for _, in := range inputs {
		r, err := newReader(bytes.NewReader([]byte(in)), Options{}, true)
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := r.Next(); err == io.EOF || (err != nil && !errors.As(err, new(*LineError))) {
				break
			}
		}
		if starts := csvStarts([]byte(in), ','); !slices.Equal(starts, r.lines.starts) {
			t.Errorf("%q: lineFilter saw records on lines %v, encoding/csv on %v", in, r.lines.starts, starts)
		}
		checkReader(t, []byte(in))
	}
}

func addSeeds(f *testing.F) {
	files, _ := filepath.Glob("../testdata/*.csv")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"\ufeff",
		"filename,url\na,http://h/a\n",
		"name\turl\tsha256\tmd5\tsize\n\"x\ty\"\thttp://h\t\t\t5\n",
		"url,name\nhttp://h/a,\"a\nb\"\n  # c \"\n\"d\"e,http://h\n",
		"filename,url\n\"a,http://h/a\nb,http://h/b\n",
		"filename,url\r\n./C:x,http://h/\r\n.//a,http://h/\r",
		"h\n\"\"\"\n\"\n\"a\"\"b\"\"\"\nc\n",
		"SIZE,URL,PATH\n1,http://h/a.part,x.part\n",
		"a,http://h/a\nb,https://h/b\n", // headerless: refused, or read with NoHeader
		"# c\n\ta\tHTTP://h/a\n",
		"name,url,mirrors\na,http://h/a,http://m/a http://h/a  http://m/a\nb,http://h/b,ftp://m/b\nc,http://h/c,\n",
		"Mirror\tURL\tPATH\n\"http://m/a\n\thttps://n:8/a?s=1\"\thttp://h/a\ta\nhttp://[::1\thttp://h/b\tb\n",
		"path,mirrors,url\nx,http://h/x\u00a0http://m/x\u2028http:///x,http://h/x\n",
	} {
		f.Add([]byte(s))
	}
}

func FuzzReader(f *testing.F) {
	addSeeds(f)
	f.Fuzz(checkReader)
}

func FuzzValidName(f *testing.F) {
	for _, s := range []string{"a", "a//b", "./a", "../a", "C:x", "./C:x", "a\\b", "x.part", ".bulkget.lock", "a/", "a/.", "\xff", "日本/語"} {
		f.Add(s)
	}
	f.Fuzz(checkName)
}
