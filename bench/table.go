package bench

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// WriteTable writes the results as one markdown table, in the order given.
func WriteTable(w io.Writer, results []Result) error {
	var b strings.Builder
	b.WriteString("| scenario | tool | wall s | on disk s | MiB/s | ideal s | × ideal | CPU s | CPU s/GiB | peak RSS MiB | files right | TCP conns (peak open) | requests | notes |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for _, r := range results {
		s := r.Scenario
		ideal := "–"
		if id := s.Ideal(); id > 0 {
			ideal = Seconds(id)
			if s.IdealKind() == "latency" {
				ideal += " (latency floor)"
			}
		}
		if r.Skipped != "" {
			fmt.Fprintf(&b, "| %s | %s | – | – | – | %s | – | – | – | – | – | – | – | %s |\n", s.Name, r.Tool, ideal, cell(r.Skipped))
			continue
		}
		// Speed and ratio only mean something when every file arrived.
		ratio, mibps := "–", "–"
		if r.Right == r.Total {
			mibps = fmt.Sprintf("%.0f", float64(s.Bytes())/(1<<20)/r.Wall.Seconds())
			if x := r.Ratio(); x > 0 {
				ratio = fmt.Sprintf("%.2f", x)
			}
		}
		// A process that ends within a few ms may end before its RSS
		// is sampled.
		rss := "–"
		if r.MaxRSS > 0 {
			rss = fmt.Sprintf("%.1f", float64(r.MaxRSS)/(1<<20))
		}
		gib := float64(s.Bytes()) / (1 << 30)
		fmt.Fprintf(&b, "| %s | %s | %.2f | %.2f | %s | %s | %s | %.2f | %.2f | %s | %d/%d | %d (%d) | %d | %s |\n",
			s.Name, r.Tool, r.Wall.Seconds(), (r.Wall + r.Flush).Seconds(), mibps, ideal, ratio,
			r.CPU.Seconds(), r.CPU.Seconds()/gib, rss,
			r.Right, r.Total, r.Conns, r.PeakConns, r.Requests, cell(r.Notes()))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Notes is the table's last column: the error, files that are wrong
// although the tool reported success, and the big file's requests.
func (r Result) Notes() string {
	var notes []string
	if n := len(r.Walls); n > 1 {
		notes = append(notes, fmt.Sprintf("median of %d runs (%.2f–%.2f s)", n, r.Walls[0].Seconds(), r.Walls[n-1].Seconds()))
	}
	if r.Err != "" {
		notes = append(notes, r.Err)
	}
	if bad := r.Total - r.Right; bad > 0 {
		notes = append(notes, fmt.Sprintf("%d missing, %d corrupt", r.Missing, bad-r.Missing))
	}
	if r.Unreported > 0 {
		notes = append(notes, fmt.Sprintf("**%d wrong with exit status 0**", r.Unreported))
	}
	if r.BigReqs > 0 {
		notes = append(notes, fmt.Sprintf("big file: %d requests", r.BigReqs))
	}
	if r.Worse != "" {
		notes = append(notes, "**"+r.Worse+"**")
	}
	return strings.Join(notes, "; ")
}

// Seconds formats an ideal time: two decimals, three below a second.
func Seconds(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%.3f", d.Seconds())
	}
	return fmt.Sprintf("%.2f", d.Seconds())
}

// WriteCommands writes the exact command lines as a markdown list, one per
// tool and distinct command, naming the scenarios that used it; tools in
// the order they first appear in results.
func WriteCommands(w io.Writer, results []Result) error {
	type key struct{ tool, cmd string }
	var order []key
	used := map[key][]string{}
	rank := map[string]int{}
	for _, r := range results {
		if _, ok := rank[r.Tool]; !ok {
			rank[r.Tool] = len(rank)
		}
		if r.Command == "" {
			continue
		}
		k := key{r.Tool, r.Command}
		if _, ok := used[k]; !ok {
			order = append(order, k)
		}
		used[k] = append(used[k], r.Scenario.Name)
	}
	sort.SliceStable(order, func(i, j int) bool { return rank[order[i].tool] < rank[order[j].tool] })
	var b strings.Builder
	for _, k := range order {
		fmt.Fprintf(&b, "- %s (%s): `%s`\n", k.tool, strings.Join(used[k], ", "), k.cmd)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// cell makes s safe inside a markdown table cell.
func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 160 {
		s = string(r[:157]) + "..."
	}
	return strings.ReplaceAll(s, "|", `\|`)
}

// WriteAdaptiveTable writes the results of Adaptive scenarios as one
// markdown table with what matters there: wall time against the host's
// ideal, the connections the origin saw, the requests it refused (429 or
// 503) and the bytes it served beyond the files' size (fetched twice, plus
// the few bytes of error bodies).
func WriteAdaptiveTable(w io.Writer, results []Result) error {
	var b strings.Builder
	b.WriteString("| scenario | tool | wall s | ideal s | × ideal | TCP conns (peak open) | mean in flight | GET requests | refused 429/503 (share) | served beyond size MiB (share) | CPU s | files right | notes |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for _, r := range results {
		s := r.Scenario
		ideal := "–"
		if id := s.Ideal(); id > 0 {
			ideal = Seconds(id)
		}
		if r.Skipped != "" {
			fmt.Fprintf(&b, "| %s | %s | – | %s | – | – | – | – | – | – | – | – | %s |\n", s.Name, r.Tool, ideal, cell(r.Skipped))
			continue
		}
		ratio, extra := "–", "–"
		if r.Right == r.Total {
			if x := r.Ratio(); x > 0 {
				ratio = fmt.Sprintf("%.2f", x)
			}
			over := r.Served - s.Bytes()
			extra = fmt.Sprintf("%.1f (%.2f%%)", float64(over)/(1<<20), 100*float64(over)/float64(s.Bytes()))
		}
		refused := "0"
		if r.Refused > 0 && r.Gets > 0 {
			refused = fmt.Sprintf("%d (%.0f%%)", r.Refused, 100*float64(r.Refused)/float64(r.Gets))
		}
		inFlight := "–"
		if r.Wall > 0 {
			inFlight = fmt.Sprintf("%.1f", r.Busy.Seconds()/r.Wall.Seconds())
		}
		fmt.Fprintf(&b, "| %s | %s | %.2f | %s | %s | %d (%d) | %s | %d | %s | %s | %.2f | %d/%d | %s |\n",
			s.Name, r.Tool, r.Wall.Seconds(), ideal, ratio, r.Conns, r.PeakConns, inFlight, r.Gets,
			refused, extra, r.CPU.Seconds(), r.Right, r.Total, cell(r.Notes()))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMirrorTable writes the results of mirrored scenarios as one
// markdown table: wall time against the ideal from every source and
// against one source, CPU and memory, and per source (the primary first)
// the MiB it served, its TCP connections and its GET requests, which show
// whether a tool used every mirror and how it shared the file out. A
// source stopped during the run is marked "stopped".
func WriteMirrorTable(w io.Writer, results []Result) error {
	var b strings.Builder
	b.WriteString("| scenario | tool | wall s | on disk s | MiB/s | ideal s | × ideal | one source s | CPU s | CPU s/GiB | peak RSS MiB | files right | MiB served per source (beyond size) | TCP conns per source | GET requests per source | notes |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for _, r := range results {
		s := r.Scenario
		ideal, one := "–", "–"
		if id := s.Ideal(); id > 0 {
			ideal = Seconds(id)
		}
		if id := s.OneSourceIdeal(); id > 0 {
			one = Seconds(id)
		}
		if r.Skipped != "" {
			fmt.Fprintf(&b, "| %s | %s | – | – | – | %s | – | %s | – | – | – | – | – | – | – | %s |\n", s.Name, r.Tool, ideal, one, cell(r.Skipped))
			continue
		}
		ratio, mibps, extra := "–", "–", ""
		if r.Right == r.Total {
			mibps = fmt.Sprintf("%.0f", float64(s.Bytes())/(1<<20)/r.Wall.Seconds())
			if x := r.Ratio(); x > 0 {
				ratio = fmt.Sprintf("%.2f", x)
			}
			extra = fmt.Sprintf(" (%+.1f)", float64(r.Served-s.Bytes())/(1<<20))
		}
		rss := "–"
		if r.MaxRSS > 0 {
			rss = fmt.Sprintf("%.1f", float64(r.MaxRSS)/(1<<20))
		}
		var served, conns, gets []string
		for _, src := range r.Sources {
			mib := fmt.Sprintf("%.0f", float64(src.Served)/(1<<20))
			if src.Stopped {
				mib += " stopped"
			}
			served = append(served, mib)
			conns = append(conns, fmt.Sprint(src.Conns))
			gets = append(gets, fmt.Sprint(src.Gets))
		}
		gib := float64(s.Bytes()) / (1 << 30)
		fmt.Fprintf(&b, "| %s | %s | %.2f | %.2f | %s | %s | %s | %s | %.2f | %.2f | %s | %d/%d | %s%s | %s | %s | %s |\n",
			s.Name, r.Tool, r.Wall.Seconds(), (r.Wall + r.Flush).Seconds(), mibps, ideal, ratio, one,
			r.CPU.Seconds(), r.CPU.Seconds()/gib, rss, r.Right, r.Total,
			strings.Join(served, " / "), extra,
			strings.Join(conns, " / "), strings.Join(gets, " / "), cell(r.Notes()))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
