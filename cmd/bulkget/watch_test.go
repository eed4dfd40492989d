package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestWatchShowsWhatTheRunShows passes a run's events through the JSON
// lines of its socket and back, as watch does, from the start and joining
// midway: the records, the totals and the summary are the run's own.
func TestWatchShowsWhatTheRunShows(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 23, 0, 0, 0, time.UTC)
	var lines []string
	var buf bytes.Buffer
	j := newJSONLines(&buf, 0)
	for _, e := range script(t0) {
		buf.Reset()
		j.event(e)
		lines = append(lines, buf.String())
	}
	buf.Reset()
	j.finish(scriptSummary())
	lines = append(lines, buf.String())

	for _, c := range []struct {
		name string
		from int // the first line the watcher gets
	}{{"from the start", 0}, {"joining midway", 3}} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			p := &plain{w: &out, every: 5 * time.Second}
			sum, err := follow(p, strings.NewReader(strings.Join(lines[c.from:], "")))
			if err != nil || sum == nil {
				t.Fatalf("follow: %v, summary %v", err, sum)
			}
			p.finish(sum.Summary)
			got := out.String()
			want := []string{
				"retry config.json: http 503 Service Unavailable (attempt 1, next try in 1.5s)",
				"host example.com slowed down: server refused 8 connections",
				"warning config.json: the server ignored the range",
				"progress 0/4 files  98.0 MiB / ~220.0 MiB (45%)",
				"✗ missing.bin: http 404 Not Found (list line 3)",
				// The bytes it had when resumed are not this run's speed,
				// whether the watcher saw it resume or not.
				"✓ weights/model-00001-of-00002.safetensors  100.0 MiB  in 12.0s  5.0 MiB/s",
				"= README.md: already downloaded, skipped",
				"✓ config.json  10.0 MiB  in 14.0s  731.4 KiB/s",
				"2 done, 1 skipped, 1 failed, 70.0 MiB in 14.0s (5.0 MiB/s)",
				"failed:\n  ✗ missing.bin: http 404 Not Found (list line 3)",
			}
			if c.from == 0 {
				want = append([]string{"↻ weights/model-00001-of-00002.safetensors: resuming at 40.0 MiB of 100.0 MiB",
					"start config.json  10.0 MiB"}, want...)
			}
			rest := got
			for _, w := range want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("watch output lacks, or has out of order, %q:\n%s", w, got)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

// TestWatchReportsARefusal: a request the run does not know is an error,
// not an empty watch.
func TestWatchReportsARefusal(t *testing.T) {
	_, err := follow(&plain{w: &bytes.Buffer{}}, strings.NewReader(`{"type":"error","error":"unknown request \"watch\""}`+"\n"))
	if err == nil || !strings.Contains(err.Error(), `unknown request "watch"`) {
		t.Errorf("follow: %v", err)
	}
}
