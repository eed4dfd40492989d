package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/bulkget/bulkget/manifest"
	"github.com/urfave/cli/v2"
)

const catMany = "Many machines"

// completionIndexEnv is set by Kubernetes in every pod of an Indexed Job to
// the pod's index, from 0 to completions-1.
const completionIndexEnv = "JOB_COMPLETION_INDEX"

// maxShards is far above any real fleet (a Kubernetes Indexed Job has at most
// 100,000 indexes); the bound only turns a typo into an error.
const maxShards = 1 << 20

// shardSpec selects the part of a list that one machine downloads: the
// entries whose manifest.Shard is Index when the list is split Count ways.
// The zero value selects the whole list.
type shardSpec struct {
	Index, Count int
}

func (s shardSpec) on() bool { return s.Count > 0 }

func (s shardSpec) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

func (s shardSpec) has(name string) bool {
	return !s.on() || manifest.Shard(name, s.Count) == s.Index
}

func shardFlag() cli.Flag {
	return &cli.StringFlag{Name: "shard", Category: catMany, EnvVars: env("SHARD"),
		Usage: "take only shard I of N of the list, by a stable hash of each name (I/N, or index/N to read I from " +
			completionIndexEnv + ", as in a Kubernetes Indexed Job)"}
}

// shardOption reads --shard.
func shardOption(c *cli.Context) (shardSpec, error) {
	return parseShard(c.String("shard"), os.Getenv)
}

// parseShard reads I/N, where I is a number or the word "index" for the
// value of JOB_COMPLETION_INDEX. "" means no sharding. Both numbers are plain
// decimal digits: "+1" or "-0" is more likely a mistake than a shard.
func parseShard(v string, getenv func(string) string) (shardSpec, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return shardSpec{}, nil
	}
	is, ns, ok := strings.Cut(v, "/")
	if !ok {
		return shardSpec{}, fmt.Errorf("--shard %q: want I/N, such as 0/4 for the first of 4 shards, or index/N", v)
	}
	n, ok := decimal(ns)
	if !ok || n < 1 || n > maxShards {
		return shardSpec{}, fmt.Errorf("--shard %q: N must be a whole number from 1 to %d", v, maxShards)
	}
	from := ""
	if is == "index" {
		is = getenv(completionIndexEnv)
		if is == "" {
			return shardSpec{}, fmt.Errorf("--shard %q: %s is not set (Kubernetes sets it in the pods of an Indexed Job); "+
				"give the shard number instead, as in 0/%d", v, completionIndexEnv, n)
		}
		from = fmt.Sprintf(" (%s=%s)", completionIndexEnv, is)
	}
	i, ok := decimal(is)
	switch {
	case !ok:
		return shardSpec{}, fmt.Errorf("--shard %q%s: I must be a whole number from 0 to %d, or index", v, from, n-1)
	case i >= n:
		// Most likely a Job whose completions and N disagree: say both.
		return shardSpec{}, fmt.Errorf("--shard %q%s: there is no shard %d of %d; shards are numbered 0 to %d", v, from, i, n, n-1)
	}
	return shardSpec{Index: i, Count: n}, nil
}

// decimal parses a non-negative number of at most 9 digits, enough for
// maxShards, so it cannot overflow.
func decimal(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// selectShard keeps the entries of shard s, in list order, and says how many
// of the list's files that is, which is the first thing to check in a pod's
// log when the shards look uneven.
func selectShard(s shardSpec, entries []manifest.Entry, stderr io.Writer, quiet bool) []manifest.Entry {
	if !s.on() {
		return entries
	}
	var mine []manifest.Entry
	for _, e := range entries {
		if s.has(e.Name) {
			mine = append(mine, e)
		}
	}
	if !quiet {
		fmt.Fprintf(stderr, "bulkget: shard %s: %d of the list's %d files\n", s, len(mine), len(entries))
	}
	return mine
}
