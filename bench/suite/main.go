// Command suite runs bulkget and the installed peers (aria2c, wget2, axel,
// curl) on every benchmark scenario against the in-process test origin,
// verifies every file and prints one markdown table:
//
//	go run ./bench/suite [-scenarios a,b] [-peers bulkget,aria2c] [-out FILE] [-timeout 10m] [-repeat 3]
//
// -scenarios takes names, "all" (the default: the eleven main scenarios),
// "faults" (the single-fault probes), "adaptive" (hosts where the best
// number of connections is not the budget), "mirrors" (files served by
// three hosts at once) and "farms" (one address in front of two replicas
// whose validators, or bytes, differ).
//
// See the package bench for the scenarios, the tools' command lines and how
// each figure is measured.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/bulkget/bulkget/bench"
)

func main() {
	os.Exit(run())
}

func run() int {
	var names, faults, adaptive, mirrors, farms, peers []string
	for _, s := range bench.AdaptiveScenarios() {
		adaptive = append(adaptive, s.Name)
	}
	for _, s := range bench.Scenarios() {
		names = append(names, s.Name)
	}
	for _, s := range bench.FaultScenarios() {
		faults = append(faults, s.Name)
	}
	for _, s := range bench.MirrorScenarios() {
		mirrors = append(mirrors, s.Name)
	}
	for _, s := range bench.FarmScenarios() {
		farms = append(farms, s.Name)
	}
	for _, t := range bench.Tools() {
		peers = append(peers, t.Name)
	}
	scenarios := flag.String("scenarios", "all", "comma-separated scenarios to run; all is "+strings.Join(names, ", ")+
		"; faults is the single-fault probes "+strings.Join(faults, ", ")+"; adaptive is "+strings.Join(adaptive, ", ")+
		"; mirrors is "+strings.Join(mirrors, ", ")+"; farms is "+strings.Join(farms, ", "))
	tools := flag.String("peers", "all", "comma-separated tools to run, or all: "+strings.Join(peers, ", "))
	out := flag.String("out", "", "also write the report (markdown) to this file")
	timeout := flag.Duration("timeout", 10*time.Minute, "longest run of one tool on one scenario; a run still going is killed")
	binary := flag.String("bulkget", "", "bulkget executable to use instead of building ./cmd/bulkget")
	scale := flag.Float64("scale", 1, "shrink the scenarios by this factor (0 < f < 1) for a quick check; figures are then not comparable")
	tmp := flag.String("tmp", "", "parent folder for the runs' temporary folders (default: the system's)")
	variants := flag.String("variants", "", "also run bulkget with these argument lists, comma-separated, each as its own row named after its arguments and without the budget's -c (an empty entry is bulkget with no flags), e.g. \",-c 4,-c 16\"")
	repeat := flag.Int("repeat", 3, fmt.Sprintf("run each tool this many times per scenario, in rotating order, and report the run with the median wall time; runs of %v or more are not repeated", bench.RepeatUnder))
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./bench/suite [options]\n\nPeers missing from PATH are skipped; install them with: %s\n\n", bench.InstallHint)
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 || *repeat < 1 {
		flag.Usage()
		return 2
	}

	var sel []bench.Scenario
	groups := map[string][]string{"all": names, "faults": faults, "adaptive": adaptive, "mirrors": mirrors, "farms": farms}
	for _, name := range pick(*scenarios, groups) {
		s, err := bench.Lookup(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "suite:", err)
			return 2
		}
		sel = append(sel, s.Scale(*scale))
	}
	var ts []bench.Tool
	if *variants != "" {
		for _, v := range strings.Split(*variants, ",") {
			ts = append(ts, bench.BulkgetVariant(strings.Fields(v)))
		}
	}
	for _, name := range pick(*tools, map[string][]string{"all": peers}) {
		t, ok := findTool(name)
		if !ok {
			fmt.Fprintf(os.Stderr, "suite: unknown tool %q (have %s)\n", name, strings.Join(peers, ", "))
			return 2
		}
		ts = append(ts, t)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r := &bench.Runner{Bulkget: *binary, Timeout: *timeout, TempDir: *tmp}
	defer r.Close()
	for _, t := range ts {
		if t.Binary == "bulkget" && r.Bulkget == "" {
			dir, err := os.MkdirTemp(*tmp, "bulkget-suite-bin-")
			if err != nil {
				fmt.Fprintln(os.Stderr, "suite:", err)
				return 1
			}
			defer os.RemoveAll(dir)
			fmt.Fprintln(os.Stderr, "suite: building ./cmd/bulkget")
			if r.Bulkget, err = bench.BuildBulkget(ctx, dir); err != nil {
				fmt.Fprintln(os.Stderr, "suite:", err)
				return 1
			}
		}
	}
	missing := false
	for _, t := range ts {
		if _, err := r.Executable(t); err != nil {
			fmt.Fprintf(os.Stderr, "suite: %s: %v; skipped\n", t.Name, err)
			missing = true
		}
	}
	if missing {
		fmt.Fprintf(os.Stderr, "suite: to install every peer: %s\n", bench.InstallHint)
	}

	started := time.Now()
	var results []bench.Result
	for _, s := range sel {
		res, err := runScenario(ctx, r, s, ts, *repeat)
		results = append(results, res...)
		if err != nil {
			fmt.Fprintln(os.Stderr, "suite:", err)
			return 1
		}
	}
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "suite: interrupted; the table has the runs that finished")
	}

	var rep bytes.Buffer
	report(&rep, results, sel, started, *scale, *repeat)
	os.Stdout.Write(rep.Bytes())
	if *out != "" {
		if err := os.WriteFile(*out, rep.Bytes(), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "suite:", err)
			return 1
		}
	}
	if ctx.Err() != nil {
		return 130
	}
	return 0
}

// runScenario runs every tool on s, repeat rounds in rotating order (see
// bench.Order), and returns a row per tool in the order of ts. A tool is
// not run again once a run of it was skipped, timed out or took
// bench.RepeatUnder or more.
func runScenario(ctx context.Context, r *bench.Runner, s bench.Scenario, ts []bench.Tool, repeat int) ([]bench.Result, error) {
	f := bench.Start(s)
	defer f.Close()
	runs := map[string][]bench.Result{}
	done := map[string]bool{}
	for round := range repeat {
		for _, t := range bench.Order(ts, round) {
			if ctx.Err() != nil || done[t.Name] {
				continue
			}
			fmt.Fprintf(os.Stderr, "suite: %s: %s", s.Name, t.Name)
			if repeat > 1 {
				fmt.Fprintf(os.Stderr, " (round %d of %d)", round+1, repeat)
			}
			fmt.Fprint(os.Stderr, " ...")
			res, err := r.Run(ctx, f, t)
			if err != nil {
				fmt.Fprintln(os.Stderr)
				return collect(ts, runs), err
			}
			if res.Skipped != "" {
				fmt.Fprintf(os.Stderr, " skipped: %s\n", res.Skipped)
			} else {
				fmt.Fprintf(os.Stderr, " %.2fs, %d/%d right %s\n", res.Wall.Seconds(), res.Right, res.Total, res.Notes())
			}
			runs[t.Name] = append(runs[t.Name], res)
			if res.Skipped != "" || res.Wall >= bench.RepeatUnder || res.TimedOut {
				done[t.Name] = true
			}
		}
	}
	return collect(ts, runs), nil
}

func collect(ts []bench.Tool, runs map[string][]bench.Result) []bench.Result {
	var out []bench.Result
	for _, t := range ts {
		if rs := runs[t.Name]; len(rs) > 0 {
			out = append(out, bench.Combine(rs))
		}
	}
	return out
}

// report writes the machine, the table, the scenarios and the command lines.
func report(w io.Writer, results []bench.Result, sel []bench.Scenario, started time.Time, scale float64, repeat int) {
	fmt.Fprintf(w, "Run %s with `%s`", started.UTC().Format("2006-01-02 15:04 MST"), commandLine())
	if scale < 1 && scale > 0 {
		fmt.Fprintf(w, " (scaled by %g: not comparable to a full run)", scale)
	}
	fmt.Fprintf(w, "; machine: %s.", machine())
	if repeat > 1 {
		fmt.Fprintf(w, " Each tool ran %d times per scenario (once if a run took %v or more), in an order rotated every round; a row is the run with the median wall time, its spread is in the notes.", repeat, bench.RepeatUnder)
	}
	fmt.Fprint(w, "\n\n")
	var plain, adapt, mirrored []bench.Result
	for _, r := range results {
		switch {
		case r.Scenario.Adaptive:
			adapt = append(adapt, r)
		case r.Scenario.Mirrored():
			mirrored = append(mirrored, r)
		default:
			plain = append(plain, r)
		}
	}
	tables := 0
	for _, t := range []struct {
		rows  []bench.Result
		write func(io.Writer, []bench.Result) error
	}{{plain, bench.WriteTable}, {adapt, bench.WriteAdaptiveTable}, {mirrored, bench.WriteMirrorTable}} {
		if len(t.rows) == 0 {
			continue
		}
		if tables > 0 {
			fmt.Fprintln(w)
		}
		t.write(w, t.rows)
		tables++
	}
	if tables == 0 {
		bench.WriteTable(w, nil)
	}
	fmt.Fprintln(w, "\nScenarios (16 connections in total for every tool but the bulkget variants, which get only their own arguments):")
	fmt.Fprintln(w)
	for _, s := range sel {
		fmt.Fprintf(w, "- %s: %s.", s.Name, s.About)
		if id := s.Ideal(); id > 0 {
			fmt.Fprintf(w, " Ideal %s s (%s).", bench.Seconds(id), s.IdealKind())
		}
		if id := s.OneSourceIdeal(); id > 0 {
			fmt.Fprintf(w, " One source: %s s.", bench.Seconds(id))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "\nCommand lines (DIR is a fresh empty folder; LIST.csv, INPUT, URLS and CONFIG list every file):")
	fmt.Fprintln(w)
	bench.WriteCommands(w, results)
}

func commandLine() string {
	args := append([]string{"go run ./bench/suite"}, os.Args[1:]...)
	return strings.Join(args, " ")
}

// machine describes the host: CPUs, memory, kernel and Go version.
func machine() string {
	parts := []string{fmt.Sprintf("%d CPUs", runtime.NumCPU())}
	if mem := memTotal(); mem != "" {
		parts = append(parts, mem+" memory")
	}
	if out, err := exec.Command("uname", "-sr").Output(); err == nil {
		parts = append(parts, strings.TrimSpace(string(out)))
	}
	if out, err := exec.Command("go", "version").Output(); err == nil {
		parts = append(parts, strings.TrimSpace(string(out)))
	}
	return strings.Join(parts, ", ")
}

func memTotal() string {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		var kib int64
		if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &kib); err == nil {
			return fmt.Sprintf("%.1f GiB", float64(kib)/(1<<20))
		}
	}
	return ""
}

// pick expands a comma-separated list in which the name of a group stands
// for its members.
func pick(list string, groups map[string][]string) []string {
	var out []string
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		if members, ok := groups[n]; ok {
			out = append(out, members...)
		} else if n != "" {
			out = append(out, n)
		}
	}
	return out
}

func findTool(name string) (bench.Tool, bool) {
	for _, t := range bench.Tools() {
		if t.Name == name {
			return t, true
		}
	}
	return bench.Tool{}, false
}
