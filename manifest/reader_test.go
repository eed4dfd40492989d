package manifest_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/bulkget/bulkget/manifest"
)

const (
	sumEmpty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	md5Empty = "d41d8cd98f00b204e9800998ecf8427e"
)

// e builds an Entry without checksums or size.
func e(line int, name, url string) manifest.Entry {
	return manifest.Entry{Line: line, Name: name, URL: url, Size: -1}
}

type result struct {
	entries []manifest.Entry
	bad     []string
	fatal   string
}

func readAll(t *testing.T, input string) result {
	t.Helper()
	entries, bad, fatal := manifest.ReadAll(strings.NewReader(input))
	var res result
	res.entries = entries
	for _, b := range bad {
		res.bad = append(res.bad, b.Error())
	}
	if fatal != nil {
		res.fatal = fatal.Error()
	}
	return res
}

func check(t *testing.T, got, want result) {
	t.Helper()
	if !reflect.DeepEqual(got.entries, want.entries) && (len(got.entries) != 0 || len(want.entries) != 0) {
		t.Errorf("entries:\n got %+v\nwant %+v", got.entries, want.entries)
	}
	if !reflect.DeepEqual(got.bad, want.bad) && (len(got.bad) != 0 || len(want.bad) != 0) {
		t.Errorf("bad lines:\n got %q\nwant %q", got.bad, want.bad)
	}
	if got.fatal != want.fatal {
		t.Errorf("fatal:\n got %q\nwant %q", got.fatal, want.fatal)
	}
}

func TestEveryListFormGivesItsEntriesAndNamesItsBadLines(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  result
	}{
		{
			name:  "positional",
			input: "files\na.bin,http://h/a\nb/c.bin,https://h/c,ignored,\"also ignored\"\n",
			want:  result{entries: []manifest.Entry{e(2, "a.bin", "http://h/a"), e(3, "b/c.bin", "https://h/c")}},
		},
		{
			name:  "positional when the header lacks url",
			input: "file,link,sha256\na.bin,http://h/a,nothex\n",
			want:  result{entries: []manifest.Entry{e(2, "a.bin", "http://h/a")}},
		},
		{
			name:  "positional when the header lacks a name column",
			input: "what,url\na.bin,http://h/a\n",
			want:  result{entries: []manifest.Entry{e(2, "a.bin", "http://h/a")}},
		},
		{
			name:  "named columns in any order and case",
			input: " Size ,MD5,URL,note,Path, sha256\n10," + strings.ToUpper(md5Empty) + ",http://h/a,x,a.bin," + sumEmpty + "\n",
			want: result{entries: []manifest.Entry{
				{Line: 2, Name: "a.bin", URL: "http://h/a", SHA256: sumEmpty, MD5: md5Empty, Size: 10},
			}},
		},
		{
			name:  "name synonyms",
			input: "url,name\nhttp://h/a,a\n",
			want:  result{entries: []manifest.Entry{e(2, "a", "http://h/a")}},
		},
		{
			name:  "filename synonym",
			input: "url,FileName\nhttp://h/a,a\n",
			want:  result{entries: []manifest.Entry{e(2, "a", "http://h/a")}},
		},
		{
			name:  "header only",
			input: "filename,url\n",
		},
		{
			name:  "header only without newline",
			input: "filename,url",
		},
		{
			name:  "no final newline",
			input: "filename,url\na,http://h/a",
			want:  result{entries: []manifest.Entry{e(2, "a", "http://h/a")}},
		},
		{
			name:  "bom",
			input: "\ufeffurl,name\nhttp://h/a,a\n",
			want:  result{entries: []manifest.Entry{e(2, "a", "http://h/a")}},
		},
		{
			name:  "crlf and blank lines",
			input: "filename,url\r\n\r\na,http://h/a\r\n\n\r\nb,http://h/b\r\n\r\n",
			want:  result{entries: []manifest.Entry{e(3, "a", "http://h/a"), e(6, "b", "http://h/b")}},
		},
		{
			name:  "lines of spaces are blank",
			input: "filename,url\n   \n\t \r\na,http://h/a\n  ",
			want:  result{entries: []manifest.Entry{e(4, "a", "http://h/a")}},
		},
		{
			name: "comments",
			input: "# list made by hand\n\n  # indented, before the header\nfilename,url\n" +
				"#a,http://h/a\n" +
				"   # indented comment with a \"stray\" quote\n" +
				"\t# tab-indented\r\n" +
				"b,http://h/b\n" +
				"#",
			want: result{entries: []manifest.Entry{e(8, "b", "http://h/b")}},
		},
		{
			name:  "hash not at the start is data",
			input: "filename,url\na#1,http://h/a#frag\n",
			want:  result{entries: []manifest.Entry{e(2, "a#1", "http://h/a#frag")}},
		},
		{
			name:  "quoted fields",
			input: "filename,url\n\"a, b.txt\",http://h/a\n\"say \"\"hi\"\"\",\"http://h/b\"\n\" c \", http://h/c \n",
			want: result{entries: []manifest.Entry{
				e(2, "a, b.txt", "http://h/a"), e(3, `say "hi"`, "http://h/b"), e(4, "c", "http://h/c"),
			}},
		},
		{
			name: "line numbers after multi-line quoted fields",
			input: "filename,url,note\n" +
				"a,http://h/a,\"one\n\ntwo\r\n# not a comment\n\"\n" +
				"b,http://h/b,\"x\ny\"\n" +
				"\"c\nd\",http://h/c\n" +
				"e,http://h/e\n",
			want: result{
				entries: []manifest.Entry{e(2, "a", "http://h/a"), e(7, "b", "http://h/b"), e(11, "e", "http://h/e")},
				bad:     []string{`line 9: name "c\nd" contains a control character (0x0a)`},
			},
		},
		{
			name:  "tab separated",
			input: "filename\turl\tnote\n\"x, \"\"y\"\"\"\thttp://h/x\tcomment, with comma\n\tb\thttp://h/b\n",
			want: result{
				entries: []manifest.Entry{e(2, `x, "y"`, "http://h/x")},
				bad:     []string{"line 3: empty name"},
			},
		},
		{
			name:  "tab and comma in the header means csv",
			input: "filename,url\tx\na,http://h/a\n",
			want:  result{entries: []manifest.Entry{e(2, "a", "http://h/a")}},
		},
		{
			name:  "tab separated named",
			input: "URL\tname\nhttp://h/a\ta,b\n",
			want:  result{entries: []manifest.Entry{e(2, "a,b", "http://h/a")}},
		},
		{
			name:  "trimmed fields",
			input: "url,name,size,sha256\n  http://h/a\t, a.bin ,  7 ,  \n",
			want:  result{entries: []manifest.Entry{{Line: 2, Name: "a.bin", URL: "http://h/a", Size: 7}}},
		},
		{
			name:  "names are cleaned",
			input: "filename,url\na//b,http://h/1\n./c,http://h/2\nd/./e/,http://h/3\nf/./g,http://h/4\n",
			want: result{
				entries: []manifest.Entry{e(2, "a/b", "http://h/1"), e(3, "c", "http://h/2"), e(5, "f/g", "http://h/4")},
				bad:     []string{`line 4: name "d/./e/" ends with a folder separator; it must name a file`},
			},
		},
		{
			name: "missing columns",
			input: "filename,url\na.bin\n\n,\n  ,http://h/x\nb,\nc,  \n" +
				"a\tb\n",
			want: result{bad: []string{
				"line 2: missing url column: the line has 1 field and url is column 2 (wrong separator?)",
				"line 4: empty name",
				"line 5: empty name",
				"line 6: empty url",
				"line 7: empty url",
				"line 8: missing url column: the line has 1 field and url is column 2 (wrong separator?)",
			}},
		},
		{
			name:  "missing named columns",
			input: "size,url,name\n1,http://h/a\n1\n",
			want: result{bad: []string{
				"line 2: missing name column: the line has 2 fields and name is column 3 (wrong separator?)",
				"line 3: missing name column: the line has 1 field and name is column 3 (wrong separator?)",
			}},
		},
		{
			name:  "short line without optional columns",
			input: "name,url,sha256,md5,size\na,http://h/a\nb,http://h/b,,,\n",
			want:  result{entries: []manifest.Entry{e(2, "a", "http://h/a"), e(3, "b", "http://h/b")}},
		},
		{
			name: "urls",
			input: "filename,url\n" +
				"a,HTTPS://Example.COM/A?x=1#f\n" +
				"b,ftp://h/b\n" +
				"c,example.com/c\n" +
				"d,http://\n" +
				"e,http://[::1\n" +
				"f,mailto:x@h\n" +
				"g,http://:80/x\n" +
				"h,https://[::1]:8443/h\n" +
				"i,http:h/i\n" +
				"j,http://h/\x7f\n" +
				"k,Gopher://h/\n",
			want: result{
				entries: []manifest.Entry{e(2, "a", "HTTPS://Example.COM/A?x=1#f"), e(9, "h", "https://[::1]:8443/h")},
				bad: []string{
					`line 3: url scheme "ftp" is not supported; use http or https`,
					`line 4: url "example.com/c" has no scheme; it must start with http:// or https://`,
					`line 5: url "http://" has no host`,
					`line 6: invalid url "http://[::1": missing ']' in host`,
					`line 7: url scheme "mailto" is not supported; use http or https`,
					`line 8: url "http://:80/x" has no host`,
					`line 10: url "http:h/i" has no host`,
					`line 11: invalid url "http://h/\x7f": net/url: invalid control character in URL`,
					`line 12: url scheme "gopher" is not supported; use http or https`,
				},
			},
		},
		{
			name: "checksums and sizes",
			input: "name,url,sha256,md5,size\n" +
				"a,http://h/a," + sumEmpty + "," + md5Empty + ",0\n" +
				"b,http://h/b,,,\n" +
				"c,http://h/c,abc,,\n" +
				"d,http://h/d," + strings.Repeat("g", 64) + ",,\n" +
				"e,http://h/e,," + sumEmpty + ",\n" +
				"f,http://h/f,," + strings.Repeat("Z", 32) + ",\n" +
				"g,http://h/g,,,-1\n" +
				"h,http://h/h,,,+5\n" +
				"i,http://h/i,,,1.5\n" +
				"j,http://h/j,,,1e6\n" +
				"k,http://h/k,,,99999999999999999999\n" +
				"l,http://h/l,,,9223372036854775807\n" +
				"m,http://h/m," + strings.Repeat("é", 64) + ",,\n",
			want: result{
				entries: []manifest.Entry{
					{Line: 2, Name: "a", URL: "http://h/a", SHA256: sumEmpty, MD5: md5Empty, Size: 0},
					e(3, "b", "http://h/b"),
					{Line: 13, Name: "l", URL: "http://h/l", Size: 9223372036854775807},
				},
				bad: []string{
					`line 4: sha256 "abc" must be 64 hex digits, not 3 characters`,
					`line 5: sha256 "` + strings.Repeat("g", 64) + `" is not hexadecimal`,
					`line 6: md5 "` + sumEmpty + `" must be 32 hex digits, not 64 characters`,
					`line 7: md5 "` + strings.Repeat("Z", 32) + `" is not hexadecimal`,
					`line 8: size "-1" is not a whole number of bytes`,
					`line 9: size "+5" is not a whole number of bytes`,
					`line 10: size "1.5" is not a whole number of bytes`,
					`line 11: size "1e6" is not a whole number of bytes`,
					`line 12: size "99999999999999999999" is too large`,
					`line 14: sha256 "` + strings.Repeat("é", 64) + `" must be 64 hex digits, not 64 characters`,
				},
			},
		},
		{
			name: "bad names",
			input: "filename,url\n" +
				"../x,http://h/1\n" +
				"a/../b,http://h/2\n" +
				"/etc/passwd,http://h/3\n" +
				"C:x,http://h/4\n" +
				"./c:/x,http://h/5\n" +
				"a\\b,http://h/6\n" +
				"a\x01b,http://h/7\n" +
				"\"a\x7fb\",http://h/8\n" +
				"a\xffb,http://h/9\n" +
				".,http://h/10\n" +
				"./,http://h/11\n" +
				"a/,http://h/12\n" +
				"x.part,http://h/13\n" +
				"x.PART.state,http://h/14\n" +
				"x.part.state.tmp,http://h/15\n" +
				"d/.bulkget.lock,http://h/16\n" +
				".bulkget.lock/x,http://h/17\n" +
				"y.part/z,http://h/18\n" +
				"x.partial,http://h/19\n" +
				".bulkget.lockx,http://h/20\n" +
				"a/..b/c..,http://h/21\n",
			want: result{
				entries: []manifest.Entry{
					e(20, "x.partial", "http://h/19"),
					e(21, ".bulkget.lockx", "http://h/20"),
					e(22, "a/..b/c..", "http://h/21"),
				},
				bad: []string{
					`line 2: name "../x" contains a ".." component; it must stay inside the output folder`,
					`line 3: name "a/../b" contains a ".." component; it must stay inside the output folder`,
					`line 4: name "/etc/passwd" is absolute; it must be relative to the output folder`,
					`line 5: name "C:x" starts with a drive letter; it must be relative to the output folder`,
					`line 6: name "./c:/x" starts with a drive letter; it must be relative to the output folder`,
					`line 7: name "a\\b" contains a backslash; separate folders with /`,
					`line 8: name "a\x01b" contains a control character (0x01)`,
					`line 9: name "a\x7fb" contains a control character (0x7f)`,
					`line 10: name "a\xffb" is not valid UTF-8`,
					`line 11: name "." refers to the output folder itself, not a file`,
					`line 12: name "./" refers to the output folder itself, not a file`,
					`line 13: name "a/" ends with a folder separator; it must name a file`,
					`line 14: name "x.part" is reserved: bulkget uses names ending in .part for downloads in progress`,
					`line 15: name "x.PART.state" is reserved: bulkget uses names ending in .part.state for downloads in progress`,
					`line 16: name "x.part.state.tmp" is reserved: bulkget uses names ending in .part.state.tmp for downloads in progress`,
					`line 17: name "d/.bulkget.lock" is reserved: .bulkget.lock is bulkget's lock file`,
					`line 18: name ".bulkget.lock/x" is reserved: .bulkget.lock is bulkget's lock file`,
					`line 19: name "y.part/z" is reserved: bulkget uses names ending in .part for downloads in progress`,
				},
			},
		},
		{
			name:  "first problem wins",
			input: "name,url,sha256\n../a,ftp://h/a,xyz\nb,ftp://h/b,xyz\nc,http://h/c,xyz\n",
			want: result{bad: []string{
				`line 2: name "../a" contains a ".." component; it must stay inside the output folder`,
				`line 3: url scheme "ftp" is not supported; use http or https`,
				`line 4: sha256 "xyz" must be 64 hex digits, not 3 characters`,
			}},
		},
		{
			name: "duplicates and folder clashes",
			input: "filename,url\n" +
				"a.bin,http://h/1\n" +
				"d/x,http://h/2\n" +
				"a.bin,http://h/3\n" +
				"./a.bin,http://h/4\n" +
				"d,http://h/5\n" +
				"a.bin/y,http://h/6\n" +
				"d//x,http://h/7\n" +
				"d/y,http://h/8\n" +
				"A.bin,http://h/9\n" +
				"e/f/g,http://h/10\n" +
				"e/f,http://h/11\n" +
				"e,http://h/12\n" +
				"../a.bin,http://h/13\n" +
				"a.bin,http://h/14\n",
			want: result{
				entries: []manifest.Entry{
					e(2, "a.bin", "http://h/1"), e(3, "d/x", "http://h/2"), e(9, "d/y", "http://h/8"),
					e(10, "A.bin", "http://h/9"), e(11, "e/f/g", "http://h/10"),
				},
				bad: []string{
					`line 4: duplicate name "a.bin" (also on line 2)`,
					`line 5: duplicate name "a.bin" (also on line 2)`,
					`line 6: name "d" is already a folder for the file on line 3`,
					`line 7: name "a.bin/y" needs "a.bin" to be a folder, but line 2 downloads a file with that name`,
					`line 8: duplicate name "d/x" (also on line 3)`,
					`line 12: name "e/f" is already a folder for the file on line 11`,
					`line 13: name "e" is already a folder for the file on line 11`,
					`line 14: name "../a.bin" contains a ".." component; it must stay inside the output folder`,
					`line 15: duplicate name "a.bin" (also on line 2)`,
				},
			},
		},
		{
			name:  "stray quotes spoil one record",
			input: "filename,url\na\"b,http://h/1\n\"c\"d,http://h/2\ne,http://h/3\n\"f\ng\"h,http://h/4\ni,http://h/5\n",
			want: result{
				entries: []manifest.Entry{e(4, "e", "http://h/3"), e(7, "i", "http://h/5")},
				bad: []string{
					`line 2: stray " inside an unquoted field at column 2; quote the whole field and double the " inside it`,
					`line 3: closing " at column 3 is followed by text; a quoted field must end at a separator or the end of the line`,
					`line 5: closing " at line 6, column 2 is followed by text; a quoted field must end at a separator or the end of the line`,
				},
			},
		},
		{
			name:  "stray quote on the last line",
			input: "filename,url\na,http://h/a\n\"b\"c,http://h/b",
			want: result{
				entries: []manifest.Entry{e(2, "a", "http://h/a")},
				bad:     []string{`line 3: closing " at column 3 is followed by text; a quoted field must end at a separator or the end of the line`},
			},
		},
		{
			name:  "unclosed quote is fatal",
			input: "filename,url\na,http://h/a\nbad\"x,http://h/x\n\"b,http://h/b\nc,http://h/c\nd,http://h/d\n",
			want: result{
				entries: []manifest.Entry{e(2, "a", "http://h/a")},
				bad:     []string{`line 3: stray " inside an unquoted field at column 4; quote the whole field and double the " inside it`},
				fatal:   "line 4: a quote opened in this record is never closed, so the rest of the list cannot be read",
			},
		},
		{
			name:  "unclosed quote at the very end",
			input: "filename,url\na,\"",
			want:  result{fatal: "line 2: a quote opened in this record is never closed, so the rest of the list cannot be read"},
		},
		{
			name:  "empty",
			input: "",
			want:  result{fatal: "the list is empty: it has no header line"},
		},
		{
			name:  "only a bom, blanks and comments",
			input: "\ufeff\n  \r\n# nothing\n   #here\n",
			want:  result{fatal: "the list is empty: it has no header line"},
		},
		{
			name:  "header with a stray quote",
			input: "file\"name,url\na,http://h/a\n",
			want:  result{fatal: `line 1: unreadable header: stray " inside an unquoted field at column 5; quote the whole field and double the " inside it`},
		},
		{
			name:  "header with an unclosed quote",
			input: "\n\"filename,url\na,http://h/a\n",
			want:  result{fatal: "line 2: a quote opened in this record is never closed, so the rest of the list cannot be read"},
		},
		{
			name:  "header naming a column twice",
			input: "filename,url,URL\na,http://h/a,http://h/b\n",
			want:  result{fatal: `line 1: header has "url" twice (columns 2 and 3)`},
		},
		{
			name:  "header with two name columns",
			input: "# comment\nname,url,path\na,http://h/a,b\n",
			want:  result{fatal: `line 2: header has both "name" (column 1) and "path" (column 3); keep one`},
		},
		{
			name:  "repeated column is harmless in positional mode",
			input: "x,x\na,http://h/a\n",
			want:  result{entries: []manifest.Entry{e(2, "a", "http://h/a")}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, readAll(t, tt.input), tt.want)
		})
	}
}

func TestListsInTestdataReadAsExpected(t *testing.T) {
	simple := []manifest.Entry{
		e(2, "a.bin", "http://example.com/a.bin"),
		e(3, "dir/b.bin", "http://example.com/dir/b.bin"),
		e(4, "c.bin", "http://example.com/c.bin"),
	}
	crlf := append([]manifest.Entry(nil), simple...)
	crlf[1].Line, crlf[2].Line = 4, 5
	tests := []struct {
		file string
		want result
	}{
		{"simple.csv", result{entries: simple}},
		{"crlf.csv", result{entries: crlf}},
		{"named.csv", result{entries: []manifest.Entry{
			{Line: 2, Name: "iso/empty.bin", URL: "http://example.com/empty.bin", SHA256: sumEmpty, Size: -1},
			e(3, "iso/nosum.bin", "http://example.com/nosum.bin"),
		}}},
		{"quoted.csv", result{entries: []manifest.Entry{
			e(2, "report, final.pdf", "http://example.com/report.pdf"),
			e(3, `say "hi".txt`, "http://example.com/hi.txt"),
			e(5, "a, b, c/d.bin", "http://example.com/d.bin"),
		}}},
		{"mirrors.csv", result{entries: []manifest.Entry{
			{Line: 3, Name: "data/train.tar", URL: "https://a.example.com/train.tar", Size: 1048576,
				Mirrors: []string{"https://b.example.org/train.tar", "https://c.example.net/d/train.tar"}},
			e(4, "data/README", "https://a.example.com/README"),
			{Line: 5, Name: "data/test.tar", URL: "https://a.example.com/test.tar", Size: -1,
				Mirrors: []string{"https://b.example.org/test.tar"}},
		}}},
		{"bad.csv", result{
			entries: []manifest.Entry{
				e(2, "good1.bin", "http://example.com/good1.bin"),
				e(8, "good2.bin", "http://example.com/good2.bin"),
			},
			bad: []string{
				`line 3: name "../escape.bin" contains a ".." component; it must stay inside the output folder`,
				`line 4: name "/abs.bin" is absolute; it must be relative to the output folder`,
				`line 5: url scheme "ftp" is not supported; use http or https`,
				`line 6: empty url`,
				`line 9: duplicate name "good1.bin" (also on line 2)`,
			},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile("../testdata/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			check(t, readAll(t, string(data)), tt.want)
		})
	}
}

func TestLineErrorIsItsOwnType(t *testing.T) {
	r, err := manifest.NewReader(strings.NewReader("filename,url\n../a,http://h/a\nb,http://h/b\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Next()
	var le *manifest.LineError
	if !errors.As(err, &le) || le.Line != 2 || !strings.Contains(le.Reason, `".."`) {
		t.Fatalf("first Next: got %v, want a *LineError for line 2", err)
	}
	if got, want := le.Error(), "line 2: "+le.Reason; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got, err := r.Next(); err != nil || !reflect.DeepEqual(got, e(3, "b", "http://h/b")) {
		t.Fatalf("Next after a bad line: %+v, %v", got, err)
	}
	for range 3 {
		if _, err := r.Next(); err != io.EOF {
			t.Fatalf("Next at the end: %v, want io.EOF", err)
		}
	}
}

// failingReader hands out data, then an error.
type failingReader struct {
	data string
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.data == "" {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestReadErrorsAndHugeLinesStopTheListWithTheirLine(t *testing.T) {
	boom := errors.New("disk on fire")
	t.Run("io error mid list", func(t *testing.T) {
		entries, bad, err := manifest.ReadAll(&failingReader{data: "filename,url\na,http://h/a\nb,http://h/b\nc,htt", err: boom})
		if !errors.Is(err, boom) || err.Error() != "line 4: disk on fire" {
			t.Errorf("fatal = %v, want line 4: %v", err, boom)
		}
		if len(entries) != 2 || len(bad) != 0 {
			t.Errorf("got %d entries, %d bad lines, want 2 and 0", len(entries), len(bad))
		}
	})
	t.Run("io error inside a quoted field", func(t *testing.T) {
		_, _, err := manifest.ReadAll(&failingReader{data: "filename,url\na,http://h/a\n\"b\n\nc", err: boom})
		if !errors.Is(err, boom) || err.Error() != "line 3: disk on fire" {
			t.Errorf("fatal = %v, want line 3: %v", err, boom)
		}
	})
	t.Run("io error in the header", func(t *testing.T) {
		_, err := manifest.NewReader(&failingReader{data: "\n\nfilena", err: boom})
		if !errors.Is(err, boom) || err.Error() != "line 3: disk on fire" {
			t.Errorf("NewReader error = %v, want line 3: %v", err, boom)
		}
	})
	t.Run("io error at once", func(t *testing.T) {
		_, err := manifest.NewReader(&failingReader{err: boom})
		if !errors.Is(err, boom) {
			t.Errorf("NewReader error = %v, want %v", err, boom)
		}
	})
	t.Run("error is sticky", func(t *testing.T) {
		r, err := manifest.NewReader(&failingReader{data: "filename,url\na,http://h/a\n", err: boom})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
		first := fmt.Sprint(r.Next())
		for range 3 {
			if again := fmt.Sprint(r.Next()); again != first || !strings.Contains(again, "disk on fire") {
				t.Fatalf("later Next returned %q, want %q", again, first)
			}
		}
	})
	t.Run("huge line", func(t *testing.T) {
		input := "filename,url\na,http://h/a\n" + strings.Repeat("x", 2<<20) + "\nb,http://h/b\n"
		entries, _, err := manifest.ReadAll(strings.NewReader(input))
		if err == nil || err.Error() != "line 3: record is longer than 1 MiB; is this really a download list?" {
			t.Errorf("fatal = %v", err)
		}
		if len(entries) != 1 {
			t.Errorf("got %d entries before the long line, want 1", len(entries))
		}
	})
	t.Run("huge quoted record", func(t *testing.T) {
		input := "filename,url\na,http://h/a\nb,\"" + strings.Repeat("y\n", 1<<20)
		_, _, err := manifest.ReadAll(strings.NewReader(input))
		if err == nil || err.Error() != "line 3: record is longer than 1 MiB; is this really a download list?" {
			t.Errorf("fatal = %v", err)
		}
	})
	t.Run("long but fine line", func(t *testing.T) {
		name := strings.Repeat("n", 200)
		input := "filename,url\n" + name + ",http://h/" + strings.Repeat("p", 500<<10) + "\n"
		entries, bad, err := manifest.ReadAll(strings.NewReader(input))
		if err != nil || len(bad) != 0 || len(entries) != 1 || entries[0].Name != name {
			t.Errorf("got %d entries, bad %v, fatal %v", len(entries), bad, err)
		}
	})
}

// listGenerator produces a list of n entries without ever holding it whole.
type listGenerator struct {
	n, i int
	buf  []byte
}

func (g *listGenerator) Read(p []byte) (int, error) {
	for len(g.buf) == 0 {
		switch {
		case g.i > g.n:
			return 0, io.EOF
		case g.i == 0:
			g.buf = append(g.buf, "filename,url,size\n"...)
		case g.i%1000 == 0:
			g.buf = fmt.Appendf(g.buf, "# chunk %d\n\"dir %d/file, %d.bin\",https://example.com/some/long/path/%d?token=0123456789abcdef,%d\n", g.i, g.i%97, g.i, g.i, g.i)
		default:
			g.buf = fmt.Appendf(g.buf, "dir%d/file%08d.bin,https://example.com/some/long/path/file%08d.bin?token=0123456789abcdef,%d\n", g.i%97, g.i, g.i, g.i)
		}
		g.i++
	}
	n := copy(p, g.buf)
	g.buf = g.buf[n:]
	return n, nil
}

func heapAlloc() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func TestReaderStreamsAHugeListInBoundedMemory(t *testing.T) {
	const n = 200_000
	r, err := manifest.NewReader(&listGenerator{n: n})
	if err != nil {
		t.Fatal(err)
	}
	before := heapAlloc()
	var count int
	var lastLine int
	var bytesSeen int
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		count++
		if e.Size != int64(count) {
			t.Fatalf("entry %d has size %d", count, e.Size)
		}
		if e.Line <= lastLine {
			t.Fatalf("line %d after line %d", e.Line, lastLine)
		}
		lastLine = e.Line
		bytesSeen += len(e.Name) + len(e.URL)
		if count == n*3/4 {
			// By now the list is well over 15 MB; a reader that buffered
			// it would show here.
			grown := int64(heapAlloc()) - int64(before)
			t.Logf("heap grew by %d bytes after %d bytes of names and urls", grown, bytesSeen)
			if grown > 4<<20 {
				t.Errorf("heap grew by %d bytes while streaming %d bytes of entries", grown, bytesSeen)
			}
		}
	}
	if count != n {
		t.Errorf("read %d entries, want %d", count, n)
	}
	// One comment line for every 1000 entries, plus the header.
	if want := 1 + n + n/1000; lastLine != want {
		t.Errorf("last entry on line %d, want %d", lastLine, want)
	}
}

func BenchmarkReader(b *testing.B) {
	const n = 100_000
	for b.Loop() {
		r, err := manifest.NewReader(&listGenerator{n: n})
		if err != nil {
			b.Fatal(err)
		}
		count := 0
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			count++
		}
		if count != n {
			b.Fatalf("read %d entries, want %d", count, n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/entry")
}
