package origin

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

func TestContentIsTheSameEveryTimeAndDiffersByNameAndVersion(t *testing.T) {
	a := make([]byte, 4096)
	b := make([]byte, 4096)
	Content("f", 0, 0, a)
	Content("f", 0, 0, b)
	if !bytes.Equal(a, b) {
		t.Fatal("two generations differ")
	}
	for _, tc := range []struct {
		name    string
		fname   string
		version int
	}{
		{"other name", "g", 0},
		{"other version", "f", 1},
		{"negative version", "f", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := make([]byte, len(a))
			Content(tc.fname, tc.version, 0, c)
			if bytes.Equal(a[:64], c[:64]) {
				t.Fatal("content did not change")
			}
		})
	}
}

func TestContentOfAnySpanMatchesTheWholeFile(t *testing.T) {
	const total = 1 << 12
	ref := make([]byte, total)
	Content("dir/file name", 3, 0, ref)
	rng := rand.New(rand.NewPCG(1, 2))
	type span struct{ off, n int }
	spans := []span{{0, 0}, {0, 1}, {1, 1}, {7, 1}, {7, 2}, {3, 5}, {3, 6}, {5, 40}, {8, 8}, {9, 31}, {1, total - 1}, {total - 3, 3}}
	for i := 0; i < 300; i++ {
		off := rng.IntN(total)
		spans = append(spans, span{off, rng.IntN(total - off + 1)})
	}
	for _, sp := range spans {
		got := make([]byte, sp.n)
		Content("dir/file name", 3, int64(sp.off), got)
		if !bytes.Equal(got, ref[sp.off:sp.off+sp.n]) {
			t.Fatalf("slice [%d:+%d] differs from aligned generation", sp.off, sp.n)
		}
	}
}

func TestSHA256HexIsTheHashOfTheContent(t *testing.T) {
	for _, size := range []int64{0, 1, 8, 1<<20 - 1, 1 << 20, 3<<20 + 5} {
		buf := make([]byte, size)
		Content("x", 2, 0, buf)
		sum := sha256.Sum256(buf)
		if got, want := SHA256Hex("x", 2, size), hex.EncodeToString(sum[:]); got != want {
			t.Errorf("size %d: got %s want %s", size, got, want)
		}
	}
}

func BenchmarkContent(b *testing.B) {
	for _, tc := range []struct {
		name string
		off  int64
		n    int
	}{
		{"aligned-64K", 0, 64 << 10},
		{"unaligned-64K", 3, 64<<10 - 5},
		{"1M", 1 << 30, 1 << 20},
	} {
		b.Run(tc.name, func(b *testing.B) {
			buf := make([]byte, tc.n)
			b.SetBytes(int64(tc.n))
			for b.Loop() {
				Content("bench", 0, tc.off, buf)
			}
		})
	}
}
