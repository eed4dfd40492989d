package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bulkget/bulkget/internal/origin"
	"github.com/bulkget/bulkget/store"
)

// binDir holds the real binary for tests that need a process (signals); the
// others call runMain in-process.
// binDir holds the built binary; srcDir is this package's folder, where
// the build runs whatever folder a test has moved to.
var binDir, srcDir string

var (
	buildOnce sync.Once
	buildErr  error
)

// bulkgetBin builds the binary on first use rather than in TestMain: fuzz
// workers re-execute this test binary, TestMain included, and a `go build`
// in each of them stalled the fuzzer past its deadline.
func bulkgetBin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(binDir, "bulkget")
	buildOnce.Do(func() {
		build := exec.Command("go", "build", "-o", bin, ".")
		build.Dir = srcDir
		if out, err := build.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build bulkget: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bin
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bulkget-bin")
	if err != nil {
		panic(err)
	}
	binDir = dir
	if srcDir, err = os.Getwd(); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func sha(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// chdir runs the test in a fresh folder, as a user in their own folder.
func chdir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	return dir
}

// noLockFile fails if the output folder dir still holds the lock file: a
// run that ends, however it ends short of being killed, removes it.
func noLockFile(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Lstat(filepath.Join(dir, store.LockName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s left in %s (%v)", store.LockName, dir, err)
	}
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = runMain(append([]string{"bulkget"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestGetDownloadsListIntoFolderNamedAfterIt(t *testing.T) {
	srv := origin.New(origin.Options{Latency: time.Millisecond})
	defer srv.Close()
	sizes := map[string]int64{"a.bin": 5<<20 + 3, "sub/dir/b.bin": 100 << 10, "c.bin": 0}
	list := "filename,url\n"
	for _, n := range []string{"a.bin", "sub/dir/b.bin", "c.bin"} {
		srv.Add(n, sizes[n])
		list += n + "," + srv.URL(n) + "\r\n"
	}
	list += "missing.bin," + srv.URL("missing.bin") + "\n" // line 5: 404
	list += "../escape.bin," + srv.URL("a.bin") + "\n"     // line 6: refused
	cwd := chdir(t)
	os.Mkdir("lists", 0o755)
	if err := os.WriteFile("lists/tmp.csv", []byte(list), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "-c", "4", "--progress", "plain", "lists/tmp.csv")
	if code != exitFailed {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitFailed, stderr)
	}
	for n, size := range sizes {
		if got, want := sha(t, filepath.Join(cwd, "tmp", n)), origin.SHA256Hex(n, 0, size); got != want {
			t.Errorf("%s: sha256 %s, want %s", n, got, want)
		}
	}
	for _, want := range []string{"line 5", "404", "line 6", "3 done, 0 skipped, 1 failed"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(cwd, "escape.bin")); err == nil {
		t.Errorf("a name with .. was written outside the output folder")
	}
	noLockFile(t, filepath.Join(cwd, "tmp")) // after a failed run
}

func TestBareListAndGetAreTheSame(t *testing.T) {
	srv := origin.New(origin.Options{})
	defer srv.Close()
	srv.Add("x.bin", 12345)
	chdir(t)
	os.WriteFile("l.csv", []byte("name,url\nx.bin,"+srv.URL("x.bin")+"\n"), 0o644)
	for _, args := range [][]string{{"l.csv"}, {"get", "l.csv"}, {"get", "-d", "elsewhere", "l.csv"}} {
		code, _, stderr := runCLI(t, append([]string{"-q"}, args...)...)
		dir := "l"
		if len(args) == 4 {
			dir = "elsewhere"
		}
		if code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		if got, want := sha(t, filepath.Join(dir, "x.bin")), origin.SHA256Hex("x.bin", 0, 12345); got != want {
			t.Errorf("%v: wrong content", args)
		}
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	chdir(t)
	os.WriteFile("l.csv", []byte("filename,url\n"), 0o644)
	cases := [][]string{
		{"--no-such-flag", "l.csv"},
		{"get"},
		{"get", "a.csv", "b.csv"},
		{"get", "does-not-exist.csv"},
		{"-k", "lots", "l.csv"},
		{"-c", "0", "l.csv"},
		{"--progress", "fancy", "l.csv"},
		{"--on-hangup", "later", "l.csv"},
	}
	for _, args := range cases {
		if code, _, stderr := runCLI(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d; stderr: %s", args, code, exitUsage, stderr)
		}
	}
}

func TestEmptyListSucceeds(t *testing.T) {
	chdir(t)
	os.WriteFile("l.csv", []byte("filename,url\n"), 0o644)
	if code, _, stderr := runCLI(t, "l.csv"); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

func TestEnvironmentSetsOptions(t *testing.T) {
	srv := origin.New(origin.Options{PerConnRate: 16 << 20})
	defer srv.Close()
	srv.Add("big.bin", 2<<20)
	chdir(t)
	os.WriteFile("l.csv", []byte("filename,url\nbig.bin,"+srv.URL("big.bin")+"\n"), 0o644)
	t.Setenv("BULKGET_CONNECTIONS", "1")
	t.Setenv("BULKGET_MIN_SEGMENT", "64K")
	if code, _, stderr := runCLI(t, "-q", "l.csv"); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if st := srv.Stats(); st.PeakRequests != 1 || st.Requests != 1 {
		t.Errorf("BULKGET_CONNECTIONS=1 ignored: %d requests, %d at once", st.Requests, st.PeakRequests)
	}
}

func TestHelpAndVersion(t *testing.T) {
	code, out, _ := runCLI(t, "--help")
	for _, want := range []string{"bulkget get", "demo", "--connections", "--max-per-file", "--min-segment", "BULKGET_CONNECTIONS"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	if code != exitOK {
		t.Errorf("--help exit %d", code)
	}
	if code, out, _ := runCLI(t, "--version"); code != exitOK || !strings.Contains(out, version) {
		t.Errorf("--version: exit %d, %q", code, out)
	}
}

func TestDemoVerifiesItsFiles(t *testing.T) {
	chdir(t)
	code, _, stderr := runCLI(t, "demo", "--files", "3", "--size", "3M", "--conn-rate", "0", "--latency", "0s",
		"--progress", "none", "-c", "4", "--min-segment", "256K")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "3/3 files verified by SHA-256") {
		t.Errorf("demo output lacks the verification line:\n%s", stderr)
	}
}

func TestInterruptExits130AndKeepsOnlyPartFiles(t *testing.T) {
	srv := origin.New(origin.Options{PerConnRate: 256 << 10})
	defer srv.Close()
	srv.Add("slow.bin", 8<<20)
	dir := chdir(t)
	os.WriteFile("l.csv", []byte("filename,url\nslow.bin,"+srv.URL("slow.bin")+"\n"), 0o644)
	cmd := exec.Command(bulkgetBin(t), "--progress", "plain", "l.csv")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv.Stats().BytesServed < 64<<10 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	start := time.Now()
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitInterrupted {
		t.Fatalf("exit %v, want %d; stderr:\n%s", err, exitInterrupted, stderr.String())
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v to stop after SIGINT", d)
	}
	if _, err := os.Stat(filepath.Join(dir, "l", "slow.bin")); err == nil {
		t.Errorf("incomplete file under its final name")
	}
	if _, err := os.Stat(filepath.Join(dir, "l", "slow.bin.part")); err != nil {
		t.Errorf("no .part kept: %v", err)
	}
	noLockFile(t, filepath.Join(dir, "l"))
}

func TestLimitRateFlag(t *testing.T) {
	srv := origin.New(origin.Options{})
	defer srv.Close()
	srv.Add("r.bin", 3<<20)
	chdir(t)
	os.WriteFile("l.csv", []byte("filename,url\nr.bin,"+srv.URL("r.bin")+"\n"), 0o644)
	start := time.Now()
	if code, _, stderr := runCLI(t, "-q", "--limit-rate", "2M", "l.csv"); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// 3 MiB at 2 MiB/s from an empty bucket cannot take less than 1.5 s.
	if d := time.Since(start); d < 1400*time.Millisecond {
		t.Errorf("3 MiB at --limit-rate 2M took only %v", d)
	}
	if code, _, _ := runCLI(t, "--limit-rate", "fast", "l.csv"); code != exitUsage {
		t.Errorf("--limit-rate fast: exit %d, want %d", code, exitUsage)
	}
}

func TestCPUProfileFromEnvironment(t *testing.T) {
	srv := origin.New(origin.Options{})
	defer srv.Close()
	srv.Add("p.bin", 1<<20)
	chdir(t)
	os.WriteFile("l.csv", []byte("filename,url\np.bin,"+srv.URL("p.bin")+"\n"), 0o644)
	t.Setenv("BULKGET_CPUPROFILE", "cpu.prof")
	if code, _, stderr := runCLI(t, "-q", "l.csv"); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if fi, err := os.Stat("cpu.prof"); err != nil || fi.Size() == 0 {
		t.Errorf("no profile written: %v", err)
	}
}
