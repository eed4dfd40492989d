package scheduler

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bulkget/bulkget/internal/origin"
	"github.com/bulkget/bulkget/manifest"
)

func md5Of(name string, size int64) string {
	h := md5.New()
	buf := make([]byte, size)
	origin.Content(name, 0, 0, buf)
	h.Write(buf)
	return hex.EncodeToString(h.Sum(nil))
}

func TestListChecksumsAreCheckedAndAMismatchFailsAfterOneRefetch(t *testing.T) {
	cases := []struct {
		name      string
		opts      origin.Options
		size      int64
		sha, md   func(name string, size int64) string
		wantFail  string
		wantTries int64
	}{
		{"segmented sha256 right", origin.Options{}, 3 << 20, func(n string, s int64) string { return origin.SHA256Hex(n, 0, s) }, nil, "", 0},
		{"single stream md5 right", origin.Options{NoRanges: true}, 1 << 20, nil, md5Of, "", 1},
		{"sha256 wrong", origin.Options{}, 1 << 20, func(string, int64) string { return strings.Repeat("ab", 32) }, nil, "sha256 mismatch: list says abab", 2},
		{"md5 wrong, one stream", origin.Options{NoRanges: true}, 1 << 20, nil, func(string, int64) string { return strings.Repeat("0", 32) }, "md5 mismatch", 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fx := newFixture(t, c.opts)
			fx.add("k.bin", c.size)
			if c.sha != nil {
				fx.entries[0].SHA256 = c.sha("k.bin", c.size)
			}
			if c.md != nil {
				fx.entries[0].MD5 = c.md("k.bin", c.size)
			}
			dir := t.TempDir()
			opts := testOptions(dir)
			if c.wantTries > 0 {
				opts.MinSegment = c.size // one request per fetch, so fetches can be counted
			}
			sum := runFixture(t, fx, opts)
			if c.wantFail == "" {
				if sum.Done != 1 {
					t.Fatalf("%+v", sum)
				}
				fx.verify(t, dir, nil)
			} else {
				if len(sum.Failed) != 1 || !strings.Contains(sum.Failed[0].Err.Error(), c.wantFail) {
					t.Fatalf("failures %v, want %q", sum.Failed, c.wantFail)
				}
				msg := sum.Failed[0].Err.Error()
				if !strings.Contains(msg, origin.SHA256Hex("k.bin", 0, c.size)) && !strings.Contains(msg, md5Of("k.bin", c.size)) {
					t.Errorf("message lacks the actual hash: %s", msg)
				}
				if _, err := os.Stat(filepath.Join(dir, "k.bin")); err == nil {
					t.Errorf("a file failing its checksum is under its final name")
				}
			}
			if c.wantTries > 0 {
				if got := fx.srv.FileRequests("k.bin"); got != c.wantTries {
					t.Errorf("%d requests, want %d", got, c.wantTries)
				}
			}
		})
	}
}

func TestExistingFileSkippedWithoutNetworkWhenListCanTell(t *testing.T) {
	fx := newFixture(t, origin.Options{})
	fx.add("sum.bin", 1<<20)
	fx.add("size.bin", 1<<20)
	dir := t.TempDir()
	runFixture(t, fx, testOptions(dir))
	fx.entries[0].SHA256 = origin.SHA256Hex("sum.bin", 0, 1<<20)
	fx.entries[1].Size = 1 << 20
	fx.srv.WaitIdle(2e9)
	fx.srv.ResetStats()
	if sum := runFixture(t, fx, testOptions(dir)); sum.Skipped != 2 {
		t.Fatalf("%+v", sum)
	}
	if n := fx.srv.Stats().Requests; n != 0 {
		t.Errorf("%d requests to skip files the list can vouch for", n)
	}
	// A local file that fails the list's checksum is fetched again.
	os.WriteFile(filepath.Join(dir, "sum.bin"), make([]byte, 1<<20), 0o644)
	if sum := runFixture(t, fx, testOptions(dir)); sum.Done != 1 || sum.Skipped != 1 {
		t.Fatalf("%+v", sum)
	}
	fx.verify(t, dir, nil)
}

func TestServerSizeDifferentFromListFails(t *testing.T) {
	fx := newFixture(t, origin.Options{})
	fx.add("s.bin", 1000)
	fx.entries[0].Size = 999
	sum := runFixture(t, fx, testOptions(t.TempDir()))
	if len(sum.Failed) != 1 || !strings.Contains(sum.Failed[0].Err.Error(), "the list says 999 bytes, the server 1000") {
		t.Fatalf("%+v", sum)
	}
}

func TestHeadersAreSentButNeverLeaveTheHost(t *testing.T) {
	var atOrigin, atFront atomic.Int64
	fx := newFixture(t, origin.Options{})
	fx.srv.SetOptions(func(o *origin.Options) {
		o.Fault = func(r origin.Request) origin.Fault {
			if r.Header.Get("X-Token") != "" || r.Header.Get("Authorization") != "" {
				atOrigin.Add(1)
			}
			return origin.Fault{}
		}
	})
	fx.srv.Add("t.bin", 100<<10)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Token") == "s3cret" {
			atFront.Add(1)
		}
		http.Redirect(w, r, fx.srv.URL("t.bin"), http.StatusTemporaryRedirect)
	}))
	defer front.Close()
	fx.entries = []manifest.Entry{{Line: 2, Name: "t.bin", URL: front.URL + "/t.bin", Size: -1}}
	fx.sizes["t.bin"] = 100 << 10
	dir := t.TempDir()
	opts := testOptions(dir)
	opts.Header = http.Header{"X-Token": {"s3cret"}, "Authorization": {"Bearer abc"}}
	if sum := runFixture(t, fx, opts); sum.Done != 1 {
		t.Fatalf("%+v", sum)
	}
	fx.verify(t, dir, nil)
	if atFront.Load() == 0 {
		t.Errorf("the header never reached the list's host")
	}
	if atOrigin.Load() != 0 {
		t.Errorf("the header followed a redirect to another host %d times", atOrigin.Load())
	}
}

func TestSecretsAreRedactedFromFailures(t *testing.T) {
	fx := newFixture(t, origin.Options{})
	fx.entries = []manifest.Entry{
		{Line: 2, Name: "a.bin", URL: fx.srv.URL("missing.bin") + "?X-Amz-Signature=topsecret", Size: -1},
		{Line: 3, Name: "b.bin", URL: "http://user:hunter2@127.0.0.1:1/b.bin?sig=topsecret", Size: -1},
	}
	sum := runFixture(t, fx, testOptions(t.TempDir()))
	if len(sum.Failed) != 2 {
		t.Fatalf("%+v", sum)
	}
	for _, f := range sum.Failed {
		if msg := f.Err.Error(); strings.Contains(msg, "topsecret") || strings.Contains(msg, "hunter2") {
			t.Errorf("secret in failure: %s", msg)
		}
	}
}

func TestPlantedSymlinkCannotLeadOutside(t *testing.T) {
	base := t.TempDir()
	dir, canary := filepath.Join(base, "out"), filepath.Join(base, "canary")
	os.MkdirAll(dir, 0o755)
	os.MkdirAll(canary, 0o755)
	if err := os.Symlink(canary, filepath.Join(dir, "evil")); err != nil {
		t.Skip("no symlinks here:", err)
	}
	fx := newFixture(t, origin.Options{})
	fx.add("evil/x.bin", 1000)
	fx.add("fine.bin", 1000)
	sum := runFixture(t, fx, testOptions(dir))
	if sum.Done != 1 || len(sum.Failed) != 1 || sum.Failed[0].Name != "evil/x.bin" {
		t.Fatalf("%+v", sum)
	}
	if entries, _ := os.ReadDir(canary); len(entries) != 0 {
		t.Errorf("something was written through the symlink: %v", entries)
	}
}

// A real full disk: needs a small tmpfs, which only root can mount (see
// disk_test.go for the same paths with a fake disk, which run everywhere).
func TestFullTmpfsFailsFilesClearlyAndNothingPartialTakesAName(t *testing.T) {
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a 64 MiB tmpfs here (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	for _, noCheck := range []bool{false, true} {
		t.Run(fmt.Sprintf("no-space-check=%v", noCheck), func(t *testing.T) {
			dir := filepath.Join(mnt, fmt.Sprint(noCheck))
			fx := newFixture(t, origin.Options{PerConnRate: 64 << 20})
			fx.add("a.bin", 40<<20)
			fx.add("b.bin", 40<<20)
			opts := testOptions(dir)
			opts.NoSpaceCheck = noCheck
			opts.Connections = 2
			opts.MaxPerFile = 1
			sum := runFixture(t, fx, opts)
			if sum.Done+len(sum.Failed) != 2 || len(sum.Failed) == 0 {
				t.Fatalf("%+v", sum)
			}
			for _, f := range sum.Failed {
				if !noSpace(f.Err) {
					t.Errorf("failure is not a clear disk-full error: %v", f.Err)
				}
				if !strings.Contains(f.Err.Error(), "space") {
					t.Errorf("message does not say what is wrong: %v", f.Err)
				}
			}
			// Whatever is under a final name is complete.
			for _, n := range []string{"a.bin", "b.bin"} {
				if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
					if got := fileHash(t, filepath.Join(dir, n)); got != origin.SHA256Hex(n, 0, 40<<20) {
						t.Errorf("%s is corrupt", n)
					}
				}
			}
		})
	}
}

func TestRedactURLHidesQueryAndPasswordAndKeepsTheWrappedError(t *testing.T) {
	for in, want := range map[string]string{
		"https://host/a.bin?sig=abc&exp=1": "https://host/a.bin?REDACTED",
		"http://u:pw@host/x":               "http://REDACTED@host/x",
		"http://host/plain":                "http://host/plain",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
	err := redact(fmt.Errorf("wrapped: %w", context.Canceled))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("redact loses the wrapped error")
	}
}
