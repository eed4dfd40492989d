package manifest_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bulkget/bulkget/manifest"
)

// m builds an Entry with mirrors and without checksums or size.
func m(line int, name, url string, mirrors ...string) manifest.Entry {
	return manifest.Entry{Line: line, Name: name, URL: url, Size: -1, Mirrors: mirrors}
}

func TestMirrorsColumnAddsSourcesAndNamesEachBadOne(t *testing.T) {
	many := func(n int) string {
		urls := make([]string, n)
		for i := range urls {
			urls[i] = fmt.Sprintf("http://m%d/a", i)
		}
		return strings.Join(urls, " ")
	}
	tests := []struct {
		name  string
		input string
		want  result
	}{
		{
			name:  "urls separated by any run of white space",
			input: "name,url,mirrors\na,http://h/a,http://m1/a  http://m2/a\tHTTPS://m3:8443/a?sig=x\n",
			want:  result{entries: []manifest.Entry{m(2, "a", "http://h/a", "http://m1/a", "http://m2/a", "HTTPS://m3:8443/a?sig=x")}},
		},
		{
			name:  "quoted field over several lines",
			input: "name,url,mirrors\na,http://h/a,\"\n  http://m1/a\r\n\thttp://m2/a\n\"\nb,http://h/b\n",
			want:  result{entries: []manifest.Entry{m(2, "a", "http://h/a", "http://m1/a", "http://m2/a"), e(6, "b", "http://h/b")}},
		},
		{
			name:  "mirror is an alias, in any case and order",
			input: " Mirror ,Path,URL\nhttp://m1/a,a,http://h/a\n",
			want:  result{entries: []manifest.Entry{m(2, "a", "http://h/a", "http://m1/a")}},
		},
		{
			name:  "empty, blank or missing field means none",
			input: "name,url,mirrors\na,http://h/a,\nb,http://h/b,  \t \nc,http://h/c\n",
			want:  result{entries: []manifest.Entry{e(2, "a", "http://h/a"), e(3, "b", "http://h/b"), e(4, "c", "http://h/c")}},
		},
		{
			name: "the url and repeats are dropped",
			input: "name,url,mirrors\n" +
				"a,http://h/a,http://h/a http://m1/a http://m2/a http://m1/a http://h/a\n" +
				"b,http://h/b,http://h/b http://h/b\n" +
				"c,http://h/c,HTTP://h/c\n", // not the same text: kept
			want: result{entries: []manifest.Entry{
				m(2, "a", "http://h/a", "http://m1/a", "http://m2/a"),
				e(3, "b", "http://h/b"),
				m(4, "c", "http://h/c", "HTTP://h/c"),
			}},
		},
		{
			name:  "tab-separated list",
			input: "name\turl\tmirrors\na\thttp://h/a\thttp://m1/a http://m2/a\n",
			want:  result{entries: []manifest.Entry{m(2, "a", "http://h/a", "http://m1/a", "http://m2/a")}},
		},
		{
			name:  "a title line has no mirrors",
			input: "file,link,mirrors\na,http://h/a,http://m1/a\n",
			want:  result{entries: []manifest.Entry{e(2, "a", "http://h/a")}},
		},
		{
			name: "bad mirrors, numbered as written and redacted like the url",
			input: "name,url,mirrors\n" +
				"a,http://h/a,http://m1/a ftp://user:pw@m2/a?sig=s3cret\n" +
				"b,http://h/b,http://h/b m1.example.com/b?token=s3cret\n" +
				"c,http://h/c,http://m1/c http://m1/c http:///c\n" +
				"d,http://h/d,http://user:pw@[::1/d?sig=s3cret\n" +
				"e,http://h/e,\"http://m1/e\nmailto:x@h\"\n" +
				"f,http://h/f,http://:80/f\n" +
				"g,http://h/g,http://m1/g,\n",
			want: result{
				entries: []manifest.Entry{m(9, "g", "http://h/g", "http://m1/g")},
				bad: []string{
					`line 2: mirror 2 scheme "ftp" is not supported; use http or https`,
					`line 3: mirror 2 "m1.example.com/b?REDACTED" has no scheme; it must start with http:// or https://`,
					`line 4: mirror 3 "http:///c" has no host`,
					`line 5: invalid mirror 1 "http://REDACTED@[::1/d?REDACTED": missing ']' in host`,
					`line 6: mirror 2 scheme "mailto" is not supported; use http or https`,
					`line 8: mirror 1 "http://:80/f" has no host`,
				},
			},
		},
		{
			name:  "a bad url is reported before the mirrors",
			input: "name,url,mirrors\na,ftp://h/a,ftp://m1/a\n",
			want:  result{bad: []string{`line 2: url scheme "ftp" is not supported; use http or https`}},
		},
		{
			name: "at most MaxMirrors",
			input: "name,url,mirrors\n" +
				"a,http://h/a," + many(manifest.MaxMirrors) + "\n" +
				"b,http://h/b," + many(manifest.MaxMirrors+1) + "\n",
			want: result{
				entries: []manifest.Entry{m(2, "a", "http://h/a", strings.Fields(many(manifest.MaxMirrors))...)},
				bad:     []string{fmt.Sprintf("line 3: more than %d mirrors; list at most %d further URLs for one file", manifest.MaxMirrors, manifest.MaxMirrors)},
			},
		},
		{
			name:  "header with both mirror and mirrors",
			input: "name,url,mirrors,mirror\na,http://h/a,http://m1/a,http://m2/a\n",
			want:  result{fatal: `line 1: header has both "mirrors" (column 3) and "mirror" (column 4); keep one`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := readAll(t, tt.input)
			check(t, got, tt.want)
			for _, b := range got.bad {
				if strings.Contains(b, "s3cret") || strings.Contains(b, "pw@") {
					t.Errorf("%q shows a secret", b)
				}
			}
		})
	}
}
