package httpclient

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/bulkget/bulkget/internal/netrc"
	"github.com/bulkget/bulkget/segment"
)

// Options are the transport settings of a client.
type Options struct {
	// Connections is the caller's budget: the pool keeps at most this many
	// idle connections, which the open-file budget counts (0: MaxPerHost).
	Connections    int
	MaxPerHost     int
	ConnectTimeout time.Duration
	HTTP2          bool
	// Insecure skips TLS certificate verification.
	Insecure bool
	// Private are header names (the user's --header ones: tokens) that must
	// never reach another host than the one in the list: they are dropped
	// when a redirect leaves it.
	Private []string
	// Netrc gives Basic credentials per host (see netrcAuth); nil: none.
	Netrc *netrc.File
	// RootCAs are the certificate authorities trusted; nil: the system's.
	// LoadCACerts adds a file's to the system's.
	RootCAs *x509.CertPool
	// ClientCert is presented to servers that ask for one (mTLS); nil:
	// none. See LoadClientCert.
	ClientCert *tls.Certificate
}

// MaxRedirects is how many redirects one request may follow, as net/http.
const MaxRedirects = 10

// MaxResponseHeaderBytes caps what a response may send before its body.
const MaxResponseHeaderBytes = 1 << 20

// New builds the HTTP client a run uses. It clones
// http.DefaultTransport to keep proxy settings, speaks HTTP/1.1 only unless
// http2 is set (so that segments get separate TCP connections), never asks
// for compression (ranges must be ranges of the stored bytes) and has no
// overall timeout, which would cut long bodies; the caller catches stalls.
func New(o Options) *http.Client {
	maxPerHost, connectTimeout, http2 := o.MaxPerHost, o.ConnectTimeout, o.HTTP2
	t := http.DefaultTransport.(*http.Transport).Clone()
	// Clone hands over the default transport's HTTP/2 set-up: a TLS config
	// that offers "h2" in ALPN. Left in place, a server that supports
	// HTTP/2 would pick it and our HTTP/1.1-only transport would read
	// HTTP/2 frames as a malformed response. A fresh config offers only
	// what Protocols allows (the system roots, with SSL_CERT_FILE, stay
	// unless --ca-cert gives RootCAs: the system's plus its own).
	t.TLSClientConfig = &tls.Config{InsecureSkipVerify: o.Insecure, RootCAs: o.RootCAs}
	if o.ClientCert != nil {
		t.TLSClientConfig.Certificates = []tls.Certificate{*o.ClientCert}
	}
	t.TLSNextProto = nil
	dial := (&net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}).DialContext
	t.DialContext = dial
	t.TLSHandshakeTimeout = connectTimeout
	t.ResponseHeaderTimeout = connectTimeout
	conns := o.Connections
	if conns <= 0 {
		conns = maxPerHost
	}
	t.MaxConnsPerHost = maxPerHost
	t.MaxIdleConnsPerHost = max(1, min(maxPerHost, conns))
	t.MaxIdleConns = max(1, conns)
	t.DisableCompression = true
	// Headers and a small file's whole body in one read.
	t.ReadBufferSize = 64 << 10
	// A server that sends headers without end costs each connection at
	// most this much memory, not net/http's 10 MiB.
	t.MaxResponseHeaderBytes = MaxResponseHeaderBytes
	t.Protocols = new(http.Protocols)
	t.Protocols.SetHTTP1(true)
	if http2 {
		t.Protocols.SetHTTP2(true)
		t.ForceAttemptHTTP2 = true
	} else {
		t.ForceAttemptHTTP2 = false
		// A non-nil empty map is the documented way to disable HTTP/2.
		t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	var rt http.RoundTripper = t
	if o.Netrc != nil {
		rt = &netrcAuth{next: t, netrc: o.Netrc}
	}
	return &http.Client{Transport: rt, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= MaxRedirects {
			return fmt.Errorf("%w: stopped after %d", segment.ErrTooManyRedirects, MaxRedirects)
		}
		if s := req.URL.Scheme; s != "http" && s != "https" {
			return fmt.Errorf("%w %q", segment.ErrRedirectScheme, s)
		}
		if req.URL.Host != via[0].URL.Host {
			for _, k := range o.Private {
				req.Header.Del(k)
			}
		}
		return nil
	}}
}

// netrcAuth adds Basic credentials from a netrc file to each request,
// redirects included: it sees every hop, so each gets the credentials of
// its own host and no other. A hop that already has an Authorization header
// (from the URL's user information, or the user's --header) is left alone,
// and so is every hop of a request whose list URL carries user information:
// that wins over netrc, as in curl. A hop reached by a redirect to another
// host gets only a machine entry naming that host, never the default entry
// (the default is meant for the hosts the user lists, not for the CDN a
// host redirects to), and a redirect from https to http gets nothing.
//
// Setting the header here rather than on the first request is what keeps
// it off other hosts: net/http strips an Authorization header on a redirect
// to another host only when it was on the original request, and never sees
// one set by a RoundTripper on a clone.
type netrcAuth struct {
	next  *http.Transport
	netrc *netrc.File
}

func (a *netrcAuth) RoundTrip(req *http.Request) (*http.Response, error) {
	if e, ok := a.entryFor(req); ok {
		req = req.Clone(req.Context()) // a RoundTripper must not change its request
		req.SetBasicAuth(e.Login, e.Password)
	}
	return a.next.RoundTrip(req)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// transport.
func (a *netrcAuth) CloseIdleConnections() { a.next.CloseIdleConnections() }

func (a *netrcAuth) entryFor(req *http.Request) (netrc.Entry, bool) {
	if req.Header.Get("Authorization") != "" {
		return netrc.Entry{}, false
	}
	first := req // the request the caller made, before any redirect
	for first.Response != nil && first.Response.Request != nil {
		first = first.Response.Request
	}
	if first.URL.User != nil {
		return netrc.Entry{}, false
	}
	if first != req && first.URL.Scheme == "https" && req.URL.Scheme != "https" {
		return netrc.Entry{}, false
	}
	host := req.URL.Hostname()
	if strings.EqualFold(host, first.URL.Hostname()) {
		return a.netrc.Lookup(host)
	}
	return a.netrc.Machine(host)
}

// LoadCACerts returns the system's certificate authorities plus those in
// file (PEM, one or more). Go reads SSL_CERT_FILE on Linux and the BSDs
// only; this works on every platform. A file without a certificate is an
// error naming it.
func LoadCACerts(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("httpclient: CA certificates: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("httpclient: CA certificates: no PEM certificate in %s", file)
	}
	return pool, nil
}

// LoadClientCert reads a client certificate (PEM, with its chain) from
// certFile and its private key (PEM) from keyFile; with keyFile empty the
// key is looked for in certFile, as curl does. Errors name the files and
// never hold their content.
func LoadClientCert(certFile, keyFile string) (*tls.Certificate, error) {
	if certFile == "" {
		return nil, errors.New("httpclient: client certificate: a key without a certificate")
	}
	if keyFile == "" {
		keyFile = certFile
	}
	names := certFile
	if keyFile != certFile {
		names += " and " + keyFile
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("httpclient: client certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("httpclient: client certificate key: %w", err)
	}
	if encryptedKey(keyPEM) {
		return nil, fmt.Errorf("httpclient: client certificate key in %s is encrypted, which is not supported: decrypt it first (openssl pkey -in KEY -out KEY.plain)", keyFile)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("httpclient: client certificate %s: %w", names, err)
	}
	return &cert, nil
}

// encryptedKey reports whether the first private key in data is encrypted
// (PKCS#8 or the legacy OpenSSL form).
func encryptedKey(data []byte) bool {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return false
		}
		if b.Type == "ENCRYPTED PRIVATE KEY" {
			return true
		}
		if strings.HasSuffix(b.Type, "PRIVATE KEY") {
			return strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED")
		}
	}
}
