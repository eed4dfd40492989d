package segment

import (
	"context"
	"net/http"
	"strings"
)

// Version names one version of a remote file, as an earlier download
// recorded it: its size and the server's validators then.
type Version struct {
	Size         int64
	ETag         string
	LastModified string
}

// Verdict is what Revalidate learnt about a recorded version.
type Verdict int

const (
	// Unknown: neither the server's answer nor the record has a validator
	// the other can be compared with, and the sizes agree: only a
	// comparison of the contents could tell.
	Unknown Verdict = iota
	// Unchanged: the remote file is still the recorded version.
	Unchanged
	// Changed: the remote file is another version.
	Changed
)

func (v Verdict) String() string {
	switch v {
	case Unchanged:
		return "unchanged"
	case Changed:
		return "changed"
	}
	return "unknown"
}

// Revalidate asks whether the remote file at req's URL is still v, with one
// conditional GET of its first byte (req's range, total, If-Range and
// conditionals are set here): If-None-Match with v's ETag if it has one,
// else If-Modified-Since with its Last-Modified. A 304 means Unchanged. A
// server that ignores conditionals answers 206 or 200 instead; then its
// size and validators are compared with v's: another size, ETag or (without
// ETags on either side) Last-Modified is Changed, the same ETag or
// Last-Modified Unchanged. The body is closed on every path; a whole-file
// 200 is closed unread, which costs its connection rather than its bytes.
func Revalidate(ctx context.Context, client Doer, req Request, v Version) (Verdict, error) {
	req.Start, req.End, req.Total, req.Whole, req.IfRange = 0, 1, -1, false, ""
	req.IfNoneMatch, req.IfModifiedSince = "", ""
	if v.ETag != "" {
		req.IfNoneMatch = v.ETag
	} else {
		req.IfModifiedSince = v.LastModified
	}
	resp, err := Open(ctx, client, req)
	if err != nil {
		return Unknown, err
	}
	if resp.Partial && resp.End-resp.Start <= 1 {
		Drain(resp.Body)
	}
	resp.Body.Close()
	if resp.NotModified {
		return Unchanged, nil
	}
	return compare(v, resp), nil
}

// compare decides from a full answer's size and validators whether it is
// of version v.
func compare(v Version, resp *Response) Verdict {
	switch {
	case resp.Total >= 0 && v.Size >= 0 && resp.Total != v.Size:
		return Changed
	case v.ETag != "" && resp.ETag != "":
		// The weak comparison, as for If-None-Match: W/"x" and "x" are
		// the same version for deciding whether to fetch it again.
		if strings.TrimPrefix(v.ETag, "W/") == strings.TrimPrefix(resp.ETag, "W/") {
			return Unchanged
		}
		return Changed
	case v.LastModified != "" && resp.LastModified != "":
		if sameDate(v.LastModified, resp.LastModified) {
			return Unchanged
		}
		return Changed
	}
	return Unknown
}

// sameDate compares two HTTP dates as times when both parse, else as text.
func sameDate(a, b string) bool {
	ta, errA := http.ParseTime(a)
	tb, errB := http.ParseTime(b)
	if errA == nil && errB == nil {
		return ta.Equal(tb)
	}
	return a == b
}
