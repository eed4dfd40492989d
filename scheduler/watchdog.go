package scheduler

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/bulkget/bulkget/internal/bytesize"
	"github.com/bulkget/bulkget/segment"
)

// The automatic floor on a connection's speed: a hundredth of what the
// host's other connections now deliver (so a connection far behind its
// peers for a whole StallTimeout is cut, while a host that is slow for
// everyone is left alone), and never less than autoFloorMin, so that a
// server that trickles a byte a second ends in a failure, not a hang.
const (
	autoFloorShare = 100
	autoFloorMin   = 1 << 10
)

// connRatesLocked measures, per host, the median rate in bytes per second
// of its requests running for a second or more, over their current
// measuring windows, and updates each host's rate. Call with mu held.
func (r *run) connRatesLocked(now int64) map[*host]float64 {
	rates := map[*host][]float64{}
	for _, f := range r.active {
		for _, s := range f.segs {
			age := time.Duration(now - s.winStart)
			if s.running && age >= time.Second {
				rates[s.src.host] = append(rates[s.src.host], float64(s.recv.Load()-s.winRecv)/age.Seconds())
			}
		}
	}
	medians := make(map[*host]float64, len(rates))
	for h, rs := range rates {
		slices.Sort(rs)
		medians[h] = rs[len(rs)/2]
	}
	for _, h := range r.hosts {
		h.measureLocked(now)
	}
	return medians
}

// floorsLocked returns, per host, the lowest rate in bytes per second a
// running request may keep for a whole StallTimeout (0: no floor), given
// the median rates of each host's requests. Call with mu held.
func (r *run) floorsLocked(medians map[*host]float64) map[*host]float64 {
	if r.opts.LowestSpeed < 0 {
		return nil
	}
	floors := make(map[*host]float64, len(r.hosts))
	for _, h := range r.hosts {
		if r.opts.LowestSpeed > 0 {
			floors[h] = float64(r.opts.LowestSpeed)
		} else {
			floors[h] = autoFloor(medians[h], r.opts.RateLimit, r.opts.Connections)
		}
	}
	return floors
}

// autoFloor is the floor for a host whose connections now run at median
// bytes/s, under a run-wide cap of rateLimit (0: none) shared by conns
// connections: the cap's share of a connection is never below the floor.
func autoFloor(median float64, rateLimit int64, conns int) float64 {
	floor := max(autoFloorMin, median/autoFloorShare)
	if rateLimit > 0 {
		floor = min(floor, float64(rateLimit)/float64(conns)/4)
	}
	return floor
}

// judgeSpeedLocked closes s's measuring window once it spans StallTimeout,
// and cuts the request if it received less than floor bytes/s over it.
// Call with mu held.
func (r *run) judgeSpeedLocked(s *seg, now int64, floor float64) {
	span := time.Duration(now - s.winStart)
	if span < r.opts.StallTimeout {
		return
	}
	got := s.recv.Load()
	rate := float64(got-s.winRecv) / span.Seconds()
	s.winStart, s.winRecv = now, got
	if floor <= 0 || rate >= floor {
		return
	}
	s.tooSlow = fmt.Errorf("%w: %s/s over %v, below the floor of %s/s (see --lowest-speed)",
		segment.ErrTooSlow, bytesize.Format(int64(rate)), span.Round(100*time.Millisecond), bytesize.Format(int64(floor)))
	s.cancel()
}

// watchdog cuts requests that have received nothing for StallTimeout, or
// less than the floor on speed over a whole StallTimeout, so that their
// segments are retried instead of hanging the run.
func (r *run) watchdog(ctx context.Context, jobs *sync.WaitGroup) {
	every(ctx, min(r.opts.StallTimeout/4, 250*time.Millisecond), nil, func() {
		now := int64(time.Since(r.epoch))
		r.mu.Lock()
		floors := r.floorsLocked(r.connRatesLocked(now))
		for _, f := range r.active {
			for _, s := range f.segs {
				if !s.running || s.cancel == nil {
					continue
				}
				if now-s.alive.Load() > int64(r.opts.StallTimeout) {
					s.stalled.Store(true)
					s.cancel()
					continue
				}
				r.judgeSpeedLocked(s, now, floors[s.src.host])
			}
		}
		r.renewSoonLocked(ctx, jobs, time.Now())
		// Idle connections look again: a segment may have gone quiet (a
		// hedge), the tail estimates have moved, or a host has room again.
		r.notify()
		r.mu.Unlock()
	})
}
