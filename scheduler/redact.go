package scheduler

import (
	"errors"
	"net/http"

	"github.com/bulkget/bulkget/internal/mask"
)

// RedactURL hides what in a URL can be a secret: its user information (a
// password, or a token as the user name) and its query (signed URLs carry
// their signature there). See package internal/mask.
func RedactURL(raw string) string { return mask.URL(raw) }

// redacted is an error whose message has its secrets hidden; errors.Is and
// errors.As still see the original.
type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }

// redact returns err with every URL in its message redacted.
func redact(err error) error { return redactWith(nil, err) }

// redactWith returns err with every URL in its message redacted and every
// value of s hidden. An error redacted already is redacted again when s has
// values, since the first pass may not have known them.
func redactWith(s *mask.Secrets, err error) error {
	if err == nil {
		return nil
	}
	var already *redacted
	if s == nil && errors.As(err, &already) && already == err {
		return err
	}
	msg := s.Text(err.Error())
	if msg == err.Error() && already == err {
		return err
	}
	return &redacted{msg: msg, err: err}
}

// headerSecrets are the values of the headers the user asked to send:
// tokens, typically, which no message may repeat.
func headerSecrets(h http.Header) *mask.Secrets {
	var values []string
	for _, vs := range h {
		values = append(values, vs...)
	}
	return mask.NewSecrets(values...)
}

// redacting is the run's Reporter as every part of the run sees it: whatever
// reaches the user, from any path, has had its URLs redacted and the
// values of the user's headers hidden. Paths that build their own errors
// need not remember to redact; those that do are merely early.
type redacting struct {
	next    Reporter
	secrets *mask.Secrets
}

func (r redacting) Report(e Event) {
	e.Err = redactWith(r.secrets, e.Err)
	r.next.Report(e)
}

// redactFailures hides secrets in the failures a Summary returns.
func redactFailures(s *mask.Secrets, fs []Failure) []Failure {
	for i := range fs {
		fs[i].Err = redactWith(s, fs[i].Err)
	}
	return fs
}
