package bench

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestOrderRotates(t *testing.T) {
	tools := []string{"a", "b", "c"}
	for round, want := range [][]string{{"a", "b", "c"}, {"b", "c", "a"}, {"c", "a", "b"}, {"a", "b", "c"}} {
		if got := Order(tools, round); !slices.Equal(got, want) {
			t.Errorf("round %d: %v, want %v", round, got, want)
		}
	}
	if !slices.Equal(tools, []string{"a", "b", "c"}) {
		t.Errorf("Order changed its argument: %v", tools)
	}
	if got := Order([]string(nil), 2); got != nil {
		t.Errorf("no tools: %v", got)
	}
}

func TestCombinePicksTheMedianRun(t *testing.T) {
	run := func(wall time.Duration, cpu time.Duration, right int) Result {
		return Result{Tool: "x", Wall: wall, CPU: cpu, Right: right, Total: 8}
	}
	got := Combine([]Result{run(3*time.Second, 30, 8), run(1*time.Second, 10, 8), run(2*time.Second, 20, 8)})
	if got.Wall != 2*time.Second || got.CPU != 20 {
		t.Errorf("row: wall %v cpu %v, want the median run's (2s, 20)", got.Wall, got.CPU)
	}
	if want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}; !slices.Equal(got.Walls, want) {
		t.Errorf("walls %v, want %v", got.Walls, want)
	}
	if got.Worse != "" {
		t.Errorf("Worse = %q with every run right", got.Worse)
	}
	if n := got.Notes(); !strings.Contains(n, "median of 3 runs (1.00–3.00 s)") {
		t.Errorf("notes %q do not give the spread", n)
	}

	// Two runs: the slower middle one, never the flattering one.
	got = Combine([]Result{run(1*time.Second, 10, 8), run(2*time.Second, 20, 8)})
	if got.Wall != 2*time.Second {
		t.Errorf("two runs: wall %v, want the slower", got.Wall)
	}

	if got := Combine([]Result{run(time.Second, 10, 8)}); got.Walls != nil || got.Notes() != "" {
		t.Errorf("one run: walls %v notes %q, want it as it was", got.Walls, got.Notes())
	}
}

// A repetition that lost or corrupted files must show in the row even when
// the median run was clean.
func TestCombineReportsAWorseRun(t *testing.T) {
	good := Result{Tool: "x", Wall: time.Second, Right: 8, Total: 8}
	bad := Result{Tool: "x", Wall: 3 * time.Second, Right: 6, Total: 8, Missing: 1, Unreported: 1, Err: "exit status 1"}
	got := Combine([]Result{good, bad, good})
	if got.Right != 8 {
		t.Fatalf("row has %d right, want the median run's 8", got.Right)
	}
	want := "another run: 6/8 right, 1 missing, 1 corrupt, 1 wrong with exit status 0: exit status 1"
	if got.Worse != want {
		t.Errorf("Worse = %q, want %q", got.Worse, want)
	}
	if !strings.Contains(got.Notes(), "**"+want+"**") {
		t.Errorf("notes %q do not show the worse run", got.Notes())
	}
}
