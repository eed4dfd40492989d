package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/bulkget/bulkget/internal/origin"
	"github.com/bulkget/bulkget/manifest"
	"github.com/bulkget/bulkget/store"
)

func TestParseShard(t *testing.T) {
	cases := []struct {
		in, env string
		want    shardSpec
		errHas  string // "" means no error
	}{
		{in: "", want: shardSpec{}},
		{in: "  ", want: shardSpec{}},
		{in: "0/1", want: shardSpec{0, 1}},
		{in: "3/4", want: shardSpec{3, 4}},
		{in: " 007/8 ", want: shardSpec{7, 8}},
		{in: "0/1048576", want: shardSpec{0, 1 << 20}},
		{in: "index/4", env: "2", want: shardSpec{2, 4}},
		{in: "index/1", env: "0", want: shardSpec{0, 1}},
		{in: "index/4", errHas: "JOB_COMPLETION_INDEX is not set"},
		{in: "index/4", env: "4", errHas: "JOB_COMPLETION_INDEX=4): there is no shard 4 of 4"},
		{in: "index/4", env: "-1", errHas: "JOB_COMPLETION_INDEX=-1): I must be a whole number from 0 to 3"},
		{in: "index/x", env: "1", errHas: "N must be"},
		{in: "4/4", errHas: "there is no shard 4 of 4; shards are numbered 0 to 3"},
		{in: "9/4", errHas: "no shard 9"},
		{in: "-1/4", errHas: "I must be"},
		{in: "+1/4", errHas: "I must be"},
		{in: "/4", errHas: "I must be"},
		{in: "a/4", errHas: "I must be"},
		{in: "1/0", errHas: "N must be a whole number from 1"},
		{in: "0/-2", errHas: "N must be"},
		{in: "0/", errHas: "N must be"},
		{in: "0/1048577", errHas: "N must be"},
		{in: "0/99999999999999999999", errHas: "N must be"},
		{in: "1/2/3", errHas: "N must be"},
		{in: "1 / 2", errHas: "must be"},
		{in: "3", errHas: "want I/N"},
		{in: "index", errHas: "want I/N"},
	}
	for _, tc := range cases {
		t.Run(tc.in+" "+tc.env, func(t *testing.T) {
			getenv := func(k string) string {
				if k != completionIndexEnv {
					t.Errorf("read %s", k)
				}
				return tc.env
			}
			got, err := parseShard(tc.in, getenv)
			if tc.errHas == "" {
				if err != nil || got != tc.want {
					t.Fatalf("parseShard(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("parseShard(%q) = %v, %v; want an error containing %q", tc.in, got, err, tc.errHas)
			}
			if !strings.HasPrefix(err.Error(), "--shard ") {
				t.Errorf("error %q does not name the flag", err)
			}
		})
	}
}

func TestShardFlagErrorsExit2(t *testing.T) {
	chdir(t)
	os.WriteFile("l.csv", []byte("filename,url\n"), 0o644)
	t.Setenv(completionIndexEnv, "")
	for _, args := range [][]string{
		{"--shard", "4/4", "l.csv"},
		{"--shard", "0/0", "l.csv"},
		{"--shard", "index/3", "l.csv"},
		{"status", "--shard", "1", "."},
	} {
		code, _, stderr := runCLI(t, args...)
		if code != exitUsage || !strings.Contains(stderr, "--shard") {
			t.Errorf("%v: exit %d, want %d with a --shard message; stderr: %s", args, code, exitUsage, stderr)
		}
	}
	t.Setenv("BULKGET_SHARD", "5/2")
	if code, _, stderr := runCLI(t, "l.csv"); code != exitUsage || !strings.Contains(stderr, "no shard 5 of 2") {
		t.Errorf("BULKGET_SHARD=5/2: exit %d; stderr: %s", code, stderr)
	}
}

// tree maps every path under dir to its SHA-256 ("dir" for folders). A
// finished run removes its lock file, so finding one fails the test.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case rel == ".":
		case d.IsDir():
			m[rel] = "dir"
		case d.Name() == store.LockName:
			t.Errorf("%s left behind", p)
		default:
			m[rel] = sha(t, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestShardedRunsMakeTheSameFolderAsOneRun(t *testing.T) {
	srv := origin.New(origin.Options{})
	defer srv.Close()
	var names []string
	var list strings.Builder
	list.WriteString("filename,url\n")
	for i := range 40 {
		name := fmt.Sprintf("set-%d/file-%02d.bin", i%3, i)
		if i%10 == 0 {
			name = fmt.Sprintf("Größe-%d.bin", i) // non-ASCII names shard by their UTF-8 bytes
		}
		size := int64(i * 7919 % 50000)
		if i == 7 {
			size = 600 << 10 // big enough to be split over connections with -k 64K
		}
		srv.Add(name, size)
		names = append(names, name)
		fmt.Fprintf(&list, "%s,%s\n", name, srv.URL(name))
	}
	cwd := chdir(t)
	os.WriteFile("l.csv", []byte(list.String()), 0o644)
	common := []string{"-q", "-c", "4", "-k", "64K"}

	if code, _, stderr := runCLI(t, append(common, "-d", "whole", "l.csv")...); code != exitOK {
		t.Fatalf("unsharded run: exit %d: %s", code, stderr)
	}

	const n = 4
	totals := map[string]int{}
	for k := range n {
		t.Setenv(completionIndexEnv, fmt.Sprint(k))
		summary := filepath.Join("summaries", fmt.Sprintf("shard-%d.json", k))
		code, _, stderr := runCLI(t, append(common, "--shard", fmt.Sprintf("index/%d", n), "--summary", summary, "-d", "sharded", "l.csv")...)
		if code != exitOK {
			t.Fatalf("shard %d: exit %d: %s", k, code, stderr)
		}
		// After shard k, exactly the files of shards 0..k are there.
		for _, name := range names {
			_, err := os.Stat(filepath.Join(cwd, "sharded", name))
			if want := manifest.Shard(name, n) <= k; (err == nil) != want {
				t.Errorf("after shard %d: %s present = %v, want %v (its shard is %d)", k, name, err == nil, want, manifest.Shard(name, n))
			}
		}
		var s struct {
			Shard         *shardJSON
			Entries, Done int
			Failed        []failureJSON
			ExitStatus    int `json:"exit_status"`
		}
		b, err := os.ReadFile(summary)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		if s.Shard == nil || *s.Shard != (shardJSON{Index: k, Count: n}) || s.Done != s.Entries || len(s.Failed) != 0 || s.ExitStatus != 0 {
			t.Errorf("shard %d summary: %s", k, b)
		}
		totals["entries"] += s.Entries
		totals["done"] += s.Done
	}
	if totals["entries"] != len(names) || totals["done"] != len(names) {
		t.Errorf("shard summaries add up to %v, want %d entries, all done", totals, len(names))
	}

	whole, sharded := tree(t, filepath.Join(cwd, "whole")), tree(t, filepath.Join(cwd, "sharded"))
	var diff []string
	for p, h := range whole {
		if sharded[p] != h {
			diff = append(diff, fmt.Sprintf("%s: one run %.12s, shards %.12s", p, h, sharded[p]))
		}
	}
	for p := range sharded {
		if _, ok := whole[p]; !ok {
			diff = append(diff, p+": only in the sharded folder")
		}
	}
	sort.Strings(diff)
	if len(diff) > 0 {
		t.Errorf("the shards' folder differs from one run's:\n%s", strings.Join(diff, "\n"))
	}
	if len(whole) < len(names) {
		t.Errorf("the unsharded folder has %d entries for %d files", len(whole), len(names))
	}
	for _, name := range names {
		if got := srv.FileRequests(name); got < 2 {
			t.Errorf("%s: %d requests for two downloads", name, got)
		}
	}
}
