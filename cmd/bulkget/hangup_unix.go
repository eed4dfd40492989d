//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// notifyHangup asks for SIGHUP and SIGPIPE on c. Once asked for, SIGPIPE
// no longer kills the process: a write to a closed pipe on stdout or
// stderr returns EPIPE instead. A SIGHUP ignored from the start (nohup)
// stays ignored, as the user asked.
func notifyHangup(c chan<- os.Signal) {
	if !signal.Ignored(syscall.SIGHUP) {
		signal.Notify(c, syscall.SIGHUP)
	}
	signal.Notify(c, syscall.SIGPIPE)
}

// outputGone says whether stdout or stderr has lost its reader: a pipe
// whose reading end is closed (POLLERR) or a terminal that hung up
// (POLLHUP). Once SIGPIPE is asked for, it also comes for a write to any
// socket the peer closed (a server dropping a kept-alive connection), which
// says nothing about the output.
func outputGone() bool {
	fds := []unix.PollFd{{Fd: 1}, {Fd: 2}}
	if n, err := unix.Poll(fds, 0); err != nil || n == 0 {
		return false
	}
	for _, f := range fds {
		if f.Revents&(unix.POLLERR|unix.POLLHUP) != 0 {
			return true
		}
	}
	return false
}
