package manifest

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestEntryAsHeaderIsRefused(t *testing.T) {
	tests := []struct {
		name, list string
		line       string // "" if the list must be accepted
	}{
		{"headerless list", "a.bin,http://h/a\nb.bin,http://h/b\n", "line 1:"},
		{"https, upper case", "a.bin,HTTPS://h/a?sig=s3cr3t\n", "line 1:"},
		{"spaces around the url", "a.bin ,  http://h/a  \n", "line 1:"},
		{"after comments and blanks", "# models\n\na.bin,http://h/a\n", "line 3:"},
		{"tab-separated", "a.bin\thttp://h/a\n", "line 1:"},
		{"with a BOM and more fields", "\ufeffa.bin,http://h/a,deadbeef\n", "line 1:"},
		{"quoted", "\"a.bin\",\"http://h/a\"\n", "line 1:"},
		{"named header", "filename,url\na.bin,http://h/a\n", ""},
		{"named columns, url column first", "url,name\nhttp://h/a,a.bin\n", ""},
		{"title line", "My models,downloaded monthly\na.bin,http://h/a\n", ""},
		{"title of one field", "models\na.bin,http://h/a\n", ""},
		{"url without a host is no entry", "a.bin,http:///a\nb.bin,http://h/b\n", ""},
		{"other scheme is a title", "a.bin,ftp://h/a\nb.bin,http://h/b\n", ""},
		{"url in the first field only", "http://h/a,a.bin\nb.bin,http://h/b\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ReadAll(strings.NewReader(tt.list))
			if tt.line == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrEntryAsHeader) {
				t.Fatalf("err = %v, want ErrEntryAsHeader", err)
			}
			msg := err.Error()
			for _, want := range []string{tt.line, `"filename,url"`, "--no-header"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not say %q", msg, want)
				}
			}
			if strings.Contains(msg, "://") {
				t.Errorf("message %q repeats the URL, which may hold a secret", msg)
			}
		})
	}
}

func TestNoHeaderReadsLineOneAsAnEntry(t *testing.T) {
	type result struct {
		lines []int    // lines of the entries
		bad   []string // bad lines
	}
	tests := []struct {
		name, list string
		want       result
	}{
		{"headerless list", "a.bin,http://h/a\nb.bin,http://h/b\n", result{lines: []int{1, 2}}},
		{"comments first", "# x\n\na.bin,http://h/a\n", result{lines: []int{3}}},
		{"tab-separated with a BOM", "\ufeffa.bin\thttp://h/a\nb.bin\thttp://h/b\n", result{lines: []int{1, 2}}},
		{"a header is a bad line", "filename,url\na.bin,http://h/a\n",
			result{lines: []int{2}, bad: []string{`line 1: url "url" has no scheme; it must start with http:// or https://`}}},
		{"columns are filename,url,anything", "a.bin,http://h/a,0123456789abcdef,7\n", result{lines: []int{1}}},
		{"duplicates still found", "a.bin,http://h/a\na.bin,http://h/b\n",
			result{lines: []int{1}, bad: []string{`line 2: duplicate name "a.bin" (also on line 1)`}}},
		{"quoted line break on line 1", "\"a\nb\",http://h/a\nc,http://h/c\n", result{bad: []string{"line 1: "}, lines: []int{3}}},
		{"empty", "", result{}},
		{"only comments", "# nothing yet\n\n", result{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, bad, err := Options{NoHeader: true}.ReadAll(strings.NewReader(tt.list))
			if err != nil {
				t.Fatal(err)
			}
			var lines []int
			for _, e := range entries {
				lines = append(lines, e.Line)
			}
			if !slices.Equal(lines, tt.want.lines) {
				t.Errorf("entries on lines %v, want %v", lines, tt.want.lines)
			}
			if len(bad) != len(tt.want.bad) {
				t.Fatalf("bad lines %v, want %q", bad, tt.want.bad)
			}
			for i, b := range bad {
				if !strings.HasPrefix(b.Error(), tt.want.bad[i]) {
					t.Errorf("bad line %q, want %q", b, tt.want.bad[i])
				}
			}
		})
	}
	// Without a header there are no named columns, so a third field of
	// URLs is "anything at all", not mirrors.
	entries, _, _ := Options{NoHeader: true}.ReadAll(strings.NewReader("a.bin,http://h/a,http://m/a\n"))
	if len(entries) != 1 || !reflect.DeepEqual(entries[0], Entry{Line: 1, Name: "a.bin", URL: "http://h/a", Size: -1}) {
		t.Errorf("entries %+v", entries)
	}
}
