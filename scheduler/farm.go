package scheduler

import (
	"errors"
	"fmt"
	"time"

	"github.com/bulkget/bulkget/segment"
)

// Several machines often serve one name (a load balancer over replicas,
// round-robin DNS), and their validators need not agree: nginx's ETag is
// the file's mtime and size, so replicas deployed apart differ, and during
// a deploy some replicas hold the new bytes. A file keeps the version of
// its source's first answer. A ranged answer of another version (another
// validator in a 200 to If-Range or in a 206, or a 412 to If-Match) is
// not written; what it means is decided here from the source's answers:
//
//   - another replica (package replicas weighs the answers): the host is
//     a farm, which is said once per host, and the range is retried at
//     once, without spending its retry budget;
//   - a change of the remote file: the file restarts as for any change,
//     Options.Retries bounding it.
//
// Once a source has met another version, or its host is a farm, its
// requests carry If-Match with the kept ETag beside If-Range, so that a
// replica with another version answers 412 at once rather than start the
// whole file.

// otherVersionError is an answer of another version of the file than the
// one its bytes come from; nothing of it was written.
type otherVersionError struct {
	kept, got string // validators; got is "" for a 412 to If-Match
}

func (e *otherVersionError) Error() string {
	if e.got == "" {
		return fmt.Sprintf("another version answered: 412 to If-Match %s", e.kept)
	}
	return fmt.Sprintf("another version answered: validator %s, not %s", e.got, e.kept)
}

// ifMatchRefused is err, or an answer of another version when err is a
// 412 to a request that carried If-Match (without If-Match a 412 stays
// what it is).
func ifMatchRefused(err error, req segment.Request) error {
	if req.IfMatch != "" && segment.PreconditionFailed(err) {
		return &otherVersionError{kept: req.IfMatch}
	}
	return err
}

// checkVersion returns the error for a ranged answer whose validators are
// not the kept ones (nil when they are): another version, whatever its
// size (a 412 to If-Match does not tell the size either, and a deploy may
// change it), or a server that stopped honouring ranges. whole says a 200
// is what was asked for (the whole file).
func checkVersion(snap snapshot, resp *segment.Response, whole bool) error {
	switch {
	case !resp.Partial && snap.known && resp.Validator() != snap.validator:
		return &otherVersionError{kept: snap.validator, got: resp.Validator()}
	case !resp.Partial && !whole:
		return errRangesIgnored
	case snap.etag != "" && resp.ETag != "" && resp.ETag != snap.etag:
		// Open checked the size: it is the file's.
		return &otherVersionError{kept: snap.etag, got: resp.ETag}
	}
	return nil
}

// ifMatch is the If-Match a ranged request of src carries: the kept ETag,
// if it is strong, once src has met another version or its host serves
// from replicas. Call with mu held.
func ifMatch(src *source) string {
	strong := src.etag != "" && src.validator == src.etag
	if strong && (src.evidence.InQuestion() || src.evidence.LastOther() != "" || src.host.farm) {
		return src.etag
	}
	return ""
}

// otherVersionLocked weighs an answer of another version (ov) to s: it
// returns nil when the range is to be retried (at once, its retry budget
// untouched), or the errChanged that restarts the file. Call with mu held.
func (r *run) otherVersionLocked(s *seg, ov *otherVersionError) ([]Event, error) {
	src, h := s.src, s.src.host
	v := src.evidence.Other(time.Now(), s.began, ov.got, h.farm)
	var events []Event
	if v.Farm {
		events = r.farmLocked(s)
	}
	if v.Changed {
		other := src.evidence.LastOther()
		if other == "" {
			other = "another (412 to If-Match)"
		}
		return events, fmt.Errorf("%w: validator %s is now %s, %d answers in a row", errChanged, ov.kept, other, src.evidence.Streak())
	}
	s.notBefore = time.Time{}
	return events, nil
}

// keptVersionLocked records an answer of the kept version to s while
// other versions are in question: one to a request picked after they
// began shows the host serves from replicas. Call with mu held.
func (r *run) keptVersionLocked(s *seg) []Event {
	if !s.src.evidence.Kept(s.began) {
		return nil
	}
	return r.farmLocked(s)
}

// farmLocked marks s's host as serving from replicas and says so, once
// per host. Call with mu held.
func (r *run) farmLocked(s *seg) []Event {
	src, h := s.src, s.src.host
	h.farm = true
	other := src.evidence.LastOther()
	if other == "" {
		other = "another that answers 412 to If-Match"
	}
	e, tell := r.noticeLocked(h, noticeReplicas, fmt.Sprintf(
		"serves %s from several replicas with different validators (%s and %s): each file keeps the version of its first answer",
		s.f.entry.Name, src.validator, other))
	if !tell {
		return nil
	}
	return []Event{e}
}

// keptVersion is keptVersionLocked for a transfer, which holds no lock.
func (r *run) keptVersion(s *seg) {
	r.mu.Lock()
	events := r.keptVersionLocked(s)
	r.mu.Unlock()
	for _, e := range events {
		r.rep.Report(e)
	}
}

// isOtherVersion reports whether err is an answer of another version.
func isOtherVersion(err error) (*otherVersionError, bool) {
	var ov *otherVersionError
	return ov, errors.As(err, &ov)
}
