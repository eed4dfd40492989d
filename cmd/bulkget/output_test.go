package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkget/bulkget/internal/origin"
	"github.com/urfave/cli/v2"
)

// writeList serves files of the given sizes and writes l.csv for them; a
// negative size is a file the origin does not have (404).
func writeList(t *testing.T, srv *origin.Server, names []string, sizes []int64) {
	t.Helper()
	var b strings.Builder
	b.WriteString("filename,url\n")
	for i, n := range names {
		if sizes[i] >= 0 {
			srv.Add(n, sizes[i])
		}
		fmt.Fprintf(&b, "%s,%s\n", n, srv.URL(n))
	}
	b.WriteString("bad line without a url\n")
	if err := os.WriteFile("l.csv", []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestJSONLinesOfARealRun(t *testing.T) {
	srv := origin.New(origin.Options{PerConnRate: 2 << 20, Latency: time.Millisecond})
	defer srv.Close()
	chdir(t)
	names := []string{"a.bin", "dir/b.bin", "missing.bin", "c.bin"}
	writeList(t, srv, names, []int64{2 << 20, 1 << 20, -1, 64 << 10}) // missing.bin is line 4; the bad line is 6
	code, stdout, stderr := runCLI(t, "--progress", "json", "--progress-interval", "100ms", "-c", "4", "-k", "256K", "l.csv")
	if code != exitFailed {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitFailed, stderr)
	}
	seen := map[string]int{}
	var failed, summary, invalid map[string]any
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	for i, line := range lines {
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Fatalf("stdout line %d is not a JSON object: %q: %v", i+1, line, err)
		}
		typ, _ := obj["type"].(string)
		seen[typ]++
		switch typ {
		case "failed":
			failed = obj
		case "summary":
			if i != len(lines)-1 {
				t.Errorf("summary is line %d of %d", i+1, len(lines))
			}
			summary = obj
		case "invalid":
			invalid = obj
		}
	}
	for typ, want := range map[string]int{"started": 3, "done": 3, "failed": 1, "invalid": 1, "summary": 1} {
		if seen[typ] != want {
			t.Errorf("%d %q objects, want %d; stdout:\n%s", seen[typ], typ, want, stdout)
		}
	}
	if seen["progress"] == 0 {
		t.Errorf("no progress object in a run of half a second with --progress-interval 100ms")
	}
	if failed == nil || failed["line"] != 4.0 || failed["file"] != "missing.bin" || !strings.Contains(failed["error"].(string), "404") {
		t.Errorf("failed object %v, want line 4, missing.bin, a 404", failed)
	}
	if invalid == nil || invalid["line"] != 6.0 {
		t.Errorf("invalid object %v, want line 6", invalid)
	}
	if summary != nil {
		f, _ := summary["failed"].([]any)
		if summary["done"] != 3.0 || len(f) != 1 || f[0].(map[string]any)["line"] != 4.0 || summary["interrupted"] != false ||
			summary["bytes"] != float64(3<<20+64<<10) {
			t.Errorf("summary %v", summary)
		}
	}
	// Human output stays on stderr: the bad line, and nothing of the run.
	if !strings.Contains(stderr, "line 6") || strings.Contains(stderr, "✓") || strings.Contains(stderr, "done,") {
		t.Errorf("stderr:\n%s", stderr)
	}
}

func TestPlainOutputOfARealRun(t *testing.T) {
	srv := origin.New(origin.Options{PerConnRate: 4 << 20, Latency: time.Millisecond})
	defer srv.Close()
	chdir(t)
	writeList(t, srv, []string{"a.bin", "missing.bin", "b.bin"}, []int64{3 << 20, -1, 100 << 10})
	code, stdout, stderr := runCLI(t, "--progress", "plain", "--progress-interval", "200ms", "-c", "2", "-x", "1", "l.csv")
	if code != exitFailed {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitFailed, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout is not empty: %q", stdout)
	}
	for _, want := range []string{
		"start a.bin  3.0 MiB",
		"✓ b.bin  100.0 KiB  in ",
		"✗ missing.bin: http 404 Not Found (list line 3)",
		"progress ",
		"✓ a.bin  3.0 MiB  in ",
		"2 done, 0 skipped, 1 failed, 3.1 MiB in ",
		"failed:\n  ✗ missing.bin: http 404 Not Found (list line 3)",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "\x1b[") {
		t.Errorf("plain output has escape sequences:\n%q", stderr)
	}
}

func TestDemoMeasuresTheSpeedUp(t *testing.T) {
	dir := chdir(t)
	code, _, stderr := runCLI(t, "demo", "--files", "3", "--size", "2M", "--conn-rate", "8M", "--latency", "0s",
		"--progress", "none", "-c", "6", "--min-segment", "256K")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// 3 files of 2 MiB at 8 MiB/s per connection: 0.25 s with one
	// connection each, about half that with two.
	if !strings.Contains(stderr, "one connection per file") || !strings.Contains(stderr, "× faster") {
		t.Errorf("demo output lacks the measured comparison:\n%s", stderr)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "demo", ".compare-*"))
	if len(left) > 0 {
		t.Errorf("the comparison folder was left behind: %v", left)
	}
	code, _, stderr = runCLI(t, "demo", "--files", "2", "--size", "1M", "--conn-rate", "0", "--latency", "0s",
		"--progress", "none", "--no-compare")
	if code != exitOK || strings.Contains(stderr, "× faster") {
		t.Errorf("--no-compare: exit %d, output:\n%s", code, stderr)
	}
}

// TestEveryFlagHasAnEnvironmentVariable, in every command, and --help shows
// it along with the categories and an example.
func TestEveryFlagHasAnEnvironmentVariable(t *testing.T) {
	app := newApp(&bytes.Buffer{}, &bytes.Buffer{})
	check := func(where string, flags []cli.Flag) {
		for _, f := range flags {
			ef, ok := f.(interface{ GetEnvVars() []string })
			if !ok || len(ef.GetEnvVars()) == 0 {
				t.Errorf("%s: --%s has no environment variable", where, f.Names()[0])
			}
		}
	}
	check("bulkget", app.Flags)
	for _, name := range []string{"get", "demo"} {
		check("bulkget "+name, app.Command(name).Flags)
	}
	_, out, _ := runCLI(t, "--help")
	for _, want := range []string{"Selection", "Connections", "Limits", "Output", "Safety", "Examples:",
		"$BULKGET_PROGRESS_INTERVAL", "json"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	_, out, _ = runCLI(t, "demo", "--help")
	for _, want := range []string{"$BULKGET_DEMO_NO_COMPARE", "$BULKGET_DEMO_CONN_RATE", "$BULKGET_CONNECTIONS"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo --help lacks %q", want)
		}
	}
}

func TestManPage(t *testing.T) {
	code, out, stderr := runCLI(t, "man")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{".TH bulkget 1", "--connections", "BULKGET_CONNECTIONS", "demo"} {
		if !strings.Contains(out, want) {
			t.Errorf("man page lacks %q", want)
		}
	}
	if _, help, _ := runCLI(t, "--help"); strings.Contains(help, "   man ") {
		t.Errorf("man is listed in --help")
	}
}

func TestCompletionScripts(t *testing.T) {
	if code, _, _ := runCLI(t, "completion", "fish"); code != exitUsage {
		t.Errorf("completion fish: exit %d, want %d", code, exitUsage)
	}
	for _, shell := range []string{"bash", "zsh"} {
		code, script, stderr := runCLI(t, "completion", shell)
		if code != exitOK || !strings.Contains(script, "--generate-bash-completion") || strings.Contains(script, "%!") {
			t.Fatalf("completion %s: exit %d, %s\n%s", shell, code, stderr, script)
		}
		if path, err := exec.LookPath(shell); err == nil {
			cmd := exec.Command(path, "-n")
			cmd.Stdin = strings.NewReader(script)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s -n: %v\n%s", shell, err, out)
			}
		}
	}
	// The script asks the binary; see that both ends agree, in bash.
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	_, script, _ := runCLI(t, "completion", "bash")
	dir := chdir(t)
	os.WriteFile("models.csv", nil, 0o644)
	test := script + `
t() { COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMPREPLY=(); _bulkget; echo "${COMPREPLY[*]}"; }
t bulkget de
t bulkget --conn
t bulkget demo --no-
t bulkget --progress ""
t bulkget -c ""
t bulkget mod
`
	cmd := exec.Command(bash, "-c", test)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bulkgetBin(t))+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	want := "demo\n--connections --connect-timeout\n--no-compare --no-direct-io\nauto bars plain json none\n\nmodels.csv\n"
	if string(out) != want {
		t.Errorf("completions:\n%s\nwant:\n%s", out, want)
	}
}
