package segment

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
)

// Doer sends a request and returns the final response, redirects followed:
// *http.Client, or a Client.
type Doer interface {
	Do(req *http.Request) (*http.Response, error)
}

// Client sends requests through an *http.Client's transport directly for
// as long as that changes nothing the client would do: no cookie jar, no
// overall timeout, no user information in the URL, and no redirect seen
// yet. (*http.Client).Do costs a copy of the request's header and URL, kept
// for redirects that most lists never get, and on a list of 20,000 files of
// 4 KiB that was a twentieth of the CPU time. The first redirect answer
// turns the shortcut off for good: that request is sent again through the
// client, which applies its own redirect rules (CheckRedirect, headers it
// drops on the way), as it then does for every later request. So a list
// of redirecting URLs costs one request more than it would, once.
type Client struct {
	http       *http.Client
	redirected atomic.Bool
}

// NewClient returns a Client sending through c.
func NewClient(c *http.Client) *Client { return &Client{http: c} }

// Do implements Doer.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	hc := c.http
	if c.redirected.Load() || hc.Jar != nil || hc.Timeout != 0 || req.URL.User != nil {
		return hc.Do(req)
	}
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	resp, err := rt.RoundTrip(req)
	if err == nil && resp == nil {
		err = errors.New("http: RoundTripper returned a nil *Response with a nil error")
	}
	if err != nil {
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		// As the client wraps it: callers and messages see the same.
		return nil, &url.Error{Op: req.Method[:1] + strings.ToLower(req.Method[1:]), URL: req.URL.String(), Err: err}
	}
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		c.redirected.Store(true)
		// What the client reads of a redirect's body so that the
		// connection can be used again.
		io.CopyN(io.Discard, resp.Body, 2<<10)
		resp.Body.Close()
		return hc.Do(req)
	}
	return resp, nil
}
