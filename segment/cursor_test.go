package segment

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"
	"testing"
)

// memFile is an io.WriterAt backed by a byte slice that counts how many
// times each offset has been written.
type memFile struct {
	mu     sync.Mutex
	data   []byte
	writes []int
	// onWrite, if set, runs (without the lock) before each write.
	onWrite func(p []byte, off int64)
}

func newMemFile(n int) *memFile {
	return &memFile{data: make([]byte, n), writes: make([]int, n)}
}

// alignedMem is a memFile that asks for alignment, which makes Copy place
// each read at its offset's position within a block (as for direct I/O).
type alignedMem struct{ *memFile }

func (alignedMem) Alignment() int { return 8 }

// copyModes runs a test against Copy with and without alignment.
var copyModes = []struct {
	name string
	wrap func(*memFile) io.WriterAt
}{
	{"plain", func(m *memFile) io.WriterAt { return m }},
	{"aligned", func(m *memFile) io.WriterAt { return alignedMem{m} }},
}

var errOutOfFile = errors.New("memFile: write out of bounds")

func (m *memFile) WriteAt(p []byte, off int64) (int, error) {
	if m.onWrite != nil {
		m.onWrite(p, off)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if off < 0 || off+int64(len(p)) > int64(len(m.data)) {
		return 0, fmt.Errorf("%w: [%d, %d) of %d", errOutOfFile, off, off+int64(len(p)), len(m.data))
	}
	copy(m.data[off:], p)
	for i := range p {
		m.writes[off+int64(i)]++
	}
	return len(p), nil
}

// check verifies that [from, to) holds want and was written exactly once,
// and that every other byte was never written.
func (m *memFile) check(t *testing.T, want []byte, from, to int64) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	bad := 0
	for i := range m.data {
		in := int64(i) >= from && int64(i) < to
		switch {
		case in && m.writes[i] != 1:
			t.Errorf("offset %d written %d times, want once", i, m.writes[i])
			bad++
		case !in && m.writes[i] != 0:
			t.Errorf("offset %d outside [%d, %d) written %d times", i, from, to, m.writes[i])
			bad++
		case in && m.data[i] != want[i]:
			t.Errorf("offset %d = %#x, want %#x", i, m.data[i], want[i])
			bad++
		}
		if bad > 10 {
			t.Fatalf("too many errors")
		}
	}
}

// source returns n deterministic, non-repeating-looking bytes.
func source(n int) []byte {
	r := rand.New(rand.NewPCG(1, uint64(n)))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// chunkReader hands out data at most chunk bytes per Read, yielding the
// processor each time so that concurrent splitters get to run.
type chunkReader struct {
	data  []byte
	chunk int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	runtime.Gosched()
	n := copy(p[:min(len(p), r.chunk)], r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestCursorReportsItsStartPositionAndEnd(t *testing.T) {
	c := NewCursor(100, 150, 300)
	if got := c.Start(); got != 100 {
		t.Errorf("Start = %d, want 100", got)
	}
	if got := c.Pos(); got != 150 {
		t.Errorf("Pos = %d, want 150", got)
	}
	if got := c.End(); got != 300 {
		t.Errorf("End = %d, want 300", got)
	}
	if s, p, e := c.Bounds(); s != 100 || p != 150 || e != 300 {
		t.Errorf("Bounds = %d, %d, %d, want 100, 150, 300", s, p, e)
	}
	if got := c.Remaining(); got != 150 {
		t.Errorf("Remaining = %d, want 150", got)
	}
	if c.Done() {
		t.Error("Done before the end")
	}
	if got := c.Splittable(); got != 150 {
		t.Errorf("Splittable = %d, want 150", got)
	}

	c.Rewind(100)
	if got := c.Pos(); got != 100 {
		t.Errorf("after Rewind, Pos = %d, want 100", got)
	}
	c.SetEnd(100)
	if !c.Done() {
		t.Error("not Done with pos == end")
	}
	if got := c.Remaining(); got != 0 {
		t.Errorf("Remaining = %d, want 0", got)
	}

	u := NewCursor(0, 0, -1)
	if got := u.Remaining(); got != -1 {
		t.Errorf("unknown end: Remaining = %d, want -1", got)
	}
	if u.Done() {
		t.Error("unknown end: Done")
	}
	if got := u.Splittable(); got != 0 {
		t.Errorf("unknown end: Splittable = %d, want 0", got)
	}
	u.SetEnd(10)
	if got := u.Remaining(); got != 10 {
		t.Errorf("after SetEnd: Remaining = %d, want 10", got)
	}
}

func TestSplitGivesAwayTheAlignedBackHalfOrNothingWhenAHalfWouldBeTooSmall(t *testing.T) {
	const K = splitAlign
	tests := []struct {
		name               string
		start, pos, end    int64
		min                int64
		ok                 bool
		wantMid, wantEnd   int64
		wantCursorEndAfter int64
	}{
		{"aligned half", 0, 0, 16 * K, 1, true, 8 * K, 16 * K, 8 * K},
		{"half rounded down to alignment", 0, 100000, 300000, 1, true, 3 * K, 300000, 3 * K},
		{"alignment would leave head below min", 0, 100000, 300000, 100000, true, 200000, 300000, 200000},
		{"no multiple of 64K in reach", 0, 0, 1000, 100, true, 500, 1000, 500},
		{"odd remainder", 0, 0, 1001, 1, true, 500, 1001, 500},
		{"remainder exactly 2*min", 0, 0, 200, 100, true, 100, 200, 100},
		{"remainder one short of 2*min", 0, 0, 199, 100, false, 0, 0, 199},
		{"pos past start counts only the remainder", 0, 900, 1000, 60, false, 0, 0, 1000},
		{"offset segment", 10 * K, 10*K + 5, 20 * K, 4096, true, 15 * K, 20 * K, 15 * K},
		{"min zero treated as one", 0, 0, 2, 0, true, 1, 2, 1},
		{"negative min treated as one", 0, 0, 2, -5, true, 1, 2, 1},
		{"single byte left", 0, 0, 1, 0, false, 0, 0, 1},
		{"done", 0, 100, 100, 1, false, 0, 0, 100},
		{"unknown end", 0, 0, -1, 1, false, 0, 0, -1},
		{"huge min does not overflow", 0, 0, 1 << 40, 1 << 62, false, 0, 0, 1 << 40},
		{"max min does not overflow", 0, 0, 1 << 40, math.MaxInt64, false, 0, 0, 1 << 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCursor(tt.start, tt.pos, tt.end)
			mid, end, ok := c.Split(tt.min)
			if ok != tt.ok || mid != tt.wantMid || end != tt.wantEnd {
				t.Fatalf("Split(%d) = %d, %d, %v, want %d, %d, %v",
					tt.min, mid, end, ok, tt.wantMid, tt.wantEnd, tt.ok)
			}
			if got := c.End(); got != tt.wantCursorEndAfter {
				t.Errorf("End after Split = %d, want %d", got, tt.wantCursorEndAfter)
			}
			if got := c.Pos(); got != tt.pos {
				t.Errorf("Pos moved by Split: %d, want %d", got, tt.pos)
			}
		})
	}
}

// Split's contract, checked on many random cursors.
func TestSplitOfAnyCursorLeavesTwoPiecesOfAtLeastTheMinimumAlignedWherePossible(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for i := range 20000 {
		pos := r.Int64N(1 << 30)
		end := pos + r.Int64N(1<<24)
		mn := r.Int64N(1<<22) - 10
		c := NewCursor(0, pos, end)
		var inflight int64
		if r.IntN(2) == 0 {
			_, inflight = c.claim(r.Int64N(1 << 20))
		}
		from := pos + inflight
		rest := end - from
		effMin := max(mn, 1)
		mid, tail, ok := c.Split(mn)
		if ok != (rest >= 2*effMin) {
			t.Fatalf("#%d: Split(%d) on [pos %d, reserved %d, end %d) ok=%v", i, mn, pos, from, end, ok)
		}
		if !ok {
			if c.End() != end {
				t.Fatalf("#%d: refused Split moved end %d -> %d", i, end, c.End())
			}
			continue
		}
		half := from + rest/2
		if mid != half && !(mid%splitAlign == 0 && mid <= half && half-mid < splitAlign) {
			t.Fatalf("#%d: mid %d is neither the half %d nor its 64K floor", i, mid, half)
		}
		if mid != half && half-half%splitAlign != mid {
			t.Fatalf("#%d: mid %d, want aligned %d", i, mid, half-half%splitAlign)
		}
		if mid == half && half-half%splitAlign-from >= effMin {
			t.Fatalf("#%d: mid %d not aligned though %d was possible", i, mid, half-half%splitAlign)
		}
		if mid-from < effMin || tail-mid < effMin {
			t.Fatalf("#%d: pieces [%d, %d) and [%d, %d) smaller than min %d", i, from, mid, mid, tail, effMin)
		}
		if tail != end || c.End() != mid {
			t.Fatalf("#%d: tail end %d (want %d), cursor end %d (want %d)", i, tail, end, c.End(), mid)
		}
	}
}

// TestCursorSplitRespectsInflight checks that a split never hands out bytes
// that a claim has reserved but not yet committed.
func TestCursorSplitRespectsInflight(t *testing.T) {
	tests := []struct {
		name            string
		pos, end, claim int64
		min             int64
		ok              bool
		wantMid         int64
	}{
		{"claim then split aligns past the claim", 0, 1 << 20, 300000, 1, true, 10 * splitAlign},
		{"claim covering almost everything", 0, 1000, 990, 1, true, 995},
		{"claim leaving less than 2*min", 0, 1000, 900, 60, false, 0},
		{"claim of whole remainder", 0, 1000, 5000, 1, false, 0},
		{"claim from a later pos", 500, 2000, 500, 100, true, 1500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCursor(0, tt.pos, tt.end)
			off, allowed := c.claim(tt.claim)
			if off != tt.pos {
				t.Fatalf("claim offset %d, want %d", off, tt.pos)
			}
			if want := min(tt.claim, tt.end-tt.pos); allowed != want {
				t.Fatalf("claim allowed %d, want %d", allowed, want)
			}
			if got := c.Splittable(); got != tt.end-tt.pos-allowed {
				t.Errorf("Splittable during claim = %d, want %d", got, tt.end-tt.pos-allowed)
			}
			mid, end, ok := c.Split(tt.min)
			if ok != tt.ok || (ok && (mid != tt.wantMid || end != tt.end)) {
				t.Fatalf("Split = %d, %d, %v, want %d, %d, %v", mid, end, ok, tt.wantMid, tt.end, tt.ok)
			}
			if ok && mid < off+allowed {
				t.Fatalf("tail [%d, %d) overlaps in-flight [%d, %d)", mid, end, off, off+allowed)
			}
			c.commit(allowed)
			if got := c.Pos(); got != tt.pos+allowed {
				t.Errorf("Pos after commit = %d, want %d", got, tt.pos+allowed)
			}
			if got := c.Splittable(); ok && got != mid-c.Pos() {
				t.Errorf("Splittable after commit = %d, want %d", got, mid-c.Pos())
			}
		})
	}
}

func TestCursorClaimStopsAtShrunkEnd(t *testing.T) {
	c := NewCursor(0, 0, 1000)
	mid, _, ok := c.Split(1)
	if !ok || mid != 500 {
		t.Fatalf("Split = %d, %v", mid, ok)
	}
	off, n := c.claim(800)
	if off != 0 || n != 500 {
		t.Fatalf("claim(800) = %d, %d, want 0, 500", off, n)
	}
	c.commit(n)
	if off, n := c.claim(10); off != 500 || n != 0 {
		t.Fatalf("claim at end = %d, %d, want 500, 0", off, n)
	}
	c.commit(0)
	if !c.Done() {
		t.Fatal("not Done")
	}
	// A partial commit (short write) releases the rest of the reservation.
	c = NewCursor(0, 0, 1000)
	c.claim(400)
	c.commit(100)
	if got := c.Splittable(); got != 900 {
		t.Errorf("Splittable after partial commit = %d, want 900", got)
	}
}

// TestCopyWriteNeverOverlapsSplit splits from inside WriteAt, that is while
// the chunk being written is reserved, and checks the tail starts after it.
func TestCopyWriteNeverOverlapsSplit(t *testing.T) {
	for _, mode := range copyModes {
		t.Run(mode.name, func(t *testing.T) { testCopyWriteNeverOverlapsSplit(t, mode.wrap) })
	}
}

func testCopyWriteNeverOverlapsSplit(t *testing.T, wrap func(*memFile) io.WriterAt) {
	const n = 1 << 18
	src := source(n)
	dst := newMemFile(n)
	cur := NewCursor(0, 0, n)
	var tails [][2]int64
	dst.onWrite = func(p []byte, off int64) {
		if mid, end, ok := cur.Split(1000); ok {
			if mid < off+int64(len(p)) {
				t.Errorf("split tail [%d, %d) overlaps write [%d, %d)", mid, end, off, off+int64(len(p)))
			}
			tails = append(tails, [2]int64{mid, end})
		}
	}
	got, err := Copy(context.Background(), bytes.NewReader(src), cur, wrap(dst), make([]byte, 7000), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(tails) == 0 {
		t.Fatal("no split happened")
	}
	if got != cur.End() || cur.Pos() != cur.End() {
		t.Fatalf("Copy wrote %d, cursor pos %d end %d", got, cur.Pos(), cur.End())
	}
	dst.onWrite = nil
	for _, tl := range tails {
		c := NewCursor(tl[0], tl[0], tl[1])
		if _, err := Copy(context.Background(), bytes.NewReader(src[tl[0]:tl[1]]), c, dst, make([]byte, 7000), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	dst.check(t, src, 0, n)
}

type piece struct{ start, pos, end int64 }

// checkPartition verifies the pieces' written parts [start, pos) tile
// [from, to) exactly and each piece is complete.
func checkPartition(t *testing.T, pieces []piece, from, to int64) {
	t.Helper()
	sort.Slice(pieces, func(i, j int) bool { return pieces[i].start < pieces[j].start })
	at := from
	for _, p := range pieces {
		if p.pos != p.end {
			t.Errorf("piece %+v not complete", p)
		}
		if p.start != at {
			t.Errorf("piece %+v starts at %d, want %d (gap or overlap)", p, p.start, at)
		}
		at = p.pos
	}
	if at != to {
		t.Errorf("pieces end at %d, want %d", at, to)
	}
}

// Copy runs while another goroutine splits the cursor
// every time the body is read, then fetches each split-off tail.
func TestCopySplitAtEveryReadStopsAtTheNewEndAndTheTailsCompleteTheRange(t *testing.T) {
	tests := []lockstepCase{
		{"aligned range, big buffer", 0, 1 << 20, 32 << 10, 5000, 4096},
		{"odd range, small chunks", 12345, 400000, 3000, 777, 1000},
		{"buffer smaller than chunk", 1, 200001, 500, 4096, 300},
	}
	for _, mode := range copyModes {
		for _, tt := range tests {
			t.Run(mode.name+"/"+tt.name, func(t *testing.T) { testLockstep(t, mode.wrap, tt) })
		}
	}
}

type lockstepCase struct {
	name           string
	start, end     int64
	bufSize, chunk int
	min            int64
}

func testLockstep(t *testing.T, wrap func(*memFile) io.WriterAt, tt lockstepCase) {
	src := source(int(tt.end) + 100)
	dst := newMemFile(len(src))
	cur := NewCursor(tt.start, tt.start, tt.end)

	ask, ack := make(chan struct{}), make(chan struct{})
	var tails [][2]int64
	go func() {
		for range ask {
			if mid, end, ok := cur.Split(tt.min); ok {
				tails = append(tails, [2]int64{mid, end})
			}
			ack <- struct{}{}
		}
	}()
	body := &hookReader{r: &chunkReader{data: src[tt.start:tt.end], chunk: tt.chunk}, hook: func() {
		ask <- struct{}{}
		<-ack
	}}
	n, err := Copy(context.Background(), body, cur, wrap(dst), make([]byte, tt.bufSize), nil, nil)
	close(ask)
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	if len(tails) == 0 {
		t.Fatal("no split happened")
	}
	s, p, e := cur.Bounds()
	if p != e || n != p-s {
		t.Fatalf("Copy wrote %d, cursor [%d, %d, %d)", n, s, p, e)
	}
	// Nothing of the tails is written yet.
	dst.check(t, src, tt.start, e)

	pieces := []piece{{s, p, e}}
	for _, tl := range tails {
		c := NewCursor(tl[0], tl[0], tl[1])
		if _, err := Copy(context.Background(), bytes.NewReader(src[tl[0]:tl[1]]), c, wrap(dst), make([]byte, tt.bufSize), nil, nil); err != nil {
			t.Fatalf("tail %v: %v", tl, err)
		}
		s, p, e := c.Bounds()
		pieces = append(pieces, piece{s, p, e})
	}
	checkPartition(t, pieces, tt.start, tt.end)
	dst.check(t, src, tt.start, tt.end)
}

// A pool of Copy calls writes into one file
// while a thief keeps splitting running cursors and starting a new Copy for
// every stolen tail. Every byte must be written exactly once, correctly.
func TestConcurrentWorkStealingWritesEveryByteExactlyOnce(t *testing.T) {
	tests := []stealingCase{
		{"small min", 1 << 19, 4096, 1500, 512, 3000},
		{"aligned min", 1 << 20, 16 << 10, 8192, splitAlign / 2, 500},
		{"tiny buffers", 100003, 100, 333, 64, 3000},
	}
	for _, mode := range copyModes {
		for _, tt := range tests {
			t.Run(mode.name+"/"+tt.name, func(t *testing.T) {
				testWorkStealing(t, mode.wrap, tt)
			})
		}
	}
}

type stealingCase struct {
	name     string
	size     int64
	bufSize  int
	chunk    int
	min      int64
	attempts int
}

func testWorkStealing(t *testing.T, wrap func(*memFile) io.WriterAt, tt stealingCase) {
	src := source(int(tt.size))
	dst := newMemFile(len(src))

	var (
		mu      sync.Mutex
		cursors []*Cursor
		wg      sync.WaitGroup
		errs    = make(chan error, 10000)
	)
	run := func(c *Cursor) {
		mu.Lock()
		cursors = append(cursors, c)
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, _, e := c.Bounds()
			n, err := Copy(context.Background(), &chunkReader{data: src[s:e], chunk: tt.chunk}, c, wrap(dst), make([]byte, tt.bufSize), nil, nil)
			if err != nil {
				errs <- err
				return
			}
			if _, p, e := c.Bounds(); p != e || n != p-s {
				errs <- fmt.Errorf("cursor %d: wrote %d, pos %d, end %d", s, n, p, e)
			}
		}()
	}
	run(NewCursor(0, 0, tt.size))
	r := rand.New(rand.NewPCG(3, 4))
	for range tt.attempts {
		mu.Lock()
		c := cursors[r.IntN(len(cursors))]
		mu.Unlock()
		if mid, end, ok := c.Split(tt.min); ok {
			run(NewCursor(mid, mid, end))
		}
		runtime.Gosched()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	pieces := make([]piece, 0, len(cursors))
	for _, c := range cursors {
		s, p, e := c.Bounds()
		pieces = append(pieces, piece{s, p, e})
	}
	t.Logf("%d pieces", len(pieces))
	checkPartition(t, pieces, 0, tt.size)
	dst.check(t, src, 0, tt.size)
}

// hookReader calls hook before every Read of r.
type hookReader struct {
	r    io.Reader
	hook func()
}

func (h *hookReader) Read(p []byte) (int, error) {
	h.hook()
	return h.r.Read(p)
}

func TestTruncateKeepsTheInFlightChunkAndGivesAwayTheRest(t *testing.T) {
	c := NewCursor(0, 100, 1000)
	if off, n := c.claim(50); off != 100 || n != 50 {
		t.Fatalf("claim = %d, %d", off, n)
	}
	from, end, ok := c.Truncate(0)
	if !ok || from != 150 || end != 1000 {
		t.Fatalf("Truncate = %d, %d, %v; want the rest after the in-flight chunk", from, end, ok)
	}
	c.commit(50)
	if !c.Done() {
		t.Errorf("cursor not done after its in-flight chunk landed")
	}
	if _, _, ok := c.Truncate(0); ok {
		t.Errorf("Truncate of a finished cursor succeeded")
	}
	if _, _, ok := NewCursor(0, 0, -1).Truncate(0); ok {
		t.Errorf("Truncate of an unknown end succeeded")
	}
}

func TestTruncateCanLetInWhatIsOnItsWay(t *testing.T) {
	c := NewCursor(0, 100, 1000)
	from, end, ok := c.Truncate(300)
	if !ok || from != 400 || end != 1000 || c.End() != 400 {
		t.Fatalf("Truncate(300) = %d, %d, %v, end now %d; want the rest after 300 more bytes", from, end, ok, c.End())
	}
	if _, _, ok := c.Truncate(300); ok || c.End() != 400 {
		t.Errorf("Truncate past the end succeeded or moved the end to %d", c.End())
	}
}

func TestSplitAtLeavesMinOnEitherSide(t *testing.T) {
	c := NewCursor(0, 100, 1000)
	if _, ok := c.SplitAt(150, 100); ok {
		t.Errorf("SplitAt(150) with 100 at least on either side succeeded from pos 100")
	}
	if _, ok := c.SplitAt(950, 100); ok {
		t.Errorf("SplitAt(950) with 100 at least on either side succeeded with the end at 1000")
	}
	end, ok := c.SplitAt(600, 100)
	if !ok || end != 1000 || c.End() != 600 {
		t.Fatalf("SplitAt(600) = %d, %v, end now %d; want 1000, true, 600", end, ok, c.End())
	}
	// A chunk being written counts as written.
	c = NewCursor(0, 0, 1000)
	c.claim(500)
	if _, ok := c.SplitAt(550, 100); ok {
		t.Errorf("SplitAt(550) cut into 100 bytes after a chunk claimed up to 500")
	}
	if _, ok := NewCursor(0, 0, -1).SplitAt(10, 1); ok {
		t.Errorf("SplitAt of an unknown end succeeded")
	}
}
