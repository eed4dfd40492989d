package scheduler

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"syscall"
	"time"

	"github.com/bulkget/bulkget/checksum"
	"github.com/bulkget/bulkget/manifest"
	"github.com/bulkget/bulkget/segment"
	"github.com/bulkget/bulkget/state"
	"github.com/bulkget/bulkget/store"
)

// errSkipped: the file is already complete under its final name.
var errSkipped = errors.New("already downloaded")

// resumeOrSkip is a file's first step in this run, before any request of
// its own: it skips a file already under its final name (errSkipped), or
// installs the saved state of an interrupted download so that the ordinary
// transfer continues it. That transfer's ranged request carries the saved
// validator in If-Range and the saved size as the total, so an answer from
// a changed file restarts it from zero. complete says the saved state has
// every byte on disk: the file only needs finalizing.
func (r *run) resumeOrSkip(ctx context.Context, s *seg) (complete bool, err error) {
	f := s.f
	name, part := f.entry.Name, store.PartName(f.entry.Name)
	if r.disk.Fresh(name) {
		f.ckMu.Lock()
		f.clean = true
		f.ckMu.Unlock()
		r.noResume(f)
		return false, nil
	}
	fi, statErr := r.root.Stat(name)
	if statErr == nil && fi.IsDir() {
		// The download could never take its name: fail before fetching.
		return false, &fs.PathError{Op: "replace", Path: name, Err: syscall.EISDIR}
	}
	if !r.opts.Overwrite && statErr == nil && fi.Mode().IsRegular() {
		same, err := r.alreadyThere(ctx, f, fi)
		if err != nil {
			return false, err
		}
		if same {
			// Leftovers of an earlier attempt at replacing it are junk.
			_ = state.Remove(r.disk.FS(), store.StateName(name))
			_ = r.disk.RemoveLeftovers(name)
			return false, errSkipped
		}
		// Another size or, with Options.Update, another version: fetch
		// it again. The old file stays until the new one is complete and
		// verified, and takes its name.
	}
	partSize, err := r.disk.PartSize(name)
	if err != nil {
		r.noResume(f)
		return false, nil
	}
	st, err := state.Load(r.root, store.StateName(name), partSize)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, state.ErrInvalid):
		r.warn(f, fmt.Errorf("%s has no usable state (%v); starting over", part, err))
		r.noResume(f)
		return false, nil
	case err != nil:
		return false, fmt.Errorf("read state of %s: %w", part, err)
	}
	if st.Outdated() {
		// An older format may hold the URL with its credentials: write
		// the same claims again, in the current format, before anything
		// else. The data they claim is durable already.
		if err := state.Save(r.disk.FS(), store.StateName(name), st); err != nil {
			r.warn(f, fmt.Errorf("rewrite state of %s in the current format: %w", part, err))
		}
	}
	first := slices.IndexFunc(st.Segments, func(sg state.Segment) bool { return sg.Done < sg.End-sg.Start })
	if err := r.install(s, st, first); err != nil {
		return false, err
	}
	// With every byte on disk and durable (the state never leads the data),
	// the run stopped between the last checkpoint and the rename.
	return first < 0, nil
}

// install makes f continue from a saved state: its .part is reopened, its
// segments become the file's, the one at index first (if any) running on s,
// the other unfinished ones waiting for a connection.
func (r *run) install(s *seg, st *state.File, first int) error {
	f := s.f
	part, err := r.disk.Resume(f.entry.Name, st.Size)
	if err != nil {
		return err
	}
	r.mu.Lock()
	if f.gen != s.gen || f.state != active {
		r.mu.Unlock()
		part.Abort()
		return errStale
	}
	f.tryResume = false
	f.probed, f.ranged, f.size, f.out = true, true, st.Size, part
	for _, src := range f.sources {
		src.forget()
	}
	if st.ETag != "" || st.LastModified != "" {
		f.primary().learn(segment.Validator(st.ETag, st.LastModified), st.ETag, st.LastModified)
	}
	for _, saved := range st.Sources {
		// Each mirror's own validators: a mirror the list no longer has
		// is ignored, a new one is checked by size at its first answer.
		for _, src := range f.sources[1:] {
			if src.key == saved.Key {
				src.learn(segment.Validator(saved.ETag, saved.LastModified), saved.ETag, saved.LastModified)
			}
		}
	}
	f.segs, f.all = nil, nil
	f.sums, f.crc = nil, nil
	switch st.Sums {
	case state.CRC32C:
		f.crc = checksum.CRC(checksum.CRC32C)
	case state.CRC64NVME:
		f.crc = checksum.CRC(checksum.CRC64NVME)
	}
	for i, sg := range st.Segments {
		cur := segment.NewCursor(sg.Start, sg.Start+sg.Done, sg.End)
		x := s
		if i == first {
			s.cur, s.best = cur, sg.Start+sg.Done
		} else {
			x = r.newSeg(f, cur)
		}
		if f.crc != nil {
			c := uint64(st.CRCs[i].CRC32C)
			if st.Sums == state.CRC64NVME {
				c = st.CRCs[i].CRC64NVME
			}
			x.sum.Set(sg.Start, sg.Done, c)
		}
		f.all = append(f.all, x)
		if sg.Done < sg.End-sg.Start {
			f.segs = append(f.segs, x)
		}
	}
	if first < 0 {
		s.cur = segment.NewCursor(0, st.Size, st.Size)
	}
	done := st.DoneBytes()
	f.written.Store(done)
	f.unconfirmed = first >= 0
	conns := f.conns
	r.notify()
	r.mu.Unlock()
	f.ckMu.Lock()
	f.saved = done
	f.ckMu.Unlock()
	if first < 0 {
		r.rep.Report(Event{Kind: Resumed, Time: time.Now(), Line: f.entry.Line, Name: f.entry.Name,
			Host: f.primary().host.name, Bytes: done, Total: st.Size, Conns: conns})
	}
	return nil
}

// confirmResume reports that f continues from its saved state, once the
// first answer after install has shown the remote file unchanged.
func (r *run) confirmResume(f *file) {
	r.mu.Lock()
	if !f.unconfirmed {
		r.mu.Unlock()
		return
	}
	f.unconfirmed = false
	e := fileEvent(f, Resumed, nil)
	r.mu.Unlock()
	r.rep.Report(e)
}

// noResume records that f starts from zero in this run.
func (r *run) noResume(f *file) {
	r.mu.Lock()
	f.tryResume = false
	r.mu.Unlock()
}

func (r *run) warn(f *file, err error) {
	r.rep.Report(Event{Kind: Warning, Time: time.Now(), Line: f.entry.Line, Name: f.entry.Name, Total: -1, Err: redact(err)})
}

// alreadyThere decides whether the file under f's final name (of the given
// size) is the one the list asks for, as cheaply as the list allows: by
// checksum without any request (and without reading the file when the
// record of an earlier verification still matches it); with
// Options.Update, by one conditional request carrying the recorded
// validators; by the list's size without any request, or by one 1-byte
// request for the remote size.
func (r *run) alreadyThere(ctx context.Context, f *file, fi fs.FileInfo) (bool, error) {
	size := fi.Size()
	if rec, now, ok := store.ReadRecord(r.root, f.entry.Name); ok && rec.Matches(now) && listVouches(f.entry, rec) {
		f.verified = rec.Algo + " from " + rec.Source + ", recorded"
		return true, nil
	}
	if s := newSums(f.entry); s != nil {
		local, err := r.root.Open(f.entry.Name)
		if err != nil {
			return false, nil
		}
		defer local.Close()
		n, err := s.HashFile(local, size)
		r.readBack.Add(n)
		if err != nil || s.Check() != nil {
			return false, nil
		}
		f.verified = s.Label()
		c := s.Wants()[0]
		if err := r.disk.WriteRecord(f.entry.Name, store.Record{Algo: c.Algo, Digest: c.Hex, Source: c.Source}); err != nil {
			r.warn(f, fmt.Errorf("record the verification: %w", err))
		}
		return true, nil
	}
	if r.opts.Update {
		switch v, err := r.revalidate(ctx, f, fi); {
		case err != nil:
			return false, err
		case v == segment.Unchanged:
			f.skipReason = "unchanged on the server"
			return true, nil
		case v == segment.Changed:
			r.warn(f, errors.New("changed on the server; fetching the new version"))
			return false, nil
		}
		r.sizeOnly.Add(1)
	}
	if f.entry.Size >= 0 {
		return f.entry.Size == size, nil
	}
	total, err := r.remoteSize(ctx, f.entry.URL)
	if err != nil {
		return false, err
	}
	return total == size, nil
}

// revalidate asks the server whether the file under f's final name (fi) is
// still its current version, by the validators recorded with it. Unknown
// when there are none, or the record no longer describes the file; no
// request is sent then.
func (r *run) revalidate(ctx context.Context, f *file, fi fs.FileInfo) (segment.Verdict, error) {
	rec, now, ok := store.ReadRecord(r.root, f.entry.Name)
	if !ok || !rec.Matches(now) || rec.ETag == "" && rec.LastModified == "" {
		return segment.Unknown, nil
	}
	v, err := segment.Revalidate(ctx, r.http, segment.Request{URL: f.entry.URL, UserAgent: r.opts.UserAgent,
		Header: r.opts.Header}, segment.Version{Size: rec.Size, ETag: rec.ETag, LastModified: rec.LastModified})
	if err != nil {
		return v, fmt.Errorf("ask whether it changed: %w", err)
	}
	if v == segment.Unchanged && rec.Checked() {
		f.verified = rec.Algo + " from " + rec.Source + ", recorded"
	}
	return v, nil
}

// listVouches says whether rec records a check against e's checksum: the
// list's own value, whatever vouched for it then.
func listVouches(e manifest.Entry, rec store.Record) bool {
	return rec.Algo == segment.SHA256 && e.SHA256 != "" && rec.Digest == e.SHA256 ||
		rec.Algo == segment.MD5 && e.MD5 != "" && rec.Digest == e.MD5
}

// remoteSize asks for the first byte only: the cheapest request that tells
// the size of the remote file. -1 if the server does not say.
func (r *run) remoteSize(ctx context.Context, url string) (int64, error) {
	resp, err := segment.Open(ctx, r.http, segment.Request{URL: url, UserAgent: r.opts.UserAgent, Header: r.opts.Header,
		Start: 0, End: 1, Total: -1})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.Partial && resp.End-resp.Start <= 1 {
		segment.Drain(resp.Body)
	}
	return resp.Total, nil
}
