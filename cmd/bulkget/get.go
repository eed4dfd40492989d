package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

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
	if c.Bool("insecure") {
		fmt.Fprintln(c.App.ErrWriter, "bulkget: warning: --insecure: TLS certificates are not verified")
	}
	out, err := newOutput(c, c.App.Writer, c.App.ErrWriter, opts, c.String("report"))
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	if br, ok := out.(badLineReporter); ok {
		br.BadLines(bad) // --progress json lists them on stdout too
	}
	opts.Dir = dir
	opts.Reporter = out
	opts.RefreshURL = newRefresher(listPath, c.Bool("no-header"), c.String("refresh-command")).url
	sum, err := scheduler.Run(c.Context, entries, opts)
	out.Close(sum)
	if err != nil {
		return cli.Exit(err.Error(), exitFailed)
	}
	report.runDone(sum)
	switch {
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
