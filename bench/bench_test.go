package bench

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	buildDir  string
	builtBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// bulkget builds the binary once for all benchmarks of the process.
func bulkget(b *testing.B) string {
	b.Helper()
	buildOnce.Do(func() {
		// Not b.TempDir: the binary outlives the first benchmark.
		buildDir, buildErr = os.MkdirTemp("", "bulkget-bench-bin-")
		if buildErr == nil {
			builtBin, buildErr = BuildBulkget(context.Background(), buildDir)
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return builtBin
}

// runBulkget runs bulkget on s b.N times and reports what the suite's
// table shows, through b.ReportMetric so that benchstat works.
func runBulkget(b *testing.B, s Scenario) {
	r := &Runner{Bulkget: bulkget(b), Timeout: 10 * time.Minute, TempDir: b.TempDir()}
	defer r.Close()
	f := Start(s)
	defer f.Close()
	tool := Tools()[0]
	b.ResetTimer()
	for range b.N {
		res, err := r.Run(context.Background(), f, tool)
		if err != nil {
			b.Fatal(err)
		}
		gib := float64(s.Bytes()) / (1 << 30)
		b.ReportMetric(res.Wall.Seconds(), "wall-s")
		b.ReportMetric(float64(s.Bytes())/(1<<20)/res.Wall.Seconds(), "MiB/s")
		if x := res.Ratio(); x > 0 {
			b.ReportMetric(x, "x-ideal")
		}
		b.ReportMetric(res.CPU.Seconds(), "cpu-s")
		b.ReportMetric(res.CPU.Seconds()/gib, "cpu-s/GiB")
		b.ReportMetric(float64(res.MaxRSS)/(1<<20), "peak-RSS-MiB")
		b.ReportMetric(float64(res.Requests)/float64(res.Total), "req/file")
		b.Logf("%s: wall %.2fs (ideal %.2fs), cpu %.2fs, peak RSS %.1f MiB, %d requests on %d TCP conns (peak %d open), %d/%d files right",
			s.Name, res.Wall.Seconds(), s.Ideal().Seconds(), res.CPU.Seconds(), float64(res.MaxRSS)/(1<<20),
			res.Requests, res.Conns, res.PeakConns, res.Right, res.Total)
		if res.Err != "" || res.Right != res.Total {
			b.Fatalf("%s: %s", s.Name, res.Notes())
		}
	}
}

func scenario(b *testing.B, name string) Scenario {
	s, err := Lookup(name)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkCappedLarge: 8 × 128 MiB, 8 MiB/s per connection, 20 ms latency,
// 16 connections. Ideal: 1 GiB ÷ 128 MiB/s = 8 s.
func BenchmarkCappedLarge(b *testing.B) { runBulkget(b, scenario(b, "capped-large")) }

// BenchmarkManySmall: 2,000 × 32 KiB, 5 ms latency, 16 connections. The
// latency floor is 2,000 × 5 ms ÷ 16 = 0.63 s; one request per file.
func BenchmarkManySmall(b *testing.B) { runBulkget(b, scenario(b, "many-small")) }

// BenchmarkUncapped: 4 × 512 MiB with no caps: CPU and syscalls per byte.
func BenchmarkUncapped(b *testing.B) { runBulkget(b, scenario(b, "uncapped")) }

// BenchmarkFlaky: 8 × 64 MiB at 8 MiB/s per connection with the chaos mix
// of resets, 5xx, 429, stalls, short bodies and wrong ranges.
func BenchmarkFlaky(b *testing.B) { runBulkget(b, scenario(b, "flaky")) }

// BenchmarkTail: one 1 GiB file after 50 × 1 MiB, 8 MiB/s per connection:
// the big file must get every connection at the end.
func BenchmarkTail(b *testing.B) { runBulkget(b, scenario(b, "tail")) }

// BenchmarkHugeList: 20,000 × 4 KiB: scheduling overhead and memory.
func BenchmarkHugeList(b *testing.B) { runBulkget(b, scenario(b, "huge-list")) }

// BenchmarkCappedLargeHTTPS: capped-large over HTTPS.
func BenchmarkCappedLargeHTTPS(b *testing.B) { runBulkget(b, scenario(b, "capped-large-https")) }

// BenchmarkLimitRate: --limit-rate 20M with 32 connections against an
// uncapped origin, 400 MiB (a 20-second run): throughput must be within
// ±5% of 20 MiB/s. The x-ideal metric is wall time over 400 MiB ÷ 20 MiB/s.
func BenchmarkLimitRate(b *testing.B) {
	s := Scenario{Name: "limit-rate", Sets: []FileSet{{4, 100 << 20}}, Connections: 32,
		BulkgetArgs: []string{"--limit-rate", "20M"}}
	s.IdealOverride = time.Duration(float64(s.Bytes()) / float64(20<<20) * float64(time.Second))
	runBulkget(b, s)
}

// BenchmarkMirrors: the mirror scenarios, 4 × 128 MiB from three hosts of
// 40 MiB/s each in total, one sub-benchmark each. Ideal: 512 MiB ÷
// 120 MiB/s = 4.27 s for mirrors3.
func BenchmarkMirrors(b *testing.B) {
	for _, s := range MirrorScenarios() {
		b.Run(s.Name, func(b *testing.B) { runBulkget(b, s) })
	}
}

// BenchmarkFarms: the farm scenarios, 4 × 64 MiB from two replicas behind
// one address, one sub-benchmark each.
func BenchmarkFarms(b *testing.B) {
	for _, s := range FarmScenarios() {
		b.Run(s.Name, func(b *testing.B) { runBulkget(b, s) })
	}
}

func ExampleScenario_Ideal() {
	for _, name := range []string{"capped-large", "many-small", "uncapped"} {
		s, _ := Lookup(name)
		fmt.Printf("%s: %v (%s)\n", name, s.Ideal().Round(time.Millisecond), s.IdealKind())
	}
	// Output:
	// capped-large: 8.01s (bandwidth)
	// many-small: 625ms (latency)
	// uncapped: 0s ()
}
