package scheduler

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/bulkget/bulkget/segment"
)

// clientFor builds the client a run (or a probe) uses when the caller gave
// none; the caller closes its idle connections when done.
func clientFor(o Options) *http.Client {
	private := make([]string, 0, len(o.Header))
	for k := range o.Header {
		private = append(private, k)
	}
	return NewClient(ClientOptions{Connections: o.Connections, MaxPerHost: o.MaxPerHost, ConnectTimeout: o.ConnectTimeout,
		HTTP2: o.HTTP2, Insecure: o.Insecure, Private: private})
}

// ClientOptions are the transport settings of a run.
type ClientOptions struct {
	// Connections is the run's budget: the pool keeps at most this many
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
}

// maxRedirects is how many redirects one request may follow, as net/http.
const maxRedirects = 10

// MaxResponseHeaderBytes caps what a response may send before its body.
const MaxResponseHeaderBytes = 1 << 20

// NewClient builds the HTTP client a run uses. It clones
// http.DefaultTransport to keep proxy settings, speaks HTTP/1.1 only unless
// http2 is set (so that segments get separate TCP connections), never asks
// for compression (ranges must be ranges of the stored bytes) and has no
// overall timeout, which would cut long bodies; stalls are caught by the
// scheduler's watchdog instead.
func NewClient(o ClientOptions) *http.Client {
	maxPerHost, connectTimeout, http2 := o.MaxPerHost, o.ConnectTimeout, o.HTTP2
	t := http.DefaultTransport.(*http.Transport).Clone()
	// Clone hands over the default transport's HTTP/2 set-up: a TLS config
	// that offers "h2" in ALPN. Left in place, a server that supports
	// HTTP/2 would pick it and our HTTP/1.1-only transport would read
	// HTTP/2 frames as a malformed response. A fresh config offers only
	// what Protocols allows (the system roots, with SSL_CERT_FILE, stay).
	t.TLSClientConfig = &tls.Config{InsecureSkipVerify: o.Insecure}
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
	return &http.Client{Transport: t, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxRedirects {
			return fmt.Errorf("%w: stopped after %d", segment.ErrTooManyRedirects, maxRedirects)
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
