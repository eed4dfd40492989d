package scheduler

import "time"

// faultStreak bounds how often a file's requests may fail in a row, so that
// splitting a failing range cannot multiply its retries: each half would
// otherwise start with a fresh budget, and a host that mangles every range
// would be asked again for every piece. Failures of requests that were in
// flight together count as one round, as the attempts of one range would;
// a byte from a request sent after the streak began ends it (a request sent
// before proves nothing about the fault). The zero value is an empty streak.
type faultStreak struct {
	rounds int
	since  time.Time // the streak's first counted failure
	last   time.Time // its latest counted failure
}

// fail records that a request sent at began failed without progress at
// now, and returns the rounds the streak has reached.
func (k *faultStreak) fail(began, now time.Time) int {
	if k.rounds == 0 {
		k.since = now
	}
	if k.rounds == 0 || began.After(k.last) {
		k.rounds++
		k.last = now
	}
	return k.rounds
}

// progress records that a request sent at began delivered bytes.
func (k *faultStreak) progress(began time.Time) {
	if k.rounds > 0 && !began.Before(k.since) {
		*k = faultStreak{}
	}
}
