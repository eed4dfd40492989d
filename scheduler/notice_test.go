package scheduler

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bulkget/bulkget/internal/origin"
)

// hostWarnings returns the run-level warnings that name a server.
func (r *recorder) hostWarnings(what string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if e.Kind == Warning && e.Name == "" && e.Err != nil && strings.HasPrefix(e.Err.Error(), "server ") && strings.Contains(e.Err.Error(), what) {
			out = append(out, e.Err.Error())
		}
	}
	return out
}

func TestUserHearsOnceWhatAServerDoes(t *testing.T) {
	for _, c := range []struct {
		name     string
		opts     origin.Options
		redirect bool
		conns    int
		want     string
	}{
		// Paced so that a split is tried before a file ends: a 200 to the
		// probe alone proves nothing (trial.go).
		{"ignores ranges", origin.Options{NoRanges: true, PerConnRate: 2 << 20}, false, 8, "does not serve byte ranges"},
		// Paced so that the run lasts long enough for the cuts to reach one.
		{"refuses parallel connections", origin.Options{MaxInFlight: 1, OverloadStatus: 503, PerConnRate: 8 << 20}, false, 8, "refuses parallel connections"},
		{"redirects every request", origin.Options{}, true, 4, "redirects every request"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fx := newFixture(t, c.opts)
			for i := range 12 {
				fx.add(fmt.Sprintf("n%02d.bin", i), 1<<20)
			}
			if c.redirect {
				front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, fx.srv.URL(strings.TrimPrefix(r.URL.Path, "/")), http.StatusFound)
				}))
				t.Cleanup(front.Close)
				for i := range fx.entries {
					fx.entries[i].URL = front.URL + "/" + fx.entries[i].Name
				}
			}
			dir := t.TempDir()
			opts := testOptions(dir)
			opts.Connections = c.conns
			rec := &recorder{}
			opts.Reporter = rec
			if sum := runFixture(t, fx, opts); sum.Done != 12 {
				t.Fatalf("%+v", sum)
			}
			fx.verify(t, dir, nil)
			if got := rec.hostWarnings(c.want); len(got) != 1 {
				t.Errorf("%d warnings saying %q, want exactly one: %q", len(got), c.want, got)
			}
			// A well-behaved server gets none of the others.
			for _, other := range []string{"does not serve byte ranges", "refuses parallel connections", "redirects every request"} {
				if other != c.want && len(rec.hostWarnings(other)) > 0 {
					t.Errorf("warned %q of a server that does not", other)
				}
			}
		})
	}
}
