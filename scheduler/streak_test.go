package scheduler

import (
	"testing"
	"time"
)

func TestFaultStreakCountsRoundsNotSplits(t *testing.T) {
	t0 := time.Unix(0, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	type step struct {
		progress        bool
		began, ended    int // ms
		wantRoundsAfter int
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"requests in flight together fail as one round", []step{
			{began: 0, ended: 10, wantRoundsAfter: 1},
			{began: 1, ended: 11, wantRoundsAfter: 1},
			{began: 2, ended: 12, wantRoundsAfter: 1},
		}},
		{"a request sent after a counted failure starts a new round", []step{
			{began: 0, ended: 10, wantRoundsAfter: 1},
			{began: 11, ended: 20, wantRoundsAfter: 2},
			{began: 15, ended: 21, wantRoundsAfter: 2},
			{began: 21, ended: 30, wantRoundsAfter: 3},
		}},
		{"bytes from a request sent before the streak prove nothing", []step{
			{began: 5, ended: 10, wantRoundsAfter: 1},
			{progress: true, began: 0, wantRoundsAfter: 1},
			{began: 11, ended: 20, wantRoundsAfter: 2},
		}},
		{"bytes from a request sent during the streak end it", []step{
			{began: 0, ended: 10, wantRoundsAfter: 1},
			{began: 11, ended: 20, wantRoundsAfter: 2},
			{progress: true, began: 12, wantRoundsAfter: 0},
			{began: 25, ended: 30, wantRoundsAfter: 1},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var k faultStreak
			for i, st := range tc.steps {
				if st.progress {
					k.progress(at(st.began))
				} else {
					k.fail(at(st.began), at(st.ended))
				}
				if k.rounds != st.wantRoundsAfter {
					t.Fatalf("step %d: %d rounds, want %d", i, k.rounds, st.wantRoundsAfter)
				}
			}
		})
	}
}
