package httpclient

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
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

// TestPrivateHeadersStayWithTheListHost: a header named in Private reaches
// the host of the first request and its redirects to itself, never a host
// a redirect leads to.
func TestPrivateHeadersStayWithTheListHost(t *testing.T) {
	var leaked atomic.Value
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get("X-Token"); v != "" {
			leaked.Store(v)
		}
	}))
	t.Cleanup(b.Close)
	bURL := strings.Replace(b.URL, "127.0.0.1", "localhost", 1) + "/f"
	var sawToken atomic.Int32
	a := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Token") == "secret" {
			sawToken.Add(1)
		}
		if r.URL.Path == "/f" {
			http.Redirect(w, r, "/g", http.StatusFound) // the same host
			return
		}
		http.Redirect(w, r, bURL, http.StatusFound)
	}))
	t.Cleanup(a.Close)
	c := New(Options{MaxPerHost: 4, Private: []string{"X-Token"}})
	defer c.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, a.URL+"/f", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Token", "secret")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := sawToken.Load(); n != 2 {
		t.Errorf("the list's host saw the header on %d of its 2 requests", n)
	}
	if v := leaked.Load(); v != nil {
		t.Errorf("the host redirected to got the header: %v", v)
	}
}
