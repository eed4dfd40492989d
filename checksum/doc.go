// Package checksum computes the checksums a downloaded file is verified
// against, in the ways a file arriving in pieces allows.
//
// Sums hashes a file's bytes in order: InOrder feeds it the in-order
// prefix as writes land, so a single stream is hashed as it is written,
// and HashRest reads back only what arrived ahead of that prefix. A Kind
// is a CRC (CRC32C, CRC64NVME) that each segment computes on its own, in a
// Span, as it writes; Combine joins the segments' CRCs into the file's
// without reading the file (zlib's crc32_combine, for any width up to 64
// bits).
//
// A mismatch is a *MismatchError. The package decides nothing about which
// checksum a file should be checked against: the caller picks the Wants.
//
// Kinds are immutable and safe for concurrent use; a Span is safe for
// concurrent use; a Sums takes one writer at a time (see Sums).
package checksum
