package segment

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

func TestRevalidate(t *testing.T) {
	const (
		etag = `"v1"`
		date = "Mon, 01 Jan 2024 00:00:00 GMT"
		body = "0123456789"
	)
	// server answers with the given validators and size; honour: it
	// answers conditionals; ranges: it answers bytes=0-0 with a 206.
	type server struct {
		honour       bool
		ranges       bool
		etag, date   string
		size         int
		noValidators bool
	}
	cases := []struct {
		name string
		srv  server
		v    Version
		want Verdict
	}{
		{"304 by ETag", server{honour: true, ranges: true, etag: etag, date: date, size: 10}, Version{10, etag, date}, Unchanged},
		{"304 by date", server{honour: true, ranges: true, date: date, size: 10}, Version{10, "", date}, Unchanged},
		{"new ETag", server{honour: true, ranges: true, etag: `"v2"`, date: date, size: 10}, Version{10, etag, date}, Changed},
		{"new date", server{honour: true, ranges: true, date: "Tue, 02 Jan 2024 00:00:00 GMT", size: 10}, Version{10, "", date}, Changed},
		{"ignored, same ETag", server{ranges: true, etag: etag, size: 10}, Version{10, etag, ""}, Unchanged},
		{"ignored, weak same ETag", server{ranges: true, etag: "W/" + etag, size: 10}, Version{10, etag, ""}, Unchanged},
		{"ignored, new ETag same size", server{ranges: true, etag: `"v2"`, size: 10}, Version{10, etag, ""}, Changed},
		{"ignored, same date", server{ranges: true, date: date, size: 10}, Version{10, "", date}, Unchanged},
		{"ignored, other size", server{ranges: true, etag: etag, size: 9}, Version{10, etag, ""}, Changed},
		{"no ranges, same ETag", server{etag: etag, size: 10}, Version{10, etag, ""}, Unchanged},
		{"no ranges, new ETag", server{etag: `"v2"`, size: 10}, Version{10, etag, ""}, Changed},
		{"no validators now", server{ranges: true, size: 10}, Version{10, etag, ""}, Unknown},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got http.Header
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r.Header.Clone()
				if c.srv.etag != "" {
					w.Header().Set("ETag", c.srv.etag)
				}
				if c.srv.date != "" {
					w.Header().Set("Last-Modified", c.srv.date)
				}
				if c.srv.honour {
					inm, ims := r.Header.Get("If-None-Match"), r.Header.Get("If-Modified-Since")
					if inm != "" && inm == c.srv.etag || inm == "" && ims != "" && ims == c.srv.date {
						w.WriteHeader(http.StatusNotModified)
						return
					}
				}
				b := body[:c.srv.size]
				if c.srv.ranges && r.Header.Get("Range") == "bytes=0-0" {
					w.Header().Set("Content-Range", "bytes 0-0/"+strconv.Itoa(len(b)))
					w.Header().Set("Content-Length", "1")
					w.WriteHeader(http.StatusPartialContent)
					w.Write([]byte(b[:1]))
					return
				}
				w.Header().Set("Content-Length", strconv.Itoa(len(b)))
				w.Write([]byte(b))
			}))
			defer srv.Close()
			v, err := Revalidate(context.Background(), srv.Client(), Request{URL: srv.URL, IfRange: `"stale"`}, c.v)
			if err != nil {
				t.Fatal(err)
			}
			if v != c.want {
				t.Errorf("verdict %v, want %v", v, c.want)
			}
			if got.Get("Range") != "bytes=0-0" || got.Get("If-Range") != "" {
				t.Errorf("Range %q, If-Range %q: want the first byte, unconditionally on If-Range", got.Get("Range"), got.Get("If-Range"))
			}
			switch {
			case c.v.ETag != "" && (got.Get("If-None-Match") != c.v.ETag || got.Get("If-Modified-Since") != ""):
				t.Errorf("with an ETag recorded: If-None-Match %q, If-Modified-Since %q", got.Get("If-None-Match"), got.Get("If-Modified-Since"))
			case c.v.ETag == "" && got.Get("If-Modified-Since") != c.v.LastModified:
				t.Errorf("with a date only: If-Modified-Since %q", got.Get("If-Modified-Since"))
			}
		})
	}
}

func TestNotModifiedIsAnErrorUnlessAskedFor(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotModified)
	}))
	defer srv.Close()
	_, err := Open(context.Background(), srv.Client(), Request{URL: srv.URL, Start: 0, End: 1, Total: -1})
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusNotModified {
		t.Errorf("an unasked-for 304: %v", err)
	}
}
