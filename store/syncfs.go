package store

import (
	"strconv"
	"strings"
)

// syncFSReportsErrors says whether syncfs(2) can be trusted for group
// commits on a kernel of this release (uname -r): Linux reports write-back
// errors from syncfs only from 5.8 on, so on older kernels, and wherever
// syncfs is missing, every part is committed with a sync of its own.
func syncFSReportsErrors(release string) bool {
	if !haveSyncFS {
		return false
	}
	major, rest, _ := strings.Cut(release, ".")
	minor, _, _ := strings.Cut(rest, ".")
	minor = strings.TrimRightFunc(minor, func(r rune) bool { return r < '0' || r > '9' })
	ma, err1 := strconv.Atoi(major)
	mi, err2 := strconv.Atoi(minor)
	if err1 != nil || err2 != nil {
		return false // cannot tell: the safe way
	}
	return ma > 5 || ma == 5 && mi >= 8
}
