package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkget/bulkget/internal/origin"
)

// hostileFixture serves good.bin and other.bin and returns a helper that
// writes a list made of a header, the given lines and the two good lines.
func hostileFixture(t *testing.T) (*origin.Server, func(lines ...string) string) {
	t.Helper()
	srv := origin.New(origin.Options{})
	t.Cleanup(srv.Close)
	srv.Add("good.bin", 10000)
	srv.Add("other.bin", 20000)
	return srv, func(lines ...string) string {
		body := "filename,url\n" + strings.Join(lines, "\n")
		if len(lines) > 0 {
			body += "\n"
		}
		body += "good.bin," + srv.URL("good.bin") + "\nsub/other.bin," + srv.URL("other.bin") + "\n"
		return body
	}
}

func TestHostileLists(t *testing.T) {
	srv, list := hostileFixture(t)
	u := srv.URL("good.bin")
	cases := []struct {
		name    string
		body    string
		badLine []string // each must appear in stderr
	}{
		{"traversal", list("../../escape.bin,"+u, "a/../../b.bin,"+u), []string{"line 2", "line 3"}},
		{"absolute", list("/etc/passwd,"+u, "C:/x.bin,"+u), []string{"line 2", "line 3"}},
		{"backslash and control", list(`a\b.bin,`+u, "a\x01b.bin,"+u), []string{"line 2", "line 3"}},
		{"bad schemes", list("f.bin,ftp://127.0.0.1/f", "g.bin,file:///etc/passwd", "h.bin,not a url"), []string{"line 2", "line 3", "line 4"}},
		{"duplicates", list("dup.bin,"+u, "dup.bin,"+u), []string{"line 3", "also on line 2"}},
		{"reserved names", list("x.bin.part,"+u, "y.part.state,"+u), []string{"line 2", "line 3"}},
		{"bom crlf quoting", "\ufeff" + strings.ReplaceAll(list(`"quoted, name.bin",`+u), "\n", "\r\n"), nil},
		{"long line", list(strings.Repeat("x", 1_000_000) + ".bin," + u), nil},
		{"binary garbage", list("\x00\xff\xfe,\x00garbage\x80"), []string{"line 2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base := chdir(t)
			os.Mkdir("canary", 0o755)
			os.WriteFile("canary/keep", []byte("x"), 0o644)
			os.WriteFile("l.csv", []byte(c.body), 0o644)
			code, _, stderr := runCLI(t, "-q", "l.csv")
			if len(c.badLine) > 0 && code != exitFailed {
				t.Errorf("exit %d, want %d", code, exitFailed)
			}
			for _, want := range c.badLine {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			if got := sha(t, filepath.Join(base, "l", "good.bin")); got != origin.SHA256Hex("good.bin", 0, 10000) {
				t.Errorf("good.bin not downloaded right")
			}
			if got := sha(t, filepath.Join(base, "l", "sub/other.bin")); got != origin.SHA256Hex("other.bin", 0, 20000) {
				t.Errorf("sub/other.bin not downloaded right")
			}
			entries, _ := os.ReadDir(base)
			for _, e := range entries {
				if n := e.Name(); n != "l" && n != "l.csv" && n != "canary" {
					t.Errorf("%s written outside the output folder", n)
				}
			}
			if got, _ := os.ReadDir(filepath.Join(base, "canary")); len(got) != 1 {
				t.Errorf("canary folder touched: %v", got)
			}
		})
	}
	t.Run("empty file", func(t *testing.T) {
		chdir(t)
		os.WriteFile("l.csv", nil, 0o644)
		if code, _, stderr := runCLI(t, "l.csv"); code != exitUsage || !strings.Contains(stderr, "l.csv") {
			t.Errorf("exit %d, stderr %s", code, stderr)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		chdir(t)
		if code, _, stderr := runCLI(t, "nope.csv"); code != exitUsage || !strings.Contains(stderr, "nope.csv") {
			t.Errorf("exit %d, stderr %s", code, stderr)
		}
	})
}

func TestStrictRefusesToStart(t *testing.T) {
	srv, list := hostileFixture(t)
	chdir(t)
	os.WriteFile("l.csv", []byte(list("../x.bin,"+srv.URL("good.bin"))), 0o644)
	code, _, stderr := runCLI(t, "-q", "--strict", "l.csv")
	if code != exitFailed || !strings.Contains(stderr, "line 2") || !strings.Contains(stderr, "--strict") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if srv.Stats().Requests != 0 {
		t.Errorf("--strict still downloaded")
	}
	if _, err := os.Stat("l"); err == nil {
		t.Errorf("--strict created the output folder")
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	srv, list := hostileFixture(t)
	chdir(t)
	os.WriteFile("l.csv", []byte(list()), 0o644)
	code, out, stderr := runCLI(t, "--dry-run", "l.csv")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "plan: 2 files into l") || !strings.Contains(out, "sub/other.bin") {
		t.Errorf("plan:\n%s", out)
	}
	if srv.Stats().Requests != 0 {
		t.Errorf("--dry-run without --probe made requests")
	}
	code, out, _ = runCLI(t, "--dry-run", "--probe", "l.csv")
	if code != exitOK || !strings.Contains(out, "total: 29.3 KiB") {
		t.Errorf("--probe: exit %d:\n%s", code, out)
	}
	if n := srv.Stats().Requests; n != 2 {
		t.Errorf("--probe made %d requests, want 2", n)
	}
	if _, err := os.Stat("l"); err == nil {
		t.Errorf("--dry-run created the output folder")
	}
}

func TestDryRunCountsSourcesOnlyWhenAFileHasMirrors(t *testing.T) {
	srv, list := hostileFixture(t)
	chdir(t)
	os.WriteFile("single.csv", []byte(list()), 0o644)
	for _, args := range [][]string{{"--dry-run"}, {"--dry-run", "--probe"}} {
		code, out, stderr := runCLI(t, append(args, "single.csv")...)
		if code != exitOK || strings.Contains(out, "source") {
			t.Errorf("%v without mirrors: exit %d, the plan mentions sources:\n%s%s", args, code, out, stderr)
		}
	}

	good, other := srv.URL("good.bin"), srv.URL("other.bin")
	os.WriteFile("m.csv", []byte("name,url,mirrors\n"+
		"good.bin,"+good+",http://user:pw@mirror.invalid/good.bin?token=s3cret "+good+"?sig=s3cret\n"+
		"sub/other.bin,"+other+",\n"+
		"dup.bin,"+good+",\""+good+"\n"+good+"\"\n"), 0o644)
	for _, args := range [][]string{{"--dry-run"}, {"--dry-run", "--probe"}} {
		code, out, stderr := runCLI(t, append(args, "m.csv")...)
		if code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		want := map[string]string{"good.bin": "3 sources", "sub/other.bin": "1 source", "dup.bin": "1 source"}
		for _, l := range strings.Split(out, "\n") {
			f := strings.Fields(l)
			if len(f) < 4 || f[0] != "line" {
				continue
			}
			if n := want[f[2]]; n == "" || !strings.Contains(l, "  "+n+"  ") {
				t.Errorf("%v: %q does not say %q", args, l, n)
			}
			delete(want, f[2])
		}
		if len(want) != 0 {
			t.Errorf("%v: the plan lacks %v:\n%s", args, want, out)
		}
		if strings.Contains(out, "mirror.invalid") || strings.Contains(out, "s3cret") || strings.Contains(out, "pw@") {
			t.Errorf("%v: the plan shows a mirror or a secret:\n%s", args, out)
		}
	}
}

func TestTLSIsVerifiedUnlessInsecure(t *testing.T) {
	srv := origin.NewTLS(origin.Options{})
	defer srv.Close()
	srv.Add("s.bin", 5000)
	chdir(t)
	os.WriteFile("l.csv", []byte("filename,url\ns.bin,"+srv.URL("s.bin")+"\n"), 0o644)
	code, _, stderr := runCLI(t, "-q", "l.csv")
	if code != exitFailed || !strings.Contains(stderr, "certificate") {
		t.Errorf("self-signed certificate accepted: exit %d: %s", code, stderr)
	}
	code, _, stderr = runCLI(t, "-q", "--insecure", "l.csv")
	if code != exitOK || !strings.Contains(stderr, "not verified") {
		t.Errorf("--insecure: exit %d: %s", code, stderr)
	}
	if got := sha(t, "l/s.bin"); got != origin.SHA256Hex("s.bin", 0, 5000) {
		t.Errorf("wrong content over TLS")
	}
}

func TestHeaderFlag(t *testing.T) {
	srv := origin.New(origin.Options{})
	defer srv.Close()
	var seen bytes.Buffer
	srv.SetOptions(func(o *origin.Options) {
		o.Fault = func(r origin.Request) origin.Fault {
			fmt.Fprint(&seen, r.Header.Get("Authorization"))
			return origin.Fault{}
		}
	})
	srv.Add("h.bin", 100)
	chdir(t)
	os.WriteFile("l.csv", []byte("filename,url\nh.bin,"+srv.URL("h.bin")+"\n"), 0o644)
	if code, _, stderr := runCLI(t, "-q", "-H", "Authorization: Bearer tok", "l.csv"); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if seen.String() != "Bearer tok" {
		t.Errorf("server saw Authorization %q", seen.String())
	}
	if code, _, _ := runCLI(t, "-H", "no colon", "l.csv"); code != exitUsage {
		t.Errorf("bad --header: exit %d", code)
	}
}

// TestHTTPSWithCAFromEnvironment is the common case of a private CA: the
// server offers HTTP/2, bulkget must still speak HTTP/1.1 over TLS.
func TestHTTPSWithCAFromEnvironment(t *testing.T) {
	srv := origin.NewTLS(origin.Options{PerConnRate: 16 << 20})
	defer srv.Close()
	srv.Add("s.bin", 3<<20)
	dir := chdir(t)
	os.WriteFile("ca.pem", srv.CertPEM(), 0o644)
	os.WriteFile("l.csv", []byte("filename,url\ns.bin,"+srv.URL("s.bin")+"\n"), 0o644)
	for _, extra := range [][]string{nil, {"--http2"}} {
		os.RemoveAll("l")
		cmd := exec.Command(bulkgetBin(t), append(append([]string{"-q", "--min-segment", "256K"}, extra...), "l.csv")...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+filepath.Join(dir, "ca.pem"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", extra, err, out)
		}
		if got := sha(t, "l/s.bin"); got != origin.SHA256Hex("s.bin", 0, 3<<20) {
			t.Errorf("%v: wrong content over TLS", extra)
		}
	}
}
