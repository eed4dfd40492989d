//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"
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
