package bench

import (
	"slices"
	"sync"
	"time"

	"github.com/bulkget/bulkget/internal/origin"
)

// Source is one host of a mirrored scenario: an origin of its own (its
// own listener on 127.0.0.1, so its own port and, to an HTTP client, its
// own host) serving the same files with the same bytes.
type Source struct {
	TotalRate int64 // bytes/s across the host's connections; 0 = uncapped
	// Slow sources are left out of the ideal: issue 21 sets the target
	// of a run with a slow mirror at what the other sources allow.
	Slow bool
	// StopAt, between 0 and 1, stops the source once the sources together
	// have served that share of the scenario's bytes in a run: its
	// listener is closed and its connections dropped, so the tool sees
	// resets, then refused connections. 0 = never. The next run gets the
	// source back, on a new port.
	StopAt float64
}

// mirrorRate is every mirror scenario's cap per host, in total.
const mirrorRate = 40 << 20

// MirrorScenarios are files served by three hosts at once (issue 21): 4 ×
// 128 MiB, each host capped at 40 MiB/s in total, so that one host
// allows 12.8 s and three 4.27 s. The host that misbehaves is the primary
// (the list's url column, the first URI of aria2c and axel), the hard case
// for a tool that leans on the first URL. They run with -scenarios
// mirrors, not with all.
func MirrorScenarios() []Scenario {
	sets := []FileSet{{4, 128 << 20}}
	three := func() []Source {
		return []Source{{TotalRate: mirrorRate}, {TotalRate: mirrorRate}, {TotalRate: mirrorRate}}
	}
	slow, dies := three(), three()
	slow[0] = Source{TotalRate: 5 << 20, Slow: true}
	dies[0].StopAt = 1.0 / 3
	return []Scenario{
		{Name: "mirrors3", Sets: sets, Sources: three(),
			About: "4 × 128 MiB from three hosts with the same files, each capped at 40 MiB/s in total"},
		{Name: "mirrors3-slow", Sets: sets, Sources: slow,
			About: "mirrors3 with the primary (the url column, the first URI) at 5 MiB/s; the ideal is what the two fast hosts allow"},
		{Name: "mirrors3-dies", Sets: sets, Sources: dies,
			About: "mirrors3 with the primary stopped (listener closed, connections dropped) once a third of the bytes are served; the ideal has three hosts for that third, two for the rest"},
		{Name: "mirrors3-rtt20", Sets: sets, Sources: three(), Latency: 20 * time.Millisecond,
			About: "mirrors3 with 20 ms per request on every host"},
	}
}

// Mirrored says whether the scenario serves its files from several hosts.
func (s Scenario) Mirrored() bool { return len(s.Sources) > 0 }

// mirrorIdeal is one request's latency plus the bytes at the summed caps of
// the sources up, phase by phase between the StopAt shares, without the
// Slow sources. Zero if a source that counts is uncapped, or none is left.
func (s Scenario) mirrorIdeal() time.Duration {
	var stops []float64
	for _, src := range s.Sources {
		if src.StopAt > 0 && src.StopAt < 1 {
			stops = append(stops, src.StopAt)
		}
	}
	slices.Sort(stops)
	stops = append(stops, 1)
	secs, done := 0.0, 0.0
	for _, at := range stops {
		var rate int64
		for _, src := range s.Sources {
			if src.Slow || src.StopAt > 0 && src.StopAt <= done {
				continue
			}
			if src.TotalRate <= 0 {
				return 0
			}
			rate += src.TotalRate
		}
		if rate == 0 {
			return 0
		}
		secs += (at - done) * float64(s.Bytes()) / float64(rate)
		done = at
	}
	return s.Latency + time.Duration(secs*float64(time.Second))
}

// OneSourceIdeal is a mirrored scenario's shortest time from a single
// host, the fastest that stays up: the best a tool that takes one URL per
// file could do with the right URL, and the figure issue 21 compares
// with. Zero for other scenarios, or if that host is uncapped.
func (s Scenario) OneSourceIdeal() time.Duration {
	var best int64
	for _, src := range s.Sources {
		if src.StopAt == 0 {
			if src.TotalRate <= 0 {
				return 0
			}
			best = max(best, src.TotalRate)
		}
	}
	if best == 0 {
		return 0
	}
	return s.Latency + time.Duration(float64(s.Bytes())/float64(best)*float64(time.Second))
}

// SourceStats are one source's origin counters for a run.
type SourceStats struct {
	Served    int64 // body bytes written
	Gets      int64 // GET requests
	Conns     int64 // TCP connections accepted
	PeakConns int64 // most open at once
	Stopped   bool  // stopped during the run (Source.StopAt)
}

// Sources returns the fixture's origins, the primary first.
func (f *Fixture) Sources() []*origin.Server {
	return append([]*origin.Server{f.Server}, f.Mirrors...)
}

// startSource starts source i of a mirrored scenario with its files.
func (f *Fixture) startSource(i int) {
	opts := f.Scenario.options()
	opts.TotalRate = f.Scenario.Sources[i].TotalRate
	srv := f.serve(opts)
	if i == 0 {
		f.Server = srv
	} else {
		f.Mirrors[i-1] = srv
	}
}

// restartStopped starts afresh, on new ports, the sources stopped in the
// previous run, so that every run begins with every source up.
func (f *Fixture) restartStopped() {
	for i, stopped := range f.stopped {
		if stopped {
			f.startSource(i)
			f.stopped[i] = false
		}
	}
}

// mirrorURLs returns the URLs of name on the sources after the primary.
func (f *Fixture) mirrorURLs(name string) []string {
	urls := make([]string, len(f.Mirrors))
	for i, srv := range f.Mirrors {
		urls[i] = srv.URL(name)
	}
	return urls
}

// stopPoll is how often armStops reads the sources' counters: at three
// hosts of 40 MiB/s, 1.2 MiB of a 512 MiB run.
const stopPoll = 10 * time.Millisecond

// armStops watches the bytes the sources have served since their counters
// were reset and stops each source with a StopAt once the sources together
// have served that share of the scenario's bytes. The returned function
// ends the watch and returns once it has; only then may the caller look at
// which sources were stopped.
func (f *Fixture) armStops() (disarm func()) {
	type pending struct {
		source int
		at     int64 // bytes served by every source together
	}
	var todo []pending
	for i, src := range f.Scenario.Sources {
		if src.StopAt > 0 {
			todo = append(todo, pending{i, int64(src.StopAt * float64(f.Scenario.Bytes()))})
		}
	}
	if len(todo) == 0 {
		return func() {}
	}
	srvs := f.Sources()
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(stopPoll)
		defer tick.Stop()
		for len(todo) > 0 {
			select {
			case <-quit:
				return
			case <-tick.C:
			}
			var served int64
			for _, srv := range srvs {
				served += srv.Stats().BytesServed
			}
			todo = slices.DeleteFunc(todo, func(p pending) bool {
				if served < p.at {
					return false
				}
				srvs[p.source].Close()
				f.stopped[p.source] = true
				return true
			})
		}
	})
	return func() {
		close(quit)
		wg.Wait()
	}
}
