package store

// The names of everything bulkget puts in an output folder besides the
// finished files. manifest refuses listed names that end in them, and
// state and cmd/bulkget recognise them, through these constants only.
const (
	// PartSuffix is appended to a file's name while it is incomplete.
	PartSuffix = ".part"
	// StateSuffix is appended to a .part's name for its resume state.
	StateSuffix = ".state"
	// TempSuffix is appended to a state's name while a new one is saved.
	TempSuffix = ".tmp"
	// LockName is the output folder's lock file (see state.AcquireLock).
	LockName = ".bulkget.lock"
	// SocketName is the socket of the run that holds the folder (see
	// package control).
	SocketName = ".bulkget.sock"
	// LogName is the run's log once its terminal is gone, or from the
	// start with --background; LogName+".1" is the log before it.
	LogName = ".bulkget.log"
	// VerifiedAttr is the extended attribute of a finished file that
	// records what it was verified against (see Record).
	VerifiedAttr = "user.bulkget.verified"
	// VerifiedSuffix is appended to a finished file's name for its
	// verification record where extended attributes are missing.
	VerifiedSuffix = ".bulkget-verified"
)

// PartName is where name's data lives until it is complete.
func PartName(name string) string { return name + PartSuffix }

// StateName is where name's resume state lives (see package state).
func StateName(name string) string { return name + PartSuffix + StateSuffix }
