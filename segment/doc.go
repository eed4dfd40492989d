// Package segment fetches one byte range of one remote file over one HTTP
// request and writes it in place into a shared output file.
//
// A segment is described by a Cursor: the next offset to write and an end
// that may shrink while the transfer runs. Shrinking is how work stealing
// works: another connection takes over the tail [mid, end) of a running
// segment by calling Split, and the running transfer stops at mid without
// ever writing a byte past it. The cursor reserves each chunk before it is
// written, so a split never hands out bytes that are already in flight.
//
// Open sends the request and checks the answer against it: a ranged request
// must be answered with 206 and a Content-Range equal to the range asked for
// and to the known total; anything else is an error (or, for 200, a
// Response with Partial false, which the caller must treat as "ranges not
// honoured" rather than as data for the segment's offset). Copy then streams
// the body into the file with WriteAt at the cursor's offset, reusing the
// caller's buffer, so memory is bounded by connections × buffer size.
//
// The package knows nothing about other segments, files, retries or the
// schedule; Classify tells the caller whether an error is worth retrying.
//
// Concurrency: a Cursor is safe for concurrent use by one writer (Copy) and
// any number of splitters. Copy calls on distinct cursors may share one
// io.WriterAt as long as their ranges do not overlap (os.File.WriteAt is a
// pwrite and allows that).
//
// Interruption: bytes before Cursor.Pos are written (not necessarily synced);
// nothing at or after it has been touched by this segment.
package segment
