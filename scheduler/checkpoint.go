package scheduler

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/bulkget/bulkget/checksum"
	"github.com/bulkget/bulkget/state"
	"github.com/bulkget/bulkget/store"
)

// checkpointer saves every file's progress each CheckpointInterval, and at
// once when a segment completes (r.ckNow).
func (r *run) checkpointer(ctx context.Context) {
	every(ctx, r.opts.CheckpointInterval, r.ckNow, func() {
		r.mu.Lock()
		files := slices.Clone(r.active)
		r.mu.Unlock()
		for _, f := range files {
			if ctx.Err() != nil {
				return
			}
			r.checkpoint(f)
		}
	})
}

// requestCheckpoint asks for a checkpoint round without waiting for it.
func (r *run) requestCheckpoint() {
	select {
	case r.ckNow <- struct{}{}:
	default:
	}
}

// checkpoint makes f's progress durable in its sidecar state. The order is
// what keeps the state from ever claiming bytes that are not on disk: read
// every segment's position, then sync the part and save the state
// atomically (store.Part.Checkpoint). Bytes written after the positions
// were read are simply claimed next time.
func (r *run) checkpoint(f *file) {
	r.mu.Lock()
	now := f.state
	r.mu.Unlock()
	if !keepsPart(now) {
		// A finalizing file holds ckMu until its batch commits; it has
		// nothing to save, so do not wait for it.
		return
	}
	f.ckMu.Lock()
	defer f.ckMu.Unlock()
	r.mu.Lock()
	if !f.probed || !f.ranged || f.size <= 0 || f.out == nil || f.out.Unnamed() || !keepsPart(f.state) {
		r.mu.Unlock()
		return
	}
	written := f.written.Load()
	if written == f.saved {
		r.mu.Unlock()
		return
	}
	st := &state.File{Size: f.size}
	if p := f.primary(); p.known {
		st.ETag, st.LastModified = p.etag, p.lastModified
	}
	for _, src := range f.sources[1:] {
		if src.known && (src.etag != "" || src.lastModified != "") && len(st.Sources) < state.MaxSources {
			st.Sources = append(st.Sources, state.Source{Key: src.key, ETag: src.etag, LastModified: src.lastModified})
		}
	}
	st.Segments, st.Sums, st.CRCs = segmentsOf(f.all, f.crc)
	out := f.out
	r.mu.Unlock()
	// A sync that fails means the part was closed by a restart: there
	// is nothing to save, and nothing to say.
	_ = out.Checkpoint(func() error {
		f.madeState = true // from here on a state may exist, even if saving fails
		if err := state.Save(r.disk.FS(), store.StateName(f.entry.Name), st); err != nil {
			r.rep.Report(Event{Kind: Warning, Time: time.Now(), Line: f.entry.Line, Name: f.entry.Name,
				Bytes: written, Total: st.Size, Err: redact(fmt.Errorf("checkpoint: %w", err))})
			return err
		}
		f.saved = written
		return nil
	})
}

// segmentsOf describes segments for the state: in file order, with the
// bytes each has written. A segment taken over before it wrote anything (a
// hedge) covers nothing and is left out; its successor starts where it did.
//
// With a crc, each segment's done bytes are those its CRC covers, which it
// folds in as soon as they are written, a moment before the cursor counts
// them: claiming them is safe, as the checkpoint syncs after this. A CRC
// that covers no range (which cannot happen, but would be no claim) drops
// the CRCs from the state, and the file is then read back to be checked.
func segmentsOf(all []*seg, crc *checksum.Kind) ([]state.Segment, state.Sums, []state.CRC) {
	type entry struct {
		seg state.Segment
		crc state.CRC
	}
	out := make([]entry, 0, len(all))
	sums := crcSums(crc)
	for _, s := range all {
		start, pos, end := s.cur.Bounds()
		if start == end {
			continue
		}
		e := entry{seg: state.Segment{Start: start, End: end, Done: pos - start}}
		if sums != 0 {
			at, n, c, ok := s.sum.Get()
			switch {
			case !ok || at != start || n < pos-start || n > end-start:
				sums = 0
			case n > 0:
				e.seg.Done = n
				if sums == state.CRC32C {
					e.crc.CRC32C = uint32(c)
				} else {
					e.crc.CRC64NVME = c
				}
			}
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b entry) int { return cmp.Compare(a.seg.Start, b.seg.Start) })
	segs := make([]state.Segment, len(out))
	var crcs []state.CRC
	if sums != 0 {
		crcs = make([]state.CRC, len(out))
	}
	for i, e := range out {
		segs[i] = e.seg
		if crcs != nil {
			crcs[i] = e.crc
		}
	}
	return segs, sums, crcs
}

// crcSums is the state's name for a CRC kind.
func crcSums(k *checksum.Kind) state.Sums {
	switch {
	case k == nil:
		return 0
	case k.Algo() == checksum.CRC32C:
		return state.CRC32C
	}
	return state.CRC64NVME
}

// keepsPart says whether a file in state st has a .part whose progress is
// worth saving: one in progress, or one that stopped (failed, or expired)
// with its bytes kept for a later run.
func keepsPart(st fileState) bool { return st == active || st == failed || st == expired }
