//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bulkget/bulkget/control"
	"github.com/bulkget/bulkget/store"
	"github.com/urfave/cli/v2"
)

// startupWait bounds how long -b waits for its background half to hold the
// output folder (or to fail) before returning the prompt.
const startupWait = 10 * time.Second

// background starts the same command again as a process of its own
// session, with no terminal, so that no hangup reaches it; it returns once
// that process holds the output folder and answers on its socket, or
// passes on its messages and exit status if it ended first (a locked
// folder, a run with nothing to do).
func background(c *cli.Context, dir string) error {
	args, _ := c.App.Metadata[metaArgs].([]string)
	exe, err := os.Executable()
	if err != nil || len(args) == 0 {
		return cli.Exit(fmt.Sprintf("--background: cannot find the bulkget executable: %v", err), exitFailed)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return cli.Exit(fmt.Sprintf("--background: %v", err), exitFailed)
	}
	defer r.Close()
	cmd := exec.Command(exe, args[1:]...)
	cmd.Env = append(os.Environ(), detachedEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Stderr = w // until it holds the folder; stdin and stdout are /dev/null
	err = cmd.Start()
	w.Close()
	if err != nil {
		return cli.Exit(fmt.Sprintf("--background: %v", err), exitFailed)
	}
	var mu sync.Mutex
	var early bytes.Buffer
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			mu.Lock()
			early.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	ctx, cancel := context.WithTimeout(c.Context, startupWait)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			<-copied
			mu.Lock()
			c.App.ErrWriter.Write(early.Bytes())
			mu.Unlock()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return cli.Exit("", ee.ExitCode())
			}
			if err != nil {
				return cli.Exit(fmt.Sprintf("--background: %v", err), exitFailed)
			}
			fmt.Fprintf(c.App.ErrWriter, "bulkget: the background run has already ended; its log is %s\n",
				filepath.Join(dir, store.LogName))
			return nil
		case <-ctx.Done():
			if c.Context.Err() != nil {
				// Ctrl-C while waiting: the start is called off.
				cmd.Process.Signal(syscall.SIGTERM)
				return cli.Exit("interrupted; the background run was stopped", exitInterrupted)
			}
			// A list that takes long to read, say: the run goes on.
			tell(c, cmd.Process.Pid, dir, &mu, &early, " (it has not answered yet)")
			return nil
		case <-tick.C:
		}
		if answers(ctx, dir) || holds(dir, cmd.Process.Pid) {
			tell(c, cmd.Process.Pid, dir, &mu, &early, "")
			return nil
		}
	}
}

// tell passes on what the background run printed so far, then says where
// it is and how to follow it.
func tell(c *cli.Context, pid int, dir string, mu *sync.Mutex, early *bytes.Buffer, note string) {
	mu.Lock()
	c.App.ErrWriter.Write(early.Bytes())
	mu.Unlock()
	fmt.Fprintf(c.App.ErrWriter, "bulkget: downloading in the background, pid %d%s\n"+
		"  log:   %s\n  watch: bulkget watch %s\n  stop:  kill %d  (it saves its progress; the same command continues)\n",
		pid, note, filepath.Join(dir, store.LogName), shellQuote(dir), pid)
}

// holds reports whether the lock file of dir names process pid: the run
// holds the folder even if its socket could not be made.
func holds(dir string, pid int) bool {
	b, err := os.ReadFile(filepath.Join(dir, store.LockName))
	return err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(pid)
}

// answers reports whether a run answers on dir's control socket.
func answers(ctx context.Context, dir string) bool {
	rc, err := control.Call(ctx, dir, control.Request{Op: opStatus})
	if err != nil {
		return false
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 4096))
	return err == nil && len(b) > 0
}
