package report

import "time"

// Series resolution: buckets start this narrow and double (merging
// neighbours) whenever the run outgrows maxBuckets of them, so a run of
// any length keeps at most maxBuckets (a long one at least half as many).
const (
	firstStep  = 250 * time.Millisecond
	maxBuckets = 800
)

// series is the run's time line, per host: bytes delivered in each bucket,
// requests in flight (the most seen in the bucket) and counts of marks. -1
// is "no look in this bucket": the page carries the previous value
// forward.
type series struct {
	start time.Time
	step  time.Duration
	n     int // buckets in use
	hosts []hostSeries
}

type hostSeries struct {
	bytes    []float64
	inflight []int
	marks    [nMarks][]int
}

func newSeries(start time.Time) series {
	return series{start: start, step: firstStep}
}

// index is the bucket of t, after widening the buckets if t is beyond them.
func (s *series) index(t time.Time) int {
	d := t.Sub(s.start)
	if d < 0 {
		d = 0
	}
	for d/s.step >= maxBuckets {
		s.widen()
	}
	i := int(d / s.step)
	s.n = max(s.n, i+1)
	return i
}

// widen doubles the step, merging each pair of buckets.
func (s *series) widen() {
	s.step *= 2
	half := (s.n + 1) / 2
	for h := range s.hosts {
		hs := &s.hosts[h]
		for i := 0; i < half; i++ {
			a, b := 2*i, 2*i+1
			hs.bytes[i] = hs.bytes[a] + hs.bytes[b]
			hs.inflight[i] = max(hs.inflight[a], hs.inflight[b])
			for k := range hs.marks {
				hs.marks[k][i] = hs.marks[k][a] + hs.marks[k][b]
			}
		}
		for i := half; i < maxBuckets; i++ {
			hs.bytes[i], hs.inflight[i] = 0, -1
			for k := range hs.marks {
				hs.marks[k][i] = 0
			}
		}
	}
	s.n = half
}

func (s *series) host(h int) *hostSeries {
	for len(s.hosts) <= h {
		hs := hostSeries{bytes: make([]float64, maxBuckets), inflight: make([]int, maxBuckets)}
		for i := range maxBuckets {
			hs.inflight[i] = -1
		}
		for k := range hs.marks {
			hs.marks[k] = make([]int, maxBuckets)
		}
		s.hosts = append(s.hosts, hs)
	}
	return &s.hosts[h]
}

// spread puts n bytes of host h on [from, to], evenly over time.
func (s *series) spread(h int, from, to time.Time, n float64) {
	last := s.index(to) // widens first, so that first is in the same grid
	first := s.index(from)
	hs := s.host(h)
	if first == last || !to.After(from) {
		hs.bytes[last] += n
		return
	}
	total := to.Sub(from).Seconds()
	for i := first; i <= last; i++ {
		lo := maxTime(from, s.start.Add(time.Duration(i)*s.step))
		hi := s.start.Add(time.Duration(i+1) * s.step)
		if to.Before(hi) {
			hi = to
		}
		if hi.After(lo) {
			hs.bytes[i] += n * hi.Sub(lo).Seconds() / total
		}
	}
}

func (s *series) inflight(h int, t time.Time, n int) {
	i := s.index(t)
	hs := s.host(h)
	hs.inflight[i] = max(hs.inflight[i], n)
}

func (s *series) mark(h int, t time.Time, kind int) {
	i := s.index(t)
	s.host(h).marks[kind][i]++
}
