package hostlimit_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bulkget/bulkget/internal/hostsim"
)

// fixedLevels are the settings a user might pick by hand.
var fixedLevels = []int{1, 2, 4, 8, 16, 32, 64}

// simBound is what a shape's adaptive run may cost: its time as a multiple
// of the best fixed level's, and its refusals.
type simBound struct {
	within   float64
	refusals int
}

// simBounds are the shapes held to other bounds than 1.25 × and no
// refusal, with the reason.
var simBounds = map[string]simBound{
	// Windows last ten round trips: the climb to 32 takes several.
	"percap-rtt300": {within: 1.45},
	// Climbing from 4 to the 32 the host takes costs the first seconds of
	// an 8-second download, and the rest comes at the slower cap.
	"slows-rtt20": {within: 1.35},
	// The one probe above the limit, and one more refused on its way.
	"refuse4-rtt20":  {within: 1.1, refusals: 2},
	"refuse8-rtt100": {within: 1.1, refusals: 6},
	"mirrors-3":      {within: 1.1, refusals: 2},
	// As slows, the other way round; without Params.Moved the settled
	// level would wait a whole Reprobe (4.5 ×).
	"speeds-rtt20": {within: 1.35},
}

// TestControllerOnModelledHosts runs the controller against every modelled
// host shape, and the shape at each fixed level, and prints the table that
// docs/benchmarks.md shows (go test -run ModelledHosts -v ./hostlimit).
func TestControllerOnModelledHosts(t *testing.T) {
	var table strings.Builder
	fmt.Fprintln(&table, "| shape | adaptive s | best fixed | best fixed s | × best | mean conns | peak conns | refused | fetched twice |")
	fmt.Fprintln(&table, "|---|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, s := range hostsim.Shapes() {
		a := hostsim.Adaptive(s)
		best, bestAt := hostsim.Result{Time: 1 << 62}, 0
		for _, l := range fixedLevels {
			if r := hostsim.Fixed(s, l); r.Time < best.Time {
				best, bestAt = r, l
			}
		}
		ratio := a.Time.Seconds() / best.Time.Seconds()
		fmt.Fprintf(&table, "| %s | %.2f | -c %d | %.2f | %.2f | %.1f | %d | %d of %d | %.2f %% |\n", s.Name, a.Time.Seconds(),
			bestAt, best.Time.Seconds(), ratio, a.MeanConns, a.PeakConns, a.Refusals, a.Requests,
			100*float64(a.FetchedTwo)/float64(s.Bytes))
		bound, ok := simBounds[s.Name]
		if !ok {
			bound = simBound{within: 1.25}
		}
		if ratio > bound.within {
			t.Errorf("%s: %.2f × the best fixed level (%v), want at most %.2f ×", s.Name, ratio, a, bound.within)
		}
		if a.Refusals > bound.refusals {
			t.Errorf("%s: %d requests refused, want at most %d", s.Name, a.Refusals, bound.refusals)
		}
		if twice := float64(a.FetchedTwo) / float64(s.Bytes); twice > 0.01 {
			t.Errorf("%s: %.2f %% fetched twice, want at most 1 %%", s.Name, 100*twice)
		}
	}
	t.Log("\n" + table.String())
}
