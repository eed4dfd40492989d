package checksum

import (
	"hash/crc32"
	"hash/crc64"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestCRC64NVMECheckValue(t *testing.T) {
	// The catalogue's check value of CRC-64/NVME for "123456789".
	if got := crc64.Checksum([]byte("123456789"), nvme); got != 0xAE8B14860A799888 {
		t.Fatalf("crc64nvme(123456789) = %#x, want 0xae8b14860a799888", got)
	}
	if got := crc32.Checksum([]byte("123456789"), castagnoli); got != 0xE3069283 {
		t.Fatalf("crc32c(123456789) = %#x, want 0xe3069283", got)
	}
}

// TestCRCCombineEqualsAStraightCRC splits random data at random points,
// computes each piece's CRC on its own, and combines them: the result must
// be the CRC of the whole.
func TestCRCCombineEqualsAStraightCRC(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for _, k := range []*Kind{CRC(CRC32C), CRC(CRC64NVME)} {
		t.Run(k.Algo(), func(t *testing.T) {
			for trial := range 200 {
				n := rng.IntN(len(data) + 1)
				if trial%4 == 0 {
					n = rng.IntN(64) // tiny files and empty pieces
				}
				whole := k.Update(0, data[:n])
				cuts := []int{0}
				for range rng.IntN(8) {
					cuts = append(cuts, rng.IntN(n+1))
				}
				cuts = append(cuts, n)
				slices.Sort(cuts)
				var crc uint64
				for i := 1; i < len(cuts); i++ {
					piece := data[cuts[i-1]:cuts[i]]
					crc = k.Combine(crc, k.Update(0, piece), int64(len(piece)))
				}
				if crc != whole {
					t.Fatalf("n %d, cuts %v: combined %#x, straight %#x", n, cuts, crc, whole)
				}
			}
		})
	}
}
