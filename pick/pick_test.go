package pick

import (
	"testing"
	"time"
)

const miB = 1 << 20

var params = DefaultParams(1*miB, 5*time.Second, 5)

// running is a request of host 0 in a file with room, age old, that got
// got bytes and has rest bytes left.
func running(age time.Duration, got, rest int64) Request {
	return Request{Eligible: true, Room: true, Running: true, HasSource: true, Speed: 1,
		Age: age, Got: got, Splittable: rest}
}

func TestChooseOrder(t *testing.T) {
	quiet := running(10*time.Second, 8*miB, 4*miB)
	quiet.Silent = 6 * time.Second
	big := running(10*time.Second, 80*miB, 64*miB)
	other := running(10*time.Second, 80*miB, 1*miB)
	other.Host = 1
	got := Choose(Snapshot{Requests: []Request{big, quiet, other}}, params)
	want := []Choice{{Hedge, 1, 0}, {Split, 0, params.MinSegment}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("Choose = %v, want %v: the quiet request's takeover first, then the largest split", got, want)
	}
}

func TestStealTakesTheRangeWithTheMostTimeLeft(t *testing.T) {
	fast := running(time.Second, miB, 32*miB)
	fast.Speed = 8 * miB
	slow := running(time.Second, miB, 8*miB)
	slow.Speed = 1 * miB
	if v := StealVictim(Snapshot{Requests: []Request{fast, slow}}, params); v != 1 {
		t.Errorf("victim %d, want 1: 8 MiB at 1 MiB/s take longer than 32 MiB at 8 MiB/s", v)
	}
	small := running(time.Second, miB, 2*miB-1)
	if v := StealVictim(Snapshot{Requests: []Request{small}}, params); v != -1 {
		t.Errorf("a rest below 2 × MinSegment was split")
	}
	noRoom := fast
	noRoom.Room = false
	if v := StealVictim(Snapshot{Requests: []Request{noRoom}}, params); v != -1 {
		t.Errorf("a file without room for a connection was split")
	}
	paced := fast
	paced.Steal = Edge{Paced: true}
	if v := StealVictim(Snapshot{Requests: []Request{paced}}, params); v != -1 {
		t.Errorf("a paced rest that its next burst brings whole was split")
	}
}

func TestTailOnlyAtTheEndAndOnlyWhenItSavesARequestsCost(t *testing.T) {
	crawling := running(2*time.Second, 2*miB, 8*miB) // 8 s left
	if v := TailVictim(Snapshot{Requests: []Request{crawling}}, params); v != -1 {
		t.Errorf("split at the tail while files wait to start")
	}
	if v := TailVictim(Snapshot{Requests: []Request{crawling}, AtTail: true}, params); v != 0 {
		t.Errorf("a rest of 8 s at the tail was not split")
	}
	nearlyDone := running(2*time.Second, 64*miB, 128<<10) // 4 ms left
	if v := TailVictim(Snapshot{Requests: []Request{nearlyDone}, AtTail: true, TTFB: 20 * time.Millisecond}, params); v != -1 {
		t.Errorf("a rest shorter than four round trips was split")
	}
}

func TestSlowHedgeTakesOverACrawlFarBelowTheMedian(t *testing.T) {
	var reqs []Request
	for range 4 {
		reqs = append(reqs, running(4*time.Second, 32*miB, 16*miB)) // 8 MiB/s
	}
	crawl := running(4*time.Second, 1*miB, 16*miB) // 256 KiB/s, 64 s left
	reqs = append(reqs, crawl)
	s := Snapshot{Requests: reqs}
	if v := HedgeVictim(s, params, true); v != -1 {
		t.Errorf("a crawl that still delivers was taken over as quiet")
	}
	if v := HedgeVictim(s, params, false); v != 4 {
		t.Errorf("victim %d, want 4: the crawl at 1/32 of the median", v)
	}
	spent := crawl
	spent.Attempts = params.Retries
	s.Requests[4] = spent
	if v := HedgeVictim(s, params, false); v != -1 {
		t.Errorf("a range whose attempts are spent was taken over")
	}
}

func TestHedgeNeverWhenDisabled(t *testing.T) {
	quiet := running(10*time.Second, miB, 4*miB)
	quiet.Silent = time.Minute
	p := params
	p.HedgeAfter = -1
	if got := Choose(Snapshot{Requests: []Request{quiet}}, p); len(got) != 1 || got[0].Kind != Split {
		t.Errorf("Choose = %v with hedging off, want only the split", got)
	}
}
