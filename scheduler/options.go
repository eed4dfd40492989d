package scheduler

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"time"

	"github.com/bulkget/bulkget/httpclient"
	"github.com/bulkget/bulkget/internal/netrc"
	"github.com/bulkget/bulkget/manifest"
	"github.com/bulkget/bulkget/store"
)

// Options configures a Run. The zero value of every field means its
// documented default, so tests set only what they care about.
type Options struct {
	// Dir is the output folder; created if missing.
	Dir string
	// Connections is the total number of requests in flight at once (16).
	Connections int
	// MaxPerFile caps the connections working on one file (0: no cap).
	MaxPerFile int
	// MaxFiles caps the files in progress at once (0: as many as the
	// connection budget can feed).
	MaxFiles int
	// MaxPerHost caps the connections to one host, across all files (16).
	MaxPerHost int
	// Adaptive lets each host's connections find their level from its
	// measured throughput, starting from a few (see package hostlimit); Connections
	// and MaxPerHost are then caps, not targets.
	Adaptive bool
	// MinSegment is the smallest piece worth its own connection (4 MiB): a
	// running segment is split only while at least twice this is left.
	MinSegment int64
	// Retries is how many failures without progress one segment may have
	// before its file fails (5).
	Retries int
	// BufferSize is each connection's read buffer (256 KiB): memory is
	// Connections × BufferSize.
	BufferSize int
	// NoDirectIO writes every file through the page cache. By default the
	// bulk of a segmented file of 32 MiB or more is written with direct
	// I/O where the filesystem supports it (see store.Part).
	NoDirectIO bool
	// HTTP2 allows HTTP/2 over TLS. Off by default: HTTP/2 would multiplex
	// every segment onto one TCP connection, which is what we split to avoid.
	HTTP2 bool
	// StallTimeout cuts a request that delivers nothing for this long (10s).
	StallTimeout time.Duration
	// ConnectTimeout bounds dial, TLS handshake and waiting for response
	// headers (30s).
	ConnectTimeout time.Duration
	// RateLimit caps the whole run's download rate in bytes per second
	// (0: no cap). One limiter is shared by every connection.
	RateLimit int64
	// LowestSpeed is the floor on a transfer's rate, in bytes per second:
	// a request that receives less than this, on average, over a whole
	// StallTimeout is cut and counts as a failed attempt. 0 sets it from
	// what the host shows (see autoFloor); negative turns it off.
	LowestSpeed int64
	// HedgeAfter: a free connection takes over the rest of a segment whose
	// connection has received nothing for this long (1s), instead of
	// waiting for StallTimeout. Negative disables hedging.
	HedgeAfter time.Duration
	// Backoff spaces out retries.
	Backoff Backoff
	// ProgressInterval is how often a Progress event is emitted (250ms).
	ProgressInterval time.Duration
	// CheckpointInterval is how often the progress of every file is made
	// durable in its sidecar state (1s); it bounds what a crash costs.
	CheckpointInterval time.Duration
	// Overwrite downloads files that already exist under their final name
	// instead of skipping them when their size matches the remote one.
	Overwrite bool
	// Update asks the server, for each file already under its final name
	// with a record of the version it is (store.Record), whether that
	// version is still current: one conditional request for its first
	// byte (segment.Revalidate). An unchanged file is skipped unread; a
	// changed one is fetched again into its .part and replaces the old
	// file once complete and verified. A file without recorded validators
	// is compared by size, as without Update. A list checksum wins: a
	// file whose line has one is checked against it, and the server is
	// not asked.
	Update bool
	// RefreshURL, if set, is asked for a fresh URL for e when current, the
	// URL its requests went to, expired (refused after it had worked); it
	// returns current, or an error, when it has none. It must honour ctx.
	// See expire.go.
	RefreshURL func(ctx context.Context, e manifest.Entry, current string) (string, error)
	// Reporter receives events; nil discards them.
	Reporter Reporter
	// Held, if set, is called once the run holds the output folder's lock,
	// before its first request; the function it returns is called before
	// the lock is released. cmd/bulkget serves the run's control socket in
	// between, so that a socket exists only while its run holds the folder.
	Held func() (release func())
	// UserAgent is sent with every request.
	UserAgent string
	// Header is sent with every request, but never to a host other than
	// the list's (see httpclient.Options.Private).
	Header http.Header
	// Insecure skips TLS certificate verification.
	Insecure bool
	// Netrc gives HTTP Basic credentials per host, never sent to another
	// host after a redirect (see httpclient.Options.Netrc); nil: none.
	Netrc *netrc.File
	// RootCAs are the certificate authorities trusted (see httpclient.LoadCACerts);
	// nil: the system's.
	RootCAs *x509.CertPool
	// ClientCert is presented to servers that ask for a client certificate
	// (see httpclient.LoadClientCert); nil: none.
	ClientCert *tls.Certificate
	// NoSpaceCheck skips comparing a file's size with the free space, and
	// preallocation, for filesystems that misreport either.
	NoSpaceCheck bool
}

// deps are what a run takes from its surroundings besides its Options:
// Run passes the real ones, this package's tests stand-ins that watch or
// fail. Their zero value is the real thing.
type deps struct {
	// wrap, if set, wraps the run's HTTP transport, which keeps every
	// rule of the client (TLS, netrc, headers that stay with their host):
	// it sees each request on its way to the transport built from Options.
	wrap func(http.RoundTripper) http.RoundTripper
	// create makes a file's part: (*store.Dir).Create.
	create func(d *store.Dir, name string, size int64, fresh, ranged bool) (*store.Part, error)
	// writes is what a part's transfers write to: the part itself.
	writes func(p *store.Part) io.WriterAt
	// fsys makes the file system the run writes the output folder
	// through (store.NewOS when nil; see RunOn).
	fsys func(*os.Root) store.FS
}

// withDefaults fills in the real dependencies where d has none.
func (d deps) withDefaults() deps {
	if d.create == nil {
		d.create = (*store.Dir).Create
	}
	if d.writes == nil {
		d.writes = func(p *store.Part) io.WriterAt { return p }
	}
	return d
}

// client returns c with its transport wrapped by d.wrap; the redirect
// rules stay with c's, the TLS and netrc rules in the transport wrapped.
func (d deps) client(c *http.Client) *http.Client {
	if d.wrap == nil {
		return c
	}
	w := *c
	w.Transport = d.wrap(c.Transport)
	return &w
}

// Backoff is capped exponential backoff with full jitter: the n-th retry
// waits a uniformly random time in [0, min(Max, Base·2ⁿ)), or what the
// server asked for with Retry-After (up to RetryAfterCap) if that is longer.
// The scheduler passes no Retry-After here: it rests the connection instead
// (see restLocked) and uses RetryAfterCap as the longest rest.
type Backoff struct {
	Base          time.Duration // 200ms
	Max           time.Duration // 30s
	RetryAfterCap time.Duration // 5m
	// Jitter returns a random duration in [0, d); nil uses math/rand/v2.
	// Tests inject a deterministic one.
	Jitter func(d time.Duration) time.Duration
}

// Delay returns the wait before retry number attempt (1-based).
func (b Backoff) Delay(attempt int, retryAfter time.Duration) time.Duration {
	ceil := b.Base
	for i := 1; i < attempt && ceil < b.Max; i++ {
		ceil *= 2
	}
	ceil = min(ceil, b.Max)
	var d time.Duration
	if ceil > 0 {
		if b.Jitter != nil {
			d = b.Jitter(ceil)
		} else {
			d = rand.N(ceil)
		}
	}
	return max(d, min(retryAfter, b.RetryAfterCap))
}

func (o Options) withDefaults() (Options, error) {
	if o.Dir == "" {
		return o, fmt.Errorf("scheduler: no output folder")
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.Connections, 16)
	def(&o.MaxPerHost, 16)
	def(&o.Retries, 5)
	def(&o.BufferSize, 256<<10)
	if o.MinSegment == 0 {
		o.MinSegment = 4 << 20
	}
	if o.StallTimeout == 0 {
		o.StallTimeout = 10 * time.Second
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 30 * time.Second
	}
	if o.HedgeAfter == 0 {
		o.HedgeAfter = time.Second
	}
	if o.CheckpointInterval == 0 {
		o.CheckpointInterval = time.Second
	}
	if o.ProgressInterval == 0 {
		o.ProgressInterval = 250 * time.Millisecond
	}
	if o.Backoff.Base == 0 {
		o.Backoff.Base = 200 * time.Millisecond
	}
	if o.Backoff.Max == 0 {
		o.Backoff.Max = 30 * time.Second
	}
	if o.Backoff.RetryAfterCap == 0 {
		o.Backoff.RetryAfterCap = 5 * time.Minute
	}
	if o.UserAgent == "" {
		o.UserAgent = "bulkget"
	}
	switch {
	case o.Connections < 1:
		return o, fmt.Errorf("scheduler: connections must be at least 1, not %d", o.Connections)
	case o.MaxPerHost < 1:
		return o, fmt.Errorf("scheduler: max per host must be at least 1, not %d", o.MaxPerHost)
	case o.MaxPerFile < 0 || o.MaxFiles < 0:
		return o, fmt.Errorf("scheduler: max per file and max files must not be negative")
	case o.Retries < 0:
		return o, fmt.Errorf("scheduler: retries must not be negative")
	case o.MinSegment < 1:
		return o, fmt.Errorf("scheduler: min segment must be positive")
	case o.RateLimit < 0:
		return o, fmt.Errorf("scheduler: rate limit must not be negative")
	case o.CheckpointInterval < 0:
		return o, fmt.Errorf("scheduler: checkpoint interval must not be negative")
	case o.BufferSize < 4096:
		return o, fmt.Errorf("scheduler: buffer size must be at least 4 KiB")
	}
	return o, nil
}

// clientFor builds the client a run (or a probe) uses from its options;
// the caller closes its idle connections when done.
func clientFor(o Options) *http.Client {
	private := make([]string, 0, len(o.Header))
	for k := range o.Header {
		private = append(private, k)
	}
	return httpclient.New(httpclient.Options{Connections: o.Connections, MaxPerHost: o.MaxPerHost, ConnectTimeout: o.ConnectTimeout,
		HTTP2: o.HTTP2, Insecure: o.Insecure, Private: private,
		Netrc: o.Netrc, RootCAs: o.RootCAs, ClientCert: o.ClientCert})
}
