package segment

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// Sentinel errors. These are transient: a retry of the same range may
// succeed.
var (
	// ErrBadRange means a 206 answer did not carry the range or total asked for.
	ErrBadRange = errors.New("segment: response range does not match request")
	// ErrShortBody means the body ended before the range did.
	ErrShortBody = errors.New("segment: body ended early")
	// ErrStalled means the connection delivered nothing for too long.
	ErrStalled = errors.New("segment: connection stalled")
	// ErrTooSlow means the connection delivered too little for too long.
	ErrTooSlow = errors.New("segment: too slow")
	// ErrSizeChanged means a 206 answer gave another total than the one
	// the file started with: the remote file is not the one being fetched.
	ErrSizeChanged = errors.New("segment: remote size changed")
	// ErrMultipart means a single range was answered with several
	// (multipart/byteranges), which the caller should treat as "ranges not
	// honoured".
	ErrMultipart = errors.New("segment: server answered several ranges at once")
)

// Sentinel errors that asking again cannot cure.
var (
	// ErrTooManyRedirects means the redirect chain ran past its limit.
	ErrTooManyRedirects = errors.New("segment: too many redirects")
	// ErrRedirectScheme means a redirect pointed at a scheme other than
	// http or https (file://, say).
	ErrRedirectScheme = errors.New("segment: redirect to an unsupported protocol scheme")
)

// Malformed reports whether err is an answer whose framing breaks HTTP:
// a Content-Length that is negative, not a number, or given twice with
// different values, or a header block over the client's cap. A server that
// sends one has a bug that asking again rarely cures; a retry or two may
// still meet a healthy instance behind the same name. net/http reports
// these as plain errors, so their text is what can be matched.
func Malformed(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	for _, m := range malformedFraming {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}

// malformedFraming are net/http's words for a response it cannot frame.
var malformedFraming = []string{
	"bad Content-Length",
	"invalid empty Content-Length",
	"message cannot contain multiple Content-Length headers",
	"server response headers exceeded",
}

// StatusError is an HTTP answer that carries no usable data.
type StatusError struct {
	Code       int
	Status     string
	RetryAfter time.Duration // from the Retry-After header, 0 if absent
}

func (e *StatusError) Error() string {
	if e.Status != "" {
		return "http " + e.Status
	}
	return fmt.Sprintf("http %d %s", e.Code, http.StatusText(e.Code))
}

// Permanent reports whether err will not go away by asking again: client
// errors other than the few that mean "later" (408 timeout, 425 too early,
// 429 too many requests), any 3xx that reaches the caller (a 304 to a
// request that set no condition, a redirect without a location), redirect
// loops and redirects to other schemes, TLS certificates that do not
// verify, a server's refusal of our client certificate (or of its absence),
// and cancellation by the caller. Everything else —
// connection errors, 5xx, stalls, short bodies, wrong ranges — is transient.
func Permanent(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.Canceled) && !errors.Is(err, ErrStalled) && !errors.Is(err, ErrTooSlow) {
		return true
	}
	if errors.Is(err, ErrTooManyRedirects) || errors.Is(err, ErrRedirectScheme) {
		return true
	}
	// A certificate that does not verify will not verify on the next try.
	var cv *tls.CertificateVerificationError
	if errors.As(err, &cv) {
		return true
	}
	// Nor will a server that refused our client certificate, or asked for
	// one we do not have, take it on the next try. crypto/tls reports the
	// server's alert as a net.OpError "remote error" around an unexported
	// type, so its text is what can be matched.
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" && op.Err != nil && certificateAlerts[op.Err.Error()] {
		return true
	}
	var se *StatusError
	if errors.As(err, &se) {
		switch se.Code {
		case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
			return false
		}
		return se.Code >= 300 && se.Code < 500
	}
	return false
}

// certificateAlerts are the TLS alerts (as crypto/tls words them) by which a
// server refuses a client's certificate.
var certificateAlerts = map[string]bool{
	"tls: bad certificate":               true, // 42
	"tls: unsupported certificate":       true, // 43
	"tls: revoked certificate":           true, // 44
	"tls: expired certificate":           true, // 45
	"tls: unknown certificate":           true, // 46
	"tls: unknown certificate authority": true, // 48
	"tls: certificate required":          true, // 116
}

// PreconditionFailed reports whether err is a 412 answer: to a request
// with If-Match, the server holds another version than the one named.
func PreconditionFailed(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == http.StatusPreconditionFailed
}

// RetryAfter returns the server's requested delay carried by err, or 0.
func RetryAfter(err error) time.Duration {
	var se *StatusError
	if errors.As(err, &se) {
		return se.RetryAfter
	}
	return 0
}
