// The one-line records the plain and bar renderers print for an event.

package main

import (
	"fmt"
	"strings"

	"github.com/bulkget/bulkget/internal/mask"
	"github.com/bulkget/bulkget/scheduler"
)

// doneLine is a finished file; one with mirrors says what each source
// delivered: "✓ a.bin  3.1 GiB  in 12.0s  265.0 MiB/s  from a.example 2.1 GiB,
// b.example 1.0 GiB".
func doneLine(e scheduler.Event, speed string) string {
	line := fmt.Sprintf("✓ %s  %s  in %s  %s", e.Name, formatSize(e.Bytes), formatDuration(e.Elapsed), speed)
	if len(e.Sources) > 0 {
		line += "  from " + sourceList(e.Sources)
	}
	return line
}

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

// sourcesNote ends the record of a failed or expired file with mirrors:
// what each source delivered, and which were dropped. The reasons were
// given once, in the warning that dropped each source.
func sourcesNote(srcs []scheduler.SourceProgress) string {
	if len(srcs) == 0 {
		return ""
	}
	return "  sources: " + sourceList(srcs)
}

// Sources or hosts named in a one-line record, beyond which they are
// counted: a line that wraps three times says less than a short one.
const maxListed = 6

// sourceList is "a.example 2.1 GiB, b.example 300.0 MiB (dropped),
// c.example dropped": the bytes of each source in this run, in list
// order, and whether the file stopped using it.
func sourceList(srcs []scheduler.SourceProgress) string {
	var b strings.Builder
	for i, s := range srcs {
		if i == maxListed {
			fmt.Fprintf(&b, ", and %d more", len(srcs)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(hostText(s.Host))
		switch {
		case s.Dropped == "":
			b.WriteString(" " + formatSize(s.Bytes))
		case s.Bytes > 0:
			b.WriteString(" " + formatSize(s.Bytes) + " (dropped)")
		default:
			b.WriteString(" dropped")
		}
	}
	return b.String()
}

// hostsLine is the summary's line of bytes per host, with each host's
// share: "by host: a.example 2.1 GiB (67%), b.example 1.0 GiB (33%)".
func hostsLine(hosts []scheduler.HostBytes) string {
	var all int64
	for _, h := range hosts {
		all += h.Bytes
	}
	share := func(n int64) string {
		if all <= 0 {
			return ""
		}
		return fmt.Sprintf(" (%.0f%%)", 100*float64(n)/float64(all))
	}
	var b strings.Builder
	b.WriteString("by host: ")
	for i, h := range hosts {
		if i == maxListed {
			var rest int64
			for _, r := range hosts[i:] {
				rest += r.Bytes
			}
			fmt.Fprintf(&b, ", and %d more %s%s", len(hosts)-i, formatSize(rest), share(rest))
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(hostText(h.Host) + " " + formatSize(h.Bytes) + share(h.Bytes))
	}
	return b.String()
}

// hostText is a source's host as the records show it. The scheduler gives
// host[:port] alone; should user information ever slip into it, it is cut
// here rather than printed, and the text gets the redaction every message
// gets.
func hostText(h string) string {
	if i := strings.LastIndexByte(h, '@'); i >= 0 {
		h = h[i+1:]
	}
	return mask.Text(h)
}
