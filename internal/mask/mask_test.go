package mask

import (
	"strings"
	"testing"
	"unicode"
)

func TestURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"https://host/a.bin?X-Amz-Signature=abc&exp=1", "https://host/a.bin?REDACTED"},
		{"http://u:pw@host/x", "http://REDACTED@host/x"},
		{"https://ghp_token@github.com/o/r", "https://REDACTED@github.com/o/r"},
		{"http://host:8080/plain", "http://host:8080/plain"},
		{"http://host/x#frag", "http://host/x"},
		{"http://host/x?", "http://host/x"},
		{"http://u:pw@host/%zz?sig=abc", "http://REDACTED@host/%zz?REDACTED"},
		{"http://u:p@w@host:port/x", "http://REDACTED@host:port/x"},
		{"ftp://u:pw@host/f?t=1", "ftp://REDACTED@host/f?REDACTED"},
	} {
		if got := URL(c.in); got != c.want {
			t.Errorf("URL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestText(t *testing.T) {
	in := `Get "http://user:s3cr3t@127.0.0.1:80/a.bin?X-Amz-Signature=PLANTED&token=PLANTED": EOF; ` +
		`parse "http://u:s3cr3t@h/%zz?sig=PLANTED": invalid URL escape; redirect to 'https://x/y?token=PLANTED'`
	got := Text(in)
	for _, secret := range []string{"s3cr3t", "PLANTED"} {
		if strings.Contains(got, secret) {
			t.Errorf("Text left %q in %s", secret, got)
		}
	}
	if !strings.Contains(got, `Get "http://REDACTED@127.0.0.1:80/a.bin?REDACTED": EOF`) {
		t.Errorf("Text changed more than the secrets: %s", got)
	}
	if s := "no url here: 1 < 2"; Text(s) != s {
		t.Errorf("Text changed %q", s)
	}
}

func TestSecrets(t *testing.T) {
	s := NewSecrets("Bearer PLANTEDTOKEN", "ab")
	got := s.Text("server said PLANTEDTOKEN; header Bearer PLANTEDTOKEN; ab stays; http://h/?k=v")
	if strings.Contains(got, "PLANTEDTOKEN") || !strings.Contains(got, "ab stays") || strings.Contains(got, "k=v") {
		t.Errorf("Secrets.Text = %q", got)
	}
	var none *Secrets
	if got := none.Text("x http://u:p@h/ y"); got != "x http://REDACTED@h/ y" {
		t.Errorf("nil Secrets.Text = %q", got)
	}
}

// FuzzText plants a password and a signature in a URL inside arbitrary
// text: whatever surrounds it, neither may survive Text.
func FuzzText(f *testing.F) {
	for _, s := range []string{"", "Get %q: EOF", "x %s y", "%s?%s", "\"%s\"", "(%s)", "%s#frag"} {
		f.Add(s, "host.example", "/a/b.bin")
	}
	f.Fuzz(func(t *testing.T, around, host, path string) {
		const pass, sig = "PLANTEDPASS", "PLANTEDSIG"
		// Whitespace and control characters cannot be in a URL that Go
		// parsed or sends; they end a URL in text.
		bad := func(r rune) bool {
			return unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune("/?#@\"%", r)
		}
		if host == "" || strings.IndexFunc(host, bad) >= 0 || strings.IndexFunc(strings.ReplaceAll(path, "/", ""), bad) >= 0 {
			return
		}
		u := "https://user:" + pass + "@" + host + "/" + strings.TrimPrefix(path, "/") + "?X-Amz-Signature=" + sig
		text := strings.ReplaceAll(around, "%s", u)
		if !strings.Contains(around, "%s") {
			text = around + " " + u
		}
		got := Text(text)
		if strings.Contains(got, pass) || strings.Contains(got, sig) {
			t.Fatalf("Text(%q) = %q keeps a secret", text, got)
		}
	})
}
