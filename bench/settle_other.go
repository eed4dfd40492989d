//go:build !linux

package bench

import "os"

// Settle is only needed (and only done) on Linux; see settle_linux.go.
func Settle(string) {}

func openToCheck(path string) (*os.File, error) { return os.Open(path) }
