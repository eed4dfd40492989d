package manifest

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/bulkget/bulkget/store"
)

// reservedSuffixes are the endings of the files bulkget keeps next to a
// download while it is in progress. A listed file with such a name could be
// overwritten by, or be mistaken for, another file's progress. They are
// compared case-insensitively because the output folder may live on a
// case-insensitive file system.
var reservedSuffixes = store.ReservedSuffixes()

const partState = store.PartSuffix + store.StateSuffix

// lockName is the file bulkget locks so that two runs do not share a folder.
const lockName = store.LockName

// ownNames are the other files of a run in its output folder, by what
// they are.
var ownNames = map[string]string{
	store.LogName:        "log",
	store.LogName + ".1": "log",
	store.SocketName:     "control socket",
}

const (
	// maxComponent is the longest file or folder name, in bytes, that the
	// common file systems take: 255 bytes on ext4, XFS, Btrfs and APFS, 255
	// UTF-16 units on NTFS (never fewer than 255 bytes of UTF-8).
	maxComponent = 255
	// maxFileName is the longest file name a list may give: the longest
	// progress file beside it (name.part.state.tmp) must fit maxComponent
	// too. A longer name used to fail only when that file was first
	// written, after the whole download.
	maxFileName = maxComponent - len(partState+store.TempSuffix)
)

// ValidName reports why a name cannot be used as a relative path inside the
// output folder, or nil.
//
// The rules do not depend on the operating system bulkget runs on, so a list
// that is accepted on one machine is accepted on all of them. Names that only
// need tidying ("a//b", "./a") are valid; NewReader's entries carry the tidy
// form.
func ValidName(name string) error {
	_, err := cleanName(name)
	return err
}

// cleanName validates name and returns it with empty and "." components
// removed.
func cleanName(name string) (string, error) {
	if name == "" {
		return "", errors.New("empty name")
	}
	if !utf8.ValidString(name) {
		return "", fmt.Errorf("name %q is not valid UTF-8", name)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c == 0x7f {
			return "", fmt.Errorf("name %q contains a control character (%#02x)", name, c)
		}
	}
	// On Windows a backslash separates folders, so "..\x" would escape the
	// folder there while looking harmless here.
	if strings.IndexByte(name, '\\') >= 0 {
		return "", fmt.Errorf("name %q contains a backslash; separate folders with /", name)
	}
	if name[0] == '/' {
		return "", fmt.Errorf("name %q is absolute; it must be relative to the output folder", name)
	}

	// Most names are already clean; they are returned without copying.
	tidy := true
	kept := 0
	last := ""
	for part := range strings.SplitSeq(name, "/") {
		switch part {
		case "..":
			// Rejected even where cleaning would cancel it out ("a/../b"):
			// such a name was likely meant to point somewhere else.
			return "", fmt.Errorf("name %q contains a \"..\" component; it must stay inside the output folder", name)
		case "", ".":
			tidy = false
		default:
			kept++
		}
		last = part
	}
	if kept == 0 {
		return "", fmt.Errorf("name %q refers to the output folder itself, not a file", name)
	}
	if last == "" || last == "." {
		return "", fmt.Errorf("name %q ends with a folder separator; it must name a file", name)
	}

	clean := name
	if !tidy {
		parts := make([]string, 0, kept)
		for part := range strings.SplitSeq(name, "/") {
			if part != "" && part != "." {
				parts = append(parts, part)
			}
		}
		clean = strings.Join(parts, "/")
	}

	// Checked after cleaning, since "./C:x" becomes "C:x". On Windows a drive
	// prefix makes the path leave the output folder even without a slash.
	if len(clean) >= 2 && clean[1] == ':' && isASCIILetter(clean[0]) {
		return "", fmt.Errorf("name %q starts with a drive letter; it must be relative to the output folder", name)
	}
	if file := clean[strings.LastIndexByte(clean, '/')+1:]; len(file) > maxFileName {
		return "", fmt.Errorf("name %q ends in a file name of %d bytes; at most %d fit (file systems allow %d, and bulkget adds %s while it downloads)",
			name, len(file), maxFileName, maxComponent, partState+store.TempSuffix)
	}
	for part := range strings.SplitSeq(clean, "/") {
		if len(part) > maxComponent {
			return "", fmt.Errorf("name %q has a folder name of %d bytes; file systems allow at most %d", name, len(part), maxComponent)
		}
		lower := strings.ToLower(part)
		if lower == lockName {
			return "", fmt.Errorf("name %q is reserved: %s is bulkget's lock file", name, lockName)
		}
		if what, ok := ownNames[lower]; ok {
			return "", fmt.Errorf("name %q is reserved: %s is bulkget's %s", name, lower, what)
		}
		// Folders too: a folder "x.part" would clash with the progress
		// file of a listed file "x".
		for _, s := range reservedSuffixes {
			if strings.HasSuffix(lower, s) {
				return "", fmt.Errorf("name %q is reserved: bulkget uses names ending in %s for downloads in progress", name, s)
			}
		}
	}
	return clean, nil
}

func isASCIILetter(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}
