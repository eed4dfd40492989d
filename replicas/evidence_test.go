package replicas

import (
	"slices"
	"testing"
	"time"
)

// TestAnswersTellReplicasFromAChange feeds answers in a given order on a
// virtual clock: another version ("B"), the kept one ("A"), each to a
// request sent before or after the other version first answered.
func TestAnswersTellReplicasFromAChange(t *testing.T) {
	type answer struct {
		got   string // validator; "A" is the kept one, "" a 412
		early bool   // sent before the first other answer
	}
	many := func(n int, a answer) []answer { return slices.Repeat([]answer{a}, n) }
	for _, c := range []struct {
		name    string
		former  []string
		answers []answer
		farm    bool // the host is taken for a farm
		changed bool // the last answer restarts the file
	}{
		{"the kept version again, asked after the other", nil, []answer{{got: "B"}, {got: "A"}}, true, false},
		{"the kept version to a request sent before the other answered", nil, []answer{{got: "B"}, {got: "A", early: true}}, false, false},
		{"a validator the source kept before a restart", []string{"B"}, []answer{{got: "B"}}, true, false},
		{"another version 15 times is not yet a change", nil, many(ChangeAnswers-1, answer{got: "B"}), false, false},
		{"another version 16 times is a change", nil, many(ChangeAnswers, answer{got: "B"}), false, true},
		{"412s count like other validators", nil, append([]answer{{got: "B"}}, many(ChangeAnswers-1, answer{})...), false, true},
		{"requests already on their way count as one", nil,
			append(many(ChangeAnswers, answer{got: "B", early: true}), answer{got: "B"}), false, false},
		{"three other validators are a file changing on every answer", nil,
			[]answer{{got: "B"}, {got: "C"}, {got: "D"}}, false, true},
		{"once a farm, 16 other answers are not a change", nil,
			append([]answer{{got: "B"}, {got: "A"}}, many(ChangeAnswers, answer{got: "B"})...), true, false},
		{"once a farm, 64 are", nil,
			append([]answer{{got: "B"}, {got: "A"}}, many(FarmAnswers, answer{got: "B"})...), true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var e Evidence
			for _, v := range c.former {
				e.Forget(v)
			}
			t0 := time.Unix(1e9, 0)
			farm, changed := false, false
			for i, a := range c.answers {
				now := t0.Add(time.Duration(i+1) * time.Millisecond)
				sent := now.Add(-time.Microsecond) // picked after the answers before it
				if a.early {
					sent = t0
				}
				if a.got == "A" {
					farm = e.Kept(sent) || farm
					continue
				}
				v := e.Other(now, sent, a.got, farm)
				farm = farm || v.Farm
				if v.Changed && i < len(c.answers)-1 {
					t.Fatalf("answer %d of %d is a change", i+1, len(c.answers))
				}
				changed = v.Changed
			}
			if farm != c.farm || changed != c.changed {
				t.Errorf("farm %v, changed %v; want %v, %v", farm, changed, c.farm, c.changed)
			}
		})
	}
}

func TestForgetKeepsTheLastFewKeptValidators(t *testing.T) {
	var e Evidence
	for _, v := range []string{"A", "B", "C", "D", "E"} {
		e.Forget(v)
	}
	t0 := time.Unix(1e9, 0)
	if v := e.Other(t0, t0, "A", false); v.Farm {
		t.Errorf("a validator kept five generations ago still proves a farm")
	}
	if v := e.Other(t0, t0, "E", false); !v.Farm {
		t.Errorf("the validator kept last generation does not prove a farm")
	}
}
