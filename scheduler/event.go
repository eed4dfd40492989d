package scheduler

import "time"

// Kind says what an Event reports.
type Kind int

const (
	// Started: a file's first response arrived; Total is known (or -1).
	Started Kind = iota + 1
	// Retrying: a request failed and will be tried again after Delay.
	Retrying
	// Warning: something the user should know that is not a failure, such
	// as a server that stopped honouring ranges or a file that changed;
	// with no Name it is about the whole run (fewer connections than asked
	// for, say).
	Warning
	// Done: the file is complete, synced and under its final name.
	Done
	// Failed: the file was given up; Err says why.
	Failed
	// Progress: periodic snapshot of every file in progress and the totals.
	Progress
	// Skipped: the file already exists under its final name with the
	// remote size; nothing was downloaded.
	Skipped
	// Resumed: a .part and its state were found and the remote file is
	// unchanged; Bytes were already on disk and will not be fetched again.
	Resumed
	// HostLimit: the connections allowed to a host changed (Name is the
	// host, Conns the new limit); Err says why when it went down.
	HostLimit
	// Expired: the file stopped because its URL expired and no fresh one
	// could be had; its bytes are kept for a later run. Err says why.
	Expired
)

func (k Kind) String() string {
	switch k {
	case Started:
		return "started"
	case Retrying:
		return "retry"
	case Warning:
		return "warning"
	case Done:
		return "done"
	case Failed:
		return "failed"
	case Progress:
		return "progress"
	case Skipped:
		return "skipped"
	case Resumed:
		return "resumed"
	case HostLimit:
		return "host"
	case Expired:
		return "expired"
	}
	return "unknown"
}

// Event is one thing that happened during a Run. File events carry Line,
// Name, Bytes (written so far) and Total (-1 if unknown).
type Event struct {
	Kind Kind
	Time time.Time
	Line int
	Name string
	// Host (file events) is the host[:port] of the file's list url: no
	// path, query or credentials. Its mirrors are in Sources.
	Host    string
	Bytes   int64
	Total   int64
	Conns   int           // connections on the file when the event fired
	Attempt int           // Retrying: the attempt that failed
	Delay   time.Duration // Retrying: wait before the next try
	Elapsed time.Duration // Done: time since the file started
	// Verified (Done, Skipped) says what the file was checked against:
	// "sha256 from list", "crc32c from x-goog-hash", … or "none".
	Verified string
	// Reason (Skipped) says why the file was skipped when it is not just
	// there already: "unchanged on the server" (Options.Update).
	Reason string
	Err    error // Retrying, Warning, Failed
	// Sources (Done, Failed, Expired; and each FileProgress) is what each
	// of the file's sources delivered, for a file with mirrors; nil for a
	// file with one source.
	Sources []SourceProgress

	// Progress only: every file in progress, every host with requests
	// running or hedges taken, and run totals.
	Files      []FileProgress
	Hosts      []HostProgress
	BytesDone  int64 // bytes written in this run, all files
	FilesDone  int   // done or skipped
	FilesTotal int
}

// FileProgress is one file's line in a Progress event.
type FileProgress struct {
	Line  int
	Name  string
	Bytes int64
	Total int64
	Conns int
	// Sources is nil for a file with one source (see Event.Sources).
	Sources []SourceProgress
}

// HostProgress is one host's line in a Progress event: what a chart of
// its connections over time needs, requests still awaiting their first
// answer included.
type HostProgress struct {
	Host   string // host[:port]: no path, query or credentials
	Conns  int    // requests to it now
	Limit  int    // connections allowed to it now
	Hedges int    // its requests taken over by a hedge so far
}

// SourceProgress is one source of a file with mirrors: the list's url
// (Index 0) or one of its mirrors (Index 1 onwards, in list order).
type SourceProgress struct {
	Index int
	Host  string // host[:port]: no path, query or credentials
	Bytes int64  // written from this source in this run
	Conns int    // connections to it now
	// Dropped says why the file no longer uses this source ("" while it
	// does): it failed, expired, or disagreed with the others.
	Dropped string
}

// HostBytes is what one host delivered over the whole run.
type HostBytes struct {
	Host  string
	Bytes int64
}

// Reporter receives events. Report is called from the run's goroutines,
// possibly concurrently, and must not block for long: the data path does
// not wait for it, but the worker that finishes a file does.
type Reporter interface {
	Report(Event)
}

// ReporterFunc adapts a function to Reporter.
type ReporterFunc func(Event)

// Report calls f(e).
func (f ReporterFunc) Report(e Event) { f(e) }

type discard struct{}

func (discard) Report(Event) {}

// Failure is a file that could not be downloaded.
type Failure struct {
	Line int
	Name string
	Err  error
}

// Verified is what one finished file was checked against.
type Verified struct {
	Line int
	Name string
	// What: "sha256 from list", "crc32c from x-goog-hash", … or "none".
	What string
}

// Summary is the outcome of a Run.
type Summary struct {
	Done    int
	Skipped int
	Failed  []Failure
	// Expired are the files stopped because their URLs expired; their
	// bytes are kept, and a run with fresh links continues them.
	Expired []Failure
	// Verified lists every file done in this run (or skipped for a
	// record of its verification) with what it was checked against.
	Verified []Verified
	Bytes    int64 // bytes written in this run
	// Hosts is the bytes written from each host, in the order the hosts
	// first appear in the list, when some file had mirrors; nil otherwise.
	Hosts []HostBytes
	// ReadBack is the bytes read back from disk to verify files: what
	// could not be checked as it arrived.
	ReadBack    int64
	Elapsed     time.Duration
	Interrupted bool // the context was cancelled before the end
}
