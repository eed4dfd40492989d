// Package manifest reads bulkget's download lists.
//
// # Format
//
// A list is CSV as in RFC 4180: fields may be quoted, and a quoted field may
// hold separators, doubled quotes ("") and line breaks. Lines may end in LF or
// CRLF. A UTF-8 byte order mark at the very start is ignored. Lines that are
// empty or hold only spaces and tabs are skipped, and so are comment lines,
// whose first character other than a space or tab is '#'. Inside a quoted
// field such lines are data, not comments.
//
// The first line that is not skipped is the header. It is never an entry. If
// it names both a name column (filename, name or path) and a url column,
// compared without regard to case or surrounding spaces, columns are found by
// name, in any order, and the optional sha256, md5, size and mirrors (or
// mirror) columns are recognised too; other columns are ignored. Otherwise the header is only a
// title, and every line is filename,url followed by anything at all.
//
// A header whose url field (the second, for a title) is an absolute http or
// https URL is an entry of a list that has no header: reading it as a title
// would silently lose that file, so the list is refused with
// [ErrEntryAsHeader], naming the line and the fixes. A list without a header
// is read with [Options].NoHeader: then there is no header at all, every
// line is filename,url followed by anything at all, and a list of only blank
// lines and comments is empty rather than an error.
//
// If the header line contains a tab and no comma, the list is tab-separated
// throughout; quoting works the same way.
//
// Surrounding spaces are trimmed from every field. sha256 and md5, when
// present and not empty, must be 64 and 32 hex digits; size, when present and
// not empty, is a decimal number of bytes. An empty field means "not known".
//
// # Mirrors
//
// The mirrors field holds further URLs for the same file, separated by any
// run of white space (spaces, tabs, or the line breaks of a quoted field);
// empty means the url is the only source. Each is checked as the url is,
// and a bad one makes the line bad, naming it by its place in the field
// ("mirror 2"). A mirror that is the same text as the url or as an
// earlier mirror is dropped without a word. A line may hold at most
// [MaxMirrors]. A list without named columns, and so a list read with
// NoHeader, has no mirrors.
//
// # Line numbers
//
// Every line number is a physical line of the file, counting from 1 and
// including the header, skipped lines and the extra lines of quoted fields
// that contain line breaks. An entry's line is the line its record starts on,
// which is what an editor shows when the user goes to fix it. Only '\n' ends a
// line; a lone '\r' does not.
//
// # Errors
//
// A problem confined to one record (a bad name, url, mirror or checksum, too
// few fields, a stray quote) is a [*LineError], and reading continues with the
// next record, so a user sees every bad line of a long list at once rather
// than fixing them one run at a time. Reading stops only when it cannot go
// on: an I/O error, a record longer than 1 MiB, or a quote that is never
// closed, which turns the rest of the file into one field.
//
// # Names
//
// A name comes from a file that may have been written by someone else, and
// bulkget writes where it says, so names are confined to the output folder:
// no absolute paths or drive letters, no ".." components, no backslashes
// (a separator on Windows), and no control characters or invalid UTF-8, which
// make names that cannot be typed or shown. Names are also kept away from the
// files bulkget itself keeps in that folder (the ".part", ".part.state" and
// ".part.state.tmp" endings and ".bulkget.lock", named by package store), so
// a listed file can never overwrite a download's progress. These rules are the same on every
// operating system, so a list means the same thing wherever it is used.
// "a//b" and "./a" are accepted and tidied to "a/b" and "a"; a name ending
// in "/" names a folder and is refused. See [ValidName].
//
// # Shards
//
// [Shard] splits a list over several machines by a stable hash of each
// entry's name, so machines that read the same list agree on which files are
// theirs without talking to each other. Sharding applies to the entries
// [ReadAll] returns: names are checked, and duplicates found, over the whole
// list first.
//
// # Memory
//
// [Reader] holds one record at a time, so it reads lists of millions of lines
// in constant memory. [ReadAll] keeps every entry, and every name to find
// duplicates, which is small per entry.
package manifest
