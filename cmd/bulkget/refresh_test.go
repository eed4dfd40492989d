package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulkget/bulkget/manifest"
	"github.com/bulkget/bulkget/scheduler"
)

func TestRefresherTakesAChangedListThenTheCommand(t *testing.T) {
	list := filepath.Join(t.TempDir(), "l.csv")
	write := func(url string, at time.Time) {
		t.Helper()
		if err := os.WriteFile(list, []byte("filename,url\na.bin,"+url+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(list, at, at); err != nil {
			t.Fatal(err)
		}
	}
	old := "https://h.example/a.bin?sig=old"
	write(old, time.Now().Add(-time.Hour))
	e := manifest.Entry{Line: 2, Name: "a.bin", URL: old}
	ctx := context.Background()

	if _, err := newRefresher(list, false, "").url(ctx, e, old); err == nil {
		t.Error("a fresh URL from an unchanged list and no command")
	}

	r := newRefresher(list, false, "")
	write("https://h.example/a.bin?sig=new", time.Now())
	if got, err := r.url(ctx, e, old); err != nil || got != "https://h.example/a.bin?sig=new" {
		t.Errorf("after the list changed: %q, %v", got, err)
	}

	cmd := newRefresher(list, false, `printf '\n%s?sig=%s\n' "$2" "$1"`)
	if got, err := cmd.url(ctx, e, old); err != nil || got != old+"?sig=a.bin" {
		t.Errorf("from the command: %q, %v; want the list URL and the name it was given", got, err)
	}

	failing := newRefresher(list, false, `echo "presign: access denied" >&2; exit 3`)
	if _, err := failing.url(ctx, e, old); err == nil || !strings.Contains(err.Error(), "access denied") {
		t.Errorf("a failing command: %v, want its message", err)
	}
	if _, err := newRefresher(list, false, "true").url(ctx, e, old); err == nil {
		t.Error("a command that prints nothing gave a URL")
	}
}

func TestExpiredFileIsReportedApartFromFailures(t *testing.T) {
	var out bytes.Buffer
	j := newJSONLines(&out, 10*time.Second)
	why := errors.New("stopped with its URL expired (http 403 Forbidden); 3 of 8 bytes are kept: run again with fresh links to continue")
	j.event(scheduler.Event{Kind: scheduler.Expired, Time: time.Unix(1e9, 0), Line: 4, Name: "w.bin", Bytes: 3, Total: 8, Err: why})
	sum := scheduler.Summary{Expired: []scheduler.Failure{{Line: 4, Name: "w.bin", Err: why}}}
	j.finish(sum)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines: %q", len(lines), out.String())
	}
	var ev, summary map[string]any
	if json.Unmarshal([]byte(lines[0]), &ev) != nil || json.Unmarshal([]byte(lines[1]), &summary) != nil {
		t.Fatalf("not JSON: %q", out.String())
	}
	if got := slices.Sorted(maps.Keys(ev)); !slices.Equal(got, []string{"bytes", "error", "file", "line", "time", "total", "type"}) || ev["type"] != "expired" {
		t.Errorf("expired event %v", ev)
	}
	if exp, _ := summary["expired"].([]any); len(exp) != 1 {
		t.Errorf("summary expired %v", summary["expired"])
	}
	if failed, _ := summary["failed"].([]any); len(failed) != 0 {
		t.Errorf("an expired file is listed as failed: %v", summary["failed"])
	}

	var plain bytes.Buffer
	writeSummary(&plain, sum, false)
	for _, want := range []string{"0 failed, 1 expired", "⧗ w.bin: stopped with its URL expired", "fresh links"} {
		if !strings.Contains(plain.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, plain.String())
		}
	}
}
