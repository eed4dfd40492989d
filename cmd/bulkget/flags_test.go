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

func TestUpdateFlagReachesTheSchedulerAndExcludesOverwrite(t *testing.T) {
	if optionsFrom(t).Update {
		t.Error("Update is on without --update")
	}
	if !optionsFrom(t, "--update").Update {
		t.Error("--update did not reach the scheduler")
	}
	app := &cli.App{Flags: getFlags(), Action: func(c *cli.Context) error {
		_, err := schedulerOptions(c)
		return err
	}}
	if err := app.Run([]string{"bulkget", "--update", "--overwrite"}); err == nil {
		t.Error("--update with --overwrite was accepted")
	}
}

func TestLowestSpeedFlagIsAutoOffOrARate(t *testing.T) {
	for _, c := range []struct {
		arg  []string
		want int64
	}{
		{nil, 0}, // auto
		{[]string{"--lowest-speed", "auto"}, 0},
		{[]string{"--lowest-speed", "0"}, -1},
		{[]string{"--lowest-speed", "50K"}, 50 << 10},
	} {
		if got := optionsFrom(t, c.arg...).LowestSpeed; got != c.want {
			t.Errorf("%v: LowestSpeed %d, want %d", c.arg, got, c.want)
		}
	}
	app := &cli.App{Flags: getFlags(), Action: func(c *cli.Context) error {
		_, err := schedulerOptions(c)
		return err
	}}
	if err := app.Run([]string{"bulkget", "--lowest-speed", "fast"}); err == nil {
		t.Error("--lowest-speed fast was accepted")
	}
}

func TestConnectionsAreAutoByDefaultOrFixed(t *testing.T) {
	for _, c := range []struct {
		args           []string
		conns, perHost int
		adaptive       bool
	}{
		{nil, autoCap, autoCap, true},
		{[]string{"-c", "auto:24"}, 24, 24, true},
		{[]string{"-c", "auto", "--max-per-host", "8"}, autoCap, 8, true},
		{[]string{"-c", "16"}, 16, 16, false},
		{[]string{"-c", "32"}, 32, 16, false}, // as before: 16 per host unless told
		{[]string{"-c", "32", "--max-per-host", "32"}, 32, 32, false},
	} {
		o := optionsFrom(t, c.args...)
		if o.Connections != c.conns || o.MaxPerHost != c.perHost || o.Adaptive != c.adaptive {
			t.Errorf("%v: connections %d, per host %d, adaptive %v; want %d, %d, %v",
				c.args, o.Connections, o.MaxPerHost, o.Adaptive, c.conns, c.perHost, c.adaptive)
		}
	}
	for _, bad := range []string{"0", "-3", "many", "auto:0", "auto:x", "auto8"} {
		if _, _, err := parseConnections(bad); err == nil {
			t.Errorf("-c %q accepted", bad)
		}
	}
}
