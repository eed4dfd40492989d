package hostlimit

import (
	"testing"
	"time"
)

// The tuner driven on a simulated clock: each tick, every allowed
// connection is busy and the host delivers what its model allows, so the
// controller's decisions can be checked exactly, free of a shared
// machine's timing.

// simHost is a host's behaviour: what conns connections receive in the
// tick of length dt that starts at, and, for hosts that pace, the silence
// the connections have just come out of (0 if none).
type simHost interface {
	deliver(conns int, at, dt time.Duration) (bytes int64, pause time.Duration)
}

// smoothHost caps each connection and the total (0: no cap), evenly over
// time.
type smoothHost struct{ perConn, total float64 }

func (s smoothHost) deliver(conns int, _, dt time.Duration) (int64, time.Duration) {
	rate := s.total
	if s.perConn > 0 && (rate == 0 || float64(conns)*s.perConn < rate) {
		rate = float64(conns) * s.perConn
	}
	return int64(rate * dt.Seconds()), 0
}

// burstHost gives each connection perConn bytes at the start of each
// second from the connection's first byte, as nginx's limit_rate does,
// over a link that carries at most link bytes/s.
type burstHost struct {
	perConn, link float64
	credit        []float64       // per connection: bytes left of this second
	period        []time.Duration // per connection: start of its current second
	silent        []time.Duration // per connection: since when it has had nothing
}

func (b *burstHost) deliver(conns int, at, dt time.Duration) (int64, time.Duration) {
	for len(b.credit) < conns {
		b.credit = append(b.credit, b.perConn)
		b.period = append(b.period, at)
		b.silent = append(b.silent, -1)
	}
	var want float64
	for i := range conns {
		if at-b.period[i] >= time.Second {
			b.period[i] += time.Second
			b.credit[i] = b.perConn
		}
		want += b.credit[i]
	}
	share := min(1, b.link*dt.Seconds()/max(want, 1))
	var got float64
	var pause time.Duration
	for i := range conns {
		n := b.credit[i] * share
		b.credit[i] -= n
		got += n
		switch {
		case n > 0 && b.silent[i] >= 0:
			pause = max(pause, at-b.silent[i])
			b.silent[i] = -1
		case n == 0 && b.silent[i] < 0:
			b.silent[i] = at
		}
	}
	return int64(got), pause
}

// simulate runs an adaptive host against model for d and returns the
// level at each tick. Connections above the level end at once.
func simulate(t *testing.T, model simHost, ttfb, d time.Duration) []int {
	t.Helper()
	return simulateDraining(t, model, ttfb, d, 0)
}

// simulateDraining is simulate where connections above the level end
// only one every drain (0: at once), as requests holding long ranges do.
func simulateDraining(t *testing.T, model simHost, ttfb, d, drain time.Duration) []int {
	t.Helper()
	p := DefaultParams(64, true)
	c := New(p)
	epoch := time.Unix(1e9, 0)
	var levels []int
	var ended, pause time.Duration
	var recv int64
	conns := 0
	for at := time.Duration(0); at < d; at += p.Tick {
		switch {
		case conns < c.Level() || drain == 0:
			conns = c.Level()
		case conns > c.Level() && at-ended >= drain:
			conns--
			ended = at
		}
		n, paused := model.deliver(conns, at, p.Tick)
		recv += n
		pause = max(pause, paused)
		c.Tick(epoch.Add(at+p.Tick), Sample{Recv: recv, Conns: conns, Pause: pause,
			Paces: pause >= max(2*p.Tick, 4*ttfb), RTT: ttfb})
		levels = append(levels, c.Level())
	}
	return levels
}

// tick is the default Params.Tick, the simulator's step.
var tick = DefaultParams(1, true).Tick

// when is the first time the level reached at least n, or -1.
func when(levels []int, n int) time.Duration {
	for i, l := range levels {
		if l >= n {
			return time.Duration(i+1) * tick
		}
	}
	return -1
}

func TestTunerClimbsQuicklyWhereEveryConnectionIsCapped(t *testing.T) {
	for _, ttfb := range []time.Duration{20 * time.Millisecond, 100 * time.Millisecond} {
		levels := simulate(t, smoothHost{perConn: 2 << 20, total: 80 << 20}, ttfb, 10*time.Second)
		at := when(levels, 40)
		t.Logf("ttfb %v: 40 connections after %v; levels %v", ttfb, at, levels)
		// Steady rates are judged early: three raises, each well under
		// the full window of the host's slowest case.
		if at < 0 || at > 2500*time.Millisecond {
			t.Errorf("ttfb %v: 40 connections after %v, want within 2.5 s", ttfb, at)
		}
		if last := levels[len(levels)-1]; last < 40 || last > 48 {
			t.Errorf("ttfb %v: settled at %d, want the knee, 40 to 48", ttfb, last)
		}
	}
}

// answerWait is a smooth host whose requests each wait wait for their
// answer, which the scheduler learns as a pause too short to be pacing.
type answerWait struct {
	smoothHost
	wait time.Duration
}

func (a answerWait) deliver(conns int, at, dt time.Duration) (int64, time.Duration) {
	n, _ := a.smoothHost.deliver(conns, at, dt)
	return n, a.wait
}

func TestTunerDoesNotWaitOutPausesThatAreNotPacing(t *testing.T) {
	host := smoothHost{perConn: 2 << 20, total: 80 << 20}
	ttfb := 100 * time.Millisecond
	smooth := when(simulate(t, host, ttfb, 5*time.Second), 40)
	waits := when(simulate(t, answerWait{host, ttfb}, ttfb, 5*time.Second), 40)
	if waits != smooth {
		t.Errorf("40 connections after %v where answers take a round trip, %v where they do not: want the same", waits, smooth)
	}
}

func TestTunerGivesBackARaiseThatPaysNothingWhenTheHostHasShownItsPace(t *testing.T) {
	levels := simulate(t, smoothHost{total: 30 << 20}, 20*time.Millisecond, 8*time.Second)
	t.Logf("levels %v", levels)
	var above time.Duration
	for _, l := range levels {
		if l > DefaultParams(1, true).Start {
			above += tick
		}
	}
	if last := levels[len(levels)-1]; last != DefaultParams(1, true).Start {
		t.Errorf("settled at %d, want %d: more connections gave nothing", last, DefaultParams(1, true).Start)
	}
	// A useless raise is known early, but not before a host that paces
	// per second could have shown it.
	if above > 2*time.Second || above < DefaultParams(1, true).PaceShown-time.Second {
		t.Errorf("above the start level for %v, want about %v", above, DefaultParams(1, true).PaceShown)
	}
}

func TestTunerJumpsWhenTheHostPacesInBursts(t *testing.T) {
	// 4 MiB a second per connection over a 100 MiB/s link: 25
	// connections fill it, and at the start level each second is a short
	// burst and a long silence.
	levels := simulate(t, &burstHost{perConn: 4 << 20, link: 100 << 20}, 20*time.Millisecond, 10*time.Second)
	t.Logf("levels %v", levels)
	if at := when(levels, 4*DefaultParams(1, true).Start); at < 0 || at > 1500*time.Millisecond {
		t.Errorf("%d connections after %v, want by 1.5 s: the pacing shows in the first second", 4*DefaultParams(1, true).Start, at)
	}
	// The base measured after the jump still holds part of the new
	// connections' first bursts, so the level may settle a little below
	// the 25 that fill the link, at no less than 80 % of it.
	if last := levels[len(levels)-1]; last < 20 || last > 40 {
		t.Errorf("settled at %d, want 20 to 40", last)
	}
}

func TestTunerMeasuresAgainWhenThePacingShowsLate(t *testing.T) {
	// Over a 40 MiB/s link the start level's first bursts fill the link
	// for 0.4 s, long enough to look like a steady base; the raise then
	// seems to give nothing until the pacing shows.
	levels := simulate(t, &burstHost{perConn: 4 << 20, link: 40 << 20}, 20*time.Millisecond, 10*time.Second)
	t.Logf("levels %v", levels)
	if at := when(levels, 10); at < 0 || at > 4*time.Second {
		t.Errorf("10 connections after %v, want by 4 s", at)
	}
	if last := levels[len(levels)-1]; last < 10 || last > 20 {
		t.Errorf("settled at %d, want 10 to 20", last)
	}
}

func TestSteadyWindows(t *testing.T) {
	series := func(rates ...int64) *climb {
		t := &climb{}
		at, recv := time.Unix(0, 0), int64(0)
		t.marks = append(t.marks, mark{at, recv, 1})
		for _, r := range rates {
			at, recv = at.Add(tick), recv+r
			t.marks = append(t.marks, mark{at, recv, 1})
		}
		return t
	}
	for _, c := range []struct {
		name   string
		rates  []int64
		steady bool
	}{
		{"even", []int64{10, 10, 11, 10, 9, 10}, true},
		{"too short", []int64{10, 10, 10}, false},
		{"ramping up", []int64{4, 6, 8, 10, 12, 14}, false},
		{"a burst, then a pause", []int64{40, 40, 40, 40, 0, 0}, false},
		{"one tick of nothing", []int64{10, 10, 0, 10, 10, 10, 10, 10}, false},
	} {
		if got := series(c.rates...).steady(DefaultParams(1, true)); got != c.steady {
			t.Errorf("%s: steady = %v, want %v", c.name, got, c.steady)
		}
	}
}

func TestLastSecondOfTicks(t *testing.T) {
	// 40 bytes every fourth tick, the last second of them at 1 or 2
	// connections in turn.
	p := DefaultParams(1, true)
	tu := climb{hist: make([]mark, int(time.Second/p.Tick)+1)}
	at, recv := time.Unix(0, 0), int64(0)
	for i := range 2 * len(tu.hist) {
		if i%4 == 0 {
			recv += 40
		}
		at = at.Add(tick)
		tu.hist[tu.histN%len(tu.hist)] = mark{at, recv, 1 + i%2}
		tu.histN++
	}
	peak, mean, conns := tu.lastSecond(p)
	// The peak is over spans of at least DipSpan, not single ticks.
	span := max(tick, p.DipSpan)
	wantPeak := 40 / span.Seconds()
	wantMean := 40 / (4 * tick).Seconds()
	if peak != wantPeak || mean < 0.8*wantMean || mean > 1.3*wantMean || conns != 1.5 {
		t.Errorf("lastSecond = %v, %v, %v; want %v bytes/s at peak, about %v on average, 1.5 connections", peak, mean, conns, wantPeak, wantMean)
	}
}

func TestTunerTriesFewerWhenSettledAndComesBackWhenTheyPaid(t *testing.T) {
	levels := simulate(t, smoothHost{perConn: 2 << 20, total: 80 << 20}, 20*time.Millisecond, DefaultParams(1, true).Reprobe+5*time.Second)
	settled := levels[int((DefaultParams(1, true).Reprobe-time.Second)/tick)]
	low := settled
	for _, l := range levels[int((DefaultParams(1, true).Reprobe-time.Second)/tick):] {
		low = min(low, l)
	}
	last := levels[len(levels)-1]
	t.Logf("settled at %d, tried %d, ended at %d", settled, low, last)
	if low >= settled {
		t.Errorf("never tried fewer than %d after %v settled", settled, DefaultParams(1, true).Reprobe)
	}
	if last != settled {
		t.Errorf("ended at %d, want back at %d: the fewer connections delivered less", last, settled)
	}
}

func TestTunerJudgesAFewerLevelOnlyOnceInEffect(t *testing.T) {
	// Connections above a lowered level end one a second: until they
	// have, the host still delivers what the old level did.
	levels := simulateDraining(t, smoothHost{perConn: 2 << 20, total: 80 << 20}, 20*time.Millisecond, DefaultParams(1, true).Reprobe+20*time.Second, time.Second)
	settled := levels[int((DefaultParams(1, true).Reprobe-time.Second)/tick)]
	last := levels[len(levels)-1]
	t.Logf("settled at %d, ended at %d", settled, last)
	if last < settled {
		t.Errorf("ended at %d after the probe below %d: it was measured before it took effect", last, settled)
	}
}
