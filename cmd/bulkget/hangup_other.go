//go:build !unix

package main

import "os"

// notifyHangup does nothing where there is no SIGHUP: a console window
// that closes ends the process.
func notifyHangup(chan<- os.Signal) {}
