//go:build unix

package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulkget/bulkget/internal/hostile"
)

// The hostile server (issue 23, point 6): one case per abuse, each run of
// the real binary asserting the bytes of every file under its final name,
// the exit status, the message, a bound on time (a hang detector, not a
// speed test: the bounds are generous for a loaded machine), and that
// nothing was written outside the output folder.

// listed is a line of the list: the file's name, the path it is served at,
// and the SHA-256 it must have if it exists under its final name.
type listed struct {
	name, path, sha string
}

// wellBehaved lists name at /name, served correctly with size bytes.
func wellBehaved(srv *hostile.Server, name string, size int64) listed {
	srv.Handle("/"+name, hostile.File{Name: name, Size: size})
	return listed{name, "/" + name, hostile.SHA256Hex(name, size)}
}

// hostileRun is what one run of bulkget did.
type hostileRun struct {
	code     int
	out      string // stdout and stderr together
	elapsed  time.Duration
	rssBytes int64
	dir      string // the output folder
}

// runHostile runs bulkget on a list of files against srv, killing it
// after hardCap, and checks what holds for every case: nothing outside
// the output folder, every file under its final name right, nothing in
// the folder but the listed files and their partial state, every file
// that is not there named in a failure line, and exit 0 only when every
// file is there.
func runHostile(t *testing.T, srv *hostile.Server, files []listed, hardCap time.Duration, args ...string) hostileRun {
	t.Helper()
	root := t.TempDir()
	var list strings.Builder
	list.WriteString("filename,url\n")
	for _, f := range files {
		fmt.Fprintf(&list, "%s,%s\n", f.name, srv.URL(f.path))
	}
	listPath := filepath.Join(root, "list.csv")
	if err := os.WriteFile(listPath, []byte(list.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "out")
	ctx, cancel := context.WithTimeout(context.Background(), hardCap)
	defer cancel()
	argv := append([]string{"--progress", "plain"}, args...)
	argv = append(argv, "-d", dir, listPath)
	cmd := exec.CommandContext(ctx, bulkgetBin(t), argv...)
	cmd.Dir = root
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Start()
	if err != nil {
		t.Fatal(err)
	}
	stopWatch := make(chan struct{})
	hwm := watchHWM(cmd.Process.Pid, stopWatch)
	err = cmd.Wait()
	close(stopWatch)
	res := hostileRun{elapsed: time.Since(start), dir: dir, code: -1}
	res.out = out.String()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("bulkget %v: %v\n%s", argv, err, res.out)
	}
	if ctx.Err() != nil {
		t.Errorf("killed after the hard cap of %v (a hang); output:\n%s", hardCap, tail(res.out))
	}
	if ps := cmd.ProcessState; ps != nil {
		res.code = ps.ExitCode()
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			res.rssBytes = ru.Maxrss
			if runtime.GOOS != "darwin" {
				res.rssBytes *= 1024 // KiB elsewhere
			}
		}
	}
	if peak := <-hwm; peak > 0 {
		// On Linux the rusage figure is no use here: the child is started
		// with vfork, and exec records the parent's high-water mark as the
		// child's, so it reports the test process's peak when that is the
		// larger. VmHWM is the bulkget process's own.
		res.rssBytes = peak
	}
	t.Logf("exit %d in %v, peak RSS %.1f MB, %d requests on %d connections",
		res.code, res.elapsed.Round(time.Millisecond), float64(res.rssBytes)/1e6, srv.TotalRequests(), srv.Connections())

	seen := map[string]bool{}
	for _, l := range strings.Split(res.out, "\n") {
		l = strings.TrimSpace(l)
		if (strings.HasPrefix(l, "✗ ") || strings.HasPrefix(l, "warning")) && !seen[l] && len(seen) < 8 {
			seen[l] = true
			t.Logf("  %s", l)
		}
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "list.csv" && e.Name() != "out" {
			t.Errorf("%s written outside the output folder", filepath.Join(root, e.Name()))
		}
	}
	present := map[string]bool{}
	for _, f := range files {
		path := filepath.Join(dir, filepath.FromSlash(f.name))
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			if !strings.Contains(res.out, "✗ "+f.name+":") {
				t.Errorf("%s is not there and no failure line names it", f.name)
			}
			continue
		}
		present[f.name] = true
		if got := sha(t, path); got != f.sha {
			t.Errorf("%s is under its final name with the wrong bytes (sha256 %s, want %s)", f.name, got, f.sha)
		}
	}
	if res.code == exitOK && len(present) != len(files) {
		t.Errorf("exit 0 with %d of %d files", len(present), len(files))
	}
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		rel = filepath.ToSlash(rel)
		if strings.HasPrefix(d.Name(), ".bulkget") {
			return nil
		}
		for _, f := range files {
			if rel == f.name || strings.HasPrefix(rel, f.name+".part") {
				return nil
			}
		}
		t.Errorf("unexpected %s in the output folder", rel)
		return nil
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("output of bulkget %s:\n%s", strings.Join(argv, " "), tail(res.out))
		}
	})
	return res
}

// watchHWM polls the peak resident size (VmHWM) of process pid every
// 20 ms until stop is closed, then sends the last value read (0 where there
// is no /proc). The peak is monotonic, so only growth in the last 20 ms of
// the process can be missed.
func watchHWM(pid int, stop <-chan struct{}) <-chan int64 {
	res := make(chan int64, 1)
	go func() {
		var peak int64
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
				for _, l := range strings.Split(string(b), "\n") {
					if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
						var kb int64
						if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err == nil {
							peak = max(peak, kb<<10)
						}
					}
				}
			}
			select {
			case <-stop:
				res <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return res
}

// tail is the end of a long output.
func tail(s string) string {
	if len(s) > 6000 {
		return "…" + s[len(s)-6000:]
	}
	return s
}

func (r hostileRun) expectExit(t *testing.T, codes ...int) {
	t.Helper()
	if !slices.Contains(codes, r.code) {
		t.Errorf("exit %d, want %v", r.code, codes)
	}
}

func (r hostileRun) expectOutput(t *testing.T, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(r.out, w) {
			t.Errorf("output lacks %q", w)
		}
	}
}

func (r hostileRun) expectWithin(t *testing.T, bound time.Duration) {
	t.Helper()
	if r.elapsed > bound {
		t.Errorf("took %v, bound %v", r.elapsed.Round(time.Millisecond), bound)
	}
}

func expectRequests(t *testing.T, srv *hostile.Server, path string, atMost int) {
	t.Helper()
	if n := srv.Requests(path); n > atMost {
		t.Errorf("%d requests for %s, want at most %d", n, path, atMost)
	}
}

func newHostile(t *testing.T) *hostile.Server {
	t.Helper()
	srv, err := hostile.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// Flags every case uses unless it says otherwise.
var hostileFlags = []string{"--retries", "2", "--stall-timeout", "2s", "--connect-timeout", "5s"}

func flags(extra ...string) []string { return append(slices.Clone(hostileFlags), extra...) }

// The abuses another change is fixing: these fail until it lands.
func TestHostileServerAbuses(t *testing.T) {
	t.Run("bytes beyond Content-Length on a keep-alive connection never end up in a file", func(t *testing.T) {
		stale := "HTTP/1.1 200 OK\r\nContent-Length: 32\r\n\r\n" + "stale reply of exactly 32 bytes\n"
		for _, tc := range []struct{ name, after string }{
			{"a complete stale 200 reply", stale},
			{"garbage", string(bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 8))},
		} {
			t.Run(tc.name, func(t *testing.T) {
				srv := newHostile(t)
				add := func(name string, size int64) listed {
					srv.Handle("/"+name, hostile.File{Name: name, Size: size}.With(func(r *hostile.Request, rp *hostile.Reply) bool {
						rp.After = []byte(tc.after)
						return true
					}))
					return listed{name, "/" + name, hostile.SHA256Hex(name, size)}
				}
				files := []listed{add("big.bin", 32<<20)}
				for i := range 16 {
					files = append(files, add(fmt.Sprintf("small-%02d.bin", i), int64(1000+531*i)))
				}
				res := runHostile(t, srv, files, 60*time.Second, flags("-c", "8")...)
				// Every file right and exit 0, or exit 1 with the files
				// that are not there named (runHostile checks both); never
				// exit 0 with a wrong file.
				res.expectExit(t, exitOK, exitFailed)
				res.expectWithin(t, 45*time.Second)
			})
		}
	})

	t.Run("a trickle or silence after the headers fails the file in bounded time", func(t *testing.T) {
		const stall, retries = time.Second, 2
		// A byte every half stall timeout: something always arrives, so
		// only a judgement of the speed can end it.
		trickle := func(name string, size int64) hostile.Behavior {
			return hostile.BehaviorFunc(func(c *hostile.Conn, r *hostile.Request) bool {
				rp := hostile.File{Name: name, Size: size}.Reply(r)
				if _, err := c.WriteString(rp.Head()); err != nil || c.Flush() != nil {
					return false
				}
				for i := rp.Start; i < rp.End; i++ {
					c.Write([]byte{hostile.Byte(name, i)})
					if c.Flush() != nil || !c.Sleep(stall/2) {
						return false
					}
				}
				return true
			})
		}
		silent := func(name string, size int64) hostile.Behavior {
			return hostile.BehaviorFunc(func(c *hostile.Conn, r *hostile.Request) bool {
				rp := hostile.File{Name: name, Size: size}.Reply(r)
				if _, err := c.WriteString(rp.Head()); err == nil && c.Flush() == nil {
					c.WaitClientClose()
				}
				return false
			})
		}
		for _, tc := range []struct {
			name     string
			behavior func(string, int64) hostile.Behavior
			wants    []string // one of
		}{
			{"headers then a byte every half second", trickle, []string{"too slow"}},
			{"headers then nothing", silent, []string{"nothing received", "too slow"}},
		} {
			for _, conns := range []string{"4", "1"} {
				t.Run(tc.name+", -c "+conns, func(t *testing.T) {
					t.Parallel() // mostly waiting: four at once cost no more than one
					srv := newHostile(t)
					srv.Handle("/slow.bin", tc.behavior("slow.bin", 64<<10))
					files := []listed{{"slow.bin", "/slow.bin", hostile.SHA256Hex("slow.bin", 64<<10)}}
					for i := range 3 {
						files = append(files, wellBehaved(srv, fmt.Sprintf("ok-%d.bin", i), 10<<10))
					}
					// The hard cap is the bound and a margin, not 60 s: a
					// hang shows either way, and the four cases run at most
					// GOMAXPROCS at a time.
					bound := (retries+1)*stall*4 + 10*time.Second
					res := runHostile(t, srv, files, bound+8*time.Second, "-c", conns, "--retries", fmt.Sprint(retries),
						"--stall-timeout", stall.String(), "--connect-timeout", "5s")
					res.expectExit(t, exitFailed)
					res.expectOutput(t, "✗ slow.bin:")
					if !slices.ContainsFunc(tc.wants, func(w string) bool { return strings.Contains(res.out, w) }) {
						t.Errorf("output lacks any of %q", tc.wants)
					}
					res.expectWithin(t, bound)
					if n := srv.Requests("/slow.bin"); n >= 40 {
						t.Errorf("%d requests for slow.bin, want fewer than 40", n)
					}
				})
			}
		}
	})

	t.Run("a redirect loop fails without retries", func(t *testing.T) {
		srv := newHostile(t)
		srv.Handle("/loop", hostile.BehaviorFunc(func(c *hostile.Conn, r *hostile.Request) bool {
			rp := &hostile.Reply{Status: 302, Body: []byte{}}
			rp.Add("Location", fmt.Sprintf("/loop?n=%d", r.N))
			return rp.WriteTo(c) == nil
		}))
		files := []listed{{"loop.bin", "/loop", "never"}, wellBehaved(srv, "ok.bin", 1000)}
		res := runHostile(t, srv, files, 60*time.Second, flags("-c", "4")...)
		res.expectExit(t, exitFailed)
		res.expectOutput(t, "✗ loop.bin:", "redirect")
		res.expectWithin(t, 30*time.Second)
		expectRequests(t, srv, "/loop", 12)
	})

	t.Run("a redirect to file:///etc/passwd fails at once", func(t *testing.T) {
		srv := newHostile(t)
		srv.Handle("/passwd", hostile.BehaviorFunc(func(c *hostile.Conn, r *hostile.Request) bool {
			rp := &hostile.Reply{Status: 302, Body: []byte{}}
			rp.Add("Location", "file:///etc/passwd")
			return rp.WriteTo(c) == nil
		}))
		files := []listed{{"passwd.bin", "/passwd", "never"}, wellBehaved(srv, "ok.bin", 1000)}
		res := runHostile(t, srv, files, 60*time.Second, flags("-c", "4")...)
		res.expectExit(t, exitFailed)
		res.expectOutput(t, "✗ passwd.bin:", "unsupported protocol scheme")
		res.expectWithin(t, 30*time.Second)
		expectRequests(t, srv, "/passwd", 2)
	})

	t.Run("304 Not Modified to an unconditional GET fails at once", func(t *testing.T) {
		srv := newHostile(t)
		srv.Handle("/nm", hostile.BehaviorFunc(func(c *hostile.Conn, r *hostile.Request) bool {
			_, err := c.WriteString("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n")
			return err == nil
		}))
		files := []listed{{"nm.bin", "/nm", "never"}, wellBehaved(srv, "ok.bin", 1000)}
		res := runHostile(t, srv, files, 60*time.Second, flags("-c", "4")...)
		res.expectExit(t, exitFailed)
		res.expectOutput(t, "✗ nm.bin:", "304")
		res.expectWithin(t, 30*time.Second)
		expectRequests(t, srv, "/nm", 2)
	})

	t.Run("a Content-Range total that changes is a changed file", func(t *testing.T) {
		srv := newHostile(t)
		const size = 8 << 20
		srv.Handle("/grow.bin", hostile.File{Name: "grow.bin", Size: size, Rate: 4 << 20}.With(func(r *hostile.Request, rp *hostile.Reply) bool {
			if r.N > 1 && rp.Status == 206 {
				rp.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", rp.Start, rp.End-1, 9<<20))
			}
			return true
		}))
		files := []listed{{"grow.bin", "/grow.bin", hostile.SHA256Hex("grow.bin", size)}}
		res := runHostile(t, srv, files, 60*time.Second, flags("-c", "4", "--min-segment", "1M")...)
		res.expectExit(t, exitOK, exitFailed)
		res.expectOutput(t, "changed")
		res.expectWithin(t, 45*time.Second)
		if n := srv.Requests("/grow.bin"); n >= 30 {
			t.Errorf("%d requests, want fewer than 30", n)
		}
	})

	t.Run("8 MiB of response header on every connection costs bounded memory", func(t *testing.T) {
		line := "X-Filler: " + strings.Repeat("h", 8<<20) + "\r\n"
		var many strings.Builder
		for i := 0; many.Len() < 8<<20; i++ {
			fmt.Fprintf(&many, "X-Filler-%06d: %s\r\n", i, strings.Repeat("h", 1000))
		}
		for _, tc := range []struct{ name, raw string }{
			{"one huge header line", line},
			{"many headers", many.String()},
		} {
			t.Run(tc.name, func(t *testing.T) {
				srv := newHostile(t)
				raw := []byte(tc.raw)
				var files []listed
				for i := range 32 {
					name := fmt.Sprintf("h-%02d.bin", i)
					srv.Handle("/"+name, hostile.File{Name: name, Size: 4 << 10}.With(func(r *hostile.Request, rp *hostile.Reply) bool {
						rp.RawHead = raw
						return true
					}))
					files = append(files, listed{name, "/" + name, hostile.SHA256Hex(name, 4<<10)})
				}
				res := runHostile(t, srv, files, 60*time.Second, flags("-c", "32", "--max-per-host", "32")...)
				res.expectExit(t, exitFailed)
				res.expectOutput(t, "header")
				res.expectWithin(t, 45*time.Second)
				if res.rssBytes >= 150e6 {
					t.Errorf("peak RSS %.1f MB, want under 150 MB", float64(res.rssBytes)/1e6)
				}
			})
		}
	})

	t.Run("Content-Encoding gzip though identity was asked is stored as sent, with a warning", func(t *testing.T) {
		srv := newHostile(t)
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(hostile.Content("gz.bin", 0, 100<<10))
		zw.Close()
		sent := gz.Bytes()
		srv.Handle("/gz.bin", hostile.File{Name: "gz.bin", Size: int64(len(sent))}.With(func(r *hostile.Request, rp *hostile.Reply) bool {
			rp.Body = sent[rp.Start:rp.End]
			rp.Add("Content-Encoding", "gzip")
			return true
		}))
		files := []listed{{"gz.bin", "/gz.bin", hostile.SHA256OfBytes(sent)}}
		res := runHostile(t, srv, files, 60*time.Second, flags("-c", "4")...)
		res.expectExit(t, exitOK)
		res.expectOutput(t, "gzip")
		res.expectWithin(t, 30*time.Second)
	})

	t.Run("multipart/byteranges to a single range is fetched another way or fails clearly", func(t *testing.T) {
		srv := newHostile(t)
		const size = 200 << 10
		srv.Handle("/mp.bin", hostile.BehaviorFunc(func(c *hostile.Conn, r *hostile.Request) bool {
			rp := hostile.File{Name: "mp.bin", Size: size}.Reply(r)
			if rp.Status == 206 {
				var body bytes.Buffer
				fmt.Fprintf(&body, "--HOSTILE\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes %d-%d/%d\r\n\r\n",
					rp.Start, rp.End-1, size)
				body.Write(hostile.Content("mp.bin", rp.Start, rp.End-rp.Start))
				body.WriteString("\r\n--HOSTILE--\r\n")
				rp.Del("Content-Range")
				rp.Add("Content-Type", "multipart/byteranges; boundary=HOSTILE")
				rp.Body = body.Bytes()
			}
			return rp.WriteTo(c) == nil
		}))
		files := []listed{{"mp.bin", "/mp.bin", hostile.SHA256Hex("mp.bin", size)}}
		res := runHostile(t, srv, files, 60*time.Second, flags("-c", "4")...)
		res.expectExit(t, exitOK, exitFailed)
		res.expectOutput(t, "several ranges at once")
		res.expectWithin(t, 30*time.Second)
		if n := srv.Requests("/mp.bin"); n >= 30 {
			t.Errorf("%d requests, want fewer than 30", n)
		}
	})
}

// Abuses bulkget already withstands.
func TestHostileServerHandled(t *testing.T) {
	t.Run("a 1 PB Content-Length on a small body", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			extra []string
			want  string
		}{
			{"refused for want of space", nil, "not enough free space"},
			// Then the file system refuses the size, or the body ends early.
			{"with --no-space-check", []string{"--no-space-check"}, "✗ huge.bin:"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				srv := newHostile(t)
				srv.Handle("/huge.bin", hostile.BehaviorFunc(func(c *hostile.Conn, r *hostile.Request) bool {
					rp := &hostile.Reply{Status: 200, Name: "huge.bin", End: 1000}
					rp.Add("Content-Length", fmt.Sprint(int64(1)<<50))
					rp.WriteTo(c)
					return false
				}))
				files := []listed{{"huge.bin", "/huge.bin", "never"}, wellBehaved(srv, "ok.bin", 1000)}
				res := runHostile(t, srv, files, 60*time.Second, flags(append([]string{"-c", "4"}, tc.extra...)...)...)
				res.expectExit(t, exitFailed)
				res.expectOutput(t, "✗ huge.bin:", tc.want)
				res.expectWithin(t, 30*time.Second)
				expectRequests(t, srv, "/huge.bin", 3)
			})
		}
	})

	t.Run("a Content-Range with the wrong start", func(t *testing.T) {
		srv := newHostile(t)
		const size = 8 << 20
		srv.Handle("/lie.bin", hostile.File{Name: "lie.bin", Size: size, Rate: 4 << 20}.With(func(r *hostile.Request, rp *hostile.Reply) bool {
			if rp.Status == 206 && rp.Start > 0 {
				rp.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", rp.Start+1, rp.End-1, size))
				rp.Set("Content-Length", fmt.Sprint(rp.End-rp.Start-1))
				rp.Start++
			}
			return true
		}))
		files := []listed{{"lie.bin", "/lie.bin", hostile.SHA256Hex("lie.bin", size)}}
		res := runHostile(t, srv, files, 60*time.Second, flags("-c", "4", "--min-segment", "1M")...)
		res.expectExit(t, exitFailed)
		res.expectOutput(t, "✗ lie.bin:", "response range does not match request")
		// However the lying ranges are split, the file's failures count in
		// rounds (--retries 2: three rounds of at most -c 4 requests each),
		// plus the probe.
		if n := srv.Requests("/lie.bin"); n > 3*4+1 {
			t.Errorf("%d requests, want at most %d", n, 3*4+1)
		}
		res.expectWithin(t, 45*time.Second)
	})

	// Broken framing is a server's bug, not a transient fault: the file
	// fails after malformedAttempts (2) answers, whatever --retries says.
	t.Run("a garbage or negative Content-Length", func(t *testing.T) {
		for _, tc := range []struct {
			name, cl string
			args     []string
		}{
			{"garbage", "a thousand", flags("-c", "4")},
			{"negative, with the default retries", "-1000", []string{"-c", "4", "--stall-timeout", "2s", "--connect-timeout", "5s"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				srv := newHostile(t)
				srv.Handle("/cl.bin", hostile.File{Name: "cl.bin", Size: 1000}.With(func(r *hostile.Request, rp *hostile.Reply) bool {
					rp.Set("Content-Length", tc.cl)
					return true
				}))
				files := []listed{{"cl.bin", "/cl.bin", "never"}, wellBehaved(srv, "ok.bin", 1000)}
				res := runHostile(t, srv, files, 60*time.Second, tc.args...)
				res.expectExit(t, exitFailed)
				res.expectOutput(t, "✗ cl.bin:", fmt.Sprintf("bad Content-Length %q", tc.cl), "broken framing")
				res.expectWithin(t, 30*time.Second)
				expectRequests(t, srv, "/cl.bin", 2)
			})
		}
	})

	t.Run("two different Content-Lengths", func(t *testing.T) {
		srv := newHostile(t)
		srv.Handle("/dup.bin", hostile.File{Name: "dup.bin", Size: 1000}.With(func(r *hostile.Request, rp *hostile.Reply) bool {
			rp.Add("Content-Length", fmt.Sprint(rp.BodyLen()))
			rp.Add("Content-Length", fmt.Sprint(rp.BodyLen()-100))
			return true
		}))
		files := []listed{{"dup.bin", "/dup.bin", "never"}, wellBehaved(srv, "ok.bin", 1000)}
		res := runHostile(t, srv, files, 60*time.Second, flags("-c", "4")...)
		res.expectExit(t, exitFailed)
		res.expectOutput(t, "✗ dup.bin:", "multiple Content-Length")
		res.expectWithin(t, 30*time.Second)
		expectRequests(t, srv, "/dup.bin", 2)
	})

	t.Run("a header block without end", func(t *testing.T) {
		for _, tc := range []struct {
			name     string
			pause    time.Duration
			want     string
			attempts int
		}{
			{"as fast as it goes", 0, "headers exceeded", 2},              // the cap on a header's size: broken framing
			{"a line every 100 ms", 100 * time.Millisecond, "timeout", 3}, // --connect-timeout, for headers too: transient
		} {
			t.Run(tc.name, func(t *testing.T) {
				srv := newHostile(t)
				line := []byte("X-More: " + strings.Repeat("m", 1000) + "\r\n")
				srv.Handle("/endless.bin", hostile.BehaviorFunc(func(c *hostile.Conn, r *hostile.Request) bool {
					c.WriteString("HTTP/1.1 200 OK\r\n")
					for {
						if _, err := c.Write(line); err != nil {
							return false
						}
						if tc.pause > 0 && (c.Flush() != nil || !c.Sleep(tc.pause)) {
							return false
						}
					}
				}))
				files := []listed{{"endless.bin", "/endless.bin", "never"}, wellBehaved(srv, "ok.bin", 1000)}
				res := runHostile(t, srv, files, 60*time.Second, flags("-c", "4", "--connect-timeout", "2s")...)
				res.expectExit(t, exitFailed)
				res.expectOutput(t, "✗ endless.bin:", tc.want)
				res.expectWithin(t, 30*time.Second)
				expectRequests(t, srv, "/endless.bin", tc.attempts)
			})
		}
	})

	// Informational responses count against the cap on a response's
	// header, so a flood of them costs bounded memory and time; under the
	// cap the real answer that follows is used.
	t.Run("informational responses before the real one", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			n    int
			exit int
		}{{"three 103 Early Hints", 3, exitOK}, {"a flood of 1000 100 Continue", 1000, exitOK}} {
			t.Run(tc.name, func(t *testing.T) {
				srv := newHostile(t)
				info := "HTTP/1.1 103 Early Hints\r\nLink: </x.css>; rel=preload\r\n\r\n"
				if tc.n > 3 {
					info = "HTTP/1.1 100 Continue\r\n\r\n"
				}
				f := hostile.File{Name: "info.bin", Size: 5000}
				srv.Handle("/info.bin", hostile.BehaviorFunc(func(c *hostile.Conn, r *hostile.Request) bool {
					for range tc.n {
						if _, err := c.WriteString(info); err != nil {
							return false
						}
					}
					return f.Serve(c, r)
				}))
				files := []listed{{"info.bin", "/info.bin", hostile.SHA256Hex("info.bin", 5000)}, wellBehaved(srv, "ok.bin", 1000)}
				res := runHostile(t, srv, files, 60*time.Second, flags("-c", "4")...)
				res.expectExit(t, tc.exit)
				if tc.exit != exitOK {
					res.expectOutput(t, "✗ info.bin:", "informational responses")
				}
				res.expectWithin(t, 30*time.Second)
				expectRequests(t, srv, "/info.bin", 3)
			})
		}
	})

	t.Run("a body delimited by the close of the connection", func(t *testing.T) {
		srv := newHostile(t)
		const size = 3<<20 + 7
		srv.Handle("/close.bin", hostile.BehaviorFunc(func(c *hostile.Conn, r *hostile.Request) bool {
			rp := &hostile.Reply{Status: 200, Name: "close.bin", End: size, NoLength: true}
			rp.Add("Connection", "close")
			rp.WriteTo(c)
			return false
		}))
		files := []listed{{"close.bin", "/close.bin", hostile.SHA256Hex("close.bin", size)}, wellBehaved(srv, "ok.bin", 1000)}
		res := runHostile(t, srv, files, 60*time.Second, flags("-c", "4")...)
		res.expectExit(t, exitOK)
		res.expectWithin(t, 30*time.Second)
	})

	t.Run("chunked bodies with trailers", func(t *testing.T) {
		srv := newHostile(t)
		const size = 6 << 20
		srv.Handle("/chunked.bin", hostile.File{Name: "chunked.bin", Size: size, Rate: 8 << 20}.With(func(r *hostile.Request, rp *hostile.Reply) bool {
			rp.Chunked = true
			rp.Add("Trailer", "X-Checksum")
			rp.Trailer = []string{"X-Checksum: 1234"}
			return true
		}))
		files := []listed{{"chunked.bin", "/chunked.bin", hostile.SHA256Hex("chunked.bin", size)}}
		res := runHostile(t, srv, files, 60*time.Second, flags("-c", "4", "--min-segment", "1M")...)
		res.expectExit(t, exitOK)
		res.expectWithin(t, 30*time.Second)
		if n := srv.Requests("/chunked.bin"); n < 2 {
			t.Errorf("%d requests: the file was not split, so no range was chunked", n)
		}
	})

	t.Run("an ETag that changes on every response", func(t *testing.T) {
		srv := newHostile(t)
		const size = 8 << 20
		srv.Handle("/etag.bin", hostile.BehaviorFunc(func(c *hostile.Conn, r *hostile.Request) bool {
			f := hostile.File{Name: "etag.bin", Size: size, Rate: 4 << 20, ETag: fmt.Sprintf(`"v%d"`, r.N)}
			return f.Serve(c, r)
		}))
		files := []listed{{"etag.bin", "/etag.bin", hostile.SHA256Hex("etag.bin", size)}}
		res := runHostile(t, srv, files, 60*time.Second, flags("-c", "4", "--min-segment", "1M")...)
		res.expectExit(t, exitOK, exitFailed)
		res.expectOutput(t, "changed")
		res.expectWithin(t, 45*time.Second)
		if n := srv.Requests("/etag.bin"); n >= 30 {
			t.Errorf("%d requests, want fewer than 30", n)
		}
	})

	t.Run("a Content-Disposition naming ../ files", func(t *testing.T) {
		srv := newHostile(t)
		srv.Handle("/cd.bin", hostile.File{Name: "cd.bin", Size: 5000}.With(func(r *hostile.Request, rp *hostile.Reply) bool {
			rp.Add("Content-Disposition", `attachment; filename="../../escaped.bin"; filename*=UTF-8''..%2F..%2Fescaped2.bin`)
			return true
		}))
		files := []listed{{"sub/cd.bin", "/cd.bin", hostile.SHA256Hex("cd.bin", 5000)}}
		res := runHostile(t, srv, files, 60*time.Second, flags("-c", "4")...)
		res.expectExit(t, exitOK)
		res.expectWithin(t, 30*time.Second)
	})
}

// TestMemoryIsBoundedByConnectionsNotFileSize downloads the same list of
// large files at 4 and at 16 connections: peak memory must stay within the
// runtime's base plus connections × (read buffer + direct-I/O buffer), far
// below the bytes downloaded.
func TestMemoryIsBoundedByConnectionsNotFileSize(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads 256 MiB twice")
	}
	const base, perConn = 24 << 20, 2 << 20 // a connection holds 256 KiB + 1 MiB
	for _, conns := range []int{4, 16} {
		t.Run(fmt.Sprintf("%d connections", conns), func(t *testing.T) {
			srv := newHostile(t)
			files := []listed{wellBehaved(srv, "a.bin", 128<<20), wellBehaved(srv, "b.bin", 128<<20)}
			res := runHostile(t, srv, files, 120*time.Second, flags("-c", strconv.Itoa(conns), "--max-per-host", strconv.Itoa(conns))...)
			res.expectExit(t, exitOK)
			if limit := int64(base + conns*perConn); res.rssBytes > limit {
				t.Errorf("peak RSS %.1f MB for %d connections, want at most %.1f MB", float64(res.rssBytes)/1e6, conns, float64(limit)/1e6)
			}
		})
	}
}
