package checksum

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"
)

// memFile is a WriterAt and ReaderAt over a fixed-size buffer.
type memFile []byte

func (m memFile) WriteAt(p []byte, off int64) (int, error) { return copy(m[off:], p), nil }
func (m memFile) ReadAt(p []byte, off int64) (int, error) {
	n := copy(p, m[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func sha256Hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// TestSumsReadBackOnlyWhatArrivedOutOfOrder writes a file's second half
// before its first: the in-order prefix is hashed as it lands, and only
// the bytes that came ahead of it are read back.
func TestSumsReadBackOnlyWhatArrivedOutOfOrder(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<12)
	half := int64(len(data) / 2)
	s := NewSums(Want{Algo: SHA256, Hex: sha256Hex(data), Source: "list"})
	f := make(memFile, len(data))
	w := s.InOrder(f)
	w.WriteAt(data[half:], half) // ahead of the prefix: not hashed
	w.WriteAt(data[:half], 0)
	if s.Next() != half {
		t.Fatalf("prefix hashed to %d, want %d", s.Next(), half)
	}
	read, err := s.HashRest(f, int64(len(data)))
	if err != nil || read != int64(len(data))-half {
		t.Fatalf("read back %d bytes (%v), want %d", read, err, int64(len(data))-half)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	if s.Label() != "sha256 from list" {
		t.Errorf("label %q", s.Label())
	}
}

func TestSumsMismatchSaysWhoVouched(t *testing.T) {
	s := NewSums(Want{Algo: CRC32C, Hex: "00000000", Source: "x-goog-hash"})
	s.Write([]byte("not empty"))
	var me *MismatchError
	if err := s.Check(); !errors.As(err, &me) || me.Source != "x-goog-hash" || me.Want != "00000000" {
		t.Fatalf("Check = %v, want a mismatch naming x-goog-hash", err)
	}
	if got, want := me.Error(), "crc32c mismatch: x-goog-hash says 00000000, file has "+me.Got; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
}

func TestNothingToCheckIsNil(t *testing.T) {
	if s := NewSums(); s != nil {
		t.Errorf("sums without a Want: %v", s)
	}
	if s := NewSums(Want{Algo: "sha3", Hex: "00"}); s != nil {
		t.Errorf("sums for an unknown algorithm: %v", s)
	}
	var s *Sums
	if s.Label() != None {
		t.Errorf("nil sums say %q, want %q", s.Label(), None)
	}
}

// TestSpanWriterCombinesToTheFilesCRC writes a file as two segments
// through their Spans and combines them into the CRC of the whole, which
// must match a straight hash of the file.
func TestSpanWriterCombinesToTheFilesCRC(t *testing.T) {
	data := bytes.Repeat([]byte("bulkget"), 10000)
	for _, k := range []*Kind{CRC(CRC32C), CRC(CRC64NVME)} {
		f := make(memFile, len(data))
		cut := int64(len(data) / 3)
		var a, b Span
		b.Set(cut, 0, 0)
		k.Writer(f, &b).WriteAt(data[cut:], cut)
		k.Writer(f, &a).WriteAt(data[:cut], 0)
		_, na, ca, okA := a.Get()
		_, nb, cb, okB := b.Get()
		if !okA || !okB || na != cut || nb != int64(len(data))-cut {
			t.Fatalf("%s: spans cover %d and %d bytes (ok %v %v)", k.Algo(), na, nb, okA, okB)
		}
		h := New(k.Algo())
		h.Write(data)
		if got, want := k.Hex(k.Combine(ca, cb, nb)), hex.EncodeToString(h.Sum(nil)); got != want {
			t.Errorf("%s: combined %s, straight %s", k.Algo(), got, want)
		}
		// A write that skips ahead breaks the span: its CRC covers no range.
		k.Writer(f, &a).WriteAt(data[cut+1:cut+2], cut+1)
		if _, _, _, ok := a.Get(); ok {
			t.Errorf("%s: a span with a gap still claims a range", k.Algo())
		}
	}
}

// FuzzCombine checks the combination of CRCs against a straight CRC for
// any data cut anywhere.
func FuzzCombine(f *testing.F) {
	f.Add([]byte("123456789"), uint(4))
	f.Add([]byte{}, uint(0))
	f.Fuzz(func(t *testing.T, data []byte, cut uint) {
		c := int(cut % uint(len(data)+1))
		for _, k := range []*Kind{CRC(CRC32C), CRC(CRC64NVME)} {
			whole := k.Update(0, data)
			got := k.Combine(k.Update(0, data[:c]), k.Update(0, data[c:]), int64(len(data)-c))
			if got != whole {
				t.Fatalf("%s, cut %d of %d: combined %#x, straight %#x", k.Algo(), c, len(data), got, whole)
			}
		}
	})
}
