//go:build linux || darwin

package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bulkget/bulkget/internal/origin"
	"github.com/creack/pty"
	"github.com/mattn/go-runewidth"
)

var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// TestBarsInATerminal runs the real binary in a 120×40 pseudo-terminal,
// where --progress auto means bars, and checks that bars were drawn and
// redrawn in place, that no line overflows the width, and that the display
// ends with the records and the summary, not with a bar.
func TestBarsInATerminal(t *testing.T) {
	srv := origin.New(origin.Options{PerConnRate: 2 << 20, Latency: time.Millisecond})
	defer srv.Close()
	dir := chdir(t)
	names := []string{"weights/model-00001-of-00003.safetensors", "weights/model-00002-of-00003.safetensors",
		"weights/model-00003-of-00003.safetensors", "config.json"}
	writeList(t, srv, names, []int64{3 << 20, 3 << 20, 2 << 20, 1 << 10})

	cmd := exec.Command(bulkgetBin(t), "-c", "4", "-k", "256K", "l.csv")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TERM=xterm-256color", "BULKGET_PROGRESS=auto")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
	if err != nil {
		t.Fatalf("start in a pty: %v", err)
	}
	defer tty.Close()
	var raw bytes.Buffer
	copied := make(chan error, 1)
	go func() {
		_, err := io.Copy(&raw, tty)
		copied <- err
	}()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err = <-waited:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("bulkget did not finish in 20s")
	}
	// The bad line of the list makes the exit status 1.
	if ee := (*exec.ExitError)(nil); err != nil && (!errors.As(err, &ee) || ee.ExitCode() != exitFailed) {
		t.Fatalf("exit: %v", err)
	}
	select {
	case <-copied: // EIO once the terminal's other end is closed, on Linux
	case <-time.After(5 * time.Second):
		t.Fatalf("the terminal output did not end")
	}

	out := strings.ReplaceAll(raw.String(), "\r\n", "\n")
	redraws := strings.Count(out, "A\x1b[J")
	if redraws < 3 || !regexp.MustCompile(`total \d/4 files +\[=*>?-*\] `).MatchString(out) {
		t.Fatalf("no bars drawn in place (%d redraws):\n%q", redraws, out)
	}
	for _, line := range strings.Split(ansi.ReplaceAllString(out, ""), "\n") {
		if w := runewidth.StringWidth(line); w > 120 {
			t.Errorf("a line %d wide on a 120-column terminal: %q", w, line)
		}
	}
	// What stays on the screen is written after the last erase.
	end := out[strings.LastIndex(out, "\x1b[J")+len("\x1b[J"):]
	if strings.Contains(end, "\x1b[") || strings.Contains(end, "total ") || strings.Contains(end, "ETA") {
		t.Errorf("bars left on the screen at the end:\n%s", end)
	}
	if !strings.Contains(end, "4 done, 0 skipped, 0 failed, 8.0 MiB in ") {
		t.Errorf("the display does not end with the summary:\n%s", end)
	}
	for _, n := range names {
		if !strings.Contains(out, "✓ "+n+"  ") {
			t.Errorf("no record for %s", n)
		}
	}
	// Each file's bar has its own name: the folder is cut, not the number.
	if !strings.Contains(out, "weights/model-00002-of-00003.safetensors [") {
		t.Errorf("no bar for model-00002 under its full name")
	}
}
