package bench

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulkget/bulkget/internal/origin"
)

// scenario is one benchmark case.
type scenario struct {
	files       int
	size        int64
	connRate    int64 // per-connection cap, bytes/s; 0 = none
	latency     time.Duration
	connections int
	args        []string
	// idealOverride is the ideal wall time when it is set by something
	// other than the origin's caps (a client-side rate limit).
	idealOverride time.Duration
}

func (s scenario) totalBytes() int64 { return int64(s.files) * s.size }

// ideal is the shortest possible wall time: every connection busy at the
// per-connection cap from start to end. Zero when the origin is uncapped.
func (s scenario) ideal() time.Duration {
	if s.idealOverride > 0 {
		return s.idealOverride
	}
	if s.connRate == 0 {
		return 0
	}
	return time.Duration(float64(s.totalBytes()) / float64(int64(s.connections)*s.connRate) * float64(time.Second))
}

func buildBinary(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "bulkget")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/bulkget")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func (s scenario) run(b *testing.B) {
	bin := buildBinary(b)
	srv := origin.New(origin.Options{PerConnRate: s.connRate, Latency: s.latency})
	defer srv.Close()
	work := b.TempDir()
	var list strings.Builder
	list.WriteString("filename,url\n")
	names := make([]string, s.files)
	for i := range s.files {
		names[i] = fmt.Sprintf("f%05d.bin", i)
		srv.Add(names[i], s.size)
		fmt.Fprintf(&list, "%s,%s\n", names[i], srv.URL(names[i]))
	}
	listPath := filepath.Join(work, "list.csv")
	if err := os.WriteFile(listPath, []byte(list.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		out := filepath.Join(work, fmt.Sprintf("out%d", i))
		srv.ResetStats()
		args := append([]string{"--progress", "none", "-c", fmt.Sprint(s.connections), "-d", out}, s.args...)
		cmd := exec.Command(bin, append(args, listPath)...)
		cmd.Stderr = os.Stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("bulkget: %v", err)
		}
		wall := time.Since(start)
		b.StopTimer()
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		right := 0
		for _, n := range names {
			if fileSHA(filepath.Join(out, n)) == origin.SHA256Hex(n, 0, s.size) {
				right++
			}
		}
		st := srv.Stats()
		gib := float64(s.totalBytes()) / (1 << 30)
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(float64(s.totalBytes())/(1<<20)/wall.Seconds(), "MiB/s")
		if id := s.ideal(); id > 0 {
			b.ReportMetric(wall.Seconds()/id.Seconds(), "x-ideal")
		}
		b.ReportMetric(cpu.Seconds(), "cpu-s")
		b.ReportMetric(cpu.Seconds()/gib, "cpu-s/GiB")
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MiB")
		b.ReportMetric(float64(st.Requests)/float64(s.files), "req/file")
		b.Logf("%d×%s: wall %.2fs (ideal %.2fs), cpu %.2fs, peak RSS %.1f MiB, %d requests on %d TCP conns (peak %d at once), %d/%d files right",
			s.files, size(s.size), wall.Seconds(), s.ideal().Seconds(), cpu.Seconds(), float64(ru.Maxrss)/1024,
			st.Requests, st.ConnsAccepted, st.PeakRequests, right, s.files)
		if right != s.files {
			b.Fatalf("%d of %d files have the wrong SHA-256", s.files-right, s.files)
		}
		os.RemoveAll(out)
		b.StartTimer()
	}
}

func size(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

func fileSHA(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

// BenchmarkCappedLarge: 8 × 128 MiB, 8 MiB/s per connection, 20 ms latency,
// 16 connections. Ideal: 1 GiB ÷ 128 MiB/s = 8 s.
func BenchmarkCappedLarge(b *testing.B) {
	scenario{files: 8, size: 128 << 20, connRate: 8 << 20, latency: 20 * time.Millisecond, connections: 16}.run(b)
}

// BenchmarkManySmall: 2,000 × 32 KiB, 5 ms latency, 16 connections. The
// latency floor is 2,000 × 5 ms ÷ 16 = 0.63 s; one request per file.
func BenchmarkManySmall(b *testing.B) {
	scenario{files: 2000, size: 32 << 10, latency: 5 * time.Millisecond, connections: 16}.run(b)
}

// BenchmarkUncapped: 4 × 512 MiB with no caps: CPU and syscalls per byte.
func BenchmarkUncapped(b *testing.B) {
	scenario{files: 4, size: 512 << 20, connections: 16}.run(b)
}

// BenchmarkLimitRate: --limit-rate 20M with 32 connections against an
// uncapped origin, 400 MiB (a 20-second run): throughput must be within
// ±5% of 20 MiB/s. The x-ideal metric is wall time over 400 MiB ÷ 20 MiB/s.
func BenchmarkLimitRate(b *testing.B) {
	s := scenario{files: 4, size: 100 << 20, connections: 32, args: []string{"--limit-rate", "20M"}}
	s.idealOverride = time.Duration(float64(s.totalBytes()) / float64(20<<20) * float64(time.Second))
	s.run(b)
}
