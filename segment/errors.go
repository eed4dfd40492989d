package segment

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Sentinel errors. All are transient: a retry of the same range may succeed.
var (
	// ErrBadRange means a 206 answer did not carry the range or total asked for.
	ErrBadRange = errors.New("segment: response range does not match request")
	// ErrShortBody means the body ended before the range did.
	ErrShortBody = errors.New("segment: body ended early")
	// ErrStalled means the connection delivered nothing for too long.
	ErrStalled = errors.New("segment: connection stalled")
)

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
// 429 too many requests), TLS certificates that do not verify, and
// cancellation by the caller. Everything else —
// connection errors, 5xx, stalls, short bodies, wrong ranges — is transient.
func Permanent(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.Canceled) && !errors.Is(err, ErrStalled) {
		return true
	}
	// A certificate that does not verify will not verify on the next try.
	var cv *tls.CertificateVerificationError
	if errors.As(err, &cv) {
		return true
	}
	var se *StatusError
	if errors.As(err, &se) {
		switch se.Code {
		case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
			return false
		}
		return se.Code >= 400 && se.Code < 500
	}
	return false
}

// RetryAfter returns the server's requested delay carried by err, or 0.
func RetryAfter(err error) time.Duration {
	var se *StatusError
	if errors.As(err, &se) {
		return se.RetryAfter
	}
	return 0
}
