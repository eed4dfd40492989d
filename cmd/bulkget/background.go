package main

import "strings"

// detachedEnv marks the background half of -b, which the first half
// starts with the same arguments: it runs the download and logs it,
// rather than detaching again.
const detachedEnv = "BULKGET_DETACHED"

// metaArgs is the App.Metadata key of the command line, which -b runs
// again.
const metaArgs = "args"

// shellQuote quotes s for a POSIX shell when it needs it, so that a
// printed command can be pasted.
func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+:,@%", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
