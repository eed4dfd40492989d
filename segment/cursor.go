package segment

import "sync"

// Cursor tracks a segment in progress: [start, end) of a file, with every
// byte before pos already written. end is -1 while the size is unknown.
// The zero value is not usable; create one with NewCursor.
type Cursor struct {
	mu       sync.Mutex
	start    int64
	pos      int64
	reserved int64 // pos plus the chunk being written right now
	end      int64
}

// NewCursor returns a cursor for [start, end) of which [start, pos) is
// already written. Use end = -1 for a file of unknown size.
func NewCursor(start, pos, end int64) *Cursor {
	return &Cursor{start: start, pos: pos, reserved: pos, end: end}
}

// Start returns the first offset of the segment.
func (c *Cursor) Start() int64 { return c.start }

// Pos returns the offset of the next byte to be written.
func (c *Cursor) Pos() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pos
}

// End returns the current exclusive end, or -1 if unknown.
func (c *Cursor) End() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.end
}

// Bounds returns start, pos and end in one consistent read.
func (c *Cursor) Bounds() (start, pos, end int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.start, c.pos, c.end
}

// Remaining returns the bytes left to write, or -1 if the end is unknown.
func (c *Cursor) Remaining() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.end < 0 {
		return -1
	}
	return c.end - c.pos
}

// Done reports whether every byte of a known-size segment is written.
func (c *Cursor) Done() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.end >= 0 && c.pos >= c.end
}

// SetEnd fixes the end of a segment whose size became known (the probe).
func (c *Cursor) SetEnd(end int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.end = end
}

// Rewind moves the cursor back to pos, for servers that cannot resume a
// stream in the middle. It must not be called while Copy runs.
func (c *Cursor) Rewind(pos int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pos, c.reserved = pos, pos
}

// splitAlign keeps split points on page multiples so that the pieces map
// onto whole filesystem blocks; it never matters for correctness.
const splitAlign = 64 << 10

// Split hands the tail of the segment to a new owner: if at least 2*min
// bytes are left beyond what is written or being written, the end moves to
// the middle of that remainder and the old tail [mid, oldEnd) is returned.
func (c *Cursor) Split(min int64) (mid, end int64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.end < 0 {
		return 0, 0, false
	}
	from := max(c.pos, c.reserved)
	rest := c.end - from
	if min < 1 {
		min = 1
	}
	if rest/2 < min { // rest < 2*min, without overflowing for a huge min
		return 0, 0, false
	}
	mid = from + rest/2
	if aligned := mid - mid%splitAlign; aligned-from >= min {
		mid = aligned
	}
	end = c.end
	c.end = mid
	return mid, end, true
}

// SplitAt is Split with the new end at at rather than the middle: at must
// leave at least min bytes on either side, beyond what is written or being
// written and before the end. It returns the old end.
func (c *Cursor) SplitAt(at, min int64) (end int64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	min = max(min, 1)
	if c.end < 0 || at-max(c.pos, c.reserved) < min || c.end-at < min {
		return 0, false
	}
	end = c.end
	c.end = at
	return end, true
}

// Splittable returns the bytes a Split could divide, or 0.
func (c *Cursor) Splittable() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.end < 0 {
		return 0
	}
	return c.end - max(c.pos, c.reserved)
}

// claim reserves up to n bytes at pos for writing and returns the offset and
// how many may be written (0 once the end is reached).
func (c *Cursor) claim(n int64) (off, allowed int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	allowed = n
	if c.end >= 0 && c.pos+allowed > c.end {
		allowed = max(c.end-c.pos, 0)
	}
	c.reserved = c.pos + allowed
	return c.pos, allowed
}

// commit records n claimed bytes as written.
func (c *Cursor) commit(n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pos += n
	c.reserved = c.pos
}

// Truncate ends the segment keep bytes past what is written or being
// written now and returns the rest [from, end) so that another connection
// can take it over: a hedge against a stalled or slow one (keep 0), or a
// request given back that lets in what may already be on its way. ok is
// false if nothing is left.
func (c *Cursor) Truncate(keep int64) (from, end int64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.end < 0 {
		return 0, 0, false
	}
	from = max(c.pos, c.reserved) + max(0, keep)
	if from >= c.end {
		return 0, 0, false
	}
	end = c.end
	c.end = from
	return from, end, true
}
