package segment

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RangeHeader returns the Range header value for [start, end); end < 0
// means "to the end of the file". HTTP ranges are inclusive, Go's are not.
func RangeHeader(start, end int64) string {
	if end < 0 {
		return "bytes=" + strconv.FormatInt(start, 10) + "-"
	}
	return "bytes=" + strconv.FormatInt(start, 10) + "-" + strconv.FormatInt(end-1, 10)
}

// ContentRange is a parsed Content-Range header, with an exclusive End.
// Total is -1 when the server wrote "*". For an unsatisfied-range answer
// ("bytes */N") Start and End are -1.
type ContentRange struct {
	Start, End, Total int64
}

var errContentRange = errors.New("segment: malformed Content-Range")

// ParseContentRange parses "bytes a-b/total", "bytes a-b/*" and "bytes */total".
func ParseContentRange(v string) (ContentRange, error) {
	bad := func() (ContentRange, error) {
		return ContentRange{}, fmt.Errorf("%w: %q", errContentRange, v)
	}
	rest, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !ok {
		return bad()
	}
	rng, total, ok := strings.Cut(strings.TrimSpace(rest), "/")
	if !ok {
		return bad()
	}
	cr := ContentRange{Start: -1, End: -1, Total: -1}
	if total != "*" {
		n, err := parseCount(total)
		if err != nil {
			return bad()
		}
		cr.Total = n
	}
	if rng == "*" {
		if cr.Total < 0 {
			return bad()
		}
		return cr, nil
	}
	first, last, ok := strings.Cut(rng, "-")
	if !ok {
		return bad()
	}
	a, err1 := parseCount(first)
	b, err2 := parseCount(last)
	// b == MaxInt64 would make the exclusive End overflow to a negative.
	if err1 != nil || err2 != nil || b < a || b == math.MaxInt64 || (cr.Total >= 0 && b >= cr.Total) {
		return bad()
	}
	cr.Start, cr.End = a, b+1
	return cr, nil
}

// parseCount accepts only plain decimal digits: no sign, no spaces.
func parseCount(s string) (int64, error) {
	if s == "" || len(s) > 19 {
		return 0, errContentRange
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errContentRange
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

// maxRetryAfter caps any delay a server asks for.
const maxRetryAfter = 24 * time.Hour

// ParseRetryAfter reads a Retry-After value: delay-seconds or an HTTP date
// (relative to now). Unparseable or past values give 0; longer delays than
// a day, in either form, give a day.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if strings.Trim(v, "0123456789") == "" {
		// All digits; too many for an int64 is as good as "very long".
		n, err := parseCount(v)
		if err != nil || n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, maxRetryAfter)
		}
	}
	return 0
}
