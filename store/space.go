package store

import (
	"sync"
	"time"
)

// spaceGauge tells whether the output filesystem has room for another file
// without a statfs per file: it counts down from the free space it last
// read by what the run has claimed since, and reads it again when that is
// more than a second old or when it would refuse.
type spaceGauge struct {
	dir  string
	mu   sync.Mutex
	free int64 // -1: cannot tell
	at   time.Time
}

// claim reserves size bytes and reports whether they fit; free is what was
// left before the claim (-1 if the filesystem does not say).
func (g *spaceGauge) claim(size int64) (free int64, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	fresh := false
	if g.at.IsZero() || time.Since(g.at) > time.Second {
		g.free, g.at, fresh = freeSpace(g.dir), time.Now(), true
	}
	if g.free >= 0 && size > g.free && !fresh {
		// Files finish and others are deleted: look before refusing.
		g.free, g.at = freeSpace(g.dir), time.Now()
	}
	switch {
	case g.free < 0:
		return -1, true
	case size > g.free:
		return g.free, false
	}
	g.free -= size
	return g.free + size, true
}
