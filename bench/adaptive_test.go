package bench

import (
	"strings"
	"testing"
	"time"
)

func TestAdaptiveScenariosIdealFromTheHostsCaps(t *testing.T) {
	for name, want := range map[string]time.Duration{
		"percap-rtt20":       8020 * time.Millisecond, // 20 ms + 640 MiB ÷ 80 MiB/s
		"totalcap-rtt100":    8633 * time.Millisecond, // 100 ms + 256 MiB ÷ 30 MiB/s
		"refuse4-rtt20":      8020 * time.Millisecond, // 20 ms + 256 MiB ÷ (4 × 8 MiB/s)
		"refuse4-list-rtt20": 8020 * time.Millisecond, // the same bytes in 64 files
		"bursty-rtt100":      8100 * time.Millisecond, // 100 ms + 320 MiB ÷ 40 MiB/s
	} {
		s, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if !s.Adaptive || s.Ideal().Round(time.Millisecond) != want || s.IdealKind() != "bandwidth" {
			t.Errorf("%s: ideal %v (%s), want %v (bandwidth)", name, s.Ideal(), s.IdealKind(), want)
		}
	}
	for _, s := range Scenarios() {
		if s.Adaptive {
			t.Errorf("%s: adaptive scenario in the default suite", s.Name)
		}
	}
	if n := len(AdaptiveScenarios()); n != 9 {
		t.Errorf("%d adaptive scenarios, want 4 hosts × 2 latencies and the refusing host with a list", n)
	}
}

func TestBulkgetVariantRunsOnlyItsArguments(t *testing.T) {
	s, _ := Lookup("totalcap-rtt20")
	p := &Plan{Scenario: s, Files: s.Files(), URL: func(n string) string { return "http://h/" + n },
		Bin: "/x/bulkget", Work: t.TempDir(), Dir: "/out"}
	for _, c := range []struct {
		args       []string
		name, show string
	}{
		{nil, "bulkget (no flags)", "bulkget --progress none -d DIR LIST.csv"},
		{[]string{"-c", "4"}, "bulkget -c 4", "bulkget --progress none -d DIR -c 4 LIST.csv"},
	} {
		tool := BulkgetVariant(c.args)
		invs, show, err := tool.plan(p)
		if err != nil {
			t.Fatal(err)
		}
		if tool.Name != c.name || tool.Binary != "bulkget" || show != c.show || len(invs) != 1 {
			t.Errorf("variant %q: %q %q, want %q %q", c.args, tool.Name, show, c.name, c.show)
		}
	}
}

func TestWriteAdaptiveTable(t *testing.T) {
	s, _ := Lookup("refuse4-rtt20")
	var b strings.Builder
	WriteAdaptiveTable(&b, []Result{{Tool: "bulkget", Scenario: s, Wall: 16040 * time.Millisecond,
		Right: 4, Total: 4, Conns: 6, PeakConns: 5, Gets: 20, Refused: 2, Served: s.Bytes() + 1<<20}})
	row := strings.Split(strings.TrimSpace(b.String()), "\n")[2]
	for _, want := range []string{"| 16.04 |", "| 8.02 |", "| 2.00 |", "| 6 (5) |", "| 2 (10%) |", "| 1.0 (0.39%) |"} {
		if !strings.Contains(row, want) {
			t.Errorf("row %q lacks %q", row, want)
		}
	}
}
