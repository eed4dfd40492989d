package scheduler

import (
	"errors"
	"fmt"
	"slices"
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
//   - another replica, when the kept version answers a request picked
//     after the other version first answered, or the other validator is
//     one the source kept before a restart: the host is a farm, which is
//     said once per host, and the range is retried at once, without
//     spending its retry budget;
//   - a change of the remote file, when only other versions answer,
//     changeAnswers in a row (farmAnswers on a host known to be a farm),
//     or, before the host is known to be a farm, when they name more
//     than farmVersions validators: the file restarts as for any change,
//     Options.Retries bounding it.
//
// Once a source has met another version, or its host is a farm, its
// requests carry If-Match with the kept ETag beside If-Range, so that a
// replica with another version answers 412 at once rather than start the
// whole file.

// changeAnswers is how many answers in a row of another version, with
// none of the kept one, make a change of the remote file; answers to
// requests sent before the run began do not count. Behind a farm the runs
// are longer than coin tosses would make them: the connections retry at
// once, together, and a balancer that hands out connections in turn can
// give them the wrong replica several times over. On one changed server
// they cost a round trip each (412s to If-Match) before the restart.
const changeAnswers = 16

// farmAnswers is the same bound on a host known to serve from replicas: a
// farm whose replicas no longer serve the kept version (the deploy is
// done) restarts the file onto the new one after that many.
const farmAnswers = 64

// farmVersions is how many other validators one run of other answers
// may show before the host is known to be a farm: more means a file that
// changes on every answer, not a farm (whose replicas have a few
// versions). A farm of more replicas, each with its own validator, costs
// one restart, after which its former validator proves the farm.
const farmVersions = 2

// formerKept is how many validators a source remembers having kept in
// earlier generations of its file.
const formerKept = 4

// versionEvidence is what a source's answers of another version than the
// kept one taught: in this generation, and the validators of earlier ones
// (former). Guarded by run.mu.
type versionEvidence struct {
	// other is the latest other validator seen ("" while none is known:
	// a 412 does not name the version it has).
	other string
	// since is when the current run of other answers began; streak counts
	// its first and those to requests picked after it, and seen holds the
	// validators they named. Zero: the last answer was of the kept
	// version.
	since  time.Time
	streak int
	seen   []string
	// former are validators the source kept before its file restarted: a
	// replica that still has one shows a farm, not a change.
	former []string
}

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
	if strong && (src.evidence.streak > 0 || src.evidence.other != "" || src.host.farm) {
		return src.etag
	}
	return ""
}

// otherVersionLocked weighs an answer of another version (ov) to s: it
// returns nil when the range is to be retried (at once, its retry budget
// untouched), or the errChanged that restarts the file. Call with mu held.
func (r *run) otherVersionLocked(s *seg, ov *otherVersionError) ([]Event, error) {
	src, h := s.src, s.src.host
	ev := &src.evidence
	switch {
	case ev.streak == 0:
		ev.since = time.Now()
		ev.streak = 1
	case s.began.After(ev.since):
		// Requests already on their way when the run began say nothing
		// more: the connections that hit the other version at once count
		// as one.
		ev.streak++
	}
	if ov.got != "" {
		ev.other = ov.got
		if !slices.Contains(ev.seen, ov.got) {
			ev.seen = append(ev.seen, ov.got)
		}
	}
	var events []Event
	if ov.got != "" && slices.Contains(ev.former, ov.got) {
		events = r.farmLocked(s)
	}
	limit := changeAnswers
	if h.farm {
		limit = farmAnswers
	}
	if ev.streak >= limit || !h.farm && len(ev.seen) > farmVersions {
		other := ev.other
		if other == "" {
			other = "another (412 to If-Match)"
		}
		return events, fmt.Errorf("%w: validator %s is now %s, %d answers in a row", errChanged, ov.kept, other, ev.streak)
	}
	s.notBefore = time.Time{}
	return events, nil
}

// keptVersionLocked records an answer of the kept version to s while
// src's evidence holds other versions: if s was picked after they began,
// a replica still has the kept version, and the host serves from
// replicas. Call with mu held.
func (r *run) keptVersionLocked(s *seg) []Event {
	ev := &s.src.evidence
	if ev.streak == 0 || !s.began.After(ev.since) {
		return nil // no other version since, or an answer older than them
	}
	ev.streak, ev.since, ev.seen = 0, time.Time{}, nil
	return r.farmLocked(s)
}

// farmLocked marks s's host as serving from replicas and says so, once
// per host. Call with mu held.
func (r *run) farmLocked(s *seg) []Event {
	src, h := s.src, s.src.host
	ev := &src.evidence
	h.farm = true
	other := ev.other
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

// forget keeps, for a file restarting from zero, the validator src
// kept as a former one, and drops the evidence of this generation.
func (ev *versionEvidence) forget(kept string) {
	if kept != "" && !slices.Contains(ev.former, kept) {
		ev.former = append(ev.former, kept)
		if len(ev.former) > formerKept {
			ev.former = ev.former[1:]
		}
	}
	ev.other, ev.since, ev.streak, ev.seen = "", time.Time{}, 0, nil
}

// isOtherVersion reports whether err is an answer of another version.
func isOtherVersion(err error) (*otherVersionError, bool) {
	var ov *otherVersionError
	return ov, errors.As(err, &ov)
}
