package bench

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/bulkget/bulkget/internal/origin"
)

// Result is the outcome of one tool on one scenario.
type Result struct {
	Tool     string
	Scenario Scenario
	Skipped  string // why the tool did not run ("" if it ran)

	Wall time.Duration // first process start to last process end
	// Flush is how long a filesystem sync took right after the tool
	// ended: the writing it left to the kernel. Wall + Flush is when the
	// files were really on disk (bulkget syncs before it renames, most
	// peers never do).
	Flush  time.Duration
	CPU    time.Duration // user + system of the tool's processes
	MaxRSS int64         // peak resident set (VmHWM) of the largest process, bytes
	Right  int           // files with the right SHA-256
	Total  int
	// Missing files were not written; the others that are not right are
	// corrupt (wrong size or content).
	Missing int
	// Unreported files are wrong although the process that downloaded
	// them exited with status 0: silent corruption or loss.
	Unreported int

	Requests  int64 // GET and HEAD requests the origin saw
	Conns     int64 // TCP connections the origin accepted
	PeakConns int64 // most TCP connections open at once
	// Busy is the requests' time in the origins' handlers, added up:
	// over Wall, the mean number of requests in flight.
	Busy    time.Duration
	BigReqs int64 // requests for the largest file, in mixed scenarios
	Gets    int64 // GET requests the origin saw (Requests without HEAD)
	Refused int64 // responses with status 429 or 503
	Served  int64 // body bytes the origin wrote, error bodies included
	// Sources are a mirrored scenario's counters per source, the primary
	// first; the figures above are their sums (PeakConns the sum of each
	// source's peak).
	Sources []SourceStats

	Err      string // what went wrong (exit status, timeout), "" if nothing
	TimedOut bool   // the run was killed at the runner's timeout
	Command  string // the command line, with placeholders

	// Walls are the wall times of every repetition, fastest first, when
	// the row stands for several runs (see Combine); nil for one run.
	Walls []time.Duration
	// Worse describes a repetition that got fewer files right than the
	// run shown, "" if none did.
	Worse string
}

// Ratio is Wall over the scenario's ideal, or 0 without one.
func (r Result) Ratio() float64 {
	if id := r.Scenario.Ideal(); id > 0 && r.Wall > 0 {
		return r.Wall.Seconds() / id.Seconds()
	}
	return 0
}

// Fixture is a scenario's origin, started and loaded with its files; a
// mirrored scenario's origins, one per source.
type Fixture struct {
	Scenario Scenario
	Server   *origin.Server // the origin; a mirrored scenario's primary
	// Mirrors are a mirrored scenario's other sources, in order.
	Mirrors []*origin.Server
	files   []File
	// stopped are the sources a run stopped (Source.StopAt); Run starts
	// them afresh before the next.
	stopped []bool
}

// Start starts the origin for s in this process, or one origin per
// source for a mirrored scenario.
func Start(s Scenario) *Fixture {
	f := &Fixture{Scenario: s, files: s.Files()}
	if !s.Mirrored() {
		f.Server = f.serve(s.options())
		return f
	}
	f.Mirrors = make([]*origin.Server, len(s.Sources)-1)
	f.stopped = make([]bool, len(s.Sources))
	for i := range s.Sources {
		f.startSource(i)
	}
	return f
}

// options are the origin's options for s; a mirrored scenario's sources
// change TotalRate.
func (s Scenario) options() origin.Options {
	return origin.Options{PerConnRate: s.PerConnRate, Latency: s.Latency,
		TotalRate: s.TotalRate, MaxInFlight: s.MaxInFlight, OverloadStatus: s.OverloadStatus,
		OverloadRetryAfter: s.OverloadRetryAfter, BurstPacing: s.BurstPacing,
		Replicas: s.Replicas, ReplicaPerConn: s.ReplicaPerConn, ReplicaBytesDiffer: s.ReplicaBytesDiffer}
}

// serve starts one origin with opts and the fixture's files.
func (f *Fixture) serve(opts origin.Options) *origin.Server {
	var srv *origin.Server
	if f.Scenario.TLS {
		srv = origin.NewTLS(opts)
	} else {
		srv = origin.New(opts)
	}
	for _, file := range f.files {
		srv.Add(file.Name, file.Size)
	}
	return srv
}

// Close stops the origins.
func (f *Fixture) Close() {
	for _, srv := range f.Sources() {
		srv.Close()
	}
}

// Runner runs tools against fixtures.
type Runner struct {
	Bulkget string        // the bulkget executable
	Timeout time.Duration // per tool run; a run still going is killed
	TempDir string        // parent of each run's temporary folder; "" for the default

	// kept are the runs' folders, emptied of their large files but
	// removed only by Close: see Run.
	kept []string
}

// bulky is the size from which Run removes a file as soon as it has been
// verified; smaller ones wait for Close.
const bulky = 1 << 20

// BuildBulkget builds ./cmd/bulkget of the module that contains the current
// folder into dir and returns the executable's path.
func BuildBulkget(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("bench: go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("bench: not inside the bulkget module; run from the repository or pass the binary")
	}
	bin := filepath.Join(dir, "bulkget")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/bulkget")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("bench: go build ./cmd/bulkget: %w\n%s", err, out)
	}
	return bin, nil
}

// Executable returns the path of t's executable, or an error if it is not
// installed.
func (r *Runner) Executable(t Tool) (string, error) {
	if t.Binary == "bulkget" {
		if r.Bulkget == "" {
			return "", errors.New("bench: no bulkget executable")
		}
		return r.Bulkget, nil
	}
	path, err := exec.LookPath(t.Binary)
	if err != nil {
		return "", fmt.Errorf("not installed (apt-get install -y %s)", t.Package)
	}
	return path, nil
}

// Run runs t on the fixture in a fresh temporary folder and verifies every
// file. The folder's large files are removed at once, to bound the disk
// space a suite needs; the rest stays until Close. Deleting thousands of
// small files just before the next run would bias that run: ext4 without a
// journal (these machines' root filesystem) will not reuse an inode freed
// in the last minute or more, and checks every such inode again for each
// file it creates, so creating a file right after 20,000 deletions cost
// ten times as much CPU as on a quiet folder, for whichever tool came next. A tool that fails, hangs or writes
// wrong bytes gives a Result that says so; the error is for the suite's own
// failures (no temporary folder, no executable).
func (r *Runner) Run(ctx context.Context, f *Fixture, t Tool) (Result, error) {
	s := f.Scenario
	res := Result{Tool: t.Name, Scenario: s, Total: len(f.files)}
	if s.Mirrored() && !t.Mirrors {
		res.Skipped = "takes one URL per file: no mirrors"
		return res, nil
	}
	bin, err := r.Executable(t)
	if err != nil {
		res.Skipped = err.Error()
		return res, nil
	}
	work, err := os.MkdirTemp(r.TempDir, "bulkget-bench-"+strings.Join(strings.Fields(t.Name), "_")+"-")
	if err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	r.kept = append(r.kept, work)
	defer removeBulky(work)
	f.restartStopped()
	p := &Plan{Scenario: s, Files: f.files, URL: f.Server.URL, Bin: bin, Work: work, Dir: filepath.Join(work, "out")}
	if s.Mirrored() {
		p.Mirrors = f.mirrorURLs
	}
	if err := os.Mkdir(p.Dir, 0o755); err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	home := filepath.Join(work, "home")
	if err := os.Mkdir(home, 0o755); err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	env := childEnv(home)
	if pem := f.Server.CertPEM(); pem != nil {
		p.CAFile = filepath.Join(work, "ca.pem")
		if err := os.WriteFile(p.CAFile, pem, 0o644); err != nil {
			return res, fmt.Errorf("bench: %w", err)
		}
		// Go, OpenSSL (curl, axel) and GnuTLS (wget2, aria2c) honour it.
		env = append(env, "SSL_CERT_FILE="+p.CAFile)
	}
	invs, show, err := t.plan(p)
	if err != nil {
		return res, err
	}
	res.Command = show
	if p.CAFile != "" {
		const each = "for each file: "
		cmd, loop := strings.CutPrefix(show, each)
		res.Command = "SSL_CERT_FILE=ca.pem " + cmd
		if loop {
			res.Command = each + res.Command
		}
	}

	// Every run sees the same faults in the same order of requests.
	srvs := f.Sources()
	if s.Chaos != nil {
		hook := s.Chaos.Hook()
		for _, srv := range srvs {
			srv.SetOptions(func(o *origin.Options) { o.Fault = hook })
		}
	}
	Settle(work)
	for _, srv := range srvs {
		srv.ResetStats()
	}
	disarm := f.armStops()
	ok := r.execute(ctx, invs, env, work, &res)
	disarm()
	res.Flush = flushTime(work)
	for i, srv := range srvs {
		srv.WaitIdle(5 * time.Second)
		st := srv.Stats()
		res.Requests += st.Requests + st.HeadRequests
		res.Conns += st.ConnsAccepted
		res.PeakConns += st.PeakConns
		res.Busy += st.Busy
		res.Gets += st.Requests
		res.Refused += st.ByStatus[429] + st.ByStatus[503]
		res.Served += st.BytesServed
		if s.Mirrored() {
			res.Sources = append(res.Sources, SourceStats{Served: st.BytesServed, Gets: st.Requests,
				Conns: st.ConnsAccepted, PeakConns: st.PeakConns, Stopped: f.stopped[i]})
		}
	}
	if len(s.Sets) > 1 {
		big := f.files[0]
		for _, file := range f.files {
			if file.Size > big.Size {
				big = file
			}
		}
		for _, srv := range srvs {
			res.BigReqs += srv.FileRequests(big.Name)
		}
	}
	state := verify(p.Dir, f.files, s.versions())
	for _, file := range f.files {
		switch state[file.Name] {
		case fileRight:
			res.Right++
		case fileMissing:
			res.Missing++
		}
	}
	for i, inv := range invs {
		if !ok[i] {
			continue
		}
		if inv.File != "" {
			if state[inv.File] != fileRight {
				res.Unreported++
			}
			continue
		}
		res.Unreported += res.Total - res.Right
	}
	return res, nil
}

// Close removes every folder the runs kept. Call it once no more runs
// follow: what it deletes makes creating files slow for a while after.
func (r *Runner) Close() error {
	var errs []error
	for _, dir := range r.kept {
		errs = append(errs, os.RemoveAll(dir))
	}
	r.kept = nil
	return errors.Join(errs...)
}

// removeBulky removes the regular files of bulky size or more under dir.
func removeBulky(dir string) {
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if info, err := d.Info(); err == nil && info.Size() >= bulky {
			os.Remove(path)
		}
		return nil
	})
}

// execute runs the invocations one after the other within the timeout,
// fills in wall time, CPU, peak RSS and the error, and reports which
// invocations exited with status 0.
func (r *Runner) execute(ctx context.Context, invs []Invocation, env []string, dir string, res *Result) (ok []bool) {
	ok = make([]bool, len(invs))
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var failed int
	var first string
	start := time.Now()
	for i, inv := range invs {
		cmd := exec.CommandContext(ctx, inv.Args[0], inv.Args[1:]...)
		cmd.Env = env
		cmd.Dir = dir
		var output tail
		cmd.Stdout = &output
		cmd.Stderr = &output
		cmd.WaitDelay = 5 * time.Second
		killGroup(cmd)
		err := cmd.Start()
		if err == nil {
			stop := make(chan struct{})
			rss := peakRSS(cmd.Process.Pid, stop)
			err = cmd.Wait()
			close(stop)
			res.MaxRSS = max(res.MaxRSS, <-rss)
			res.CPU += cpuTime(cmd.ProcessState)
		}
		if ctx.Err() != nil {
			first = fmt.Sprintf("timed out after %v, killed", timeout)
			res.TimedOut = true
			if parent.Err() != nil {
				first = "interrupted"
				res.TimedOut = false
			}
			failed = -1
			break
		}
		ok[i] = err == nil
		if err != nil {
			failed++
			if first == "" {
				first = err.Error()
				if msg := output.last(); msg != "" {
					first += ": " + msg
				}
			}
		}
	}
	res.Wall = time.Since(start)
	switch {
	case failed == 1 && len(invs) == 1, failed == -1:
		res.Err = first
	case failed > 0:
		res.Err = fmt.Sprintf("%d of %d runs failed, first: %s", failed, len(invs), first)
	}
	return ok
}

// childEnv is this process's environment without proxies, bulkget's
// variables and CA settings, and with HOME (so every tool's configuration
// file) in the run's own, empty folder.
func childEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToLower(k) {
		case "http_proxy", "https_proxy", "all_proxy", "no_proxy", "home", "ssl_cert_file", "ssl_cert_dir",
			"xdg_config_home", "xdg_data_home", "xdg_cache_home", "curl_home", "wget2rc":
			continue
		}
		if strings.HasPrefix(k, "BULKGET_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+home, "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
}

// tail keeps the last few KiB a process wrote.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 8<<10 {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-4<<10:]...)
	}
	return len(p), nil
}

// last returns the line that best says what went wrong: aria2c's last
// "errorCode=" line (its last line only points at a log file), else the
// last non-empty line, without terminal colour codes.
func (t *tail) last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	text := ansi.ReplaceAllString(string(t.buf), "")
	lines := strings.Split(strings.TrimSpace(text), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if _, msg, ok := strings.Cut(lines[i], "errorCode="); ok {
			return "errorCode=" + strings.TrimSpace(msg)
		}
	}
	return strings.TrimSpace(lines[len(lines)-1])
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*m`)
