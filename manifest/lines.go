package manifest

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// maxRecordBytes bounds one record, across all of its physical lines. A
// download list never comes close; the limit is there so that a file that is
// not a list at all (a disk image passed by mistake, a quote that is never
// closed) fails quickly instead of being buffered whole.
const maxRecordBytes = 1 << 20

// fillTarget is how much transformed text lineFilter prepares per refill, so
// that encoding/csv's 4 KiB reads are not served one short line at a time.
const fillTarget = 32 << 10

var errTooLong = errors.New("record is longer than 1 MiB; is this really a download list?")

// lineFilter sits between the list and encoding/csv and sees every physical
// line first. encoding/csv only recognises comments that start in column 1
// and blank lines that are truly empty; the list format also allows indented
// comments and lines of spaces. Those cannot be spotted after parsing
// (an indented comment may contain a stray quote, which is a parse error), and
// cannot be spotted by looking at lines alone (inside a quoted field a line
// starting with # is data). So lineFilter follows just enough of the CSV
// quoting rules to know whether each line starts a record, and blanks out the
// skippable ones. It replaces them with an empty line rather than dropping
// them so that encoding/csv's line numbers stay the file's line numbers.
//
// Knowing record boundaries also lets it bound the size of a record and tell
// an unterminated quote (which swallows the rest of the list) from a stray
// quote (which spoils one record).
type lineFilter struct {
	src *bufio.Reader

	sep        byte // chosen from the header line
	sepKnown   bool
	headerLine int

	line     int  // physical lines read so far
	inQuote  bool // the last line ended inside a quoted field
	recStart int  // line on which the current record began
	recBytes int

	out  []byte // transformed text not yet handed to encoding/csv
	off  int
	long []byte // assembles lines longer than src's buffer

	eof       bool
	openQuote int // at EOF, the line of a record whose quote never closed
	err       error
	errLine   int

	// Kept only when tracing, for tests: where records start, and whether a
	// line that encoding/csv would not skip by itself was blanked out.
	trace   bool
	starts  []int
	blanked bool
}

func (f *lineFilter) Read(p []byte) (int, error) {
	for f.off == len(f.out) {
		if f.err != nil {
			return 0, f.err
		}
		if f.eof {
			return 0, io.EOF
		}
		f.fill()
	}
	n := copy(p, f.out[f.off:])
	f.off += n
	return n, nil
}

// fill transforms whole lines until there is enough output, the input ends or
// reading fails. A failure is kept aside until the text before it has been
// consumed, so encoding/csv still returns every record before the bad spot.
func (f *lineFilter) fill() {
	f.out, f.off = f.out[:0], 0
	for len(f.out) < fillTarget && !f.eof && f.err == nil {
		line, err := f.readLine()
		if err != nil && err != io.EOF {
			at := f.line + 1
			if f.inQuote {
				at = f.recStart
			}
			f.err, f.errLine = err, at
			return
		}
		if len(line) > 0 {
			f.line++
			f.process(line)
		}
		if err == io.EOF {
			f.eof = true
			if f.inQuote {
				f.openQuote = f.recStart
			}
		}
	}
}

// readLine returns the next physical line including its '\n', if any. The
// slice is valid until the next call.
func (f *lineFilter) readLine() ([]byte, error) {
	b, err := f.src.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		return b, err
	}
	budget := maxRecordBytes
	if f.inQuote {
		budget -= f.recBytes
	}
	f.long = append(f.long[:0], b...)
	for err == bufio.ErrBufferFull {
		if len(f.long) > budget {
			return nil, errTooLong
		}
		b, err = f.src.ReadSlice('\n')
		f.long = append(f.long, b...)
	}
	return f.long, err
}

func (f *lineFilter) process(line []byte) {
	// encoding/csv turns a final "\r\n" into "\n" and drops a lone '\r'
	// before EOF; content is the line as it will see it, minus the newline.
	content := line
	if n := len(content); n > 0 && content[n-1] == '\n' {
		content = content[:n-1]
	}
	if n := len(content); n > 0 && content[n-1] == '\r' {
		content = content[:n-1]
	}

	if f.inQuote {
		f.recBytes += len(line)
		if f.recBytes > maxRecordBytes {
			f.err, f.errLine = errTooLong, f.recStart
			return
		}
		f.inQuote = endsInQuote(content, f.sep, true)
		f.out = append(f.out, line...)
		return
	}

	rest := bytes.TrimLeft(content, " \t")
	if len(rest) == 0 || rest[0] == '#' {
		if f.trace && len(content) > 0 && content[0] != '#' {
			f.blanked = true
		}
		f.out = append(f.out, '\n')
		return
	}
	if !f.sepKnown {
		f.sep = ','
		if bytes.IndexByte(content, '\t') >= 0 && bytes.IndexByte(content, ',') < 0 {
			f.sep = '\t'
		}
		f.sepKnown = true
		f.headerLine = f.line
	}
	if f.trace {
		f.starts = append(f.starts, f.line)
	}
	f.recStart, f.recBytes = f.line, len(line)
	f.inQuote = endsInQuote(content, f.sep, false)
	f.out = append(f.out, line...)
}

// endsInQuote reports whether a line (without its newline) leaves a quoted
// field open, given whether it began inside one. It mirrors encoding/csv with
// LazyQuotes off: a field is quoted only if '"' is its first byte, "" is an
// escaped quote, and a closing quote must be followed by the separator or the
// end of the line. Anything else is a parse error, after which encoding/csv
// drops the rest of the line and starts afresh on the next one, so those
// cases, like a normal end of record, report false.
func endsInQuote(line []byte, sep byte, inQuote bool) bool {
	i := 0
	for {
		if inQuote {
			j := bytes.IndexByte(line[i:], '"')
			if j < 0 {
				return true
			}
			i += j + 1
			switch {
			case i < len(line) && line[i] == '"':
				i++
			case i < len(line) && line[i] == sep:
				i++
				inQuote = false
			default:
				return false
			}
			continue
		}
		if i < len(line) && line[i] == '"' {
			inQuote = true
			i++
			continue
		}
		j := bytes.IndexByte(line[i:], sep)
		if j < 0 || bytes.IndexByte(line[i:i+j], '"') >= 0 {
			return false
		}
		i += j + 1
	}
}
