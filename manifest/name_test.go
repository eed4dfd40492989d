package manifest

import (
	"path"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestValidNameCleansSafeRelativeNamesAndRefusesTheRest(t *testing.T) {
	tests := []struct {
		name  string
		clean string // "" when invalid
		err   string // substring of the error
	}{
		{"a.bin", "a.bin", ""},
		{"dir/sub/a.bin", "dir/sub/a.bin", ""},
		{"a//b", "a/b", ""},
		{"./a", "a", ""},
		{"a/./b", "a/b", ""},
		{".//./a//.//b", "a/b", ""},
		{".hidden", ".hidden", ""},
		{"...", "...", ""},
		{"a..b", "a..b", ""},
		{"..a/b..", "..a/b..", ""},
		{" spaced name ", " spaced name ", ""},
		{"ünïcödé/日本.txt", "ünïcödé/日本.txt", ""},
		{"ab:c", "ab:c", ""},
		{"a:b", "", "drive letter"},
		{"1:x", "1:x", ""},
		{"x.part.bak", "x.part.bak", ""},
		{"part", "part", ""},
		{"x.state", "x.state", ""},
		{"bulkget.lock", "bulkget.lock", ""},
		{strings.Repeat("f", 240), strings.Repeat("f", 240), ""},
		{strings.Repeat("f", 241), "", "file name of 241 bytes; at most 240 fit"},
		{strings.Repeat("é", 121), "", "file name of 242 bytes"}, // bytes, not characters
		{strings.Repeat("d", 255) + "/a", strings.Repeat("d", 255) + "/a", ""},
		{strings.Repeat("d", 256) + "/a", "", "folder name of 256 bytes; file systems allow at most 255"},
		{"./" + strings.Repeat("f", 240), strings.Repeat("f", 240), ""}, // measured after cleaning
		{"", "", "empty name"},
		{"..", "", `".." component`},
		{"../a", "", `".." component`},
		{"a/..", "", `".." component`},
		{"a/../b", "", `".." component`},
		{"/a", "", "absolute"},
		{"//a", "", "absolute"},
		{"/", "", "absolute"},
		{"C:", "", "drive letter"},
		{"c:/x", "", "drive letter"},
		{"z:x", "", "drive letter"},
		{".//Z:", "", "drive letter"},
		{`a\b`, "", "backslash"},
		{`\\server\share`, "", "backslash"},
		{`C:\x`, "", "backslash"},
		{"a\x00", "", "control character (0x00)"},
		{"a\nb", "", "control character (0x0a)"},
		{"\tx", "", "control character (0x09)"},
		{"a\x1f", "", "control character (0x1f)"},
		{"a\x7f", "", "control character (0x7f)"},
		{"a\xff", "", "not valid UTF-8"},
		{"\xc3", "", "not valid UTF-8"},
		{".", "", "output folder itself"},
		{"./.", "", "output folder itself"},
		{".//", "", "output folder itself"},
		{"a/", "", "folder separator"},
		{"a/.", "", "folder separator"},
		{"a//", "", "folder separator"},
		{"x.part", "", "ending in .part "},
		{"X.Part", "", "ending in .part "},
		{".part", "", "ending in .part "},
		{"d/x.part.state", "", "ending in .part.state "},
		{"x.part.state.tmp", "", "ending in .part.state.tmp "},
		{"x.part/y", "", "ending in .part "},
		{".bulkget.lock", "", "lock file"},
		{".bulkget.log", "", "bulkget's log"},
		{"d/.bulkget.log.1", "", "bulkget's log"},
		{".Bulkget.sock", "", "control socket"},
		{".bulkget.logs", ".bulkget.logs", ""},
		{"a/.BULKGET.LOCK", "", "lock file"},
		{".bulkget.lock/a", "", "lock file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidName(tt.name)
			clean, cerr := cleanName(tt.name)
			if (err == nil) != (cerr == nil) {
				t.Fatalf("ValidName and cleanName disagree: %v, %v", err, cerr)
			}
			if tt.err == "" {
				if err != nil {
					t.Fatalf("ValidName(%q) = %v, want nil", tt.name, err)
				}
				if clean != tt.clean {
					t.Errorf("cleanName(%q) = %q, want %q", tt.name, clean, tt.clean)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("ValidName(%q) = %v, want an error containing %q", tt.name, err, tt.err)
			}
		})
	}
}

// checkName holds the properties every accepted name must have; the unit
// test and the fuzz target share it.
func checkName(t *testing.T, name string) {
	err := ValidName(name)
	if err != nil {
		msg := err.Error()
		if msg == "" || !unicode.IsLower(rune(msg[0])) {
			t.Fatalf("ValidName(%q): reason %q does not start in lowercase", name, msg)
		}
		return
	}
	clean, err := cleanName(name)
	if err != nil {
		t.Fatalf("cleanName(%q) = %v after ValidName accepted it", name, err)
	}
	if err := ValidName(clean); err != nil {
		t.Fatalf("cleaned name %q of %q is invalid: %v", clean, name, err)
	}
	if again, _ := cleanName(clean); again != clean {
		t.Fatalf("cleaning is not idempotent: %q -> %q -> %q", name, clean, again)
	}
	if path.Clean(clean) != clean {
		t.Fatalf("cleaned name %q of %q is not path.Clean'd (%q)", clean, name, path.Clean(clean))
	}
	if !filepath.IsLocal(filepath.FromSlash(clean)) || !filepath.IsLocal(clean) {
		t.Fatalf("cleaned name %q of %q is not local", clean, name)
	}
	if !utf8.ValidString(clean) || strings.ContainsAny(clean, "\\\x00") || strings.HasPrefix(clean, "/") {
		t.Fatalf("cleaned name %q of %q has a forbidden character", clean, name)
	}
	if file := path.Base(clean); len(file) > maxFileName {
		t.Fatalf("cleaned name %q of %q ends in a file name of %d bytes", clean, name, len(file))
	}
	for _, part := range strings.Split(clean, "/") {
		if len(part) > maxComponent {
			t.Fatalf("cleaned name %q of %q has a component of %d bytes", clean, name, len(part))
		}
		lower := strings.ToLower(part)
		if part == "" || part == "." || part == ".." || lower == ".bulkget.lock" ||
			strings.HasSuffix(lower, ".part") || strings.HasSuffix(lower, ".part.state") || strings.HasSuffix(lower, ".part.state.tmp") {
			t.Fatalf("cleaned name %q of %q has component %q", clean, name, part)
		}
	}
}

func TestValidNameProperties(t *testing.T) {
	for _, name := range []string{"a", "./a", "a//b/", "C:/", "./C:", "x.part", "..", "a/./b"} {
		checkName(t, name)
	}
}
