// Package mask hides the secrets a URL can carry, in URLs and in text
// that quotes them. It is the one place that decides what of a URL may be
// shown: bulkget's messages, events, summaries and list errors all go
// through it.
//
// A URL's user information (a password, or a token used as the user name)
// and its query (a signed URL's signature, an access token) are secrets; its
// fragment is never sent and is dropped. Scheme, host, port and path stay,
// so a message still says which file on which server it is about.
//
// The functions are pure and safe for concurrent use.
package mask

import (
	"net/url"
	"regexp"
	"strings"
)

// Redacted replaces whatever was hidden.
const Redacted = "REDACTED"

// URL returns raw with its user information and query replaced by Redacted and
// its fragment removed. A string that does not parse as a URL is redacted
// by its shape instead (everything between "://" and the last "@" of the
// authority, and everything from the first "?"), so that a malformed URL in
// an error message does not leak what a well-formed one would not.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return byShape(raw)
	}
	if u.User == nil && u.RawQuery == "" && !u.ForceQuery && !strings.Contains(raw, "#") {
		return raw // nothing to hide: keep it exactly as written
	}
	if u.User != nil {
		u.User = url.User(Redacted)
	}
	if u.RawQuery != "" {
		u.RawQuery = Redacted
	}
	u.ForceQuery = false
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}

// byShape redacts a string that looks like a URL but does not parse.
func byShape(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		tail := ""
		if raw[i] == '?' {
			tail = "?" + Redacted
		}
		raw = raw[:i] + tail
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	authority, path := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority, path = rest[:i], rest[i:]
	}
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		authority = Redacted + authority[at:]
	}
	return scheme + "://" + authority + path
}

// urlInText finds URLs of any scheme (a redirect can point anywhere) up to
// the first space or double quote, which is how Go's errors quote them.
// Other characters a server may put in a redirect's URL (', <, `) do not
// end it: a query after one of them must not escape the redaction.
var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"]+`)

// Text returns s with every URL in it redacted by URL.
func Text(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return urlInText.ReplaceAllStringFunc(s, URL)
}

// Secrets hides given values, such as the values of the headers a user
// passes on the command line (tokens), wherever they appear in a text.
// The zero value hides nothing.
type Secrets struct {
	values []string
}

// minSecret is the shortest value hidden: shorter ones are more likely
// words that happen to appear in a message than secrets.
const minSecret = 4

// NewSecrets hides each value and, for values of the form "Scheme token"
// (Authorization: Bearer …), the token alone too.
func NewSecrets(values ...string) *Secrets {
	s := &Secrets{}
	for _, v := range values {
		v = strings.TrimSpace(v)
		s.add(v)
		if _, tok, ok := strings.Cut(v, " "); ok {
			s.add(strings.TrimSpace(tok))
		}
	}
	// Longest first, so a value is hidden whole before a part of it is.
	for i := 1; i < len(s.values); i++ {
		for j := i; j > 0 && len(s.values[j]) > len(s.values[j-1]); j-- {
			s.values[j], s.values[j-1] = s.values[j-1], s.values[j]
		}
	}
	return s
}

func (s *Secrets) add(v string) {
	if len(v) >= minSecret {
		s.values = append(s.values, v)
	}
}

// Text returns t with every URL redacted and every secret value replaced by
// Redacted. A nil *Secrets redacts URLs only.
func (s *Secrets) Text(t string) string {
	t = Text(t)
	if s == nil {
		return t
	}
	for _, v := range s.values {
		t = strings.ReplaceAll(t, v, Redacted)
	}
	return t
}
