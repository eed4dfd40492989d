package segment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestClientErrorsAndCancellationArePermanentAndRetryAfterSurvivesWrapping(t *testing.T) {
	status := func(code int) error { return &StatusError{Code: code} }
	tests := []struct {
		name      string
		err       error
		permanent bool
		retry     time.Duration
	}{
		{"nil", nil, false, 0},
		{"400", status(400), true, 0},
		{"401", status(401), true, 0},
		{"403", status(403), true, 0},
		{"404", status(404), true, 0},
		{"410", status(410), true, 0},
		{"416", status(416), true, 0},
		{"499", status(499), true, 0},
		{"408", status(408), false, 0},
		{"425", status(425), false, 0},
		{"429", status(429), false, 0},
		{"429 with retry-after", &StatusError{Code: 429, RetryAfter: 3 * time.Second}, false, 3 * time.Second},
		{"404 with retry-after", &StatusError{Code: 404, RetryAfter: time.Minute}, true, time.Minute},
		{"500", status(500), false, 0},
		{"502", status(502), false, 0},
		{"503", status(503), false, 0},
		{"503 with retry-after", &StatusError{Code: 503, RetryAfter: 7 * time.Second}, false, 7 * time.Second},
		{"504", status(504), false, 0},
		{"302 without a location", status(302), true, 0},
		{"304 to an unconditional request", status(304), true, 0},
		{"too many redirects", fmt.Errorf("%w: stopped after 10", ErrTooManyRedirects), true, 0},
		{"redirect to file://", fmt.Errorf(`%w "file"`, ErrRedirectScheme), true, 0},
		{"ErrTooSlow", ErrTooSlow, false, 0},
		{"canceled because too slow", fmt.Errorf("%w: %w", ErrTooSlow, context.Canceled), false, 0},
		{"ErrSizeChanged", ErrSizeChanged, false, 0},
		{"ErrMultipart", ErrMultipart, false, 0},
		{"ErrShortBody", ErrShortBody, false, 0},
		{"ErrBadRange", ErrBadRange, false, 0},
		{"ErrStalled", ErrStalled, false, 0},
		{"io.ErrUnexpectedEOF", io.ErrUnexpectedEOF, false, 0},
		{"connection refused", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, false, 0},
		{"deadline exceeded", context.DeadlineExceeded, false, 0},
		{"context.Canceled", context.Canceled, true, 0},
		{"canceled because stalled", fmt.Errorf("%w: %w", ErrStalled, context.Canceled), false, 0},
		{"plain error", errors.New("boom"), false, 0},
		{"server requires a client certificate", &net.OpError{Op: "remote error", Err: errors.New("tls: certificate required")}, true, 0},
		{"server refuses the client certificate", &net.OpError{Op: "remote error", Err: errors.New("tls: bad certificate")}, true, 0},
		{"other TLS alert", &net.OpError{Op: "remote error", Err: errors.New("tls: internal error")}, false, 0},
		{"local error with certificate words", &net.OpError{Op: "read", Err: errors.New("tls: bad certificate")}, false, 0},
	}
	wraps := []struct {
		name string
		wrap func(error) error
	}{
		{"bare", func(e error) error { return e }},
		{"wrapped", func(e error) error { return fmt.Errorf("fetch seg 3: %w", e) }},
		{"wrapped twice", func(e error) error { return fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", e)) }},
		{"joined", func(e error) error { return errors.Join(errors.New("other"), e) }},
	}
	for _, tt := range tests {
		for _, w := range wraps {
			if tt.err == nil && w.name != "bare" {
				continue
			}
			t.Run(tt.name+"/"+w.name, func(t *testing.T) {
				err := w.wrap(tt.err)
				if got := Permanent(err); got != tt.permanent {
					t.Errorf("Permanent(%v) = %v, want %v", err, got, tt.permanent)
				}
				if got := RetryAfter(err); got != tt.retry {
					t.Errorf("RetryAfter(%v) = %v, want %v", err, got, tt.retry)
				}
			})
		}
	}
}

func TestStatusErrorReadsHTTPAndTheStatusLine(t *testing.T) {
	tests := []struct {
		err  *StatusError
		want string
	}{
		{&StatusError{Code: 404, Status: "404 Not Found"}, "http 404 Not Found"},
		{&StatusError{Code: 404}, "http 404 Not Found"},
		{&StatusError{Code: 503, Status: "503 Busy"}, "http 503 Busy"},
		{&StatusError{Code: 599}, "http 599 "},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

// The errors net/http really returns for answers it cannot frame are
// Malformed; a refused connection, a reset and a short body are not.
func TestMalformedFramingIsToldApartFromOtherFaults(t *testing.T) {
	big := "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-Filler: "+strings.Repeat("h", 1000)+"\r\n", 2<<10) + "\r\n"
	for _, tc := range []struct {
		name, raw string
		malformed bool
	}{
		{"garbage Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: a thousand\r\n\r\nxx", true},
		{"negative Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nxx", true},
		{"empty Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\nxx", true},
		{"two different Content-Lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nxx", true},
		{"headers over the cap", big, true},
		{"a reset before any answer", "", false},
		{"a short body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nxx", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			go func() {
				c, err := l.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				buf := make([]byte, 4096)
				c.Read(buf)
				io.WriteString(c, tc.raw)
			}()
			client := &http.Client{Transport: &http.Transport{MaxResponseHeaderBytes: 1 << 20}}
			resp, err := Open(context.Background(), client, Request{URL: "http://" + l.Addr().String() + "/f", Total: -1, End: -1})
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if err == nil {
				t.Fatal("no error")
			}
			if got := Malformed(err); got != tc.malformed {
				t.Errorf("Malformed(%v) = %v, want %v", err, got, tc.malformed)
			}
		})
	}
	refused := func() error {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		_, err = Open(context.Background(), http.DefaultClient, Request{URL: "http://" + addr + "/f", Total: -1, End: -1})
		return err
	}()
	if refused == nil || Malformed(refused) || Permanent(refused) {
		t.Errorf("a refused connection (%v) must stay a transient fault", refused)
	}
}
