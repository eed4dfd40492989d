package httpclient

import (
	"net/http"
	"testing"
)

func TestClientKeepsItsPromises(t *testing.T) {
	c := New(Options{Connections: 4, MaxPerHost: 16})
	tr, ok := c.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("transport is %T, want net/http's", c.Transport)
	}
	switch {
	case tr.MaxIdleConns != 4 || tr.MaxIdleConnsPerHost != 4:
		t.Errorf("pool keeps %d idle (%d per host): more than the 4 connections the open-file budget counts",
			tr.MaxIdleConns, tr.MaxIdleConnsPerHost)
	case tr.MaxConnsPerHost != 16:
		t.Errorf("MaxConnsPerHost %d, want 16", tr.MaxConnsPerHost)
	case !tr.DisableCompression:
		t.Error("compression may be asked for: ranges would be ranges of the compressed form")
	case tr.MaxResponseHeaderBytes != MaxResponseHeaderBytes:
		t.Errorf("response headers capped at %d, want %d", tr.MaxResponseHeaderBytes, MaxResponseHeaderBytes)
	case tr.Protocols == nil || tr.Protocols.HTTP2() || !tr.Protocols.HTTP1():
		t.Errorf("protocols %v, want HTTP/1.1 only", tr.Protocols)
	case c.Timeout != 0:
		t.Error("an overall timeout would cut long bodies")
	}
	if tr := New(Options{MaxPerHost: 8, HTTP2: true}).Transport.(*http.Transport); !tr.Protocols.HTTP2() {
		t.Error("--http2 does not allow HTTP/2")
	}
}
