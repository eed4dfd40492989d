package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bulkget/bulkget/control"
	"github.com/bulkget/bulkget/state"
	"github.com/bulkget/bulkget/store"
	"github.com/urfave/cli/v2"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show which files of an output folder are done, partly downloaded or not started",
		ArgsUsage: "DIR",
		Description: "status reads the files and the resume state in DIR and reports every file as done,\n" +
			"partial (with the percentage its state records) or, with --list, not started.\n" +
			"It sends no request, takes no lock and writes nothing, so it can watch a folder\n" +
			"while a download runs in it. Its last line says whether a run holds DIR now:\n" +
			"its pid, when it started and its rate, from the run's control socket.\n\n" +
			"Examples:\n   bulkget status ./models\n   bulkget status --list models.csv ./models",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "list", Aliases: []string{"l"}, TakesFile: true,
				Usage: "report every entry of this list, in list order, including the files not started"},
			noHeaderFlag(),
			shardFlag(),
		},
		Action: statusAction,
	}
}

// Statuses of a file, as printed.
const (
	statusDone       = "done"
	statusPartial    = "partial"
	statusNotStarted = "not started"
)

// fileStatus is what the folder says about one file.
type fileStatus struct {
	line    int // list line; 0 without --list
	sources int // the list's URLs for the file, its url and its mirrors; 0 without --list
	name    string
	status  string
	size    int64 // the file's full size; -1 if unknown
	have    int64 // bytes downloaded; -1 if unknown
	note    string
}

func statusAction(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("status wants exactly one DIR argument (see bulkget status --help)", exitUsage)
	}
	dir := c.Args().First()
	shard, err := shardOption(c)
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	listPath := c.String("list")
	root, err := os.OpenRoot(dir)
	switch {
	case err == nil:
		defer root.Close()
	case listPath != "" && errors.Is(err, fs.ErrNotExist):
		// Before the first run the folder does not exist yet: with a list
		// that simply means nothing has started.
		root = nil
	default:
		return cli.Exit(fmt.Sprintf("status: %v", err), exitUsage)
	}

	var files []fileStatus
	if listPath != "" {
		entries, bad, err := readList(listPath, c.Bool("no-header"))
		if err != nil {
			return cli.Exit(err.Error(), exitUsage)
		}
		for _, b := range bad {
			fmt.Fprintf(c.App.ErrWriter, "bulkget: %s: %s\n", listPath, b)
		}
		for _, e := range entries {
			if !shard.has(e.Name) {
				continue
			}
			f := inspect(root, e.Name)
			f.line, f.sources = e.Line, 1+len(e.Mirrors)
			files = append(files, f)
		}
	} else {
		names, err := walkNames(root, c.App.ErrWriter)
		if err != nil {
			return cli.Exit(fmt.Sprintf("status: %s: %v", dir, err), exitUsage)
		}
		for _, n := range names {
			if shard.has(n) {
				files = append(files, inspect(root, n))
			}
		}
	}
	printStatus(c.App.Writer, files, listPath != "")
	if control.Supported {
		fmt.Fprintln(c.App.Writer, liveLine(c.Context, dir))
	}
	return nil
}

// liveLine says whether a run holds dir now, asking its control socket:
// "running now: pid 4242, started …, 12.0 MiB/s, 3/10 files, 1.0 GiB of ~4.0 GiB".
func liveLine(ctx context.Context, dir string) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	rc, err := control.Call(ctx, dir, control.Request{Op: opStatus})
	if errors.Is(err, control.ErrNoRun) {
		return "no run holds this folder now"
	}
	if err != nil {
		return fmt.Sprintf("no run answers on this folder's control socket (%v)", err)
	}
	defer rc.Close()
	var st liveStatus
	if err := json.NewDecoder(rc).Decode(&st); err != nil || st.Type != "run" {
		return fmt.Sprintf("a run holds this folder, but did not say how it is going (%v)", err)
	}
	since := ""
	if t, err := time.Parse(time.RFC3339, st.Started); err == nil {
		since = fmt.Sprintf(", started %s (%s ago)", t.Local().Format("2006-01-02 15:04:05 MST"),
			time.Since(t).Round(time.Second))
	}
	if st.FilesTotal == 0 {
		return fmt.Sprintf("running now: pid %d%s, starting", st.PID, since)
	}
	about := ""
	if st.Estimated {
		about = "~"
	}
	return fmt.Sprintf("running now: pid %d%s, %s/s, %d/%d files, %s of %s%s", st.PID, since,
		formatSize(st.Speed), st.FilesDone, st.FilesTotal, formatSize(st.Bytes), about, formatSize(st.Total))
}

// walkNames finds the files bulkget has finished or started in root: final
// files under their own names and .part files under the name they will get.
// Symbolic links and other special files are not bulkget's and are left out.
func walkNames(root *os.Root, stderr io.Writer) ([]string, error) {
	seen := map[string]bool{}
	err := fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == "." {
				return err
			}
			// One unreadable folder should not hide the rest.
			fmt.Fprintf(stderr, "bulkget: status: %v\n", err)
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		base := d.Name()
		switch {
		case base == store.LockName, p == store.LogName, p == store.LogName+".1", strings.HasSuffix(base, partState), strings.HasSuffix(base, partState+store.TempSuffix),
			strings.HasSuffix(base, store.VerifiedSuffix), strings.HasSuffix(base, store.VerifiedSuffix+store.TempSuffix):
		case strings.HasSuffix(base, store.PartSuffix):
			seen[strings.TrimSuffix(p, store.PartSuffix)] = true
		default:
			seen[p] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// partState ends the names of resume states (and, with ".tmp", of states
// being saved).
const partState = store.PartSuffix + store.StateSuffix

// inspect reports on name from what root holds, reading only. A nil root is
// a folder that does not exist yet.
//
// A .part wins over a final file of the same name: the run that made it is
// replacing the final file (whose size no longer matched), and the final
// name will hold the new file only once the .part is complete.
func inspect(root *os.Root, name string) fileStatus {
	st := fileStatus{name: name, status: statusNotStarted, size: -1, have: -1}
	if root == nil {
		return st
	}
	part := store.PartName(name)
	if pi, err := root.Lstat(part); err == nil && pi.Mode().IsRegular() {
		st.status = statusPartial
		saved, err := state.Load(root, store.StateName(name), pi.Size())
		switch {
		case err == nil:
			st.size, st.have = saved.Size, saved.DoneBytes()
		case errors.Is(err, fs.ErrNotExist):
			// A .part without state is a download of unknown size (those
			// keep no state) or the moment before its first checkpoint.
			st.note = "no resume state"
		case errors.Is(err, state.ErrInvalid):
			st.note = "resume state unusable, the next run starts this file over"
		default:
			st.note = "resume state unreadable: " + err.Error()
		}
		if fi, err := root.Lstat(name); err == nil && fi.Mode().IsRegular() {
			st.note = strings.TrimPrefix(st.note+"; replacing the file of that name", "; ")
		}
		return st
	}
	fi, err := root.Lstat(name)
	switch {
	case err == nil && fi.Mode().IsRegular():
		st.status, st.size, st.have = statusDone, fi.Size(), fi.Size()
		if rec, now, ok := store.ReadRecord(root, name); ok {
			switch {
			case rec.Matches(now) && rec.Checked():
				st.note = "verified: " + rec.Algo + " from " + rec.Source
			case rec.Matches(now):
				st.note = "not verified; the server's validators are recorded for --update"
			case rec.Checked():
				st.note = "changed since it was verified"
			default:
				st.note = "changed since it was downloaded"
			}
		}
	case err == nil:
		st.note = "not a regular file; a run cannot write it"
	case !errors.Is(err, fs.ErrNotExist):
		st.note = err.Error()
	}
	return st
}

// percent renders the share downloaded, rounded down so that a file shows
// 100% only when every byte is there.
func (f fileStatus) percent() string {
	switch {
	case f.status == statusNotStarted:
		return "-"
	case f.have < 0 || f.size < 0:
		return "unknown"
	case f.size == 0 || f.have >= f.size:
		return "100%"
	}
	p := math.Floor(float64(f.have) / float64(f.size) * 1000)
	return fmt.Sprintf("%.1f%%", min(p, 999)/10)
}

func (f fileStatus) sizeText() string {
	switch {
	case f.size < 0:
		return "-"
	case f.status == statusPartial:
		return formatSize(f.have) + " of " + formatSize(f.size)
	}
	return formatSize(f.size)
}

// printStatus prints a table of files and the totals. withLines adds the
// list's line numbers; a SOURCES column appears when a file of the list has
// mirrors, and not otherwise.
func printStatus(w io.Writer, files []fileStatus, withLines bool) {
	var done, partial, unknown, notStarted int
	var have int64
	withSources := false
	for _, f := range files {
		withSources = withSources || f.sources > 1
		switch f.status {
		case statusDone:
			done++
		case statusPartial:
			partial++
			if f.have < 0 {
				unknown++
			}
		default:
			notStarted++
		}
		have += max(f.have, 0)
	}
	if len(files) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		if withLines {
			fmt.Fprint(tw, "LINE\t")
		}
		fmt.Fprint(tw, "STATUS\tPROGRESS\tSIZE\t")
		if withSources {
			fmt.Fprint(tw, "SOURCES\t")
		}
		fmt.Fprintln(tw, "NAME")
		for _, f := range files {
			if withLines {
				fmt.Fprintf(tw, "%d\t", f.line)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t", f.status, f.percent(), f.sizeText())
			if withSources {
				fmt.Fprintf(tw, "%d\t", f.sources)
			}
			name := f.name
			if f.note != "" {
				name += "  (" + f.note + ")"
			}
			fmt.Fprintln(tw, name)
		}
		tw.Flush()
	}
	unknownText := ""
	if unknown > 0 {
		unknownText = fmt.Sprintf(" (%d unknown)", unknown)
	}
	fmt.Fprintf(w, "%d file%s: %d done, %d partial%s, %d not started; %s downloaded\n",
		len(files), pluralS(len(files)), done, partial, unknownText, notStarted, formatSize(have))
}

func pluralS(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
