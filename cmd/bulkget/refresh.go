package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/bulkget/bulkget/manifest"
)

// refresher finds a fresh URL for a file whose URL expired: first the list
// file, if it changed on disk since the run read it (a user or a script
// can rewrite it with fresh links while the run goes on), then the
// --refresh-command, if given. It never prints or keeps the URLs it finds:
// they are credentials.
type refresher struct {
	listPath string
	noHeader bool
	command  string

	mu     sync.Mutex
	listAt time.Time // modification time of the list as last read
}

func newRefresher(listPath string, noHeader bool, command string) *refresher {
	r := &refresher{listPath: listPath, noHeader: noHeader, command: command}
	if fi, err := os.Stat(listPath); err == nil {
		r.listAt = fi.ModTime()
	}
	return r
}

// url implements scheduler.Options.RefreshURL.
func (r *refresher) url(ctx context.Context, e manifest.Entry, current string) (string, error) {
	if u, ok := r.fromList(e.Name, current); ok {
		return u, nil
	}
	if r.command == "" {
		return "", errors.New("no fresh URL: the list file has not changed and no --refresh-command is given")
	}
	return r.fromCommand(ctx, e)
}

// fromList reads the list again if it changed on disk, and returns the
// file's URL there if it differs from current.
func (r *refresher) fromList(name, current string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fi, err := os.Stat(r.listPath)
	if err != nil || !fi.ModTime().After(r.listAt) {
		return "", false
	}
	entries, _, err := readList(r.listPath, r.noHeader)
	if err != nil {
		return "", false
	}
	r.listAt = fi.ModTime()
	for _, e := range entries {
		if e.Name == name && e.URL != current {
			return e.URL, true
		}
	}
	return "", false
}

// fromCommand runs the --refresh-command through the shell with the file's
// name as $1 and its list URL as $2, and takes the first non-empty line it
// prints.
func (r *refresher) fromCommand(ctx context.Context, e manifest.Entry) (string, error) {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", r.command, "bulkget-refresh", e.Name, e.URL)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		return "", fmt.Errorf("--refresh-command failed: %v: %s", err, msg)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			return line, nil
		}
	}
	return "", errors.New("--refresh-command printed no URL")
}
