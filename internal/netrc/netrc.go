// Package netrc reads .netrc files the way curl and wget read them, for the
// credentials of HTTP Basic authentication.
//
// The file is a sequence of words separated by white space (line breaks
// included). "machine NAME" starts the entry of one host and "default" the
// entry of every other host; inside an entry "login NAME" and
// "password WORD" give the credentials, "account WORD" is read and
// ignored, and "macdef NAME" starts a macro that runs to the next blank
// line, which is skipped. Unknown words are ignored, as curl does. A word
// may be quoted as curl (7.84 and later) allows: "a b\"c" with the escapes
// \" \\ \n \r \t, on one line; that is the only way to put a space in a
// password. A # where a keyword is expected starts a comment that runs to
// the end of the line (where a value is expected it is part of the value,
// so a password may start with #).
//
// Machine names match a URL's host name, without its port and ignoring
// case; the first entry for a host wins, and "default" applies only when
// no machine entry names the host, wherever it stands in the file.
//
// Errors are a *SyntaxError naming the file and line, and never repeat a
// word of the file: it may be a password.
package netrc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Entry holds the credentials of one machine, or of the default.
type Entry struct {
	// Machine is the host name the entry is for; "" for the default.
	Machine  string
	Login    string
	Password string
	// Line is where the entry starts in its file.
	Line int
}

// String names the entry without its password, so that printing one by
// mistake leaks nothing.
func (e Entry) String() string {
	m := "default"
	if e.Machine != "" {
		m = "machine " + e.Machine
	}
	return fmt.Sprintf("%s (line %d)", m, e.Line)
}

// File is a parsed netrc file. Its methods are safe for concurrent use:
// nothing changes it after Parse.
type File struct {
	// Name is the file's path, as given to Parse or Load.
	Name string
	// Machines are the machine entries in file order.
	Machines []Entry
	// Default is the default entry, or nil.
	Default *Entry
	// Exposed is set by Load when other users (group or others) may read
	// the file, which curl and wget do not refuse but ftp does.
	Exposed bool
}

// Machine returns the first machine entry for host (a URL host name, no
// port), ignoring the default.
func (f *File) Machine(host string) (Entry, bool) {
	host = trimBrackets(host)
	if f == nil || host == "" {
		return Entry{}, false
	}
	for _, e := range f.Machines {
		if strings.EqualFold(trimBrackets(e.Machine), host) {
			return e, true
		}
	}
	return Entry{}, false
}

// Lookup returns the entry for host: its first machine entry, else the
// default entry.
func (f *File) Lookup(host string) (Entry, bool) {
	if e, ok := f.Machine(host); ok {
		return e, true
	}
	if f == nil || f.Default == nil {
		return Entry{}, false
	}
	return *f.Default, true
}

// SyntaxError is a netrc file that cannot be read as one. Msg never holds
// a word of the file.
type SyntaxError struct {
	File string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("netrc: %s:%d: %s", e.File, e.Line, e.Msg)
}

// MaxSize is the largest netrc file read: credentials for thousands of
// hosts fit, and a wrong path (a disk image, a log) fails fast.
const MaxSize = 1 << 20

// ErrTooLarge means the file is larger than MaxSize.
var ErrTooLarge = errors.New("netrc: file too large")

// Load reads and parses the file at path, and notes in Exposed whether
// other users may read it.
func Load(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("netrc: %w", err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("netrc: %w", err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("netrc: %s is a directory", path)
	}
	data, err := io.ReadAll(io.LimitReader(fh, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("netrc: %s: %w", path, err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: %s is over %d bytes", ErrTooLarge, path, MaxSize)
	}
	f, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	// Windows reports made-up permission bits.
	f.Exposed = runtime.GOOS != "windows" && fi.Mode().Perm()&0o044 != 0
	return f, nil
}

// Path returns the netrc file to read when the user named none, as curl
// does: $NETRC if set, else .netrc in the home folder (on Windows, _netrc
// there if .netrc does not exist). getenv is os.Getenv outside tests.
// explicit reports that $NETRC named it, so that a missing file is an
// error rather than no netrc.
func Path(getenv func(string) string) (path string, explicit bool, err error) {
	if p := getenv("NETRC"); p != "" {
		return p, true, nil
	}
	home := getenv("HOME")
	if home == "" && runtime.GOOS == "windows" {
		home = getenv("USERPROFILE")
	}
	if home == "" {
		return "", false, errors.New("netrc: no home folder (HOME is not set)")
	}
	p := filepath.Join(home, ".netrc")
	if runtime.GOOS == "windows" {
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			return filepath.Join(home, "_netrc"), false, nil
		}
	}
	return p, false, nil
}

// Parse reads data, the content of the file called name (used in errors).
func Parse(name string, data []byte) (*File, error) {
	f := &File{Name: name}
	p := parser{name: name, data: data, line: 1}
	var cur *Entry // the entry being read; nil before the first one
	var hasLogin, hasPassword bool
	finish := func() {
		if cur == nil {
			return
		}
		if cur.Machine == "" {
			if f.Default == nil { // only one default counts: the first
				e := *cur
				f.Default = &e
			}
		} else {
			f.Machines = append(f.Machines, *cur)
		}
		cur = nil
	}
	for {
		word, line, ok, err := p.next(true)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		switch word {
		case "machine", "login", "password", "account", "macdef":
			value, _, ok, err := p.next(false)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, &SyntaxError{name, line, fmt.Sprintf("%q has no value before the end of the file", word)}
			}
			switch word {
			case "machine":
				finish()
				cur = &Entry{Machine: value, Line: line}
				hasLogin, hasPassword = false, false
				if cur.Machine == "" {
					return nil, &SyntaxError{name, line, "empty machine name"}
				}
			case "login":
				if cur != nil && !hasLogin {
					cur.Login, hasLogin = value, true
				}
			case "password":
				if cur != nil && !hasPassword {
					cur.Password, hasPassword = value, true
				}
			case "macdef":
				p.skipMacro()
			}
		case "default":
			finish()
			cur = &Entry{Line: line}
			hasLogin, hasPassword = false, false
		default:
			// Unknown words are ignored, as curl does (other tools put
			// "port" or "protocol" in the same file).
		}
	}
	finish()
	return f, nil
}

func trimBrackets(host string) string {
	if len(host) >= 2 && host[0] == '[' && host[len(host)-1] == ']' {
		return host[1 : len(host)-1]
	}
	return host
}

// parser splits a netrc file into words.
type parser struct {
	name string
	data []byte
	pos  int
	line int
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// next returns the next word and the line it is on; ok is false at the end
// of the file. With keyword set, a word starting with # is a comment to
// the end of the line, and is skipped.
func (p *parser) next(keyword bool) (word string, line int, ok bool, err error) {
	for {
		for p.pos < len(p.data) && isSpace(p.data[p.pos]) {
			if p.data[p.pos] == '\n' {
				p.line++
			}
			p.pos++
		}
		if p.pos == len(p.data) {
			return "", p.line, false, nil
		}
		if keyword && p.data[p.pos] == '#' {
			for p.pos < len(p.data) && p.data[p.pos] != '\n' {
				p.pos++
			}
			continue
		}
		break
	}
	line = p.line
	if p.data[p.pos] != '"' {
		start := p.pos
		for p.pos < len(p.data) && !isSpace(p.data[p.pos]) {
			p.pos++
		}
		return string(p.data[start:p.pos]), line, true, nil
	}
	p.pos++ // the opening quote
	var b strings.Builder
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		p.pos++
		switch c {
		case '"':
			return b.String(), line, true, nil
		case '\n':
			return "", line, false, &SyntaxError{p.name, line, "quoted word not closed on its line"}
		case '\\':
			if p.pos == len(p.data) {
				break
			}
			c = p.data[p.pos]
			p.pos++
			switch c {
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			case '\n':
				return "", line, false, &SyntaxError{p.name, line, "quoted word not closed on its line"}
			}
		}
		b.WriteByte(c)
	}
	return "", line, false, &SyntaxError{p.name, line, "quoted word not closed before the end of the file"}
}

// skipMacro skips a macro definition: the rest of the line of its macdef,
// then every line up to and including the next blank one.
func (p *parser) skipMacro() {
	for p.pos < len(p.data) && p.data[p.pos] != '\n' {
		p.pos++
	}
	for p.pos < len(p.data) {
		p.pos++ // the line break
		p.line++
		start := p.pos
		for p.pos < len(p.data) && p.data[p.pos] != '\n' {
			p.pos++
		}
		if strings.TrimSpace(string(p.data[start:p.pos])) == "" {
			return
		}
	}
}
