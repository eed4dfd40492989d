package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bulkget/bulkget/internal/origin"
)

// Budget is the total connection budget every tool gets.
const Budget = 16

// FileSet is Count files of Size bytes each.
type FileSet struct {
	Count int
	Size  int64
}

// File is one file of a scenario: its name (also the last element of its
// URL path, so that every tool writes the same name) and its size.
type File struct {
	Name string
	Size int64
}

// Scenario is one benchmark case: the files, how the origin serves them,
// and the connection budget.
type Scenario struct {
	Name  string
	About string
	Sets  []FileSet // listed in this order

	PerConnRate int64         // origin.Options.PerConnRate; 0 = uncapped
	Latency     time.Duration // origin.Options.Latency
	Chaos       *origin.Chaos // faults; re-seeded identically for every run
	TLS         bool          // origin.NewTLS (HTTPS, offers HTTP/2)

	// Adaptive scenarios (AdaptiveScenarios) are hosts whose best number
	// of connections is not the budget: their ideal is set by the host's
	// caps whatever the number of connections, see Ideal.
	Adaptive           bool
	TotalRate          int64  // origin.Options.TotalRate; 0 = uncapped
	MaxInFlight        int    // origin.Options.MaxInFlight; 0 = no limit
	OverloadStatus     int    // origin.Options.OverloadStatus
	OverloadRetryAfter string // origin.Options.OverloadRetryAfter
	BurstPacing        bool   // origin.Options.BurstPacing

	// Sources, for a mirrored scenario (MirrorScenarios), are the hosts
	// that serve every file, each an origin of its own; Sources[0] is the
	// primary (the list's url column, the first URI). Nil for one origin
	// with the caps above.
	Sources []Source

	// Replicas, for a farm scenario (FarmScenarios), serves every file
	// as that many replicas behind one address (origin.Options.Replicas),
	// balanced per connection (ReplicaPerConn) or per request; with
	// ReplicaBytesDiffer replica i serves version i, and a file is right
	// when it is one replica's version whole.
	Replicas           int
	ReplicaPerConn     bool
	ReplicaBytesDiffer bool

	Connections int      // total connections; Budget if zero
	BulkgetArgs []string // extra bulkget options (go test benchmarks only)
	// IdealOverride replaces Ideal when something other than the origin
	// sets the bound (a client-side rate limit).
	IdealOverride time.Duration
}

// Scenarios returns the suite's scenarios in their canonical order.
func Scenarios() []Scenario {
	flaky := origin.Chaos{Seed: 7, Reset: 0.15, ServerError: 0.10, TooMany: 0.05,
		Stall: 0.05, StallFor: 5 * time.Second, Short: 0.05, WrongRange: 0.05}
	return []Scenario{
		{Name: "capped-large", About: "8 × 128 MiB, 8 MiB/s per connection, 20 ms latency",
			Sets: []FileSet{{8, 128 << 20}}, PerConnRate: 8 << 20, Latency: 20 * time.Millisecond},
		{Name: "many-small", About: "2,000 × 32 KiB, 5 ms latency",
			Sets: []FileSet{{2000, 32 << 10}}, Latency: 5 * time.Millisecond},
		{Name: "uncapped", About: "4 × 512 MiB, no caps: CPU and syscalls per byte",
			Sets: []FileSet{{4, 512 << 20}}},
		{Name: "flaky", About: "8 × 64 MiB, 8 MiB/s per connection, up to 45% of requests faulted",
			Sets: []FileSet{{8, 64 << 20}}, PerConnRate: 8 << 20, Chaos: &flaky},
		{Name: "tail", About: "50 × 1 MiB then one 1 GiB file, 8 MiB/s per connection",
			Sets: []FileSet{{50, 1 << 20}, {1, 1 << 30}}, PerConnRate: 8 << 20},
		{Name: "huge-list", About: "20,000 × 4 KiB, no latency: scheduling overhead and memory",
			Sets: []FileSet{{20000, 4 << 10}}},
		{Name: "capped-large-https", About: "capped-large over HTTPS (the origin offers HTTP/2)",
			Sets: []FileSet{{8, 128 << 20}}, PerConnRate: 8 << 20, Latency: 20 * time.Millisecond, TLS: true},
		// The -rtt scenarios put a real round-trip time on every request:
		// Latency delays every response's headers. It does not delay
		// connection set-up, so a new connection costs no extra round trip.
		{Name: "many-small-rtt20", About: "4,000 × 64 KiB, 20 ms per request",
			Sets: []FileSet{{4000, 64 << 10}}, Latency: 20 * time.Millisecond},
		{Name: "many-small-rtt100", About: "2,000 × 64 KiB, 100 ms per request",
			Sets: []FileSet{{2000, 64 << 10}}, Latency: 100 * time.Millisecond},
		{Name: "large-rtt20", About: "4 × 256 MiB, 16 MiB/s per connection, 20 ms per request",
			Sets: []FileSet{{4, 256 << 20}}, PerConnRate: 16 << 20, Latency: 20 * time.Millisecond},
		{Name: "large-rtt100", About: "4 × 256 MiB, 16 MiB/s per connection, 100 ms per request",
			Sets: []FileSet{{4, 256 << 20}}, PerConnRate: 16 << 20, Latency: 100 * time.Millisecond},
	}
}

// AdaptiveScenarios are hosts where the right number of connections is
// not the budget (issue 22), each at 20 ms and 100 ms per request: a host
// that caps each connection (2 MiB/s) and the total (80 MiB/s), so 40
// connections fill it; one capped only in total (30 MiB/s); one that
// refuses more than 4 requests in flight with 503 and Retry-After: 1
// (8 MiB/s per connection, so 4 connections fill it); and one that paces
// each connection in one-second bursts like nginx's limit_rate (4 MiB/s
// per connection, 40 MiB/s in total). Sizes are such that the best setting
// takes about 8 s. They run with -scenarios adaptive, not with all.
//
// refuse4-list is the refusing host serving a list of 64 files rather
// than 4: the tuner's one probe above the limit is then one request in
// many, as on the lists bulkget is made for.
func AdaptiveScenarios() []Scenario {
	out := []Scenario{{Name: "refuse4-list-rtt20", Adaptive: true,
		About: "64 × 4 MiB, 8 MiB/s per connection, more than 4 requests in flight get 503 with Retry-After: 1, 20 ms per request",
		Sets:  []FileSet{{64, 4 << 20}}, PerConnRate: 8 << 20, MaxInFlight: 4, OverloadStatus: 503, OverloadRetryAfter: "1",
		Latency: 20 * time.Millisecond}}
	for _, ms := range []int{20, 100} {
		lat := time.Duration(ms) * time.Millisecond
		rtt := fmt.Sprintf("-rtt%d", ms)
		out = append(out,
			Scenario{Name: "percap" + rtt, Adaptive: true,
				About: fmt.Sprintf("4 × 160 MiB, 2 MiB/s per connection, 80 MiB/s in total (40 connections fill it), %d ms per request", ms),
				Sets:  []FileSet{{4, 160 << 20}}, PerConnRate: 2 << 20, TotalRate: 80 << 20, Latency: lat},
			Scenario{Name: "totalcap" + rtt, Adaptive: true,
				About: fmt.Sprintf("4 × 64 MiB, 30 MiB/s in total over any number of connections, %d ms per request", ms),
				Sets:  []FileSet{{4, 64 << 20}}, TotalRate: 30 << 20, Latency: lat},
			Scenario{Name: "refuse4" + rtt, Adaptive: true,
				About: fmt.Sprintf("4 × 64 MiB, 8 MiB/s per connection, more than 4 requests in flight get 503 with Retry-After: 1, %d ms per request", ms),
				Sets:  []FileSet{{4, 64 << 20}}, PerConnRate: 8 << 20, MaxInFlight: 4, OverloadStatus: 503, OverloadRetryAfter: "1", Latency: lat},
			Scenario{Name: "bursty" + rtt, Adaptive: true,
				About: fmt.Sprintf("4 × 80 MiB, 4 MiB/s per connection sent in one-second bursts (nginx limit_rate), 40 MiB/s in total, %d ms per request", ms),
				Sets:  []FileSet{{4, 80 << 20}}, PerConnRate: 4 << 20, BurstPacing: true, TotalRate: 40 << 20, Latency: lat},
		)
	}
	return out
}

// FarmScenarios are one address in front of two replicas whose
// validators differ (issue 34): 4 × 64 MiB, 8 MiB/s per connection, 20 ms
// per request, balanced round robin per connection (an L4 balancer) or per
// request (HAProxy in mode http), with the same bytes (only the ETags and
// Last-Modified dates differ, as nginx replicas deployed apart) or
// different bytes (a deploy half done: a file is right when it is one
// replica's version whole); farm-one is the same files from one replica,
// the time to compare with. They run with -scenarios farms, not with all.
func FarmScenarios() []Scenario {
	out := []Scenario{{Name: "farm-one", About: "4 × 64 MiB from 1 replica, 8 MiB/s per connection, 20 ms per request",
		Sets: []FileSet{{4, 64 << 20}}, PerConnRate: 8 << 20, Latency: 20 * time.Millisecond}}
	for _, differ := range []bool{false, true} {
		for _, perConn := range []bool{true, false} {
			name, about := "farm", "same bytes, other validators"
			if differ {
				name, about = "farm-deploy", "different bytes (a deploy half done)"
			}
			if perConn {
				name, about = name+"-l4", about+", balanced per connection"
			} else {
				name, about = name+"-l7", about+", balanced per request"
			}
			out = append(out, Scenario{Name: name, About: "4 × 64 MiB from 2 replicas, 8 MiB/s per connection, 20 ms per request; " + about,
				Sets: []FileSet{{4, 64 << 20}}, PerConnRate: 8 << 20, Latency: 20 * time.Millisecond,
				Replicas: 2, ReplicaPerConn: perConn, ReplicaBytesDiffer: differ})
		}
	}
	return out
}

// versions is how many versions of each file count as right: one per
// replica when the replicas' bytes differ.
func (s Scenario) versions() int {
	if s.ReplicaBytesDiffer {
		return max(s.Replicas, 1)
	}
	return 1
}

// FaultScenarios are probes of one kind of fault each, not part of
// Scenarios: 4 × 16 MiB at 8 MiB/s per connection, where the first two
// requests for every file fail in the same way.
func FaultScenarios() []Scenario {
	probe := func(name, about string, c origin.Chaos) Scenario {
		c.Only = func(r origin.Request) bool { return r.N <= 2 }
		return Scenario{Name: "fault-" + name, About: "4 × 16 MiB, 8 MiB/s per connection; the first two requests for each file " + about,
			Sets: []FileSet{{4, 16 << 20}}, PerConnRate: 8 << 20, Chaos: &c}
	}
	return []Scenario{
		probe("reset", "are reset mid-body", origin.Chaos{Reset: 1}),
		probe("5xx", "get 500, 502 or 503", origin.Chaos{ServerError: 1}),
		probe("429", "get 429 with Retry-After: 1", origin.Chaos{TooMany: 1}),
		probe("stall", "stall 5 s mid-body", origin.Chaos{Stall: 1, StallFor: 5 * time.Second}),
		probe("short", "end early", origin.Chaos{Short: 1}),
		probe("wrongrange", "answer their range shifted by one byte (if ranged)", origin.Chaos{WrongRange: 1}),
	}
}

// Lookup returns the scenario called name, from Scenarios,
// FaultScenarios, AdaptiveScenarios, MirrorScenarios or FarmScenarios.
func Lookup(name string) (Scenario, error) {
	var names []string
	all := slices.Concat(Scenarios(), FaultScenarios(), AdaptiveScenarios(), MirrorScenarios(), FarmScenarios())
	for _, s := range all {
		if s.Name == name {
			return s, nil
		}
		names = append(names, s.Name)
	}
	return Scenario{}, fmt.Errorf("bench: unknown scenario %q (have %s)", name, strings.Join(names, ", "))
}

// Files lists the scenario's files, named f00001.bin, f00002.bin, ….
func (s Scenario) Files() []File {
	var fs []File
	for _, set := range s.Sets {
		for range set.Count {
			fs = append(fs, File{Name: fmt.Sprintf("f%05d.bin", len(fs)+1), Size: set.Size})
		}
	}
	return fs
}

// Count is the number of files.
func (s Scenario) Count() int {
	n := 0
	for _, set := range s.Sets {
		n += set.Count
	}
	return n
}

// Bytes is the total size of the files.
func (s Scenario) Bytes() int64 {
	var n int64
	for _, set := range s.Sets {
		n += int64(set.Count) * set.Size
	}
	return n
}

// Largest is the size of the largest file.
func (s Scenario) Largest() int64 {
	var n int64
	for _, set := range s.Sets {
		n = max(n, set.Size)
	}
	return n
}

// Conns is the connection budget.
func (s Scenario) Conns() int {
	if s.Connections > 0 {
		return s.Connections
	}
	return Budget
}

// Ideal is the shortest wall time the origin allows: every connection busy
// from start to end, each file costing at least one request's latency and
// every byte going at the per-connection cap:
//
//	(files × latency + bytes ÷ per-connection cap) ÷ connections
//
// With a cap and little latency this is bytes ÷ (connections × cap); without
// a cap it is the latency floor files × latency ÷ connections. Zero when the
// origin has neither a cap nor latency: then there is no bound to compare to.
//
// An Adaptive scenario's ideal does not depend on the budget: one request's
// latency plus the bytes at the most the host allows with any number of
// connections, the smaller of TotalRate and PerConnRate × MaxInFlight.
//
// A mirrored scenario's ideal is one request's latency plus the bytes at
// the sum of its sources' total caps, leaving out Slow sources, and with
// the rate falling at each source's StopAt share; zero if a source that
// counts is uncapped.
func (s Scenario) Ideal() time.Duration {
	if s.IdealOverride > 0 {
		return s.IdealOverride
	}
	if s.Mirrored() {
		return s.mirrorIdeal()
	}
	if s.Adaptive {
		if rate := s.HostRate(); rate > 0 {
			return s.Latency + time.Duration(float64(s.Bytes())/float64(rate)*float64(time.Second))
		}
		return 0
	}
	secs := float64(s.Count()) * s.Latency.Seconds()
	if s.PerConnRate > 0 {
		secs += float64(s.Bytes()) / float64(s.PerConnRate)
	}
	return time.Duration(secs / float64(s.Conns()) * float64(time.Second))
}

// HostRate is the most bytes per second an Adaptive scenario's host
// serves with any number of connections; 0 if unbounded.
func (s Scenario) HostRate() int64 {
	rate := s.TotalRate
	if s.PerConnRate > 0 && s.MaxInFlight > 0 {
		rate = positiveMin(rate, s.PerConnRate*int64(s.MaxInFlight))
	}
	return rate
}

func positiveMin(a, b int64) int64 {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	}
	return min(a, b)
}

// IdealKind says what bounds Ideal: "bandwidth", "latency" or "".
func (s Scenario) IdealKind() string {
	switch {
	case s.IdealOverride > 0:
		return "limit"
	case s.PerConnRate > 0, s.Adaptive && s.HostRate() > 0, s.Mirrored() && s.mirrorIdeal() > 0:
		return "bandwidth"
	case s.Latency > 0:
		return "latency"
	}
	return ""
}

// Scale returns the scenario shrunk by f (0 < f ≤ 1) for a quick check:
// sizes of files of 1 MiB and more and counts of sets of 100 files and
// more are multiplied by f. The figures of a scaled run are not comparable
// to a full one.
func (s Scenario) Scale(f float64) Scenario {
	if f <= 0 || f >= 1 {
		return s
	}
	sets := make([]FileSet, len(s.Sets))
	for i, set := range s.Sets {
		if set.Size >= 1<<20 {
			set.Size = max(1<<20, int64(float64(set.Size)*f))
		}
		if set.Count >= 100 {
			set.Count = max(100, int(float64(set.Count)*f))
		}
		sets[i] = set
	}
	s.Sets = sets
	return s
}
