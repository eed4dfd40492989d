//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"
)

// notifyHangup asks for SIGHUP and SIGPIPE on c. Once asked for, SIGPIPE
// no longer kills the process: a write to a closed pipe on stdout or
// stderr returns EPIPE instead.
func notifyHangup(c chan<- os.Signal) {
	signal.Notify(c, syscall.SIGHUP, syscall.SIGPIPE)
}
