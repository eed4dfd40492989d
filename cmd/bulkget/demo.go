package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bulkget/bulkget/internal/origin"
	"github.com/bulkget/bulkget/manifest"
	"github.com/bulkget/bulkget/scheduler"
	"github.com/urfave/cli/v2"
)

const catDemo = "Demo"

func demoEnv(name string) []string { return env("DEMO_" + name) }

func demoCommand() *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "dir", Aliases: []string{"d"}, Value: "demo", Category: catOutput, EnvVars: demoEnv("DIR"),
			Usage: "output folder for the demo files"},
		&cli.IntFlag{Name: "files", Category: catDemo, EnvVars: demoEnv("FILES"),
			Usage:       "number of files the local origin serves",
			DefaultText: fmt.Sprintf("a model release of %d files, %s", len(demoRelease), formatSize(demoReleaseSize()))},
		&cli.StringFlag{Name: "size", Category: catDemo, EnvVars: demoEnv("SIZE"),
			Usage: "size of every file, e.g. 10G (default: the sizes of a model release, from 200 B to 240 MiB)"},
		&cli.StringFlag{Name: "conn-rate", Value: "16M", Category: catDemo, EnvVars: demoEnv("CONN_RATE"),
			Usage: "bandwidth cap the origin puts on each TCP connection, per second (0: none)"},
		&cli.DurationFlag{Name: "latency", Value: 20 * time.Millisecond, Category: catDemo, EnvVars: demoEnv("LATENCY"),
			Usage: "first-byte latency of every request"},
		&cli.BoolFlag{Name: "keep", Category: catDemo, EnvVars: demoEnv("KEEP"),
			Usage: "keep the downloaded files (default: delete them at the end)"},
		&cli.BoolFlag{Name: "no-compare", Category: catDemo, EnvVars: demoEnv("NO_COMPARE"),
			Usage: "skip the second run with one connection per file (-x 1) that measures the speed-up"},
	}
	flags = append(flags, outputFlags()...)
	return &cli.Command{
		Name:  "demo",
		Usage: "download from a built-in local server (no network needed) and show what bulkget does",
		Description: "demo starts a local HTTP origin on 127.0.0.1 that caps every connection (like many\n" +
			"real servers), writes a list shaped like a model release for it, downloads that list\n" +
			"with the full display, checks every file's SHA-256, then downloads the same list\n" +
			"again with one connection per file (-x 1) into a temporary folder and prints the\n" +
			"measured speed-up.\n\n" +
			"Examples:\n" +
			"   bulkget demo\n" +
			"   bulkget demo -c 32 --conn-rate 8M\n" +
			"   bulkget demo --files 7 --size 10G --no-compare    the original tool's mock input",
		Flags:  append(flags, connectionFlags()...),
		Action: demoAction,
	}
}

// demoRelease is a list shaped like a real one, a model release: a few
// large weight shards, a tokenizer, and the small files around them. Small
// and large files in one list are what a download tool must handle well.
var demoRelease = []struct {
	name string
	size int64
}{
	{"README.md", 11 << 10},
	{"config.json", 1500},
	{"generation_config.json", 180},
	{"model-00001-of-00004.safetensors", 240 << 20},
	{"model-00002-of-00004.safetensors", 240 << 20},
	{"model-00003-of-00004.safetensors", 232 << 20},
	{"model-00004-of-00004.safetensors", 72 << 20},
	{"model.safetensors.index.json", 23 << 10},
	{"original/params.json", 200},
	{"original/tokenizer.model", 2 << 20},
	{"special_tokens_map.json", 400},
	{"tokenizer.json", 9 << 20},
	{"tokenizer_config.json", 50 << 10},
}

func demoReleaseSize() int64 {
	var n int64
	for _, f := range demoRelease {
		n += f.size
	}
	return n
}

type demoFile struct {
	name string
	size int64
}

// demoList is the release, or with --files or --size as many shards of a
// dataset, each of the given size or of the release's large sizes in turn.
func demoList(n int, fixed int64) []demoFile {
	if n == 0 && fixed < 0 {
		files := make([]demoFile, len(demoRelease))
		for i, f := range demoRelease {
			files[i] = demoFile{"llm-demo/" + f.name, f.size}
		}
		return files
	}
	if n == 0 {
		n = len(demoRelease)
	}
	big := []int64{240 << 20, 232 << 20, 160 << 20, 72 << 20, 96 << 20, 128 << 20}
	files := make([]demoFile, n)
	for i := range files {
		size := fixed
		if size < 0 {
			size = big[i%len(big)]
		}
		files[i] = demoFile{fmt.Sprintf("dataset/train-%05d-of-%05d.parquet", i, n), size}
	}
	return files
}

func demoAction(c *cli.Context) error {
	opts, err := schedulerOptions(c)
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	if !c.IsSet("connections") {
		// The demo measures against the ideal of a known number of
		// connections at its origin's per-connection cap.
		opts.Adaptive, opts.Connections = false, 16
		if !c.IsSet("max-per-host") {
			opts.MaxPerHost = 16
		}
	}
	n := c.Int("files")
	if n < 0 || n > 100000 {
		return cli.Exit("--files must be between 1 and 100000", exitUsage)
	}
	var fixed int64 = -1
	if s := c.String("size"); s != "" {
		if fixed, err = parseSize(s); err != nil {
			return cli.Exit("--size: "+err.Error(), exitUsage)
		}
	}
	connRate, err := parseSize(c.String("conn-rate"))
	if err != nil {
		return cli.Exit("--conn-rate: "+err.Error(), exitUsage)
	}
	srv := origin.New(origin.Options{PerConnRate: connRate, Latency: c.Duration("latency")})
	defer srv.Close()

	dir := c.String("dir")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return cli.Exit(fmt.Sprintf("demo: %v", err), exitFailed)
	}
	files := demoList(n, fixed)
	var entries []manifest.Entry
	var total, largest int64
	var list strings.Builder
	list.WriteString("filename,url\n")
	for i, f := range files {
		srv.Add(f.name, f.size)
		list.WriteString(f.name + "," + srv.URL(f.name) + "\n")
		entries = append(entries, manifest.Entry{Line: i + 2, Name: f.name, URL: srv.URL(f.name), Size: -1})
		total += f.size
		largest = max(largest, f.size)
	}
	listPath := filepath.Join(dir, "demo-list.csv")
	if err := os.WriteFile(listPath, []byte(list.String()), 0o644); err != nil {
		return cli.Exit(fmt.Sprintf("demo: write the list: %v", err), exitFailed)
	}
	w := c.App.ErrWriter
	capText := "no cap"
	if connRate > 0 {
		capText = formatSize(connRate) + "/s per connection"
	}
	fmt.Fprintf(w, "demo: local origin on %s: %s, %v latency\n", srv.Addr(), capText, c.Duration("latency"))
	fmt.Fprintf(w, "demo: %d files, %s, listed in %s\n", len(files), formatSize(total), listPath)

	out, err := newOutput(c, c.App.Writer, w, opts, c.String("report"))
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	opts.Dir = dir
	opts.Reporter = out
	sum, err := scheduler.Run(c.Context, entries, opts)
	out.Close(sum)
	if err != nil {
		return cli.Exit(fmt.Sprintf("demo: %v", err), exitFailed)
	}
	if sum.Interrupted {
		return cli.Exit("interrupted", exitInterrupted)
	}
	bad := 0
	for _, f := range files {
		got, err := fileSHA256(filepath.Join(dir, filepath.FromSlash(f.name)))
		if want := origin.SHA256Hex(f.name, 0, f.size); err != nil || got != want {
			bad++
			fmt.Fprintf(w, "demo: %s: checksum mismatch or missing (%v)\n", f.name, err)
		}
	}
	st := srv.Stats()
	secs := sum.Elapsed.Seconds()
	fmt.Fprintf(w, "demo: %d/%d files verified by SHA-256; %s in %.2fs = %s\n", len(files)-bad, len(files),
		formatSize(sum.Bytes), secs, formatRate(sum.Bytes, secs))
	fmt.Fprintf(w, "demo: origin saw %d requests on %d TCP connections, at most %d at once\n",
		st.Requests, st.ConnsAccepted, st.PeakRequests)
	if connRate > 0 {
		ideal := float64(total) / float64(int64(opts.Connections)*connRate)
		fmt.Fprintf(w, "demo: ideal with %d connections at %s/s each: %.2fs (we took %.2f× that)\n",
			opts.Connections, formatSize(connRate), ideal, secs/ideal)
	}
	if !c.Bool("keep") {
		// Before the comparison, so the demo never needs twice the space.
		for _, f := range files {
			os.Remove(filepath.Join(dir, filepath.FromSlash(f.name)))
		}
	}
	if bad > 0 || len(sum.Failed) > 0 {
		return cli.Exit("demo: some files failed", exitFailed)
	}
	if c.Bool("no-compare") {
		if connRate > 0 {
			single := float64(largest) / float64(connRate)
			fmt.Fprintf(w, "demo: one connection per file would need at least %.2fs, the largest file at %s/s "+
				"(%.1f× slower than we were; measure it by leaving out --no-compare)\n",
				single, formatSize(connRate), single/secs)
		}
		return nil
	}
	return demoCompare(c, entries, opts, sum)
}

// demoCompare downloads the list again the way one connection per file
// would, with the same total connections, into a temporary folder, and
// prints both times: the speed-up is measured, not estimated.
func demoCompare(c *cli.Context, entries []manifest.Entry, opts scheduler.Options, first scheduler.Summary) error {
	w := c.App.ErrWriter
	tmp, err := os.MkdirTemp(opts.Dir, ".compare-")
	if err != nil {
		return cli.Exit(fmt.Sprintf("demo: comparison folder: %v", err), exitFailed)
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintf(w, "\ndemo: now the same list with one connection per file (-x 1 -c %d), to measure the speed-up "+
		"(--no-compare skips this)\n", opts.Connections)
	// JSON lines on stdout belong to the main run: one summary object.
	stdout := c.App.Writer
	if c.String("progress") == modeJSON {
		stdout = io.Discard
	}
	out, err := newOutput(c, stdout, w, opts, "") // the report is of the main run
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	opts.Dir = tmp
	opts.MaxPerFile = 1
	opts.Reporter = out
	sum, err := scheduler.Run(c.Context, entries, opts)
	out.Close(sum)
	switch {
	case err != nil:
		return cli.Exit(fmt.Sprintf("demo: comparison run: %v", err), exitFailed)
	case sum.Interrupted:
		return cli.Exit("interrupted", exitInterrupted)
	case len(sum.Failed) > 0:
		return cli.Exit("demo: the comparison run failed some files", exitFailed)
	}
	fmt.Fprintf(w, "demo: measured speed-up: %s with bulkget, %s with one connection per file (-x 1): %.1f× faster\n",
		formatDuration(first.Elapsed), formatDuration(sum.Elapsed), sum.Elapsed.Seconds()/first.Elapsed.Seconds())
	return nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
