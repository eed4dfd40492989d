package httpclient

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// get fetches url through a client built from o and returns the final
// status.
func get(t *testing.T, o Options, url string) int {
	t.Helper()
	o.MaxPerHost = 4
	c := New(o)
	defer c.CloseIdleConnections()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// authServer answers with a body when it gets Basic credentials
// user:pass, 401 otherwise, and records every Authorization it is sent.
type authServer struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func newAuthServer(t *testing.T, user, pass string, next http.HandlerFunc) *authServer {
	t.Helper()
	a := &authServer{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.seen = append(a.seen, r.Header.Get("Authorization"))
		a.mu.Unlock()
		if next != nil {
			next(w, r)
			return
		}
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		io.WriteString(w, "the body")
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *authServer) authorizations() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.seen...)
}

func TestNetrcCredentialsOpenABasicAuthServer(t *testing.T) {
	srv := newAuthServer(t, "ann", "s3cret pass", nil) // on 127.0.0.1
	for _, c := range []struct {
		name, netrc string
		ok          bool
	}{
		{"machine entry", `machine 127.0.0.1 login ann password "s3cret pass"`, true},
		{"default entry", `machine example.com login x password y` + "\n" + `default login ann password "s3cret pass"`, true},
		{"another host's entry", `machine localhost login ann password "s3cret pass"`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if code, want := get(t, Options{Netrc: parseNetrc(t, c.netrc)}, srv.URL+"/f"), map[bool]int{true: 200, false: 401}[c.ok]; code != want {
				t.Errorf("status %d, want %d", code, want)
			}
		})
	}
}

func TestURLUserInfoWinsOverNetrc(t *testing.T) {
	srv := newAuthServer(t, "url-user", "url-pass", nil)
	u := strings.Replace(srv.URL, "http://", "http://url-user:url-pass@", 1) + "/f"
	if code := get(t, Options{Netrc: parseNetrc(t, "machine 127.0.0.1 login ann password netrc-pass")}, u); code != 200 {
		t.Fatalf("status %d", code)
	}
	for _, a := range srv.authorizations() {
		if r := (&http.Request{Header: http.Header{"Authorization": {a}}}); !hasBasic(r, "url-user", "url-pass") {
			t.Errorf("server got %q, want the URL's credentials on every request", a)
		}
	}
}

func hasBasic(r *http.Request, user, pass string) bool {
	u, p, ok := r.BasicAuth()
	return ok && u == user && p == pass
}

// TestNetrcCredentialsNeverFollowARedirectToAnotherHost: A (127.0.0.1) needs
// its netrc credentials and redirects to B (localhost, another port). B
// must never see A's credentials, nor the default entry's; it gets its own
// machine entry if the file has one.
func TestNetrcCredentialsNeverFollowARedirectToAnotherHost(t *testing.T) {
	for _, c := range []struct {
		name, extra string
		wantB       string // the Basic credentials B should get, "" none
	}{
		{"no entry for B", "", ""},
		{"a default entry", "default login dflt password dflt-pass", ""},
		{"B's own entry", "machine localhost login bob password b-pass", "bob:b-pass"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := newAuthServer(t, "", "", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "the body") })
			bURL := strings.Replace(b.URL, "127.0.0.1", "localhost", 1) + "/f"
			a := newAuthServer(t, "", "", func(w http.ResponseWriter, r *http.Request) {
				if !hasBasic(r, "ann", "a-pass") {
					http.Error(w, "who are you", http.StatusUnauthorized)
					return
				}
				http.Redirect(w, r, bURL, http.StatusFound)
			})
			rc := parseNetrc(t, "machine 127.0.0.1 login ann password a-pass\n"+c.extra)
			if code := get(t, Options{Netrc: rc}, a.URL+"/f"); code != 200 {
				t.Fatalf("status %d", code)
			}
			if len(a.authorizations()) == 0 || len(b.authorizations()) == 0 {
				t.Fatalf("A saw %d requests, B %d: the redirect was not followed", len(a.authorizations()), len(b.authorizations()))
			}
			for _, got := range b.authorizations() {
				r := &http.Request{Header: http.Header{"Authorization": {got}}}
				switch {
				case c.wantB == "" && got != "":
					u, _, _ := r.BasicAuth()
					t.Errorf("B got an Authorization header (user %q): credentials followed the redirect", u)
				case c.wantB != "" && !hasBasic(r, strings.Split(c.wantB, ":")[0], strings.Split(c.wantB, ":")[1]):
					t.Errorf("B did not get its own entry's credentials")
				}
			}
		})
	}
}
