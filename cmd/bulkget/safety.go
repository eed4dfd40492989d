package main

import (
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"strings"
	"text/tabwriter"

	"github.com/bulkget/bulkget/manifest"
	"github.com/bulkget/bulkget/scheduler"
	"github.com/urfave/cli/v2"
)

// noHeaderFlag says the list has no header line: every command that reads a
// list takes it.
func noHeaderFlag() cli.Flag {
	return &cli.BoolFlag{Name: "no-header", Category: catSelection, EnvVars: env("NO_HEADER"),
		Usage: "the list has no header line: line 1 is a file too (by default line 1 is a header, and a list whose line 1 is an entry is refused)"}
}

// safetyFlags are the options about what to trust: the list, the disk, the
// servers.
func safetyFlags() []cli.Flag {
	return []cli.Flag{
		noHeaderFlag(),
		&cli.BoolFlag{Name: "strict", Category: catSelection, EnvVars: env("STRICT"),
			Usage: "refuse to start if any line of the list is bad (default: skip bad lines, download the rest, exit 1)"},
		&cli.BoolFlag{Name: "dry-run", Category: catSelection, EnvVars: env("DRY_RUN"),
			Usage: "check the list and print the plan without downloading or writing anything"},
		&cli.BoolFlag{Name: "probe", Category: catSelection, EnvVars: env("PROBE"),
			Usage: "with --dry-run: ask each server for the file's size (one 1-byte request per file) and print the total"},
		&cli.BoolFlag{Name: "no-space-check", Category: catSafety, EnvVars: env("NO_SPACE_CHECK"),
			Usage: "do not compare sizes with the free disk space, and do not preallocate"},
		&cli.BoolFlag{Name: "insecure", Category: catSafety, EnvVars: env("INSECURE"),
			Usage: "do not verify TLS certificates (to trust an extra CA, use --ca-cert instead)"},
		&cli.StringSliceFlag{Name: "header", Aliases: []string{"H"}, Category: catSafety, EnvVars: env("HEADER"),
			Usage: "extra request header 'Name: value', repeatable; never sent to another host after a redirect"},
	}
}

// parseHeaders reads --header values.
func parseHeaders(values []string) (http.Header, error) {
	h := http.Header{}
	for i, v := range values {
		name, value, ok := strings.Cut(v, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") || strings.ContainsAny(value, "\r\n") {
			// The value is not repeated: a header is where tokens go.
			return nil, fmt.Errorf("--header number %d (%d characters, not shown as it may hold a secret): want 'Name: value'", i+1, len(v))
		}
		h.Add(textproto.CanonicalMIMEHeaderKey(name), strings.TrimSpace(value))
	}
	if len(h) == 0 {
		return nil, nil
	}
	return h, nil
}

// dryRun prints the plan: what would be downloaded where, and with probe
// the sizes. When a file of the list has mirrors, every line says how many
// sources its file has; the mirrors themselves are not listed. It writes
// nothing to disk.
func dryRun(c *cli.Context, w io.Writer, dir string, entries []manifest.Entry, bad int, opts scheduler.Options) error {
	fmt.Fprintf(w, "plan: %d files into %s", len(entries), dir)
	if bad > 0 {
		fmt.Fprintf(w, " (%d bad lines skipped)", bad)
	}
	fmt.Fprintln(w)
	sources := func(manifest.Entry) string { return "" }
	if anyMirrors(entries) {
		sources = func(e manifest.Entry) string {
			n := 1 + len(e.Mirrors)
			return fmt.Sprintf("%d source%s\t", n, pluralS(n))
		}
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	var total int64
	unknown, failed := 0, 0
	if c.Bool("probe") {
		sizes := scheduler.Probe(c.Context, entries, opts)
		for _, s := range sizes {
			size := "?"
			switch {
			case s.Err != nil:
				size = "error: " + s.Err.Error()
				failed++
			case s.Bytes < 0:
				unknown++
			default:
				size = formatSize(s.Bytes)
				total += s.Bytes
			}
			fmt.Fprintf(tw, "line %d\t%s\t%s\t%s%s\n", s.Entry.Line, s.Entry.Name, size, sources(s.Entry), scheduler.RedactURL(s.Entry.URL))
		}
		tw.Flush()
		fmt.Fprintf(w, "total: %s", formatSize(total))
		if unknown > 0 {
			fmt.Fprintf(w, " + %d files of unknown size", unknown)
		}
		fmt.Fprintln(w)
	} else {
		for _, e := range entries {
			fmt.Fprintf(tw, "line %d\t%s\t%s%s\n", e.Line, e.Name, sources(e), scheduler.RedactURL(e.URL))
		}
		tw.Flush()
	}
	if bad > 0 || failed > 0 {
		return cli.Exit("", exitFailed)
	}
	return nil
}

// anyMirrors reports whether a file of the list has more than one source.
func anyMirrors(entries []manifest.Entry) bool {
	for _, e := range entries {
		if len(e.Mirrors) > 0 {
			return true
		}
	}
	return false
}
