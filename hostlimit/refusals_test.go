package hostlimit

import (
	"testing"
	"time"
)

var t0 = time.Unix(1e9, 0)

func at(d time.Duration) time.Time { return t0.Add(d) }

// answer feeds c n answers at now, refused ones from requests sent at sent
// while conns were at work.
func answer(c *Controller, now, sent time.Time, conns, n int, refused bool) (cut Decision) {
	for range n {
		if !refused {
			c.Answered()
			continue
		}
		if d := c.Refused(now, sent, conns); d.Changed {
			cut = d
		}
	}
	return cut
}

func TestALoneRefusalDoesNotCut(t *testing.T) {
	c := New(DefaultParams(16, false))
	answer(c, at(0), at(0), 16, 15, false)
	if d := answer(c, at(time.Second), at(time.Second), 16, 1, true); d.Changed || c.Level() != 16 {
		t.Fatalf("one refusal in 16 answers cut the level to %d (%+v), want 16", c.Level(), d)
	}
}

func TestRefusalsForLoadHalveTheLevelOncePerRound(t *testing.T) {
	c := New(DefaultParams(16, false))
	d := answer(c, at(time.Second), at(0), 16, 10, true)
	if !d.Changed || d.Reason != Overload || d.From != 16 || c.Level() != 8 {
		t.Fatalf("ten refusals at 16: %+v, level %d; want a cut from 16 to 8", d, c.Level())
	}
	// The rest of the round: requests sent before the cut answer the old
	// level.
	if d := answer(c, at(time.Second+time.Millisecond), at(500*time.Millisecond), 16, 10, true); d.Changed {
		t.Fatalf("refusals of requests sent before the cut cut again: %+v", d)
	}
	if d := answer(c, at(2*time.Second), at(1500*time.Millisecond), 8, 10, true); !d.Changed || c.Level() != 4 {
		t.Fatalf("refusals of requests sent after the cut: %+v, level %d; want a cut to 4", d, c.Level())
	}
}

func TestQuietTimeGivesConnectionsBackBelowTheRefusedLevel(t *testing.T) {
	p := DefaultParams(16, false)
	c := New(p)
	answer(c, at(0), at(0), 12, 10, true) // refused at 12: cut to 6, ceiling 12
	if c.Level() != 6 {
		t.Fatalf("level %d after refusals at 12, want 6", c.Level())
	}
	var levels []int
	for now := time.Duration(0); now < p.ProbeAfter-p.Tick; now += p.Tick {
		c.Tick(at(now), Sample{})
		levels = append(levels, c.Level())
	}
	if first := levels[int(p.RaiseAfter/p.Tick)-2]; first != 6 {
		t.Errorf("level %d before RaiseAfter, want 6", first)
	}
	if l := levels[int((p.RaiseAfter+2*p.RaiseSpacing)/p.Tick)]; l != 9 {
		t.Errorf("level %d after RaiseAfter and two spacings, want 9 (one a second)", l)
	}
	if last := levels[len(levels)-1]; last != 11 {
		t.Errorf("level %d before ProbeAfter, want 11: just below the level refused", last)
	}
	for now := p.ProbeAfter; now < p.ProbeAfter+10*time.Second; now += p.Tick {
		c.Tick(at(now), Sample{})
	}
	if c.Level() != 16 {
		t.Errorf("level %d well after ProbeAfter, want back at 16: the refused level is tried again", c.Level())
	}
}

func TestARefusedRaiseIsGivenBackAtOnceAndBecomesTheCeiling(t *testing.T) {
	c := New(DefaultParams(64, true))
	c.climb = climb{phase: raised, base: 8}
	c.level, c.want = 16, 16
	d := c.Refused(at(time.Second), at(900*time.Millisecond), 12)
	if !d.Changed || d.Reason != Overload || c.Level() != 8 {
		t.Fatalf("a refusal during a raise from 8 to 16: %+v, level %d; want back at 8", d, c.Level())
	}
	if c.ceiling != 12 {
		t.Errorf("ceiling %d, want 12, the concurrency refused", c.ceiling)
	}
}

func TestARaiseAdmitsByAnswersAndFasterAfterOneThatPaidInFull(t *testing.T) {
	// A raise from 8 to 32, the 8 connections busy, n of the raise's
	// requests sent and none answered yet.
	admits := func(steep bool, sent, answered int) bool {
		c := New(DefaultParams(64, true))
		c.level, c.want = 32, 32
		c.climb = climb{phase: raised, base: 8, steep: steep}
		for range answered {
			c.Answered()
		}
		return c.Admits(8+sent, sent-answered)
	}
	if admits(false, 2, 0) {
		t.Errorf("a first raise from 8 with 2 requests awaiting admits more before an answer")
	}
	if !admits(false, 1, 0) {
		t.Errorf("a first raise from 8 with 1 request awaiting admits none, want a second")
	}
	if !admits(true, 2, 0) {
		t.Errorf("after a raise that paid in full, a raise from 8 with 2 awaiting admits none, want up to 4")
	}
	if admits(true, 4, 0) {
		t.Errorf("after a raise that paid in full, a raise from 8 with 4 awaiting admits more before an answer")
	}
	if !admits(false, 2, 1) {
		t.Errorf("a raise with 1 of 2 answered admits none, want two more")
	}
}
