// The one-line records the plain and bar renderers print for an event.

package main

import (
	"fmt"

	"github.com/bulkget/bulkget/scheduler"
)

func failureLine(name string, line int, err error) string {
	return fmt.Sprintf("✗ %s: %v (list line %d)", name, err, line)
}

// expiredLine is a file stopped by an expired URL: not failed, since its
// bytes are kept and a run with fresh links continues it.
func expiredLine(name string, line int, err error) string {
	return fmt.Sprintf("⧗ %s: %v (list line %d)", name, err, line)
}

func skippedLine(e scheduler.Event) string {
	if e.Reason != "" {
		return fmt.Sprintf("= %s: %s, skipped", e.Name, e.Reason)
	}
	return fmt.Sprintf("= %s: already downloaded, skipped", e.Name)
}

func resumedLine(e scheduler.Event) string {
	return fmt.Sprintf("↻ %s: resuming at %s of %s", e.Name, formatSize(e.Bytes), sizeOrUnknown(e.Total))
}

func warningLine(e scheduler.Event) string {
	if e.Name == "" { // about the run, not one file
		return fmt.Sprintf("warning: %v", e.Err)
	}
	return fmt.Sprintf("warning %s: %v", e.Name, e.Err)
}

// hostLine reports a change of the connections a host gets: lowered (Err
// says why: refusals, or connections that did not pay) or raised.
func hostLine(e scheduler.Event) string {
	if e.Err != nil {
		return fmt.Sprintf("host %s slowed down: %v", e.Name, e.Err)
	}
	return fmt.Sprintf("host %s: now up to %d connections", e.Name, e.Conns)
}
