package netrc

import (
	"errors"
	"strings"
	"testing"
)

// quote writes s as a quoted netrc word.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}

// FuzzNetrc: any input parses or fails with a SyntaxError on one of its
// lines, and what parses can be written back, quoted, and read the same.
func FuzzNetrc(f *testing.F) {
	for _, s := range []string{
		"machine a login u password p",
		"machine a\nlogin u\npassword p\ndefault login d password q\n",
		"# c\nmachine a # c\nlogin \"u v\" password \"p\\\"q\\\\r\\n\"\n",
		"macdef m\nx\n\nmachine b login u password p",
		"machine a login u password \"open",
		"machine [::1] account x login u password #p",
		"machine [[x]] login u",
		"login",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		file, err := Parse("fuzz", []byte(s))
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a SyntaxError", err)
			}
			if se.Line < 1 || se.Line > strings.Count(s, "\n")+1 {
				t.Fatalf("error on line %d of a %d-line input", se.Line, strings.Count(s, "\n")+1)
			}
			return
		}
		var b strings.Builder
		entries := file.Machines
		if file.Default != nil {
			entries = append(entries[:len(entries):len(entries)], *file.Default)
		}
		for _, e := range entries {
			if e.Machine == "" {
				b.WriteString("default")
			} else {
				b.WriteString("machine " + quote(e.Machine))
			}
			b.WriteString(" login " + quote(e.Login) + " password " + quote(e.Password) + "\n")
		}
		again, err := Parse("again", []byte(b.String()))
		if err != nil {
			t.Fatalf("rewritten file %q: %v", b.String(), err)
		}
		if len(again.Machines) != len(file.Machines) || (again.Default == nil) != (file.Default == nil) {
			t.Fatalf("rewritten file has %d machines (default %v), want %d (%v)",
				len(again.Machines), again.Default != nil, len(file.Machines), file.Default != nil)
		}
		for i, e := range file.Machines {
			g := again.Machines[i]
			if g.Machine != e.Machine || g.Login != e.Login || g.Password != e.Password {
				t.Fatalf("entry %d read back as %q/%q, want %q/%q", i, g.Machine, g.Login, e.Machine, e.Login)
			}
		}
		if d := file.Default; d != nil && (again.Default.Login != d.Login || again.Default.Password != d.Password) {
			t.Fatal("default read back differently")
		}
	})
}
