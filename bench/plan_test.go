package bench

import (
	"strings"
	"testing"
	"time"
)

func TestAria2Split(t *testing.T) {
	for _, c := range []struct{ files, budget, j, x int }{
		{8, 16, 8, 2},
		{4, 16, 4, 4},
		{1, 16, 1, 16},
		{1, 32, 1, 16}, // aria2c allows at most 16 per file
		{51, 16, 16, 1},
		{20000, 16, 16, 1},
		{3, 16, 3, 5},
	} {
		j, x := aria2Split(c.files, c.budget)
		if j != c.j || x != c.x || j*x > c.budget {
			t.Errorf("aria2Split(%d, %d) = -j %d -x %d, want -j %d -x %d", c.files, c.budget, j, x, c.j, c.x)
		}
	}
}

func TestScenarios(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Scenarios() {
		if seen[s.Name] {
			t.Errorf("%s: duplicate name", s.Name)
		}
		seen[s.Name] = true
		files := s.Files()
		if len(files) != s.Count() || files[0].Name != "f00001.bin" {
			t.Errorf("%s: %d files starting with %q, want %d from f00001.bin", s.Name, len(files), files[0].Name, s.Count())
		}
		small := s.Scale(0.01)
		if small.Bytes() > s.Bytes() || small.Count() > s.Count() {
			t.Errorf("%s: scaling grew it", s.Name)
		}
	}
	if s, _ := Lookup("tail"); s.Ideal().Round(10*time.Millisecond) != 8390*time.Millisecond {
		t.Errorf("tail ideal %v, want 1074 MiB ÷ 128 MiB/s = 8.39s", s.Ideal())
	}
	for name, want := range map[string]time.Duration{
		"many-small-rtt20":  5 * time.Second,          // 4,000 × 20 ms ÷ 16
		"many-small-rtt100": 12500 * time.Millisecond, // 2,000 × 100 ms ÷ 16
		"large-rtt20":       4005 * time.Millisecond,  // (4 × 20 ms + 1 GiB ÷ 16 MiB/s) ÷ 16
		"large-rtt100":      4025 * time.Millisecond,  // (4 × 100 ms + 1 GiB ÷ 16 MiB/s) ÷ 16
	} {
		if s, _ := Lookup(name); s.Ideal().Round(time.Millisecond) != want {
			t.Errorf("%s ideal %v, want %v", name, s.Ideal(), want)
		}
	}
	if _, err := Lookup("nope"); err == nil {
		t.Error("Lookup of an unknown scenario: no error")
	}
}

func TestWriteTable(t *testing.T) {
	s, _ := Lookup("many-small")
	var b strings.Builder
	err := WriteTable(&b, []Result{
		{Tool: "bulkget", Scenario: s, Wall: 1250 * time.Millisecond, Flush: 500 * time.Millisecond, Right: 2000, Total: 2000},
		{Tool: "axel", Scenario: s, Skipped: "not installed (apt-get install -y axel)"},
		{Tool: "x", Scenario: s, Wall: time.Second, Right: 1997, Total: 2000, Missing: 1, Unreported: 3, Err: "exit status 1: a|b"},
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines, want header, rule and 3 rows:\n%s", len(lines), b.String())
	}
	for _, want := range []string{"| 1.25 | 1.75 |", "0.625 (latency floor)", "| 2.00 |", "not installed", `a\|b`, "1 missing, 2 corrupt", "3 wrong with exit status 0"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}
