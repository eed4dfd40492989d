package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulkget/bulkget/internal/origin"
)

// readSummary decodes a --summary file both into a map, to check which keys
// are there, and into the struct, to check the values.
func readSummary(t *testing.T, path string) (map[string]any, summaryJSON) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	var s summaryJSON
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s is not JSON: %v\n%s", path, err, b)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return m, s
}

// noTempFiles fails if a summary's temp file was left in dir.
func noTempFiles(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temp file left behind: %s", e.Name())
		}
	}
}

func TestSummaryReportsDoneFailedAndBadLines(t *testing.T) {
	srv := origin.New(origin.Options{})
	defer srv.Close()
	srv.Add("ok.bin", 123456)
	srv.Add("sub/also.bin", 1000)
	list := "filename,url\n" +
		"ok.bin," + srv.URL("ok.bin") + "\n" + // line 2
		"missing.bin," + srv.URL("missing.bin") + "\n" + // line 3: 404
		"# a comment\n" + // line 4
		"../up.bin," + srv.URL("ok.bin") + "\n" + // line 5: refused
		"ok.bin," + srv.URL("ok.bin") + "\n" + // line 6: duplicate
		"sub/also.bin," + srv.URL("sub/also.bin") + "\n" // line 7
	chdir(t)
	os.WriteFile("l.csv", []byte(list), 0o644)
	path := filepath.Join("reports", "deep", "run.json") // its folder does not exist yet
	before := time.Now()
	code, _, stderr := runCLI(t, "-q", "--summary", path, "l.csv")
	if code != exitFailed {
		t.Fatalf("exit %d, want %d: %s", code, exitFailed, stderr)
	}
	m, s := readSummary(t, path)
	noTempFiles(t, filepath.Dir(path))

	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	for _, k := range []string{"schema", "bulkget_version", "list", "dir", "shard", "started", "elapsed_seconds",
		"interrupted", "exit_status", "entries", "done", "skipped", "remaining", "bytes", "failed", "verified"} {
		if _, ok := m[k]; !ok {
			t.Errorf("key %q missing; keys: %v", k, keys)
		}
	}
	if _, ok := m["error"]; ok {
		t.Errorf("error set for a run that ran: %v", m["error"])
	}
	if m["shard"] != nil {
		t.Errorf("shard = %v for an unsharded run, want null", m["shard"])
	}
	if s.Schema != 1 || s.Version != version || s.List != "l.csv" || s.Dir != "l" {
		t.Errorf("schema %d, version %q, list %q, dir %q", s.Schema, s.Version, s.List, s.Dir)
	}
	if s.Entries != 3 || s.Done != 2 || s.Skipped != 0 || s.Remaining != 0 || s.Bytes != 123456+1000 {
		t.Errorf("entries %d, done %d, skipped %d, remaining %d, bytes %d", s.Entries, s.Done, s.Skipped, s.Remaining, s.Bytes)
	}
	if s.Interrupted || s.ExitStatus != exitFailed {
		t.Errorf("interrupted %v, exit_status %d", s.Interrupted, s.ExitStatus)
	}
	// The origin vouches for nothing and the list has no checksums.
	if want := []verifiedJSON{{2, "ok.bin", "none"}, {7, "sub/also.bin", "none"}}; !reflect.DeepEqual(s.Verified, want) {
		t.Errorf("verified %+v, want %+v", s.Verified, want)
	}
	if s.Started.Before(before.Add(-time.Second)) || s.Started.After(time.Now()) || s.Started.Location() != time.UTC {
		t.Errorf("started %v, run began at %v", s.Started, before)
	}
	if s.ElapsedSeconds <= 0 || s.ElapsedSeconds > time.Since(before).Seconds() {
		t.Errorf("elapsed_seconds %v", s.ElapsedSeconds)
	}
	type brief struct {
		Kind, Name string
		Line       int
	}
	var got []brief
	for _, f := range s.Failed {
		got = append(got, brief{f.Kind, f.Name, f.Line})
	}
	want := []brief{{"download", "missing.bin", 3}, {"list", "", 5}, {"list", "", 6}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("failed = %+v, want %+v", got, want)
	}
	for i, has := range []string{"404", `".."`, "duplicate"} {
		if !strings.Contains(s.Failed[i].Reason, has) {
			t.Errorf("failure on line %d: reason %q lacks %q", s.Failed[i].Line, s.Failed[i].Reason, has)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("summary mode %v, %v; want readable by its owner only", fi.Mode(), err)
	}

	// A second run replaces the file: now everything is skipped.
	os.WriteFile("l.csv", []byte("filename,url\nok.bin,"+srv.URL("ok.bin")+"\n"), 0o644)
	if code, _, stderr := runCLI(t, "-q", "--summary", path, "l.csv"); code != exitOK {
		t.Fatalf("second run: exit %d: %s", code, stderr)
	}
	_, s = readSummary(t, path)
	if s.Entries != 1 || s.Skipped != 1 || s.Done != 0 || len(s.Failed) != 0 || s.ExitStatus != 0 || s.Bytes != 0 {
		t.Errorf("second summary: %+v", s)
	}
	noTempFiles(t, filepath.Dir(path))
}

func TestSummaryWhenTheRunCannotStart(t *testing.T) {
	chdir(t)
	code, _, _ := runCLI(t, "--summary", "s.json", "no-such-list.csv")
	if code != exitUsage {
		t.Fatalf("exit %d, want %d", code, exitUsage)
	}
	m, s := readSummary(t, "s.json")
	if s.ExitStatus != exitUsage || !strings.Contains(s.Error, "no-such-list.csv") || len(s.Failed) != 0 || m["failed"] == nil {
		t.Errorf("summary of an unreadable list: %+v", m)
	}

	// Writing the summary must not fail after the download: a folder in
	// its place is refused before anything starts.
	os.WriteFile("l.csv", []byte("filename,url\n"), 0o644)
	os.Mkdir("taken.json", 0o755)
	code, _, stderr := runCLI(t, "--summary", "taken.json", "l.csv")
	if code != exitUsage || !strings.Contains(stderr, "--summary") {
		t.Errorf("--summary naming a folder: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat("l"); err == nil {
		t.Errorf("the download started although --summary was unusable")
	}
}

func TestSummaryOfAnEmptyShard(t *testing.T) {
	chdir(t)
	os.WriteFile("l.csv", []byte("filename,url\n"), 0o644)
	if code, _, stderr := runCLI(t, "-q", "--shard", "2/3", "--summary", "s.json", "l.csv"); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	m, s := readSummary(t, "s.json")
	if s.Shard == nil || *s.Shard != (shardJSON{2, 3}) || s.Entries != 0 || s.ExitStatus != 0 {
		t.Errorf("summary: %+v", m)
	}
	if f, ok := m["failed"].([]any); !ok || len(f) != 0 {
		t.Errorf("failed = %#v, want an empty array, not null", m["failed"])
	}
}

func TestWriteFileAtomicLeavesNothingOnFailure(t *testing.T) {
	dir := t.TempDir()
	// Renaming over a non-empty folder fails after the temp file is written.
	target := filepath.Join(dir, "x.json")
	os.MkdirAll(filepath.Join(target, "child"), 0o755)
	if err := writeFileAtomic(target, []byte("{}")); err == nil {
		t.Fatal("writeFileAtomic over a folder succeeded")
	}
	noTempFiles(t, dir)
}

// A pod that is evicted gets SIGTERM; its summary must still be written,
// saying the run was interrupted and how much was left.
func TestSummaryWhenInterrupted(t *testing.T) {
	srv := origin.New(origin.Options{PerConnRate: 256 << 10})
	defer srv.Close()
	srv.Add("slow.bin", 8<<20)
	srv.Add("quick.bin", 1000)
	dir := chdir(t)
	os.WriteFile("l.csv", []byte("filename,url\nquick.bin,"+srv.URL("quick.bin")+"\nslow.bin,"+srv.URL("slow.bin")+"\n"), 0o644)
	cmd := exec.Command(bulkgetBin(t), "-q", "--summary", "s.json", "l.csv")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv.Stats().BytesServed < 64<<10 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err == nil || cmd.ProcessState.ExitCode() != exitInterrupted {
		t.Fatalf("exit %v, want %d", err, exitInterrupted)
	}
	_, s := readSummary(t, filepath.Join(dir, "s.json"))
	if !s.Interrupted || s.ExitStatus != exitInterrupted || s.Entries != 2 || s.Done+s.Remaining != 2 || s.Remaining < 1 || s.Error != "" {
		t.Errorf("summary of an interrupted run: %+v", s)
	}
	noLockFile(t, filepath.Join(dir, "l"))
}
