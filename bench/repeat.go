package bench

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// RepeatUnder is the wall time below which a run is repeated when the
// suite asks for repetitions. Short runs are where the noise of a shared
// two-CPU machine (the origin's timers, page faults on memory the host has
// taken back, a neighbour's test suite) moves a figure by 10-30 %; a run of
// minutes averages that out by itself and is run once.
const RepeatUnder = 30 * time.Second

// Order is the order in which tools run in round k of a scenario: the list
// rotated by k, so that no tool is always the first to run after the
// previous scenario's clean-up, or always right after the same neighbour.
func Order[T any](tools []T, round int) []T {
	if len(tools) == 0 {
		return nil
	}
	k := round % len(tools)
	return append(slices.Clone(tools[k:]), tools[:k]...)
}

// Combine reduces the repetitions of one tool on one scenario to one row:
// the run with the median wall time (the slower of the two middle ones
// for an even count), so that every figure in the row comes from one real
// run. The others' wall times go into Walls, and a repetition with fewer
// files right than the chosen one is reported in Worse, never hidden.
func Combine(runs []Result) Result {
	if len(runs) == 0 {
		return Result{}
	}
	if len(runs) == 1 {
		return runs[0]
	}
	sorted := slices.Clone(runs)
	slices.SortStableFunc(sorted, func(a, b Result) int { return cmp.Compare(a.Wall, b.Wall) })
	out := sorted[len(sorted)/2]
	out.Walls = make([]time.Duration, len(sorted))
	for i, r := range sorted {
		out.Walls[i] = r.Wall
	}
	worst := out
	for _, r := range runs {
		if r.Right < worst.Right || r.Right == worst.Right && r.Unreported > worst.Unreported {
			worst = r
		}
	}
	if worst.Right < out.Right || worst.Unreported > out.Unreported {
		out.Worse = fmt.Sprintf("another run: %d/%d right", worst.Right, worst.Total)
		if bad := worst.Total - worst.Right; bad > 0 {
			out.Worse += fmt.Sprintf(", %d missing, %d corrupt", worst.Missing, bad-worst.Missing)
		}
		if worst.Unreported > 0 {
			out.Worse += fmt.Sprintf(", %d wrong with exit status 0", worst.Unreported)
		}
		if worst.Err != "" {
			out.Worse += ": " + worst.Err
		}
	}
	return out
}
