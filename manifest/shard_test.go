package manifest

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func TestShardPartitionIsBalanced(t *testing.T) {
	const names, n = 100_000, 16
	counts := make([]int, n)
	for i := range names {
		s := Shard(fmt.Sprintf("data/file-%06d.bin", i), n)
		if s < 0 || s >= n {
			t.Fatalf("Shard = %d, outside [0, %d)", s, n)
		}
		counts[s]++
	}
	mean := float64(names) / n
	lo, hi := names, 0
	for _, c := range counts {
		lo, hi = min(lo, c), max(hi, c)
	}
	t.Logf("N=%d over %d names: min %d (%.4f × mean), max %d (%.4f × mean)", n, names, lo, float64(lo)/mean, hi, float64(hi)/mean)
	if float64(hi) > 1.03*mean {
		t.Errorf("largest shard has %d names, more than 1.03 × the mean %.0f", hi, mean)
	}
	if float64(lo) < 0.97*mean {
		t.Errorf("smallest shard has %d names, fewer than 0.97 × the mean %.0f", lo, mean)
	}
}

// Splitting by each shard in turn must give back every name exactly once,
// whatever N, including N larger than the list.
func TestShardCoversEveryNameOnce(t *testing.T) {
	var names []string
	for i := range 500 {
		names = append(names, fmt.Sprintf("dir-%d/ファイル %d.bin", i%7, i))
	}
	for _, n := range []int{1, 2, 3, 7, 16, 100, 1000} {
		seen := map[string]int{}
		for i := range n {
			for _, name := range names {
				if Shard(name, n) == i {
					seen[name]++
				}
			}
		}
		if len(seen) != len(names) {
			t.Errorf("N=%d: %d of %d names are in some shard", n, len(seen), len(names))
		}
		for name, c := range seen {
			if c != 1 {
				t.Errorf("N=%d: %q is in %d shards", n, name, c)
			}
		}
	}
}

// Jump hash's promise: growing from n to n+1 shards only moves names into the
// new shard.
func TestShardIsConsistentWhenNGrows(t *testing.T) {
	moved := 0
	const names = 2000
	for i := range names {
		name := fmt.Sprintf("set/%d", i)
		prev := Shard(name, 1)
		for n := 2; n <= 40; n++ {
			s := Shard(name, n)
			if s != prev && s != n-1 {
				t.Fatalf("%q: shard %d of %d but %d of %d", name, prev, n-1, s, n)
			}
			if n == 40 && s != prev {
				moved++
			}
			prev = s
		}
	}
	// About 1/40 of the names should move from 39 to 40 shards.
	if want := names / 40; moved < want/2 || moved > want*2 {
		t.Errorf("%d of %d names moved from 39 to 40 shards, want about %d", moved, names, want)
	}
}

func TestShardIsZeroForFewerThanTwoAndInRangeForHugeCounts(t *testing.T) {
	for _, n := range []int{math.MinInt, -1, 0, 1} {
		if s := Shard("a.bin", n); s != 0 {
			t.Errorf("Shard(n=%d) = %d, want 0", n, s)
		}
	}
	// Counts far beyond any real job must still give an answer in range,
	// without overflowing (b+1)·2^31.
	for _, n := range []int{1 << 31, math.MaxInt32, math.MaxInt} {
		for i := range 100 {
			if s := Shard(fmt.Sprint(i), n); s < 0 || s >= n {
				t.Fatalf("Shard(n=%d) = %d", n, s)
			}
		}
	}
}

// goldenNames are the names whose shards are pinned: plain, nested, and
// non-ASCII ones, so that the UTF-8 bytes are what is hashed.
func goldenNames() []string {
	var names []string
	for i := range 1000 {
		switch i % 4 {
		case 0:
			names = append(names, fmt.Sprintf("data/file-%06d.bin", i))
		case 1:
			names = append(names, fmt.Sprintf("weights/model-%05d-of-01000.safetensors", i))
		case 2:
			names = append(names, fmt.Sprintf("Ünïcødé/日本語 %d.txt", i))
		default:
			names = append(names, fmt.Sprintf("%x", i*7919))
		}
	}
	return names
}

// TestShardGolden pins the partition: if it fails, a change made machines
// running different releases disagree about which files are theirs. Run
// with -update only when that is intended.
func TestShardGolden(t *testing.T) {
	counts := []int{2, 7, 16, 100}
	var b bytes.Buffer
	b.WriteString("# name\tshard for N=2\tN=7\tN=16\tN=100 (manifest.Shard; regenerate with go test -run TestShardGolden -update)\n")
	for _, name := range goldenNames() {
		b.WriteString(name)
		for _, n := range counts {
			fmt.Fprintf(&b, "\t%d", Shard(name, n))
		}
		b.WriteByte('\n')
	}
	path := filepath.Join("testdata", "shard.golden")
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if bytes.Equal(b.Bytes(), want) {
		return
	}
	got := bufio.NewScanner(&b)
	exp := bufio.NewScanner(bytes.NewReader(want))
	for line := 1; ; line++ {
		g, e := got.Scan(), exp.Scan()
		if !g || !e {
			t.Fatalf("shard.golden line %d: one side ends early", line)
		}
		if got.Text() != exp.Text() {
			t.Fatalf("shard.golden line %d:\n got %q\nwant %q", line, got.Text(), exp.Text())
		}
	}
}

func ExampleShard() {
	for _, name := range []string{"a.bin", "b.bin", "c.bin", "d.bin"} {
		fmt.Println(name, Shard(name, 3))
	}
	// Output:
	// a.bin 0
	// b.bin 1
	// c.bin 1
	// d.bin 0
}

func BenchmarkShard(b *testing.B) {
	for b.Loop() {
		Shard("weights/model-00001-of-00042.safetensors", 64)
	}
}
