package manifest

import (
	"hash/fnv"
	"math/bits"
)

// Shard returns the shard, from 0 to n-1, that a file name belongs to when a
// list is split n ways; n < 1 is taken as 1. Every name is in exactly one
// shard, and names spread evenly over the shards.
//
// Shards are computed on different machines, by different releases of
// bulkget, from the same list, and every machine must agree or some files
// would be fetched twice and others never. So the function is fixed here,
// depends on nothing but the name's bytes and n, and is pinned by a golden
// file in the tests. Changing it breaks every sharded download in progress.
//
// Definition, in exact integer arithmetic so that any language can
// reproduce it: key is the FNV-1a 64 hash of the name's UTF-8 bytes (offset
// basis 14695981039346656037, prime 1099511628211, as in hash/fnv), and the
// shard is the jump consistent hash (Lamping and Veach, 2014) of key into n
// buckets:
//
//	b, j = 0, 0
//	while j < n:
//	    b = j
//	    key = (key * 2862933555777941757 + 1) mod 2^64
//	    j = floor((b + 1) * 2^31 / ((key >> 33) + 1))
//	return b
//
// The name hashed is the one bulkget writes, after tidying: "a//b" and "./a"
// hash as "a/b" and "a".
//
// The published algorithm computes j in floating point; here it is the exact
// quotient, so no rounding can differ between platforms or languages.
//
// Jump hash rather than a plain "key mod n" or multiply-shift because it is
// consistent: going from n to n+1 shards moves only the names that land in
// the new shard (about 1/(n+1) of them), and every other name keeps its
// shard, so files already downloaded by a shard stay with it.
func Shard(name string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(name)) // hash.Hash's Write never fails
	return jump(h.Sum64(), uint64(n))
}

func jump(key, n uint64) int {
	var b, j uint64 = 0, 0
	for j < n {
		b = j
		key = key*2862933555777941757 + 1
		// (b+1) × 2^31 can exceed 64 bits for huge n, so the product is
		// kept in 128 bits. A quotient that would not fit in 64 bits is
		// past any n, which ends the loop just as j >= n would.
		hi, lo := bits.Mul64(b+1, 1<<31)
		d := key>>33 + 1
		if hi >= d {
			break
		}
		j, _ = bits.Div64(hi, lo, d)
	}
	return int(b)
}
