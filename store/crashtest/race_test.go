//go:build race

package crashtest

// raceEnabled: the race detector slows every resumed run several times, so
// the default sample is smaller (CI runs its full sample without it).
const raceEnabled = true
