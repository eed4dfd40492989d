package signedurl

import (
	"net/url"
	"strconv"
	"testing"
	"time"
)

func TestExpiryIsReadFromTheCommonSigners(t *testing.T) {
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		url  string
		want time.Time
	}{
		{"https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261202T100000Z&X-Amz-Expires=3600&X-Amz-Signature=x", at.Add(time.Hour)},
		{"https://storage.googleapis.com/b/k?X-Goog-Date=20261202T100000Z&X-Goog-Expires=60&X-Goog-Signature=x", at.Add(time.Minute)},
		{"https://d.cloudfront.net/k?Expires=1796205600&Signature=x&Key-Pair-Id=y", time.Unix(1796205600, 0)},
		{"https://a.blob.core.windows.net/c/k?sv=2022&se=2026-12-02T10:00:00Z&sig=x", at},
	} {
		u, _ := url.Parse(c.url)
		if got, ok := Expiry(u); !ok || !got.Equal(c.want) {
			t.Errorf("%s: %v %v, want %v", c.url, got, ok, c.want)
		}
	}
	for _, s := range []string{
		"https://h/k", "https://h/k?Expires=soon", "https://h/k?se=2026-12-02T10:00:00Z", "https://h/k?X-Amz-Expires=60",
		// Longer than a time.Duration holds: it would wrap into the past.
		"https://h/k?X-Amz-Date=20261202T100000Z&X-Amz-Expires=9223372036854775807",
	} {
		u, _ := url.Parse(s)
		if at, ok := Expiry(u); ok {
			t.Errorf("%s: an expiry (%v) from a URL that states none it can read", s, at)
		}
	}
}

// FuzzExpiry: any query parses without a panic, and a validity stated as
// a date and a count of seconds never ends before it began.
func FuzzExpiry(f *testing.F) {
	for _, q := range []string{
		"X-Amz-Date=20261202T100000Z&X-Amz-Expires=3600",
		"X-Goog-Date=20261202T100000Z&X-Goog-Expires=60",
		"Expires=1796205600&Signature=x",
		"se=2026-12-02T10:00:00Z&sig=x",
		"X-Amz-Date=20261202T100000Z&X-Amz-Expires=9223372036",
		"Expires=-1&se=x&sig=",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		u := &url.URL{Scheme: "https", Host: "h", Path: "/k", RawQuery: rawQuery}
		at, ok := Expiry(u)
		if !ok {
			if !at.IsZero() {
				t.Fatalf("no expiry, yet a time %v", at)
			}
			return
		}
		q := u.Query()
		for _, p := range [][2]string{{"X-Amz-Date", "X-Amz-Expires"}, {"X-Goog-Date", "X-Goog-Expires"}} {
			d, err1 := time.Parse("20060102T150405Z", q.Get(p[0]))
			secs, err2 := strconv.ParseInt(q.Get(p[1]), 10, 64)
			if err1 == nil && err2 == nil && secs > 0 && secs <= maxSeconds {
				if !at.After(d) {
					t.Fatalf("%s: expires at %v, not after its date %v", rawQuery, at, d)
				}
				return // the first readable pair decides
			}
		}
	})
}
