package main

import (
	"testing"

	"github.com/bulkget/bulkget/scheduler"
	"github.com/urfave/cli/v2"
)

// optionsFrom parses args with the download flags, as get does, and returns
// the scheduler options they make.
func optionsFrom(t *testing.T, args ...string) scheduler.Options {
	t.Helper()
	var got scheduler.Options
	app := &cli.App{Flags: getFlags(), Action: func(c *cli.Context) error {
		var err error
		got, err = schedulerOptions(c)
		return err
	}}
	if err := app.Run(append([]string{"bulkget"}, args...)); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestBooleanFlagsReachTheScheduler(t *testing.T) {
	if o := optionsFrom(t); o.NoDirectIO || o.NoSpaceCheck || o.Overwrite || o.Insecure || o.HTTP2 {
		t.Errorf("a switch is on without its flag: %+v", o)
	}
	o := optionsFrom(t, "--no-direct-io", "--no-space-check", "--overwrite", "--insecure", "--http2")
	if !o.NoDirectIO || !o.NoSpaceCheck || !o.Overwrite || !o.Insecure || !o.HTTP2 {
		t.Errorf("a flag did not reach the scheduler: %+v", o)
	}
	t.Setenv("BULKGET_NO_DIRECT_IO", "true")
	if !optionsFrom(t).NoDirectIO {
		t.Error("BULKGET_NO_DIRECT_IO ignored")
	}
}
