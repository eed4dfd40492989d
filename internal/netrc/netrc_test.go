package netrc

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestParseReadsWhatCurlAndWgetRead(t *testing.T) {
	for _, c := range []struct {
		name, file, host string
		want             Entry // Line 0: no entry for host
	}{
		{"one line", "machine a.example login u password p", "a.example", Entry{"a.example", "u", "p", 1}},
		{"one word a line", "machine a.example\nlogin u\npassword p\n", "a.example", Entry{"a.example", "u", "p", 1}},
		{"host ignores case", "machine A.Example login u password p", "a.EXAMPLE", Entry{"A.Example", "u", "p", 1}},
		{"other host", "machine a.example login u password p", "b.example", Entry{}},
		{"first entry wins", "machine a login u1 password p1\nmachine a login u2 password p2", "a", Entry{"a", "u1", "p1", 1}},
		{"default for the rest", "machine a login u password p\ndefault login d password dp", "b", Entry{"", "d", "dp", 2}},
		{"machine beats an earlier default", "default login d password dp\nmachine a login u password p", "a", Entry{"a", "u", "p", 2}},
		{"account ignored", "machine a login u account acct password p", "a", Entry{"a", "u", "p", 1}},
		{"unknown words ignored", "machine a port 443 login u protocol https password p", "a", Entry{"a", "u", "p", 1}},
		{"tabs and CRLF", "machine\ta\r\n\tlogin\tu\r\n\tpassword\tp\r\n", "a", Entry{"a", "u", "p", 1}},
		{"comment lines", "# my hosts\nmachine a # the mirror\n  # login x\nlogin u password p", "a", Entry{"a", "u", "p", 2}},
		{"password starting with #", "machine a login u password #p#", "a", Entry{"a", "u", "#p#", 1}},
		{"quoted password with spaces", `machine a login "u v" password "p q"`, "a", Entry{"a", "u v", "p q", 1}},
		{"quoted escapes", `machine a login u password "a\"b\\c\td\ne\rf\x"`, "a", Entry{"a", "u", "a\"b\\c\td\ne\rfx", 1}},
		{"empty quoted password", `machine a login u password ""`, "a", Entry{"a", "u", "", 1}},
		{"keyword as a value", "machine a login machine password login", "a", Entry{"a", "machine", "login", 1}},
		{"macdef skipped to the blank line", "macdef init\nmachine evil login x password y\ncd /\n\nmachine a login u password p", "a", Entry{"a", "u", "p", 5}},
		{"macdef body never read", "macdef init\nmachine a login x password y\n", "a", Entry{}},
		{"macdef ends at a line of spaces", "machine a login u password p macdef m\nquit\n   \nmachine b login v password q", "b", Entry{"b", "v", "q", 4}},
		{"IPv6 in brackets", "machine [::1] login u password p", "::1", Entry{"[::1]", "u", "p", 1}},
		{"IPv6 bare", "machine ::1 login u password p", "::1", Entry{"::1", "u", "p", 1}},
		{"credentials before any machine ignored", "login u password p\nmachine a", "a", Entry{"a", "", "", 2}},
		{"repeated login keeps the first", "machine a login u login v password p", "a", Entry{"a", "u", "p", 1}},
		{"empty file", "", "a", Entry{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := Parse("netrc", []byte(c.file))
			if err != nil {
				t.Fatal(err)
			}
			got, ok := f.Lookup(c.host)
			if ok != (c.want.Line != 0) || got != c.want {
				t.Errorf("Lookup(%q) = %+v, %v; want %+v", c.host, got, ok, c.want)
			}
		})
	}
}

func TestMachineIgnoresTheDefault(t *testing.T) {
	f, err := Parse("n", []byte("default login d password dp"))
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := f.Machine("a"); ok {
		t.Errorf("Machine matched %v", e)
	}
	if _, ok := f.Lookup("a"); !ok {
		t.Error("Lookup missed the default")
	}
	var none *File
	if _, ok := none.Lookup("a"); ok {
		t.Error("a nil File matched")
	}
}

func TestSyntaxErrorsNameFileAndLineAndNoWord(t *testing.T) {
	for _, c := range []struct {
		file string
		line int
	}{
		{"machine a login u\npassword", 2},
		{"machine", 1},
		{"machine a\nlogin u\npassword \"s3cret", 3},
		{"machine a\nlogin u password \"s3cret\nx\"", 2},
		{"machine a password \"s3cret\\", 1},
		{"machine \"\" login u", 1},
	} {
		_, err := Parse("/home/me/.netrc", []byte(c.file))
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%q: error %v, want a SyntaxError", c.file, err)
			continue
		}
		if se.Line != c.line || !strings.Contains(err.Error(), "/home/me/.netrc:") {
			t.Errorf("%q: %v; want the file and line %d", c.file, err, c.line)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%q: the error repeats the password: %v", c.file, err)
		}
	}
}

func TestEntryStringHidesThePassword(t *testing.T) {
	e := Entry{"a", "u", "s3cret", 3}
	if s := e.String(); strings.Contains(s, "s3cret") || !strings.Contains(s, "machine a") {
		t.Errorf("String() = %q", s)
	}
}

func TestLoadNotesAFileOthersCanRead(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "netrc")
	if err := os.WriteFile(p, []byte("machine a login u password p\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if f.Exposed {
		t.Error("a 0600 file is reported exposed")
	}
	if runtime.GOOS == "windows" {
		return
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if f, err = Load(p); err != nil || !f.Exposed {
		t.Errorf("a 0644 file: %v, exposed %v; want it read, and exposed", err, f != nil && f.Exposed)
	}
	if _, err := Load(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Load(dir); err == nil {
		t.Error("a directory was read as a netrc")
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, MaxSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a file over MaxSize: %v", err)
	}
}

func TestPathFollowsCurl(t *testing.T) {
	env := map[string]string{"HOME": "/home/me"}
	getenv := func(k string) string { return env[k] }
	p, explicit, err := Path(getenv)
	if err != nil || explicit || (runtime.GOOS != "windows" && p != filepath.Join("/home/me", ".netrc")) {
		t.Errorf("Path = %q, %v, %v", p, explicit, err)
	}
	env["NETRC"] = "/etc/bulkget.netrc"
	if p, explicit, _ := Path(getenv); p != "/etc/bulkget.netrc" || !explicit {
		t.Errorf("with NETRC: %q, %v", p, explicit)
	}
	if _, _, err := Path(func(string) string { return "" }); err == nil && runtime.GOOS != "windows" {
		t.Error("no HOME and no NETRC gave a path")
	}
}
