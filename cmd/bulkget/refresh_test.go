package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkget/bulkget/manifest"
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

	if _, err := newRefresher(list, "").url(ctx, e, old); err == nil {
		t.Error("a fresh URL from an unchanged list and no command")
	}

	r := newRefresher(list, "")
	write("https://h.example/a.bin?sig=new", time.Now())
	if got, err := r.url(ctx, e, old); err != nil || got != "https://h.example/a.bin?sig=new" {
		t.Errorf("after the list changed: %q, %v", got, err)
	}

	cmd := newRefresher(list, `printf '\n%s?sig=%s\n' "$2" "$1"`)
	if got, err := cmd.url(ctx, e, old); err != nil || got != old+"?sig=a.bin" {
		t.Errorf("from the command: %q, %v; want the list URL and the name it was given", got, err)
	}

	failing := newRefresher(list, `echo "presign: access denied" >&2; exit 3`)
	if _, err := failing.url(ctx, e, old); err == nil || !strings.Contains(err.Error(), "access denied") {
		t.Errorf("a failing command: %v, want its message", err)
	}
	if _, err := newRefresher(list, "true").url(ctx, e, old); err == nil {
		t.Error("a command that prints nothing gave a URL")
	}
}
