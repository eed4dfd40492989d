package hostlimit

import "time"

// Params are a Controller's settings. Max must be set; DefaultParams
// gives the rest, each with the reason for its value.
type Params struct {
	// Max is the most connections the host may ever have: the run's per
	// host cap, within its total budget.
	Max int
	// Adaptive makes the level climb by measurement from Start; without
	// it the level starts at Max and only refusals lower it.
	Adaptive bool

	// Politeness (refusals).

	// Outcomes is how many recent answers are looked at, MinOutcomes how
	// many are needed before judging, and OverloadShare the share of
	// refusals among them that cuts the level: a lone 429 or 503 comes
	// from hosts under no load too, while refusals for load come in
	// bursts, every request above the limit being refused.
	Outcomes      int
	MinOutcomes   int
	OverloadShare float64
	// RaiseAfter is the quiet time after a cut before the first
	// connection is given back, RaiseSpacing the time between such
	// raises: one a second, as TCP adds one segment a round trip.
	RaiseAfter   time.Duration
	RaiseSpacing time.Duration
	// ProbeAfter is the quiet time after which the ceiling is forgotten
	// and the level that was refused is tried again: limits change.
	ProbeAfter time.Duration

	// The climb (Adaptive).

	// Start is the level a host starts at: enough for a small host, few
	// enough that a host with a connection limit refuses little.
	Start int
	// Min is the lowest level a settled host tries: one connection
	// cannot overlap the gap between one range and the next.
	Min int
	// Tick is how often the caller reports what the host delivered;
	// windows and pacing are measured in ticks.
	Tick time.Duration
	// WindowMin is the shortest window a level is measured over, and
	// EarlyMin the shortest one closed early when its rate held steady.
	// A window also lasts ten round trips (three to close early) and two
	// of the host's pauses, so that it averages whole bursts.
	WindowMin time.Duration
	EarlyMin  time.Duration
	// SteadyDiff is the most the rates of a window's halves may differ,
	// and SteadyDip the least share of the mean any span of DipSpan may
	// get, for the window to count as steady: neither bursts nor
	// connections still ramping up are.
	SteadyDiff float64
	SteadyDip  float64
	DipSpan    time.Duration
	// PaceShown is how long a host must have delivered before a raise
	// that did not pay in full is judged early: hosts that pace their
	// connections do it per second, and their first bursts look full.
	PaceShown time.Duration
	// A raise is kept, and the next one larger, when it gained Full of
	// what the new connections would add on a host capped per
	// connection; between MinGain and Full the host's limit lies within
	// the raise, and the level settles where the gains stopped.
	Full    float64
	MinGain float64
	// Limited is the level above which a raise adds at most half, as
	// TCP's limited slow start (RFC 3742): an overshoot at a high level
	// costs the host many connections until it is given back.
	Limited int
	// Keep is the share of the rate a lowered level must hold to be kept.
	Keep float64
	// Reprobe is how long a settled level stays before another is tried.
	Reprobe time.Duration
	// Moved is the factor by which a settled level's rate must leave
	// the rate it settled at, and MovedFor how long it must stay away,
	// for the level to be found again at once: hosts change (other
	// clients come and go), and a whole Reprobe is long to follow late.
	// A second of it is not noise from bursts, which pace per second.
	Moved    float64
	MovedFor time.Duration
	// PacedJump is the least ratio of a paced host's peak rate to its
	// mean that raises the level at once, and PacedMaxJump the most the
	// level is multiplied by then.
	PacedJump    float64
	PacedMaxJump int
	// ShedUseless is the least time a request must still have to run to
	// be ended when a raise that gave nothing is given back; ShedAtKnee
	// the same at a knee, where the extra connections still deliver and
	// ending them wastes what they have in flight.
	ShedUseless time.Duration
	ShedAtKnee  time.Duration
}

// DefaultParams are the settings bulkget runs with, for a host allowed at
// most max connections.
func DefaultParams(max int, adaptive bool) Params {
	return Params{
		Max:           max,
		Adaptive:      adaptive,
		Outcomes:      20,
		MinOutcomes:   10,
		OverloadShare: 0.5,
		RaiseAfter:    2 * time.Second,
		RaiseSpacing:  time.Second,
		ProbeAfter:    30 * time.Second,
		Start:         4,
		Min:           2,
		Tick:          50 * time.Millisecond,
		WindowMin:     900 * time.Millisecond,
		EarlyMin:      300 * time.Millisecond,
		SteadyDiff:    0.1,
		SteadyDip:     0.5,
		DipSpan:       100 * time.Millisecond,
		PaceShown:     1500 * time.Millisecond,
		Full:          0.8,
		MinGain:       0.08,
		Limited:       16,
		Keep:          0.93,
		Reprobe:       20 * time.Second,
		Moved:         1.5,
		MovedFor:      time.Second,
		PacedJump:     1.5,
		PacedMaxJump:  4,
		ShedUseless:   6 * time.Second,
		ShedAtKnee:    15 * time.Second,
	}
}
