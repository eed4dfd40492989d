package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bulkget/bulkget/control"
	"github.com/bulkget/bulkget/manifest"
	"github.com/bulkget/bulkget/scheduler"
	"github.com/urfave/cli/v2"
)

func getAction(c *cli.Context) (err error) {
	if c.NArg() != 1 {
		if c.NArg() == 0 && c.Command.Name == "" {
			return cli.ShowAppHelp(c)
		}
		return cli.Exit("want exactly one LIST argument (see bulkget --help)", exitUsage)
	}
	listPath := c.Args().First()
	opts, err := schedulerOptions(c)
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	if err := credentials(c, &opts, c.App.ErrWriter); err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	shard, err := shardOption(c)
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	report, err := newSummaryReport(c.String("summary"), listPath, shard)
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	defer func() { err = report.finish(err, c.App.ErrWriter) }()
	dir := c.String("dir")
	if dir == "" {
		if dir, err = defaultDir(listPath); err != nil {
			return cli.Exit(err.Error(), exitUsage)
		}
	}
	report.setDir(dir)
	entries, bad, err := readList(listPath, c.Bool("no-header"))
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	for _, b := range bad {
		fmt.Fprintf(c.App.ErrWriter, "bulkget: %s: %s\n", listPath, b)
	}
	entries = selectShard(shard, entries, c.App.ErrWriter, c.Bool("quiet"))
	report.listRead(len(entries), bad)
	if c.Bool("strict") && len(bad) > 0 {
		return cli.Exit(fmt.Sprintf("--strict: %d bad lines in %s; nothing downloaded", len(bad), listPath), exitFailed)
	}
	if c.Bool("dry-run") {
		return dryRun(c, c.App.Writer, dir, entries, len(bad), opts)
	}
	if c.Bool("probe") {
		return cli.Exit("--probe only makes sense with --dry-run", exitUsage)
	}
	onHangup := c.String("on-hangup")
	if onHangup != hangupContinue && onHangup != hangupStop {
		return cli.Exit(fmt.Sprintf("--on-hangup %q: want continue or stop", onHangup), exitUsage)
	}
	detached := os.Getenv(detachedEnv) != ""
	if c.Bool("background") && !detached {
		report.handOver()
		return background(c, dir)
	}
	if c.Bool("insecure") {
		fmt.Fprintln(c.App.ErrWriter, "bulkget: warning: --insecure: TLS certificates are not verified")
	}
	started := time.Now()
	ctx, cancel := context.WithCancelCause(c.Context)
	defer cancel(nil)
	con, _ := c.App.ErrWriter.(*console)
	if con == nil {
		con = newConsole(c.App.ErrWriter)
	}
	hup := &hangup{list: listPath, dir: dir, stop: onHangup == hangupStop, detached: detached, con: con, cancel: cancel,
		every: c.Duration("progress-interval"), quiet: c.Bool("quiet")}
	defer hup.watch()()
	var out *queue
	if detached {
		// The background half of -b: plain lines into the log from the
		// start, whatever --progress says.
		if err := hup.startLog(); err != nil {
			return cli.Exit(err.Error(), exitFailed)
		}
		r, err := withReport(&plain{w: hup.log, quiet: c.Bool("quiet"), every: hup.every}, c.String("report"), opts, hup.log)
		if err != nil {
			return cli.Exit(err.Error(), exitUsage)
		}
		out = newQueue(r)
	} else if out, err = newOutput(c, c.App.Writer, c.App.ErrWriter, opts, c.String("report")); err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	hup.setOutput(out)
	out.BadLines(bad) // --progress json lists them on stdout too
	lv := newLive(started)
	watchers := newQueue(lv)
	var srv *control.Server
	defer func() {
		if srv != nil {
			// A watcher gets the summary; one that does not read it in
			// time is cut.
			wctx, stop := context.WithTimeout(context.Background(), time.Second)
			srv.Wait(wctx)
			stop()
		}
	}()
	opts.Dir = dir
	opts.Reporter = reporters{out, watchers}
	opts.RefreshURL = newRefresher(listPath, c.Bool("no-header"), c.String("refresh-command")).url
	opts.Held = func() func() {
		if detached {
			// The -b parent returns once the run holds the folder: from
			// then on nobody reads its pipe.
			defer con.lose()
		}
		s, err := control.Listen(dir, lv.ops())
		if err != nil {
			fmt.Fprintf(c.App.ErrWriter, "bulkget: warning: no control socket, so no watch or live status: %v\n", err)
			return func() {}
		}
		srv = s
		go s.Serve()
		return func() { s.Close() }
	}
	sum, err := scheduler.Run(ctx, entries, opts)
	watchers.Close(sum)
	out.Close(sum)
	if err != nil {
		return cli.Exit(err.Error(), exitFailed)
	}
	report.runDone(sum)
	switch {
	case sum.Interrupted && errors.Is(context.Cause(ctx), errHangup):
		return cli.Exit("stopped, since the terminal hung up (--on-hangup stop); run the same command again to continue", exitHangup)
	case sum.Interrupted:
		return cli.Exit("interrupted; run the same command again to continue", exitInterrupted)
	case len(sum.Failed) > 0 || len(bad) > 0:
		return cli.Exit("", exitFailed)
	case len(sum.Expired) > 0:
		return cli.Exit(fmt.Sprintf("%d files stopped with expired URLs; their bytes are kept: run again with fresh links to continue", len(sum.Expired)), exitFailed)
	}
	return nil
}

// readList parses the list, returning the good entries and every bad line.
// noHeader says its first line is an entry too (--no-header).
func readList(path string, noHeader bool) ([]manifest.Entry, []*manifest.LineError, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("list: %w", err)
	}
	defer f.Close()
	entries, bad, err := manifest.Options{NoHeader: noHeader}.ReadAll(f)
	if err != nil {
		return nil, nil, fmt.Errorf("list %s: %w", path, err)
	}
	return entries, bad, nil
}

// defaultDir names the output folder after the list: lists/tmp.csv → tmp,
// in the current folder, as the tool bulkget replaces did.
func defaultDir(listPath string) (string, error) {
	base := filepath.Base(listPath)
	name := strings.TrimSuffix(base, filepath.Ext(base))
	if name == "" || name == "." || name == ".." {
		return "", fmt.Errorf("cannot name an output folder after %q; use --dir", listPath)
	}
	if st, err := os.Stat(name); err == nil && !st.IsDir() {
		return "", fmt.Errorf("output folder %q would be the file of that name; use --dir", name)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("output folder %q: %w", name, err)
	}
	return name, nil
}
