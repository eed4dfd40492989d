package signedurl

import (
	"math"
	"net/url"
	"strconv"
	"time"
)

// maxSeconds is the longest validity a time.Duration holds; a longer one
// would wrap into the past.
const maxSeconds = math.MaxInt64 / int64(time.Second)

// Expiry returns when u stops working, as its signature states; ok is
// false when it states none that can be read.
func Expiry(u *url.URL) (at time.Time, ok bool) {
	q := u.Query()
	for _, p := range [][2]string{{"X-Amz-Date", "X-Amz-Expires"}, {"X-Goog-Date", "X-Goog-Expires"}} {
		if d, e := q.Get(p[0]), q.Get(p[1]); d != "" && e != "" {
			at, err1 := time.Parse("20060102T150405Z", d)
			secs, err2 := strconv.ParseInt(e, 10, 64)
			if err1 == nil && err2 == nil && secs > 0 && secs <= maxSeconds {
				return at.Add(time.Duration(secs) * time.Second), true
			}
		}
	}
	if e := q.Get("Expires"); e != "" {
		if secs, err := strconv.ParseInt(e, 10, 64); err == nil && secs > 0 {
			return time.Unix(secs, 0), true
		}
	}
	if se := q.Get("se"); se != "" && q.Get("sig") != "" {
		if at, err := time.Parse(time.RFC3339, se); err == nil {
			return at, true
		}
	}
	return time.Time{}, false
}
