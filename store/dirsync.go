package store

import (
	"sync"
	"sync/atomic"
)

// groupCommit shares an expensive sync between concurrent callers: one run
// of it covers every call made before it started, so callers that arrive
// while it runs wait for the next run instead of each doing their own.
type groupCommit struct {
	mu        sync.Mutex
	requested atomic.Uint64
	covered   uint64 // guarded by mu
}

func (g *groupCommit) do(sync func() error) error {
	ticket := g.requested.Add(1)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.covered >= ticket {
		return nil // a sync that started after this call has finished
	}
	upto := g.requested.Load()
	if err := sync(); err != nil {
		return err
	}
	g.covered = upto
	return nil
}

// dirSyncer makes renames durable with one group commit per folder.
type dirSyncer struct {
	mu   sync.Mutex
	dirs map[string]*groupCommit
}

func (d *dirSyncer) sync(fsys FS, dir string) error {
	d.mu.Lock()
	if d.dirs == nil {
		d.dirs = map[string]*groupCommit{}
	}
	g := d.dirs[dir]
	if g == nil {
		g = &groupCommit{}
		d.dirs[dir] = g
	}
	d.mu.Unlock()
	return g.do(func() error { return SyncDir(fsys, dir) })
}
