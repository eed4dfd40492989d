package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulkget/bulkget/internal/origin"
	"github.com/bulkget/bulkget/store"
)

// The planted secrets: a password, a signed query, a header token. Every
// one contains "PLANTED" or "s3cr3t", which nothing a run writes may hold.
const (
	plantedUserinfo = "user:s3cr3t@"
	plantedQuery    = "?X-Amz-Signature=PLANTEDSIG&token=PLANTEDTOK"
	plantedHeader   = "Authorization: Bearer PLANTEDBEARER"
)

func assertNoPlanted(t *testing.T, what string, b []byte) {
	t.Helper()
	for _, s := range []string{"s3cr3t", "PLANTED"} {
		if i := bytes.Index(b, []byte(s)); i >= 0 {
			t.Errorf("%s holds the planted secret %q: …%s…", what, s, b[max(0, i-80):min(len(b), i+40)])
		}
	}
}

// assertNoPlantedOnDisk reads every file in dir, the log included, but the
// .part files, whose content is the download.
func assertNoPlantedOnDisk(t *testing.T, dir string) (files int) {
	t.Helper()
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		// A killed run leaves its socket, which holds nothing.
		if err != nil || !fi.Mode().IsRegular() || strings.HasSuffix(p, store.PartSuffix) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Error(err)
			return nil
		}
		files++
		assertNoPlanted(t, p, b)
		return nil
	})
	return files
}

// secretList serves a list whose every URL carries a password and a
// signature: one large file to interrupt, a 404, a 500, a refused
// connection, a redirect to a signed URL that is refused, and two bad lines
// that quote their URL.
func secretList(t *testing.T) (srv *origin.Server, list string) {
	t.Helper()
	srv = origin.New(origin.Options{PerConnRate: 1 << 20, Latency: 2 * time.Millisecond})
	t.Cleanup(srv.Close)
	srv.Add("big.bin", 6<<20)
	srv.Add("err.bin", 1000)
	srv.SetOptions(func(o *origin.Options) {
		o.Fault = func(r origin.Request) origin.Fault {
			if r.Name == "err.bin" {
				return origin.Fault{Status: http.StatusInternalServerError}
			}
			return origin.Fault{}
		}
	})
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+plantedUserinfo+"127.0.0.1:1/moved.bin?X-Amz-Signature=PLANTEDREDIRECT", http.StatusFound)
	}))
	t.Cleanup(redirect.Close)
	secret := func(u string) string {
		return strings.Replace(u, "://", "://"+plantedUserinfo, 1) + plantedQuery
	}
	var b strings.Builder
	b.WriteString("filename,url\n")
	for _, n := range []string{"big.bin", "err.bin", "gone.bin"} {
		fmt.Fprintf(&b, "%s,%s\n", n, secret(srv.URL(n)))
	}
	fmt.Fprintf(&b, "refused.bin,%s\n", secret("http://127.0.0.1:1/refused.bin"))
	fmt.Fprintf(&b, "redirected.bin,%s\n", secret(redirect.URL+"/r.bin"))
	fmt.Fprintf(&b, "nohost.bin,%s\n", "http://"+plantedUserinfo+"/x"+plantedQuery)
	fmt.Fprintf(&b, "badurl.bin,%s\n", "http://"+plantedUserinfo+"h/%zz"+plantedQuery)
	list = filepath.Join(t.TempDir(), "secret.csv")
	if err := os.WriteFile(list, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return srv, list
}

// TestNoPlantedSecretInAnythingARunLeaves runs the real binary over a list
// of URLs with planted credentials and signatures, and a planted token
// header: killed, interrupted, and to its end with failures, in every
// progress mode, then status and a dry run. Nothing it writes holds them.
func TestNoPlantedSecretInAnythingARunLeaves(t *testing.T) {
	srv, list := secretList(t)
	base := t.TempDir()
	dir := filepath.Join(base, "out")
	summary := filepath.Join(base, "summary.json")
	cmd := func(progress string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
		c := exec.Command(bulkgetBin(t), "--progress", progress, "-H", plantedHeader, "--summary", summary,
			"--retries", "1", "-c", "4", "--min-segment", "512K", "--checkpoint-interval", "100ms", "-d", dir, list)
		var stdout, stderr bytes.Buffer
		c.Stdout, c.Stderr = &stdout, &stderr
		return c, &stdout, &stderr
	}
	waitServed := func(n int64) {
		deadline := time.Now().Add(30 * time.Second)
		for srv.Stats().BytesServed < n && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	check := func(run string, stdout, stderr *bytes.Buffer) {
		t.Helper()
		assertNoPlanted(t, run+" stdout", stdout.Bytes())
		assertNoPlanted(t, run+" stderr", stderr.Bytes())
		assertNoPlantedOnDisk(t, dir)
		if b, err := os.ReadFile(summary); err == nil {
			assertNoPlanted(t, run+" summary", b)
		}
	}

	// Killed: no chance to clean up anything.
	c, stdout, stderr := cmd("json")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitServed(1 << 20)
	c.Process.Signal(syscall.SIGKILL)
	c.Wait()
	check("killed", stdout, stderr)
	if files := assertNoPlantedOnDisk(t, dir); files == 0 {
		t.Errorf("the killed run left no state to check")
	}

	// Interrupted.
	c, stdout, stderr = cmd("plain")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitServed(2 << 20)
	c.Process.Signal(syscall.SIGINT)
	var ee *exec.ExitError
	if err := c.Wait(); !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Fatalf("interrupted run: %v\n%s", err, stderr)
	}
	check("interrupted", stdout, stderr)
	if _, err := os.Stat(filepath.Join(dir, store.StateName("big.bin"))); err != nil {
		t.Errorf("the interrupted run left no state for big.bin: %v", err)
	}

	// In the background, logging from the start, with a watcher on its
	// socket: the log and the stream are redacted too.
	c, stdout, stderr = cmd("plain")
	c.Args = append([]string{c.Args[0], "-b"}, c.Args[1:]...)
	if err := c.Run(); err != nil {
		t.Fatalf("background run: %v\n%s", err, stderr)
	}
	check("background", stdout, stderr)
	_, watched, watchErr := runCLI(t, "watch", "--progress", "json", dir)
	assertNoPlanted(t, "watch stdout", []byte(watched))
	if !strings.Contains(watched, `"type":"summary"`) {
		t.Errorf("watch did not follow the background run to its summary:\n%s%s", watched, watchErr)
	}
	assertNoPlanted(t, "watch stderr", []byte(watchErr))
	deadline := time.Now().Add(30 * time.Second)
	for _, err := os.Stat(filepath.Join(dir, store.LockName)); err == nil && time.Now().Before(deadline); _, err = os.Stat(filepath.Join(dir, store.LockName)) {
		time.Sleep(20 * time.Millisecond)
	}
	if b, err := os.ReadFile(filepath.Join(dir, store.LogName)); err != nil || !bytes.Contains(b, []byte("err.bin")) {
		t.Errorf("the background run's log lacks its failures (%v):\n%s", err, b)
	}
	check("background", stdout, stderr)

	// To the end: big.bin finishes, the others fail.
	c, stdout, stderr = cmd("plain")
	if err := c.Run(); !errors.As(err, &ee) || ee.ExitCode() != exitFailed {
		t.Fatalf("full run: %v\n%s", err, stderr)
	}
	check("finished", stdout, stderr)
	for _, want := range []string{"err.bin", "500", "gone.bin", "404", "refused.bin", "redirected.bin", "line 7", "line 8"} {
		if !strings.Contains(stderr.String()+stdout.String(), want) {
			t.Errorf("the messages no longer mention %q:\n%s%s", want, stdout, stderr)
		}
	}
	if got, want := sha(t, filepath.Join(dir, "big.bin")), origin.SHA256Hex("big.bin", 0, 6<<20); got != want {
		t.Errorf("big.bin is wrong")
	}

	// The same with json events and bars' plain fallback.
	c, stdout, stderr = cmd("json")
	c.Run()
	check("json", stdout, stderr)

	// Reading commands.
	for _, args := range [][]string{
		{"status", "--list", list, dir},
		{"status", dir},
		{"--dry-run", "-d", dir, list},
		{"--dry-run", "--probe", "-H", plantedHeader, "-d", dir, list},
	} {
		var stdout, stderr bytes.Buffer
		c := exec.Command(bulkgetBin(t), args...)
		c.Stdout, c.Stderr = &stdout, &stderr
		c.Run()
		check(strings.Join(args[:2], " "), &stdout, &stderr)
	}
}

func TestBadHeaderFlagDoesNotEchoItsValue(t *testing.T) {
	chdir(t)
	os.WriteFile("l.csv", []byte("filename,url\n"), 0o644)
	code, stdout, stderr := runCLI(t, "-H", "Authorization Bearer PLANTEDBEARER", "l.csv")
	if code != exitUsage || !strings.Contains(stderr, "--header") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	assertNoPlanted(t, "stderr", []byte(stderr+stdout))
}
