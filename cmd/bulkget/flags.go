package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bulkget/bulkget/scheduler"
	"github.com/bulkget/bulkget/store"
	"github.com/urfave/cli/v2"
)

const (
	catConnections = "Connections"
	catOutput      = "Output"
	catSafety      = "Safety"
	catSelection   = "Selection"
)

func env(name string) []string { return []string{"BULKGET_" + name} }

// getFlags are the options of a download; `bulkget LIST` and `bulkget get
// LIST` share them, and demo reuses the connection ones.
func getFlags() []cli.Flag {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "dir", Aliases: []string{"d"}, Category: catOutput, EnvVars: env("DIR"),
			Usage: "output folder (default: the list's name without extension, in the current folder)"},
	}
	flags = append(flags, outputFlags()...) // render.go
	flags = append(flags,
		&cli.StringFlag{Name: "on-hangup", Value: hangupContinue, Category: catOutput, EnvVars: env("ON_HANGUP"),
			Usage: "when the terminal goes away (SIGHUP, ssh dropped): continue (stop the display and log to DIR/" +
				store.LogName + ") or stop (save the states and exit " + strconv.Itoa(exitHangup) + ")"},
		&cli.BoolFlag{Name: "background", Aliases: []string{"b"}, Category: catOutput, EnvVars: env("BACKGROUND"),
			Usage: "detach at start and return the prompt; the run logs to DIR/" + store.LogName +
				" (bulkget watch DIR shows its progress)"})
	flags = append(flags, shardFlag(), summaryFlag())
	flags = append(flags, safetyFlags()...)     // safety.go
	flags = append(flags, credentialFlags()...) // credentials.go
	return append(flags, connectionFlags()...)
}

func connectionFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "connections", Aliases: []string{"c"}, Value: "auto", Category: catConnections, EnvVars: env("CONNECTIONS"),
			Usage: "connections: N in total for the whole run, or auto (each host starts with 4 and adds more while they raise its throughput; auto:N caps the run at N, 64 by default)"},
		&cli.IntFlag{Name: "max-per-file", Aliases: []string{"x"}, Category: catConnections, EnvVars: env("MAX_PER_FILE"),
			Usage: "connections one file may use (0: no cap beyond the others)"},
		&cli.IntFlag{Name: "max-files", Aliases: []string{"j"}, Category: catConnections, EnvVars: env("MAX_FILES"),
			Usage: "files in progress at once (0: as many as the connections can feed)"},
		&cli.IntFlag{Name: "max-per-host", Category: catConnections, EnvVars: env("MAX_PER_HOST"),
			DefaultText: "16 with a fixed -c, the run's cap with -c auto",
			Usage:       "connections to one host, across all files"},
		&cli.StringFlag{Name: "min-segment", Aliases: []string{"k"}, Value: "4M", Category: catConnections, EnvVars: env("MIN_SEGMENT"),
			Usage: "smallest byte range worth its own connection (K, M, G suffixes, 1024-based)"},
		&cli.BoolFlag{Name: "http2", Category: catConnections, EnvVars: env("HTTP2"),
			Usage: "allow HTTP/2 over TLS (default HTTP/1.1, so each segment gets its own TCP connection)"},
		&cli.StringFlag{Name: "limit-rate", Category: "Limits", EnvVars: env("LIMIT_RATE"),
			Usage: "cap the whole run's download rate, bytes per second (e.g. 500K, 20M, 1G; 1024-based; 0: none)"},
		&cli.IntFlag{Name: "retries", Value: 5, Category: catSafety, EnvVars: env("RETRIES"),
			Usage: "failed attempts in a row, without progress, before a file is given up"},
		&cli.DurationFlag{Name: "stall-timeout", Value: 10 * time.Second, Category: catSafety, EnvVars: env("STALL_TIMEOUT"),
			Usage: "cut and retry a connection that receives nothing for this long"},
		&cli.StringFlag{Name: "lowest-speed", Value: "auto", Category: catSafety, EnvVars: env("LOWEST_SPEED"),
			Usage: "cut and retry a connection that averages less than this, bytes per second, over a whole --stall-timeout (auto: 1/100 of the host's other connections, at least 1K; 0: no floor)"},
		&cli.StringFlag{Name: "refresh-command", Category: catSafety, EnvVars: env("REFRESH_COMMAND"),
			Usage: "shell command that prints a fresh URL for a file whose URL expired; it gets the file's name as $1 and its list URL as $2 (e.g. a presigner)"},
		&cli.DurationFlag{Name: "checkpoint-interval", Value: time.Second, Category: catSafety, EnvVars: env("CHECKPOINT_INTERVAL"),
			Usage: "how often progress is saved for resuming (a crash costs at most this much transfer)"},
		&cli.BoolFlag{Name: "no-direct-io", Category: catOutput, EnvVars: env("NO_DIRECT_IO"),
			Usage: "write large files through the page cache too (by default files of 32 MiB or more bypass it, which halves the CPU per byte)"},
		&cli.BoolFlag{Name: "overwrite", Category: catSelection, EnvVars: env("OVERWRITE"),
			Usage: "download files that already exist instead of skipping those whose size matches the remote"},
		&cli.BoolFlag{Name: "update", Category: catSelection, EnvVars: env("UPDATE"),
			Usage: "ask the server whether each file already downloaded changed (one small conditional request with the recorded ETag or Last-Modified) and fetch only the changed ones, replacing each when its new version is complete"},
		&cli.DurationFlag{Name: "connect-timeout", Value: 30 * time.Second, Category: catSafety, EnvVars: env("CONNECT_TIMEOUT"),
			Usage: "limit for connecting, TLS and waiting for response headers"},
	}
}

// schedulerOptions reads the connection and reliability flags.
func schedulerOptions(c *cli.Context) (scheduler.Options, error) {
	var limit int64
	if v := c.String("limit-rate"); v != "" {
		var err error
		if limit, err = parseSize(v); err != nil {
			return scheduler.Options{}, fmt.Errorf("--limit-rate: %w", err)
		}
	}
	header, err := parseHeaders(c.StringSlice("header"))
	if err != nil {
		return scheduler.Options{}, err
	}
	minSeg, err := parseSize(c.String("min-segment"))
	if err != nil {
		return scheduler.Options{}, fmt.Errorf("--min-segment: %w", err)
	}
	if minSeg < 64<<10 {
		return scheduler.Options{}, fmt.Errorf("--min-segment: %s is below the 64 KiB minimum", c.String("min-segment"))
	}
	lowest, err := parseLowestSpeed(c.String("lowest-speed"))
	if err != nil {
		return scheduler.Options{}, err
	}
	conns, adaptive, err := parseConnections(c.String("connections"))
	if err != nil {
		return scheduler.Options{}, err
	}
	perHost := c.Int("max-per-host")
	if !c.IsSet("max-per-host") {
		perHost = 16
		if adaptive {
			perHost = conns
		}
	}
	o := scheduler.Options{
		Adaptive:           adaptive,
		LowestSpeed:        lowest,
		Connections:        conns,
		MaxPerFile:         c.Int("max-per-file"),
		MaxFiles:           c.Int("max-files"),
		MaxPerHost:         perHost,
		MinSegment:         minSeg,
		Retries:            c.Int("retries"),
		RateLimit:          limit,
		Header:             header,
		Insecure:           c.Bool("insecure"),
		NoSpaceCheck:       c.Bool("no-space-check"),
		NoDirectIO:         c.Bool("no-direct-io"),
		HTTP2:              c.Bool("http2"),
		StallTimeout:       c.Duration("stall-timeout"),
		ConnectTimeout:     c.Duration("connect-timeout"),
		CheckpointInterval: c.Duration("checkpoint-interval"),
		Overwrite:          c.Bool("overwrite"),
		Update:             c.Bool("update"),
		UserAgent:          "bulkget/" + version,
	}
	switch {
	case o.Overwrite && o.Update:
		return o, fmt.Errorf("--update and --overwrite exclude each other: --overwrite fetches every file again")
	case o.Connections < 1:
		return o, fmt.Errorf("--connections must be at least 1")
	case o.MaxPerHost < 1:
		return o, fmt.Errorf("--max-per-host must be at least 1")
	case o.MaxPerFile < 0, o.MaxFiles < 0:
		return o, fmt.Errorf("--max-per-file and --max-files must not be negative")
	case o.Retries < 0:
		return o, fmt.Errorf("--retries must not be negative")
	case o.StallTimeout <= 0, o.ConnectTimeout <= 0, o.CheckpointInterval <= 0:
		return o, fmt.Errorf("--stall-timeout, --connect-timeout and --checkpoint-interval must be positive")
	}
	return o, nil
}

// parseLowestSpeed reads --lowest-speed: "auto" is the scheduler's default
// (0), "0" turns the floor off (negative), anything else is a rate.
func parseLowestSpeed(v string) (int64, error) {
	if strings.EqualFold(strings.TrimSpace(v), "auto") {
		return 0, nil
	}
	n, err := parseSize(v)
	if err != nil {
		return 0, fmt.Errorf("--lowest-speed: %w (or auto)", err)
	}
	if n == 0 {
		return -1, nil
	}
	return n, nil
}

// autoCap is the run's cap on connections with -c auto: memory is
// connections × buffers, and each connection holds a few descriptors.
const autoCap = 64

// parseConnections reads -c: a number of connections for the whole run, or
// auto (adaptive per host) with an optional cap, auto:N.
func parseConnections(v string) (n int, adaptive bool, err error) {
	v = strings.TrimSpace(v)
	if rest, ok := strings.CutPrefix(strings.ToLower(v), "auto"); ok {
		if rest == "" {
			return autoCap, true, nil
		}
		capStr, ok := strings.CutPrefix(rest, ":")
		if n, err := strconv.Atoi(capStr); ok && err == nil && n >= 1 {
			return n, true, nil
		}
		return 0, false, fmt.Errorf("--connections %q: want auto, auto:N or a number", v)
	}
	n, err = strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, false, fmt.Errorf("--connections %q: want a number of at least 1, auto or auto:N", v)
	}
	return n, false, nil
}
