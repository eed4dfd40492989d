package scheduler

import (
	"errors"
	"net/url"
	"regexp"
)

// RedactURL hides what in a URL can be a secret: the password of its user
// information and its query (signed URLs carry their signature there).
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	if u.RawQuery != "" {
		u.RawQuery = "REDACTED"
	}
	u.Fragment = ""
	return u.String()
}

var urlInText = regexp.MustCompile(`https?://[^\s"']+`)

// redacted is an error whose message has its URLs redacted; errors.Is and
// errors.As still see the original.
type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }

// redact returns err with every URL in its message redacted, for events and
// summaries that end up in logs.
func redact(err error) error {
	if err == nil {
		return nil
	}
	var already *redacted
	if errors.As(err, &already) && already == err {
		return err
	}
	msg := urlInText.ReplaceAllStringFunc(err.Error(), RedactURL)
	return &redacted{msg: msg, err: err}
}
