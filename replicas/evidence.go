package replicas

import (
	"slices"
	"time"
)

// ChangeAnswers is how many answers in a row of another version, with
// none of the kept one, make a change of the remote file. Behind a farm
// the runs are longer than coin tosses would make them: the connections
// retry at once, together, and a balancer that hands out connections in
// turn can give them the wrong replica several times over. On one changed
// server they cost a round trip each (412s to If-Match) before the restart.
const ChangeAnswers = 16

// FarmAnswers is the same bound on a host known to serve from replicas: a
// farm whose replicas no longer serve the kept version (the deploy is
// done) restarts the file onto the new one after that many.
const FarmAnswers = 64

// FarmVersions is how many other validators one run of other answers may
// show before the host is known to be a farm: more means a file that
// changes on every answer, not a farm (whose replicas have a few
// versions). A farm of more replicas, each with its own validator, costs
// one restart, after which its former validator proves the farm.
const FarmVersions = 2

// formerKept is how many validators a source remembers having kept in
// earlier generations of its file.
const formerKept = 4

// Evidence is what a source's answers of another version than the kept
// one taught: in this generation, and the validators of earlier ones. The
// zero value has seen nothing.
type Evidence struct {
	// other is the latest other validator seen ("" while none is known:
	// a 412 does not name the version it has).
	other string
	// since is when the current run of other answers began; streak counts
	// its first and those to requests sent after it, and seen holds the
	// validators they named. Zero: the last answer was of the kept one.
	since  time.Time
	streak int
	seen   []string
	// former are validators kept before the file restarted: a replica that
	// still has one shows a farm, not a change.
	former []string
}

// Verdict is what an answer of another version means.
type Verdict struct {
	// Farm: the answer shows the host serves from replicas.
	Farm bool
	// Changed: the remote file changed; the file restarts.
	Changed bool
}

// Other hears, at now, an answer of another version (validator got, ""
// when unnamed) to a request sent at sent; farm says the host is already
// known to serve from replicas.
func (e *Evidence) Other(now, sent time.Time, got string, farm bool) Verdict {
	switch {
	case e.streak == 0:
		e.since, e.streak = now, 1
	case sent.After(e.since):
		// Requests already on their way when the run began say nothing
		// more: the connections that hit the other version at once count
		// as one.
		e.streak++
	}
	var v Verdict
	if got != "" {
		e.other = got
		if !slices.Contains(e.seen, got) {
			e.seen = append(e.seen, got)
		}
		v.Farm = slices.Contains(e.former, got)
	}
	farm = farm || v.Farm
	limit := ChangeAnswers
	if farm {
		limit = FarmAnswers
	}
	v.Changed = e.streak >= limit || !farm && len(e.seen) > FarmVersions
	return v
}

// Kept hears an answer of the kept version to a request sent at sent, and
// reports whether it shows the host serves from replicas: other versions
// were in question and the request was sent after they began.
func (e *Evidence) Kept(sent time.Time) bool {
	if e.streak == 0 || !sent.After(e.since) {
		return false
	}
	e.streak, e.since, e.seen = 0, time.Time{}, nil
	return true
}

// InQuestion says other versions have answered since the kept one last
// did.
func (e *Evidence) InQuestion() bool { return e.streak > 0 }

// Streak is how many answers in a row were of another version.
func (e *Evidence) Streak() int { return e.streak }

// LastOther is the latest other validator named ("" if none).
func (e *Evidence) LastOther() string { return e.other }

// Forget starts a new generation of the file, which kept kept until now:
// kept becomes a former validator, and this generation's evidence goes.
func (e *Evidence) Forget(kept string) {
	if kept != "" && !slices.Contains(e.former, kept) {
		e.former = append(e.former, kept)
		if len(e.former) > formerKept {
			e.former = e.former[1:]
		}
	}
	e.other, e.since, e.streak, e.seen = "", time.Time{}, 0, nil
}
