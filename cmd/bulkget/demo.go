package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/bulkget/bulkget/internal/origin"
	"github.com/bulkget/bulkget/manifest"
	"github.com/bulkget/bulkget/scheduler"
	"github.com/urfave/cli/v2"
)

func demoCommand() *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "dir", Aliases: []string{"d"}, Value: "demo", Category: catOutput,
			Usage: "output folder for the demo files"},
		&cli.IntFlag{Name: "files", Value: 6, Category: "Demo",
			Usage: "number of files the local origin serves"},
		&cli.StringFlag{Name: "size", Category: "Demo",
			Usage: "size of every file, e.g. 10G (default: a mix from 32 MiB to 256 MiB)"},
		&cli.StringFlag{Name: "conn-rate", Value: "16M", Category: "Demo",
			Usage: "bandwidth cap the origin puts on each TCP connection, per second (0: none)"},
		&cli.DurationFlag{Name: "latency", Value: 20 * time.Millisecond, Category: "Demo",
			Usage: "first-byte latency of every request"},
		&cli.StringFlag{Name: "progress", Value: "auto", Category: catOutput,
			Usage: "auto, bars, plain or none"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Category: catOutput, Usage: "print errors only"},
		&cli.BoolFlag{Name: "keep", Category: "Demo", Usage: "keep the downloaded files (default: delete them at the end)"},
	}
	return &cli.Command{
		Name:  "demo",
		Usage: "download from a built-in local server (no network needed) and show what bulkget does",
		Description: "demo starts a local HTTP origin on 127.0.0.1 that caps every connection (like many\n" +
			"real servers), writes a list for it, downloads that list, checks every file's\n" +
			"SHA-256 and prints the speed against the ideal.\n\n" +
			"Example, the original tool's mock input:\n   bulkget demo --files 7 --size 10G",
		Flags:  append(flags, connectionFlags()...),
		Action: demoAction,
	}
}

// demoSizes is a list shaped like a real one: a few big files, some medium.
var demoSizes = []int64{256 << 20, 192 << 20, 128 << 20, 96 << 20, 64 << 20, 32 << 20}

func demoAction(c *cli.Context) error {
	opts, err := schedulerOptions(c)
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	n := c.Int("files")
	if n < 1 || n > 100000 {
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
		return cli.Exit(err.Error(), exitFailed)
	}
	var entries []manifest.Entry
	var total int64
	list := "filename,url\n"
	for i := range n {
		size := fixed
		if size < 0 {
			size = demoSizes[i%len(demoSizes)]
		}
		name := fmt.Sprintf("dataset/shard-%05d.bin", i)
		srv.Add(name, size)
		list += name + "," + srv.URL(name) + "\n"
		entries = append(entries, manifest.Entry{Line: i + 2, Name: name, URL: srv.URL(name), Size: -1})
		total += size
	}
	listPath := filepath.Join(dir, "demo-list.csv")
	if err := os.WriteFile(listPath, []byte(list), 0o644); err != nil {
		return cli.Exit(err.Error(), exitFailed)
	}
	w := c.App.ErrWriter
	fmt.Fprintf(w, "demo: origin on %s, %d files, %s, %s/s per connection, %v latency; list in %s\n",
		srv.Addr(), n, formatSize(total), formatSize(connRate), c.Duration("latency"), listPath)

	out, err := newOutput(c, c.App.Writer, w)
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	opts.Dir = dir
	opts.Reporter = out
	sum, err := scheduler.Run(c.Context, entries, opts)
	out.Close(sum)
	if err != nil {
		return cli.Exit(err.Error(), exitFailed)
	}
	if sum.Interrupted {
		return cli.Exit("interrupted", exitInterrupted)
	}
	bad := 0
	for i, e := range entries {
		size := fixed
		if size < 0 {
			size = demoSizes[i%len(demoSizes)]
		}
		got, err := fileSHA256(filepath.Join(dir, filepath.FromSlash(e.Name)))
		if want := origin.SHA256Hex(e.Name, 0, size); err != nil || got != want {
			bad++
			fmt.Fprintf(w, "demo: %s: checksum mismatch or missing (%v)\n", e.Name, err)
		}
	}
	st := srv.Stats()
	secs := sum.Elapsed.Seconds()
	fmt.Fprintf(w, "demo: %d/%d files verified by SHA-256; %s in %.2fs = %s\n", n-bad, n, formatSize(sum.Bytes), secs,
		formatRate(sum.Bytes, secs))
	fmt.Fprintf(w, "demo: origin saw %d requests on %d TCP connections, at most %d at once\n",
		st.Requests, st.ConnsAccepted, st.PeakRequests)
	if connRate > 0 {
		ideal := float64(total) / float64(int64(opts.Connections)*connRate)
		single := float64(fixedOrMax(fixed)) / float64(connRate)
		fmt.Fprintf(w, "demo: ideal with %d connections at %s/s each: %.2fs (we took %.2f× that); "+
			"one connection per file would need at least %.2fs (%.1f× slower than we were)\n",
			opts.Connections, formatSize(connRate), ideal, secs/ideal, single, single/secs)
	}
	if !c.Bool("keep") {
		for _, e := range entries {
			os.Remove(filepath.Join(dir, filepath.FromSlash(e.Name)))
		}
	}
	if bad > 0 || len(sum.Failed) > 0 {
		return cli.Exit("demo: some files failed", exitFailed)
	}
	return nil
}

// fixedOrMax is the largest demo file: one connection per file finishes no
// sooner than that file alone at the per-connection cap.
func fixedOrMax(fixed int64) int64 {
	if fixed >= 0 {
		return fixed
	}
	return demoSizes[0]
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
