package segment

import (
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// hits counts the requests a test server got, by path.
type hits struct {
	mu sync.Mutex
	n  map[string]int
}

func (h *hits) add(path string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == nil {
		h.n = map[string]int{}
	}
	h.n[path]++
}

func (h *hits) get(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[path]
}

func get(t *testing.T, d Doer, rawURL string) (string, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := d.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), nil
}

func TestClientFollowsRedirectsThroughTheHTTPClient(t *testing.T) {
	var h hits
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.add(r.URL.Path)
		switch r.URL.Path {
		case "/moved", "/moved2":
			http.Redirect(w, r, "/file", http.StatusFound)
		default:
			io.WriteString(w, "content of "+r.URL.Path)
		}
	}))
	defer srv.Close()
	checks := 0
	hc := srv.Client()
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		checks++
		return nil
	}
	c := NewClient(hc)

	if body, err := get(t, c, srv.URL+"/file"); err != nil || body != "content of /file" {
		t.Fatalf("plain answer: %q, %v", body, err)
	}
	// The first redirect is sent again through the client, whose rules
	// apply (CheckRedirect is called); the answer is the final one.
	if body, err := get(t, c, srv.URL+"/moved"); err != nil || body != "content of /file" {
		t.Fatalf("redirect: %q, %v", body, err)
	}
	if got := h.get("/moved"); got != 2 {
		t.Errorf("/moved requested %d times, want 2 (once directly, once through the client)", got)
	}
	if checks != 1 {
		t.Errorf("CheckRedirect called %d times, want 1", checks)
	}
	// From then on every request goes through the client, once.
	if body, err := get(t, c, srv.URL+"/moved2"); err != nil || body != "content of /file" {
		t.Fatalf("second redirect: %q, %v", body, err)
	}
	if got := h.get("/moved2"); got != 1 {
		t.Errorf("/moved2 requested %d times, want 1", got)
	}
	if checks != 2 {
		t.Errorf("CheckRedirect called %d times, want 2", checks)
	}
}

// A client that refuses redirects still has the last word.
func TestClientRedirectRefusedByTheHTTPClient(t *testing.T) {
	srv := httptest.NewServer(http.RedirectHandler("/elsewhere", http.StatusMovedPermanently))
	defer srv.Close()
	hc := srv.Client()
	refused := errors.New("no redirects here")
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return refused }
	if _, err := get(t, NewClient(hc), srv.URL+"/x"); !errors.Is(err, refused) {
		t.Fatalf("error %v, want the CheckRedirect refusal", err)
	}
}

// Errors come wrapped as the client wraps them, with the same message.
func TestClientErrorsAsTheHTTPClientReportsThem(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL + "/gone"
	hc := srv.Client()
	srv.Close()
	_, direct := get(t, NewClient(hc), addr)
	_, viaClient := get(t, hc, addr)
	var ue *url.Error
	if !errors.As(direct, &ue) || ue.Op != "Get" || ue.URL != addr {
		t.Fatalf("error %#v is not a *url.Error for Get %s", direct, addr)
	}
	if direct == nil || viaClient == nil || direct.Error() != viaClient.Error() {
		t.Errorf("error %q, the client's %q", direct, viaClient)
	}
}

// What only the client does, it still does: user information becomes
// basic authentication, and a jar sends its cookies.
func TestClientKeepsWhatOnlyTheHTTPClientDoes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/set" {
			http.SetCookie(w, &http.Cookie{Name: "session", Value: "s1"})
			return
		}
		user, pass, _ := r.BasicAuth()
		cookie, _ := r.Cookie("session")
		v := ""
		if cookie != nil {
			v = cookie.Value
		}
		io.WriteString(w, user+":"+pass+" "+v)
	}))
	defer srv.Close()

	withUser := strings.Replace(srv.URL, "http://", "http://ann:secret@", 1) + "/who"
	if body, err := get(t, NewClient(srv.Client()), withUser); err != nil || body != "ann:secret " {
		t.Errorf("user information: %q, %v", body, err)
	}

	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := srv.Client()
	hc.Jar = jar
	c := NewClient(hc)
	if _, err := get(t, c, srv.URL+"/set"); err != nil {
		t.Fatal(err)
	}
	if body, err := get(t, c, srv.URL+"/who"); err != nil || body != ": s1" {
		t.Errorf("cookie jar: %q, %v", body, err)
	}
}

// cannedTransport answers every request with the same response.
type cannedTransport struct{ resp *http.Response }

func (c cannedTransport) RoundTrip(*http.Request) (*http.Response, error) { return c.resp, nil }

// The point of Client: without a redirect it does none of the client's
// per-request work, which shows as allocations.
func TestClientSkipsTheHTTPClientsPerRequestWork(t *testing.T) {
	hc := &http.Client{Transport: cannedTransport{&http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Header: http.Header{}}}}
	req, err := http.NewRequest(http.MethodGet, "http://example.invalid/f", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Range", "bytes=0-")
	c := NewClient(hc)
	direct := testing.AllocsPerRun(100, func() { c.Do(req) })
	viaClient := testing.AllocsPerRun(100, func() { hc.Do(req) })
	if direct >= viaClient {
		t.Errorf("Client.Do made %.0f allocations per request, http.Client.Do %.0f: no shortcut taken", direct, viaClient)
	}
	t.Logf("allocations per request: %.0f directly, %.0f through http.Client", direct, viaClient)
}
