package scheduler

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/bulkget/bulkget/segment"
)

// Signed URLs (S3, GCS, CloudFront, a model hub's links) stop working
// after a while, and a large file can outlive its signature. A refusal
// (401, 403, 410) of a request to a URL that earlier requests fetched data
// from means the URL expired, not that the file is gone. Then:
//
//   - transfers still running are left alone: their requests were accepted;
//   - no new request goes out with that URL (picks skip the file), so the
//     host sees one refusal per expiry;
//   - refresh asks Options.RefreshURL for a fresh URL; with one, the file
//     goes on with the same .part (every request carries If-Range, so a
//     different file behind the new URL restarts it from zero);
//   - without one, the file ends as expired once its running transfers have
//     ended: every byte is kept, and a later run with fresh links continues.

// refreshTimeout bounds one attempt to get a fresh URL.
const refreshTimeout = 2 * time.Minute

// errNoRefresh: nothing can give a fresh URL.
var errNoRefresh = errors.New("no way to get a fresh URL: run again with fresh links, or give --refresh-command")

// refusedAccess reports whether err is the host refusing the request for
// want of authorisation, which is how an expired signature is answered.
func refusedAccess(err error) bool {
	var se *segment.StatusError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusGone:
		return true
	}
	return false
}

// expireLocked handles the refusal of s's request because its source's
// URL expired. A source that cannot be refreshed (a mirror: the refresher
// knows only the list's url; or any source without Options.RefreshURL) is
// dropped while the file has another. Otherwise the source takes no new
// request and refreshSrc is returned for the caller to start refresh, the
// first time only. Call with mu held.
func (r *run) expireLocked(s *seg, err error) (events []Event, refreshSrc *source) {
	f, src := s.f, s.src
	s.notBefore = time.Time{}
	if src.expired || src.dropped != nil {
		return nil, nil
	}
	canRefresh := src.index == 0 && r.opts.RefreshURL != nil
	if f.spareSource(src) && !canRefresh {
		return r.dropSourceLocked(f, src, fmt.Errorf("its URL expired: %w", err)), nil
	}
	src.expired, src.expiredErr = true, err
	what := "the URL"
	if f.mirrored() {
		what = "the URL of source " + src.host.name
	}
	return []Event{fileEvent(f, Warning, fmt.Errorf("%s expired (%w); asking for a fresh one, transfers running go on", what, err))}, src
}

// errNoMirrorRefresh: only the list's url can be refreshed.
var errNoMirrorRefresh = errors.New("a mirror's URL cannot be refreshed: run again with fresh links")

// refresh looks for a fresh URL for src, whose current one expired, and
// either lets the file go on with it, drops the source (while the file has
// another), or strands the file.
func (r *run) refresh(f *file, src *source) {
	r.mu.Lock()
	current := src.target.String()
	r.mu.Unlock()
	var fresh *url.URL
	err := errNoMirrorRefresh
	if src.index == 0 {
		fresh, err = r.freshURL(r.ctx, f, current)
	}
	var events []Event
	r.mu.Lock()
	if f.state != active {
		r.mu.Unlock()
		return
	}
	switch {
	case err == nil:
		src.setTarget(fresh)
		src.expired, src.expiredErr = false, nil
		events = append(events, fileEvent(f, Warning, errors.New("continuing with a fresh URL")))
	case f.spareSource(src):
		events = append(events, r.dropSourceLocked(f, src, fmt.Errorf("its URL expired (%w); %w", src.expiredErr, err))...)
	default:
		f.stranded = true
		f.expiredErr = fmt.Errorf("%w; %w", src.expiredErr, err)
		if e, ok := r.strandIfIdleLocked(f); ok {
			events = append(events, e)
		}
	}
	gaveUp := (f.state == expired || f.state == failed) && f.out != nil
	r.notify()
	r.mu.Unlock()
	if gaveUp {
		r.keepFailed(f)
	}
	for _, e := range events {
		r.rep.Report(e)
	}
}

// freshURL asks Options.RefreshURL for a URL to replace current, and checks
// that it is one.
func (r *run) freshURL(ctx context.Context, f *file, current string) (*url.URL, error) {
	if r.opts.RefreshURL == nil {
		return nil, errNoRefresh
	}
	ctx, cancel := context.WithTimeout(ctx, refreshTimeout)
	defer cancel()
	raw, err := r.opts.RefreshURL(ctx, f.entry, current)
	if err != nil {
		return nil, err
	}
	if raw == current {
		return nil, errNoRefresh
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("the fresh URL is not an http(s) URL")
	}
	return u, nil
}

// strandIfIdleLocked ends a stranded file as expired once nothing of it
// runs any more, keeping its bytes for a later run. Call with mu held.
func (r *run) strandIfIdleLocked(f *file) (Event, bool) {
	if !f.stranded || f.state != active || f.conns > 0 {
		return Event{}, false
	}
	r.retireLocked(f, expired)
	err := fmt.Errorf("stopped with its URL expired (%w); %d of %d bytes are kept: run again with fresh links to continue",
		f.expiredErr, f.written.Load(), f.size)
	e := fileEvent(f, Expired, err)
	r.expiredFiles = append(r.expiredFiles, Failure{Line: f.entry.Line, Name: f.entry.Name, Err: e.Err})
	return e, true
}

// A signed URL often says when it expires. Shortly before, the file takes
// no new request with it and a fresh URL is asked for, so that the host
// sees no refusal at all; where none can be had, the file goes on with
// the old URL until the host refuses it (refresh above).

// expiryMargin is how long before a URL's stated expiry it is replaced.
const expiryMargin = time.Second

// renewSoonLocked starts replacing the URLs of files that are about to
// expire, on wg (which the caller's job belongs to) under ctx. Call with
// mu held.
func (r *run) renewSoonLocked(ctx context.Context, wg *sync.WaitGroup, now time.Time) {
	if r.opts.RefreshURL == nil {
		return
	}
	for _, f := range r.active {
		src := f.primary() // the refresher knows only the list's url
		if f.state != active || !src.usable() || src.renewing || src.expiresAt.IsZero() ||
			now.Before(src.expiresAt.Add(-expiryMargin)) {
			continue
		}
		src.renewing, src.expired = true, true
		current := src.target.String()
		wg.Go(func() { r.renew(ctx, f, src, current) })
	}
}

// renew asks for a fresh URL for f before its current one expires. Without
// one, f goes on with the old URL until the host refuses it.
func (r *run) renew(ctx context.Context, f *file, src *source, current string) {
	fresh, err := r.freshURL(ctx, f, current)
	r.mu.Lock()
	src.renewing = false
	var e Event
	tell := false
	switch {
	case f.state != active:
	case err == nil:
		src.setTarget(fresh)
		src.expired = false
		e, tell = fileEvent(f, Warning, errors.New("its URL was about to expire; continuing with a fresh one")), true
	default:
		src.expired = false
		src.expiresAt = time.Time{} // no second try: the host's refusal decides
	}
	r.notify()
	r.mu.Unlock()
	if tell {
		r.rep.Report(e)
	}
}
