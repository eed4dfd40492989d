package main

import (
	"bytes"
	"io"
	"strconv"

	"github.com/mattn/go-runewidth"
	"golang.org/x/term"
)

// screen is the terminal writer under the bars (an mpb.ConsoleWriter). mpb
// redraws by moving the cursor up over the lines of the previous frame and
// erasing below. Its own writer moves up as many lines as it drew; but when
// the terminal gets narrower, terminals that reflow their contents (tmux,
// VTE, iTerm2, Windows Terminal) wrap each of those lines onto several rows,
// and the redraw would climb too few rows and leave a trail of old bars.
// screen counts the rows the previous frame takes at the current width.
//
// mpb calls it from a single goroutine.
type screen struct {
	out io.Writer
	fd  int
	buf bytes.Buffer
	// frame is reused from one redraw to the next: the climb and the
	// buffered lines go out in one write.
	frame bytes.Buffer
	// prev holds the display width of each line of the previous frame's
	// bars, the part the next redraw replaces.
	prev []int
	// width is the terminal width at the previous flush.
	width int
}

func newScreen(out io.Writer, fd int) *screen { return &screen{out: out, fd: fd} }

func (s *screen) Write(p []byte) (int, error)         { return s.buf.Write(p) }
func (s *screen) ReadFrom(r io.Reader) (int64, error) { return s.buf.ReadFrom(r) }
func (s *screen) IsTerminal() bool                    { return true }

func (s *screen) GetTermSize() (int, int, error) {
	w, h, err := term.GetSize(s.fd)
	if err == nil {
		s.width = w
	}
	return w, h, err
}

// Flush writes what was buffered: lines printed above the bars, then the
// bars, whose last lines the next Flush replaces.
func (s *screen) Flush(lines int) error {
	s.frame.Reset()
	if up := s.rows(); up > 0 {
		// From the first column: the terminal may have echoed something
		// (^C) after the bars, and a redraw starting mid-line would wrap.
		s.frame.WriteString("\r\x1b[")
		s.frame.WriteString(strconv.Itoa(up))
		s.frame.WriteString("A\x1b[J")
	}
	s.prev = s.prev[:0]
	for rest := s.buf.Bytes(); lines > 0 && len(rest) > 0; lines-- {
		rest = bytes.TrimSuffix(rest, []byte("\n"))
		i := bytes.LastIndexByte(rest, '\n')
		s.prev = append(s.prev, displayWidth(rest[i+1:]))
		rest = rest[:i+1]
	}
	s.frame.Write(s.buf.Bytes())
	s.buf.Reset()
	_, err := s.out.Write(s.frame.Bytes())
	return err
}

// displayWidth is how many columns a line takes; bars are mostly ASCII,
// which needs no decoding.
func displayWidth(line []byte) int {
	for _, c := range line {
		if c >= 0x80 {
			return runewidth.StringWidth(string(line))
		}
	}
	return len(line)
}

// rows is how many terminal rows the previous frame's bars take now.
func (s *screen) rows() int {
	n := 0
	for _, w := range s.prev {
		if s.width > 0 && w > s.width {
			n += (w + s.width - 1) / s.width
		} else {
			n++
		}
	}
	return n
}
