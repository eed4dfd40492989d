//go:build !unix

package main

import "github.com/urfave/cli/v2"

// background is for Unix, where a process can leave its terminal's
// session; elsewhere, start bulkget from a service or a scheduled task.
func background(*cli.Context, string) error {
	return cli.Exit("--background is not supported on this platform", exitUsage)
}
