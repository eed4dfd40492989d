//go:build !linux

// Command floor measures the simplest client's limits; it needs Linux
// (O_DIRECT, syncfs, wait4's CPU times).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "floor: Linux only")
	os.Exit(1)
}
