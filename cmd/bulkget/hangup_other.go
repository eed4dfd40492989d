//go:build !unix

package main

import "os"

// notifyHangup does nothing where there is no SIGHUP: a console window
// that closes ends the process.
func notifyHangup(chan<- os.Signal) {}

// outputGone is never asked where there is no SIGPIPE.
func outputGone() bool { return true }
