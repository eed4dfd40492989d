package scheduler

import (
	"net"
	"net/http"
	"time"
)

// NewClient builds the HTTP client a run uses. It clones
// http.DefaultTransport to keep proxy settings, speaks HTTP/1.1 only unless
// http2 is set (so that segments get separate TCP connections), never asks
// for compression (ranges must be ranges of the stored bytes) and has no
// overall timeout, which would cut long bodies; stalls are caught by the
// scheduler's watchdog instead.
func NewClient(maxPerHost int, connectTimeout time.Duration, http2 bool) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = connectTimeout
	t.ResponseHeaderTimeout = connectTimeout
	t.MaxConnsPerHost = maxPerHost
	t.MaxIdleConnsPerHost = maxPerHost
	t.MaxIdleConns = max(100, 2*maxPerHost)
	t.DisableCompression = true
	t.Protocols = new(http.Protocols)
	t.Protocols.SetHTTP1(true)
	if http2 {
		t.Protocols.SetHTTP2(true)
		t.ForceAttemptHTTP2 = true
	} else {
		t.ForceAttemptHTTP2 = false
	}
	return &http.Client{Transport: t}
}
