package httpclient

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkget/bulkget/internal/netrc"
	"github.com/bulkget/bulkget/internal/testpki"
)

func parseNetrc(t *testing.T, s string) *netrc.File {
	t.Helper()
	f, err := netrc.Parse("test.netrc", []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestLoadCertificateFilesErrorsNameTheFiles(t *testing.T) {
	pki := testpki.New(t)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, []byte("no certificate here\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	encrypted := filepath.Join(dir, "enc.key")
	if err := os.WriteFile(encrypted, []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(pki.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCACerts(empty); err == nil || !strings.Contains(err.Error(), empty) {
		t.Errorf("CA file without a certificate: %v", err)
	}
	if _, err := LoadCACerts(filepath.Join(dir, "missing.pem")); err == nil || !strings.Contains(err.Error(), "missing.pem") {
		t.Errorf("missing CA file: %v", err)
	}
	for _, c := range []struct{ cert, key, names string }{
		{pki.CertFile, "", pki.CertFile},                 // no key in the cert file
		{pki.CertFile, empty, empty},                     // no key in the key file
		{pki.KeyFile, pki.CertFile, pki.KeyFile},         // switched
		{filepath.Join(dir, "nope.pem"), "", "nope.pem"}, // missing
		{pki.CertFile, encrypted, encrypted},             // encrypted key
		{pki.CertFile, filepath.Join(dir, "k"), "k"},     // missing key
		{"", pki.KeyFile, "a key without a certificate"}, // --key alone
	} {
		_, err := LoadClientCert(c.cert, c.key)
		if err == nil || !strings.Contains(err.Error(), c.names) {
			t.Errorf("LoadClientCert(%q, %q) = %v; want an error naming %q", c.cert, c.key, err, c.names)
			continue
		}
		if strings.Contains(err.Error(), string(key[40:80])) {
			t.Errorf("error holds the key: %v", err)
		}
	}
}

func TestNetrcTransportPassesCloseIdleConnections(t *testing.T) {
	c := New(Options{MaxPerHost: 4, Netrc: parseNetrc(t, "default login a password b")})
	if _, ok := c.Transport.(interface{ CloseIdleConnections() }); !ok {
		t.Errorf("transport %T cannot close idle connections", c.Transport)
	}
	if _, ok := New(Options{MaxPerHost: 4}).Transport.(*http.Transport); !ok {
		t.Error("without netrc the transport is not net/http's own")
	}
}

func TestNetrcAuthPicksEachHopsOwnCredentials(t *testing.T) {
	a := &netrcAuth{netrc: parseNetrc(t, "machine a login ua password pa\nmachine b login ub password pb\ndefault login d password pd")}
	req := func(url string, prev *http.Request) *http.Request {
		r, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if prev != nil {
			r.Response = &http.Response{Request: prev}
		}
		return r
	}
	withAuth := req("https://a/f", nil)
	withAuth.Header.Set("Authorization", "Bearer token")
	first := req("https://a/f", nil)
	for _, c := range []struct {
		name string
		r    *http.Request
		want string // login, "" none
	}{
		{"list host", first, "ua"},
		{"list host by default", req("https://c/f", nil), "d"},
		{"same host after a redirect", req("https://a/g", first), "ua"},
		{"default host after a redirect to itself", req("https://c/g", req("https://c/f", nil)), "d"},
		{"another host with its entry", req("https://b/f", req("https://a/g", first)), "ub"},
		{"another host without an entry", req("https://c/f", first), ""},
		{"https to http on the same host", req("http://a/f", first), ""},
		{"https to http to a host with an entry", req("http://b/f", first), ""},
		{"http to https", req("https://a/f", req("http://a/f", nil)), "ua"},
		{"an Authorization header already there", withAuth, ""},
		{"user information in the list URL", req("https://a/g", req("https://x:y@a/f", nil)), ""},
	} {
		e, ok := a.entryFor(c.r)
		if (c.want == "") == ok || e.Login != c.want {
			t.Errorf("%s: got %v (login %q), want %q", c.name, ok, e.Login, c.want)
		}
	}
}
