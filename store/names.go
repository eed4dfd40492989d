package store

// The names of everything bulkget puts on disk besides the finished files:
// in an output folder, and beside a --summary file. manifest refuses listed
// names that end in them, and state, folderlock and cmd/bulkget make and
// recognise them, through these declarations only.
const (
	// PartSuffix is appended to a file's name while it is incomplete.
	PartSuffix = ".part"
	// StateSuffix is appended to a .part's name for its resume state.
	StateSuffix = ".state"
	// TempSuffix is appended to a name while a new version of it is
	// written, to be renamed over it once complete (see TempName).
	TempSuffix = ".tmp"
	// LockName is the output folder's lock file (see package folderlock).
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

// TempName is where a new version of the small file name (a state, a
// verification record) is written before it is renamed over name. It is
// fixed, not random, so that one orphaned by a crash is overwritten by the
// next save rather than left to accumulate.
func TempName(name string) string { return name + TempSuffix }

// VerifiedName is the sidecar of the finished file name's verification
// record, where extended attributes are missing.
func VerifiedName(name string) string { return name + VerifiedSuffix }

// SummaryTempPattern is the os.CreateTemp pattern of a --summary file
// named base while it is written, in the same folder: hidden, and ending
// in TempSuffix.
func SummaryTempPattern(base string) string { return "." + base + ".*" + TempSuffix }

// ReservedSuffixes are the endings of the names bulkget keeps in an output
// folder beside a listed file; a listed name must not end in one.
func ReservedSuffixes() []string {
	state := PartSuffix + StateSuffix
	return []string{PartSuffix, state, state + TempSuffix, VerifiedSuffix, VerifiedSuffix + TempSuffix}
}
