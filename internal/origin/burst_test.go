package origin

import (
	"bytes"
	"io"
	"testing"
	"time"
)

// With BurstPacing a connection gets a second's allowance at once, then
// waits for the next second: the first MiB arrives quickly, the next byte
// only after a pause, and the long-run rate is still the cap.
func TestBurstPacingSendsASecondAtOnceThenPauses(t *testing.T) {
	const rate = 1 << 20
	s := startServer(t, Options{PerConnRate: rate, BurstPacing: true})
	s.Add("f", 5*rate/2)
	start := time.Now()
	resp, err := s.Client().Get(s.URL("f"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, rate)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	burst := time.Since(start)
	next := make([]byte, 1)
	if _, err := io.ReadFull(resp.Body, next); err != nil {
		t.Fatal(err)
	}
	gap := time.Since(start)
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	total := time.Since(start)
	body := append(append(first, next...), rest...)
	if !bytes.Equal(body, content("f", 0, 0, 5*rate/2)) {
		t.Fatal("wrong body")
	}
	if burst > 400*time.Millisecond {
		t.Errorf("first second's allowance took %v, want a burst", burst)
	}
	if gap < 800*time.Millisecond {
		t.Errorf("byte after the allowance came at %v, want a pause to the next second", gap)
	}
	// 2.5 allowances: the third window opens at 2 s.
	if total < 1900*time.Millisecond || total > 2800*time.Millisecond {
		t.Errorf("2.5 s of allowance took %v, want about 2 s (windows at 0, 1, 2 s)", total)
	}
}

// Without BurstPacing the same cap paces smoothly: no second's worth at once.
func TestWithoutBurstPacingTheCapIsSmooth(t *testing.T) {
	const rate = 1 << 20
	s := startServer(t, Options{PerConnRate: rate})
	s.Add("f", rate)
	start := time.Now()
	resp, err := s.Client().Get(s.URL("f"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadFull(resp.Body, make([]byte, rate/2)); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 350*time.Millisecond {
		t.Errorf("half a second's allowance came in %v, want smooth pacing", d)
	}
}
