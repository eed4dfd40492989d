package scheduler

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"time"

	"github.com/bulkget/bulkget/segment"
	"github.com/bulkget/bulkget/state"
	"github.com/bulkget/bulkget/store"
)

// errSkipped: the file is already complete under its final name.
var errSkipped = errors.New("already downloaded")

// resumeOrSkip is the first step of a file in this run. It returns
// handled=false when the file must simply be downloaded from zero (the
// caller then probes); otherwise it has done the file's first transfer
// itself and err is that transfer's outcome (errSkipped for a file that is
// already there).
func (r *run) resumeOrSkip(ctx context.Context, s *seg, buf []byte) (handled bool, err error) {
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
		return true, &fs.PathError{Op: "replace", Path: name, Err: syscall.EISDIR}
	}
	if !r.opts.Overwrite {
		if statErr == nil && fi.Mode().IsRegular() {
			same, err := r.alreadyThere(ctx, f, fi.Size())
			if err != nil {
				return true, err
			}
			if same {
				// Leftovers of an earlier attempt at replacing it are junk.
				_ = state.Remove(r.root, store.StateName(name))
				_ = r.disk.RemovePart(name)
				return true, errSkipped
			}
			// A different size: fetch it again. The old file stays until
			// the new one is complete and takes its name.
		}
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
		return true, fmt.Errorf("read state of %s: %w", part, err)
	}
	validator := segment.Validator(st.ETag, st.LastModified)
	first := -1
	for i, sg := range st.Segments {
		if sg.Done < sg.End-sg.Start {
			first = i
			break
		}
	}
	if first < 0 {
		// Every byte is on disk and durable (the state never leads the
		// data): the run stopped between the last checkpoint and the rename.
		_, err := r.install(s, st, validator, -1, nil)
		return true, err
	}
	sg := st.Segments[first]
	resp, err := segment.Open(ctx, r.http, segment.Request{URL: f.entry.URL, Target: f.target, UserAgent: r.opts.UserAgent, Header: r.opts.Header,
		Start: sg.Start + sg.Done, End: sg.End, Total: -1, IfRange: validator})
	if err != nil {
		return true, err
	}
	defer resp.Body.Close()
	s.Received(0)
	r.answered(f.host)
	if why := changed(st, resp); why != "" {
		r.warn(f, fmt.Errorf("%w since the last run (%s); starting over", errChanged, why))
		r.noResume(f)
		return false, nil
	}
	out, err := r.disk.Resume(name, st.Size)
	if err != nil {
		return true, err
	}
	dst, err := r.install(s, st, validator, first, out)
	if err != nil {
		return true, err // install has closed out
	}
	_, err = segment.Copy(ctx, resp.Body, s.cur, dst, buf, r.waiter(), s)
	if err == nil && s.cur.Pos() == resp.End {
		segment.Drain(resp.Body)
	}
	return true, err
}

// changed says why a response to a resumed range shows that the remote file
// is not the one the state was saved for, or "" if it is the same.
func changed(st *state.File, resp *segment.Response) string {
	switch {
	case !resp.Partial:
		return "the server sent the whole file instead of the range: it changed, or it no longer serves ranges"
	case resp.Total != st.Size:
		return fmt.Sprintf("size %d is now %d", st.Size, resp.Total)
	case st.ETag != "" && resp.ETag != "" && resp.ETag != st.ETag:
		return fmt.Sprintf("ETag %s is now %s", st.ETag, resp.ETag)
	case st.ETag == "" && st.LastModified != "" && resp.LastModified != "" && resp.LastModified != st.LastModified:
		return fmt.Sprintf("Last-Modified %s is now %s", st.LastModified, resp.LastModified)
	}
	return ""
}

// install makes f continue from a saved state: its segments become the
// file's, the one at index first (if any) running on s, the other
// unfinished ones waiting for a connection. With out nil the file is
// complete and only needs finalizing, which the caller's finish does.
func (r *run) install(s *seg, st *state.File, validator string, first int, part *store.Part) (*store.Part, error) {
	f := s.f
	if part == nil {
		var err error
		if part, err = r.disk.Resume(f.entry.Name, st.Size); err != nil {
			return nil, err
		}
	}
	r.mu.Lock()
	if f.gen != s.gen || f.state != active {
		r.mu.Unlock()
		part.Abort()
		return nil, errStale
	}
	f.tryResume = false
	f.probed, f.ranged, f.size, f.out = true, true, st.Size, part
	f.validator, f.etag, f.lastModified = validator, st.ETag, st.LastModified
	f.segs, f.all = nil, nil
	for i, sg := range st.Segments {
		cur := segment.NewCursor(sg.Start, sg.Start+sg.Done, sg.End)
		x := s
		if i == first {
			s.cur, s.best = cur, sg.Start+sg.Done
		} else {
			x = r.newSeg(f, cur)
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
	conns := f.conns
	r.notify()
	r.mu.Unlock()
	f.ckMu.Lock()
	f.saved = done
	f.ckMu.Unlock()
	r.rep.Report(Event{Kind: Resumed, Time: time.Now(), Line: f.entry.Line, Name: f.entry.Name,
		Bytes: done, Total: st.Size, Conns: conns})
	return part, nil
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
// checksum without any request, by the list's size without any request, or
// by one 1-byte request for the remote size.
func (r *run) alreadyThere(ctx context.Context, f *file, size int64) (bool, error) {
	if s := newSums(f.entry); s != nil {
		local, err := r.root.Open(f.entry.Name)
		if err != nil {
			return false, nil
		}
		defer local.Close()
		if err := s.hashFile(local, size); err != nil {
			return false, nil
		}
		return s.check(f.entry) == nil, nil
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
