package scheduler

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkget/bulkget/httpclient"
	"github.com/bulkget/bulkget/internal/netrc"
	"github.com/bulkget/bulkget/internal/testpki"
	"github.com/bulkget/bulkget/manifest"
)

// credBody is what the servers of these tests serve, with ranges.
var credBody = bytes.Repeat([]byte("credentials "), 20000)

func serveBody(w http.ResponseWriter, r *http.Request) {
	http.ServeContent(w, r, "f", time.Unix(1e9, 0), bytes.NewReader(credBody))
}

// credRun downloads url as "f" with opts (on top of testOptions) and returns
// the summary and the folder.
func credRun(t *testing.T, url string, opts Options) (Summary, string) {
	t.Helper()
	return credRunWith(t, url, opts, deps{})
}

// credRunWith is credRun with the run's dependencies handed in.
func credRunWith(t *testing.T, url string, opts Options, d deps) (Summary, string) {
	t.Helper()
	dir := t.TempDir()
	o := testOptions(dir)
	o.Retries = 2
	o.Netrc, o.RootCAs, o.ClientCert = opts.Netrc, opts.RootCAs, opts.ClientCert
	o.Insecure, o.Header = opts.Insecure, opts.Header
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sum, err := runWith(ctx, []manifest.Entry{{Line: 2, Name: "f", URL: url, Size: -1}}, o, d)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return sum, dir
}

func wantDownloaded(t *testing.T, sum Summary, dir string) {
	t.Helper()
	if sum.Done != 1 || len(sum.Failed) > 0 {
		t.Fatalf("done %d, failed %v", sum.Done, sum.Failed)
	}
	got, err := os.ReadFile(filepath.Join(dir, "f"))
	if err != nil || !bytes.Equal(got, credBody) {
		t.Fatalf("file wrong (%d bytes, %v)", len(got), err)
	}
}

func wantFailed(t *testing.T, sum Summary, words ...string) {
	t.Helper()
	if sum.Done != 0 || len(sum.Failed) != 1 {
		t.Fatalf("done %d, failed %v; want the file failed", sum.Done, sum.Failed)
	}
	msg := sum.Failed[0].Err.Error()
	for _, w := range words {
		if !strings.Contains(msg, w) {
			t.Errorf("failure %q does not say %q", msg, w)
		}
	}
}

// tlsServer starts an HTTPS server with the test CA's certificate; hellos
// counts its TLS handshakes.
func tlsServer(t *testing.T, pki *testpki.PKI, clientAuth tls.ClientAuthType) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hellos atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(serveBody))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pki.Server}, ClientAuth: clientAuth, ClientCAs: pki.Pool,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { hellos.Add(1); return nil, nil }}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, &hellos
}

func TestCACertFileIsTrustedAndAnUnknownCAIsNotRetried(t *testing.T) {
	pki := testpki.New(t)
	srv, hellos := tlsServer(t, pki, tls.NoClientCert)
	pool, err := httpclient.LoadCACerts(pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	sum, dir := credRun(t, srv.URL+"/f", Options{RootCAs: pool})
	wantDownloaded(t, sum, dir)

	hellos.Store(0)
	sum, _ = credRun(t, srv.URL+"/f", Options{})
	wantFailed(t, sum, "certificate")
	if n := hellos.Load(); n != 1 {
		t.Errorf("%d TLS handshakes with a server whose CA is unknown, want 1: a certificate error is not retried", n)
	}
}

func TestClientCertificateOpensAServerThatRequiresOne(t *testing.T) {
	pki := testpki.New(t)
	srv, hellos := tlsServer(t, pki, tls.RequireAndVerifyClientCert)
	pool, err := httpclient.LoadCACerts(pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, cert, key string }{
		{"cert and key", pki.CertFile, pki.KeyFile},
		{"key in the cert file", pki.BothFile, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			cert, err := httpclient.LoadClientCert(c.cert, c.key)
			if err != nil {
				t.Fatal(err)
			}
			sum, dir := credRun(t, srv.URL+"/f", Options{RootCAs: pool, ClientCert: cert})
			wantDownloaded(t, sum, dir)
		})
	}
	t.Run("no client certificate", func(t *testing.T) {
		hellos.Store(0)
		sum, _ := credRun(t, srv.URL+"/f", Options{RootCAs: pool})
		wantFailed(t, sum, "certificate")
		if n := hellos.Load(); n != 1 {
			t.Errorf("%d TLS handshakes without the certificate the server requires, want 1: not retried", n)
		}
	})
}

// TestAWrappedTransportKeepsTheClientsRules: a transport wrapped around a
// run's (deps.wrap, the one way to hand a run another transport) sees
// every request, yet every rule of the client holds: a certificate from
// an unknown CA is refused unless --ca-cert or --insecure says otherwise,
// and neither netrc credentials nor the user's headers follow a redirect
// to another host.
func TestAWrappedTransportKeepsTheClientsRules(t *testing.T) {
	watched := func() (*atomic.Int32, deps) {
		var n atomic.Int32
		return &n, deps{wrap: func(next http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(req *http.Request) (*http.Response, error) {
				n.Add(1)
				return next.RoundTrip(req)
			})
		}}
	}
	pki := testpki.New(t)
	srv, _ := tlsServer(t, pki, tls.NoClientCert)
	pool, err := httpclient.LoadCACerts(pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		opts Options
		ok   bool
	}{
		{"unknown CA", Options{}, false},
		{"--ca-cert", Options{RootCAs: pool}, true},
		{"--insecure", Options{Insecure: true}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			n, d := watched()
			sum, dir := credRunWith(t, srv.URL+"/f", c.opts, d)
			if c.ok {
				wantDownloaded(t, sum, dir)
			} else {
				wantFailed(t, sum, "certificate")
			}
			if n.Load() == 0 {
				t.Error("the wrapped transport saw no request")
			}
		})
	}
	t.Run("redirect to another host", func(t *testing.T) {
		const token = "PLANTED-TOKEN"
		var leaked atomic.Value
		b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Token") != "" || r.Header.Get("Authorization") != "" {
				leaked.Store(r.Header.Clone())
			}
			serveBody(w, r)
		}))
		t.Cleanup(b.Close)
		bURL := strings.Replace(b.URL, "127.0.0.1", "localhost", 1) + "/f"
		a := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != "ann" || p != "a-pass" || r.Header.Get("X-Token") != token {
				http.Error(w, "who are you", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, bURL, http.StatusFound)
		}))
		t.Cleanup(a.Close)
		rc, err := netrc.Parse("test.netrc", []byte("machine 127.0.0.1 login ann password a-pass"))
		if err != nil {
			t.Fatal(err)
		}
		n, d := watched()
		opts := Options{Netrc: rc, Header: http.Header{"X-Token": {token}}}
		sum, dir := credRunWith(t, a.URL+"/f", opts, d)
		wantDownloaded(t, sum, dir)
		if h := leaked.Load(); h != nil {
			t.Errorf("the host redirected to got the list host's secrets: %v", h)
		}
		if n.Load() < 2 {
			t.Errorf("the wrapped transport saw %d requests, want both hops of the redirect", n.Load())
		}
	})
}
