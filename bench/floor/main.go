//go:build linux

// Command floor measures what the suite's scenarios allow the simplest
// possible client on this machine, so that bulkget's figures can be read
// against a limit and not only against the peers. It starts a scenario's
// origin in this process and runs the client in a child process, whose CPU
// time (user+system, from wait4) is then the client's alone, as in the suite.
//
// The client keeps Budget connections busy with plain GETs over raw
// sockets, one fixed request string each, parsing nothing but
// Content-Length, in one of three modes:
//
//   - discard reads every body and drops it: the cost of receiving alone;
//   - write stores every file, checked afterwards against the origin's
//     SHA-256: a small file (up to 1 MiB) with open, write, close, as curl
//     does, and a large one split into ranges written with O_DIRECT from
//     an aligned buffer on a huge page, as bulkget does. Nothing is made
//     durable: no fsync, no temporary name. That is the part of bulkget's
//     cost that is its guarantee, not its overhead;
//   - buffered is write with the large files' ranges written through the
//     page cache instead: what direct I/O saves.
//
// Usage:
//
//	go run ./bench/floor -scenario uncapped
//	go run ./bench/floor -scenario huge-list -mode write -repeat 5
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/bulkget/bulkget/bench"
	"golang.org/x/sys/unix"
)

// childEnv marks the child process and carries its mode.
const childEnv = "BULKGET_FLOOR_CHILD"

func main() {
	if mode := os.Getenv(childEnv); mode != "" {
		if err := client(mode, os.Args[1], os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "floor client:", err)
			os.Exit(1)
		}
		return
	}
	name := flag.String("scenario", "uncapped", "scenario to measure (see bench.Scenarios)")
	modes := flag.String("mode", "discard,write", "client modes, comma-separated: discard, write, buffered")
	repeat := flag.Int("repeat", 3, "runs per mode; the median is reported")
	tmp := flag.String("tmp", "", "parent of the output folder (default: the system's)")
	flag.Parse()
	s, err := bench.Lookup(*name)
	if err == nil {
		err = measure(os.Stdout, s, strings.Split(*modes, ","), *repeat, *tmp)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

// measure runs the client repeat times per mode against s's origin and
// prints each run and the medians to w.
func measure(w io.Writer, s bench.Scenario, modes []string, repeat int, tmp string) error {
	if s.Chaos != nil || s.TLS {
		return fmt.Errorf("%s: the floor client speaks plain HTTP to a well-behaved origin only", s.Name)
	}
	for _, m := range modes {
		if m != "discard" && m != "write" && m != "buffered" {
			return fmt.Errorf("unknown mode %q (discard, write, buffered)", m)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp(tmp, "bulkget-floor-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	f := bench.Start(s)
	defer f.Close()
	var list strings.Builder
	for _, file := range s.Files() {
		fmt.Fprintf(&list, "%s %d %s\n", file.Name, file.Size, f.Server.URL(file.Name))
	}
	listPath := filepath.Join(work, "list")
	if err := os.WriteFile(listPath, []byte(list.String()), 0o644); err != nil {
		return err
	}
	gib := float64(s.Bytes()) / (1 << 30)
	fmt.Fprintf(w, "%s: %s, %d connections\n", s.Name, s.About, s.Conns())
	for _, mode := range modes {
		var walls, cpus []time.Duration
		for run := range repeat {
			out := filepath.Join(work, fmt.Sprintf("%s-%d", mode, run))
			if err := os.Mkdir(out, 0o755); err != nil {
				return err
			}
			bench.Settle(work) // as the suite does: nobody pays for earlier writes
			cmd := exec.Command(self, listPath, out)
			cmd.Env = append(os.Environ(), childEnv+"="+mode, "BULKGET_FLOOR_CONNS="+strconv.Itoa(s.Conns()))
			cmd.Stderr = os.Stderr
			start := time.Now()
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%s run %d: %w", mode, run+1, err)
			}
			wall := time.Since(start)
			ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
			cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
			if mode != "discard" {
				if err := bench.CheckFiles(out, s.Files()); err != nil {
					return fmt.Errorf("%s run %d: %w", mode, run+1, err)
				}
			}
			if s.Largest() > bigFile {
				os.RemoveAll(out) // for the disk's sake
			}
			// Small files stay until the end: ext4 skips recently freed
			// inodes, and a run creating thousands of files right after
			// thousands were deleted pays for that search (see the suite).
			walls, cpus = append(walls, wall), append(cpus, cpu)
			fmt.Fprintf(w, "  %-7s run %d: wall %.3f s, CPU %.3f s (%.3f s/GiB)\n", mode, run+1, wall.Seconds(), cpu.Seconds(), cpu.Seconds()/gib)
		}
		wall, cpu := median(walls), median(cpus)
		line := fmt.Sprintf("  %-7s median: wall %.3f s, CPU %.3f s, %.3f CPU s/GiB", mode, wall.Seconds(), cpu.Seconds(), cpu.Seconds()/gib)
		if ideal := s.Ideal(); ideal > 0 {
			line += fmt.Sprintf(", %.2f × the ideal", wall.Seconds()/ideal.Seconds())
		}
		fmt.Fprintln(w, line)
	}
	return nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// job is one GET: a whole file, or a range of one.
type job struct {
	name, host, target string
	size, start, end   int64 // end inclusive; start < 0: the whole file
}

// bigFile is the size from which a file is split into ranges and written
// with O_DIRECT.
const bigFile = 1 << 20

func client(mode, listPath, out string) error {
	conns, err := strconv.Atoi(os.Getenv("BULKGET_FLOOR_CONNS"))
	if err != nil || conns <= 0 {
		return errors.New("no connection count")
	}
	data, err := os.ReadFile(listPath)
	if err != nil {
		return err
	}
	var files []job
	big := 0
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		fields := strings.Fields(line)
		size, _ := strconv.ParseInt(fields[1], 10, 64)
		u, err := url.Parse(fields[2])
		if err != nil {
			return err
		}
		files = append(files, job{name: fields[0], host: u.Host, target: u.RequestURI(), size: size, start: -1})
		if size > bigFile {
			big++
		}
	}
	// Large files get ranges enough for every connection to have one.
	var jobs []job
	for _, f := range files {
		parts := int64(1)
		if f.size > bigFile {
			parts = int64(max(1, conns/big))
		}
		if parts == 1 && f.size <= bigFile {
			jobs = append(jobs, f)
			continue
		}
		step := (f.size/parts + 4095) &^ 4095
		for start := int64(0); start < f.size; start += step {
			j := f
			j.start, j.end = start, min(start+step, f.size)-1
			jobs = append(jobs, j)
		}
		if mode != "discard" {
			fh, err := os.Create(filepath.Join(out, f.name))
			if err != nil {
				return err
			}
			err = fh.Truncate(f.size)
			fh.Close()
			if err != nil {
				return err
			}
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for range conns {
		wg.Go(func() {
			if err := worker(mode, out, jobs, &next); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func worker(mode, out string, jobs []job, next *atomic.Int64) error {
	var c net.Conn
	var br *bufio.Reader
	buf, err := directBuffer()
	if err != nil {
		return err
	}
	for {
		i := int(next.Add(1)) - 1
		if i >= len(jobs) {
			if c != nil {
				c.Close()
			}
			return nil
		}
		j := jobs[i]
		if c == nil {
			if c, err = net.Dial("tcp", j.host); err != nil {
				return err
			}
			br = bufio.NewReaderSize(c, 64<<10)
		}
		req := "GET " + j.target + " HTTP/1.1\r\nHost: " + j.host + "\r\n"
		if j.start >= 0 {
			req += "Range: bytes=" + strconv.FormatInt(j.start, 10) + "-" + strconv.FormatInt(j.end, 10) + "\r\n"
		}
		if _, err := io.WriteString(c, req+"\r\n"); err != nil {
			return err
		}
		length, err := header(br)
		if err != nil {
			return fmt.Errorf("%s: %w", j.name, err)
		}
		switch {
		case mode == "discard":
			_, err = br.Discard(int(length))
		case j.start < 0:
			err = writeWhole(filepath.Join(out, j.name), br, length, buf)
		default:
			err = writeRange(filepath.Join(out, j.name), br, j.start, length, buf, mode == "write")
		}
		if err != nil {
			return fmt.Errorf("%s: %w", j.name, err)
		}
	}
}

// directBuffer returns a 1 MiB buffer for O_DIRECT on a transparent huge
// page where the kernel grants one, as bulkget's are: a direct write from
// a huge page is one device segment, from 4 KiB pages up to 256, which
// costs 10-15 % more CPU on uncapped. The mapping is never unmapped; the
// process ends with the run.
func directBuffer() ([]byte, error) {
	const huge = 2 << 20
	region, err := syscall.Mmap(-1, 0, 2*huge, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, err
	}
	skip := int((huge - uintptr(unsafe.Pointer(&region[0]))%huge) % huge)
	page := region[skip : skip+huge]
	// Without huge pages the buffer is ordinary page-aligned memory.
	_ = unix.Madvise(page, unix.MADV_HUGEPAGE)
	return page[: 1<<20 : 1<<20], nil
}

// header reads a response header and returns its Content-Length.
func header(br *bufio.Reader) (int64, error) {
	length := int64(-1)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(line) <= 2 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
			if length, err = strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64); err != nil {
				return 0, err
			}
		}
	}
	if length < 0 {
		return 0, errors.New("no Content-Length")
	}
	return length, nil
}

func writeWhole(path string, br *bufio.Reader, length int64, buf []byte) error {
	fh, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	for left := length; left > 0; {
		n, err := br.Read(buf[:min(int64(len(buf)), left)])
		if err != nil {
			fh.Close()
			return err
		}
		if _, err := fh.Write(buf[:n]); err != nil {
			fh.Close()
			return err
		}
		left -= int64(n)
	}
	return fh.Close()
}

// writeRange writes length bytes at off in whole buffers, with O_DIRECT if
// direct is set; a last piece that is not a multiple of the block size
// goes through the page cache.
func writeRange(path string, br *bufio.Reader, off, length int64, buf []byte, direct bool) error {
	flags := os.O_WRONLY
	if direct {
		flags |= syscall.O_DIRECT
	}
	out, err := os.OpenFile(path, flags, 0)
	if err != nil {
		return err
	}
	defer out.Close()
	for left := length; left > 0; {
		n, err := io.ReadFull(br, buf[:min(int64(len(buf)), left)])
		if err != nil {
			return err
		}
		w := out
		if direct && n%4096 != 0 {
			if w, err = os.OpenFile(path, os.O_WRONLY, 0); err != nil {
				return err
			}
			defer w.Close()
		}
		if _, err := w.WriteAt(buf[:n], off); err != nil {
			return err
		}
		off += int64(n)
		left -= int64(n)
	}
	return nil
}
