package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkget/bulkget/control"
	"github.com/bulkget/bulkget/folderlock"
	"github.com/bulkget/bulkget/state"
	"github.com/bulkget/bulkget/store"
)

// folder builds an output folder: path → content, where a content of the
// form "size:N" makes a file of N zero bytes (like a preallocated .part).
func folder(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		var n int64
		if _, err := fmt.Sscanf(content, "size:%d", &n); err == nil {
			content = string(make([]byte, n))
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// saveState writes a valid resume state for name's .part, claiming done of
// size bytes.
func saveState(t *testing.T, dir, name string, size, done int64) {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	half := size / 2
	f := &state.File{Size: size, Segments: []state.Segment{
		{Start: 0, End: half, Done: min(done, half)},
		{Start: half, End: size, Done: max(done-half, 0)},
	}}
	fsys := store.NewOS(root)
	defer fsys.Close()
	if err := state.Save(fsys, store.StateName(name), f); err != nil {
		t.Fatal(err)
	}
}

// snapshot records every path under dir with its size, mode and time, to
// show that status changed nothing.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		fi, err := d.Info()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %d %v %v\n", p, fi.Size(), fi.Mode(), fi.ModTime().UnixNano())
		return nil
	})
	return b.String()
}

func status(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	code, out, errs := runCLI(t, append([]string{"status"}, args...)...)
	if code != exitOK {
		t.Fatalf("status %v: exit %d: %s", args, code, errs)
	}
	return out, errs
}

func TestStatusEmptyFolder(t *testing.T) {
	dir := folder(t, map[string]string{".bulkget.lock": "123\n"})
	out, _ := status(t, dir)
	if want := "0 files: 0 done, 0 partial, 0 not started; 0 B downloaded\n" + noRun; out != want {
		t.Errorf("got %q, want %q", out, want)
	}
}

func TestStatusOnlyFinalFiles(t *testing.T) {
	dir := folder(t, map[string]string{
		"b.bin":                       "size:2048",
		"a/deep/c.bin":                "hello",
		".bulkget.lock":               "1\n",
		"gone.bin.part.state":         "left by a crash after the rename", // no .part: not a file in progress
		"gone.bin.part.state.tmp":     "",
		"a/deep/x.bin.part.state.tmp": "",
	})
	os.Symlink("b.bin", filepath.Join(dir, "link.bin"))
	out, _ := status(t, dir)
	want := "" +
		"STATUS  PROGRESS  SIZE     NAME\n" +
		"done    100%      5 B      a/deep/c.bin\n" +
		"done    100%      2.0 KiB  b.bin\n" +
		"2 files: 2 done, 0 partial, 0 not started; 2.0 KiB downloaded\n" + noRun
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
}

func TestStatusPartialFiles(t *testing.T) {
	dir := folder(t, map[string]string{
		"done.bin":               "size:100",
		"half.bin.part":          "size:1000",
		"all.bin.part":           "size:64", // complete, not yet renamed
		"corrupt.bin.part":       "size:1000",
		"corrupt.bin.part.state": "not a state",
		"resized.bin.part":       "size:999", // the state is for 1000 bytes
		"stream.bin.part":        "size:77",  // unknown size: no state is kept
		"old.bin":                "size:10",  // being replaced by old.bin.part
		"old.bin.part":           "size:400",
	})
	saveState(t, dir, "half.bin", 1000, 333)
	saveState(t, dir, "all.bin", 64, 64)
	saveState(t, dir, "resized.bin", 1000, 500)
	saveState(t, dir, "old.bin", 400, 1)
	out, _ := status(t, dir)
	want := "" +
		"STATUS   PROGRESS  SIZE             NAME\n" +
		"partial  100%      64 B of 64 B     all.bin\n" +
		"partial  unknown   -                corrupt.bin  (resume state unusable, the next run starts this file over)\n" +
		"done     100%      100 B            done.bin\n" +
		"partial  33.3%     333 B of 1000 B  half.bin\n" +
		"partial  0.2%      1 B of 400 B     old.bin  (replacing the file of that name)\n" +
		"partial  unknown   -                resized.bin  (resume state unusable, the next run starts this file over)\n" +
		"partial  unknown   -                stream.bin  (no resume state)\n" +
		"7 files: 1 done, 6 partial (3 unknown), 0 not started; 498 B downloaded\n" + noRun
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
}

func TestStatusWithList(t *testing.T) {
	dir := folder(t, map[string]string{
		"models/a.bin":      "size:3000",
		"models/b.bin.part": "size:4096",
		"not-listed.bin":    "x",
	})
	saveState(t, dir, "models/b.bin", 4096, 1024)
	list := filepath.Join(t.TempDir(), "models.csv")
	os.WriteFile(list, []byte("filename,url\n"+
		"models/z.bin,https://example.com/z\n"+ // line 2: not started
		"models/b.bin,https://example.com/b\n"+ // line 3
		"\n"+
		"./models//a.bin,https://example.com/a\n"+ // line 5, tidied to models/a.bin
		"/etc/passwd,https://example.com/p\n"), 0o644) // line 6: refused
	out, errs := status(t, "--list", list, dir)
	want := "" +
		"LINE  STATUS       PROGRESS  SIZE                NAME\n" +
		"2     not started  -         -                   models/z.bin\n" +
		"3     partial      25.0%     1.0 KiB of 4.0 KiB  models/b.bin\n" +
		"5     done         100%      2.9 KiB             models/a.bin\n" +
		"3 files: 1 done, 1 partial, 1 not started; 3.9 KiB downloaded\n" + noRun
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
	if !strings.Contains(errs, "line 6:") {
		t.Errorf("the bad list line is not reported: %q", errs)
	}

	// Before the first run there is no folder: everything is not started.
	out, _ = status(t, "--list", list, filepath.Join(dir, "not-yet"))
	if !strings.Contains(out, "3 files: 0 done, 0 partial, 3 not started; 0 B downloaded") {
		t.Errorf("missing folder with a list:\n%s", out)
	}
}

func TestStatusWithListCountsSourcesOnlyWhenAFileHasMirrors(t *testing.T) {
	dir := folder(t, map[string]string{"a.bin": "size:3000"})
	list := filepath.Join(t.TempDir(), "m.csv")

	// A mirrors column whose fields are empty or only repeat the url adds
	// no source: the report is the one for a list without mirrors.
	os.WriteFile(list, []byte("name,url,mirrors\n"+
		"a.bin,https://example.com/a,\n"+
		"b.bin,https://example.com/b,https://example.com/b\n"), 0o644)
	out, _ := status(t, "--list", list, dir)
	want := "" +
		"LINE  STATUS       PROGRESS  SIZE     NAME\n" +
		"2     done         100%      2.9 KiB  a.bin\n" +
		"3     not started  -         -        b.bin\n" +
		"2 files: 1 done, 0 partial, 1 not started; 2.9 KiB downloaded\n" + noRun
	if out != want {
		t.Errorf("without mirrors, got:\n%s\nwant:\n%s", out, want)
	}

	os.WriteFile(list, []byte("name,url,mirrors\n"+
		"a.bin,https://example.com/a,https://user:pw@mirror.example.org/a?token=s3cret https://m2.example.net/a\n"+
		"b.bin,https://example.com/b,\n"), 0o644)
	out, _ = status(t, "--list", list, dir)
	want = "" +
		"LINE  STATUS       PROGRESS  SIZE     SOURCES  NAME\n" +
		"2     done         100%      2.9 KiB  3        a.bin\n" +
		"3     not started  -         -        1        b.bin\n" +
		"2 files: 1 done, 0 partial, 1 not started; 2.9 KiB downloaded\n" + noRun
	if out != want {
		t.Errorf("with mirrors, got:\n%s\nwant:\n%s", out, want)
	}
}

func TestStatusShard(t *testing.T) {
	files := map[string]string{}
	for i := range 20 {
		files[fmt.Sprintf("f%02d.bin", i)] = "x"
	}
	dir := folder(t, files)
	total := 0
	for k := range 3 {
		out, _ := status(t, "--shard", fmt.Sprintf("%d/3", k), dir)
		var n int
		out = strings.TrimSuffix(out, noRun)
		fmt.Sscanf(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:], "%d files", &n)
		total += n
	}
	if total != 20 {
		t.Errorf("the shards' status reports add up to %d files, want 20", total)
	}
}

// status must work next to a running download: it takes no lock, and it
// writes nothing at all.
func TestStatusReadsOnly(t *testing.T) {
	dir := folder(t, map[string]string{"a.bin": "abc", "b.bin.part": "size:100", "c.bin.part": "size:5"})
	saveState(t, dir, "b.bin", 100, 50)
	lock, err := folderlock.Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	before := snapshot(t, dir)
	time.Sleep(10 * time.Millisecond) // so that a rewrite would show in the times
	list := filepath.Join(t.TempDir(), "l.csv")
	os.WriteFile(list, []byte("filename,url\na.bin,http://h/a\nb.bin,http://h/b\nnew/d.bin,http://h/d\n"), 0o644)
	status(t, dir)
	status(t, "--list", list, dir)
	if after := snapshot(t, dir); after != before {
		t.Errorf("status changed the folder:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestStatusUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"status"},
		{"status", dir, dir},
		{"status", filepath.Join(dir, "missing")},
		{"status", "--list", filepath.Join(dir, "missing.csv"), dir},
	} {
		if code, _, stderr := runCLI(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d: %s", args, code, exitUsage, stderr)
		}
	}
}

func TestStatusShowsTheVerificationRecord(t *testing.T) {
	dir := folder(t, map[string]string{"a.bin": "hello", "b.bin": "world", "c.bin": "plain"})
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	d := store.Open(root, dir, store.Options{Connections: 1})
	for _, n := range []string{"a.bin", "b.bin"} {
		if err := d.WriteRecord(n, store.Record{Algo: "crc32c", Digest: "01020304", Source: "x-goog-hash"}); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()
	later := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(dir, "b.bin"), later, later)
	out, _ := status(t, dir)
	for _, want := range []string{"a.bin  (verified: crc32c from x-goog-hash)", "b.bin  (changed since it was verified)", "5 B   c.bin\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("status does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, store.VerifiedSuffix) {
		t.Errorf("a record is listed as a file:\n%s", out)
	}
}

// noRun is the last line of a status report when no run holds the
// folder, where there is a control socket to ask.
var noRun = map[bool]string{true: "no run holds this folder now\n"}[control.Supported]
