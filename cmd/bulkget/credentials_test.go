package main

import (
	"bytes"
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bulkget/bulkget/internal/testpki"
	"github.com/bulkget/bulkget/scheduler"
	"github.com/urfave/cli/v2"
)

// credentialsFrom parses args with the download flags, as get does, and
// returns the options the credential flags make and what they warned.
func credentialsFrom(t *testing.T, args ...string) (scheduler.Options, string, error) {
	t.Helper()
	var got scheduler.Options
	var warn bytes.Buffer
	app := &cli.App{Flags: getFlags(), Action: func(c *cli.Context) error {
		return credentials(c, &got, &warn)
	}}
	err := app.Run(append([]string{"bulkget"}, args...))
	return got, warn.String(), err
}

// home gives the test a home folder of its own, with no NETRC set, and
// returns it.
func home(t *testing.T) string {
	t.Helper()
	h := t.TempDir()
	t.Setenv("HOME", h)
	t.Setenv("USERPROFILE", h)
	t.Setenv("NETRC", "")
	return h
}

func writeFile(t *testing.T, path, s string, mode os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return path
}

const testNetrc = "machine example.com login ann password s3cret-pass\n"

func TestNetrcIsFoundAsCurlFindsIt(t *testing.T) {
	h := home(t)
	if o, warn, err := credentialsFrom(t); err != nil || o.Netrc != nil || warn != "" {
		t.Fatalf("no ~/.netrc: netrc %v, warning %q, error %v", o.Netrc, warn, err)
	}
	dot := writeFile(t, filepath.Join(h, ".netrc"), testNetrc, 0o600)
	o, warn, err := credentialsFrom(t)
	if err != nil || o.Netrc == nil || o.Netrc.Name != dot || warn != "" {
		t.Fatalf("~/.netrc: netrc %v, warning %q, error %v", o.Netrc, warn, err)
	}
	if o, _, _ := credentialsFrom(t, "--no-netrc"); o.Netrc != nil {
		t.Error("--no-netrc read ~/.netrc")
	}
	t.Setenv("BULKGET_NO_NETRC", "true")
	if o, _, _ := credentialsFrom(t); o.Netrc != nil {
		t.Error("BULKGET_NO_NETRC read ~/.netrc")
	}
	t.Setenv("BULKGET_NO_NETRC", "")

	other := writeFile(t, filepath.Join(t.TempDir(), "other"), testNetrc, 0o600)
	t.Setenv("NETRC", other)
	if o, _, err := credentialsFrom(t); err != nil || o.Netrc == nil || o.Netrc.Name != other {
		t.Errorf("NETRC: %v, %v", o.Netrc, err)
	}
	third := writeFile(t, filepath.Join(t.TempDir(), "third"), testNetrc, 0o600)
	if o, _, err := credentialsFrom(t, "--netrc-file", third); err != nil || o.Netrc == nil || o.Netrc.Name != third {
		t.Errorf("--netrc-file does not beat NETRC: %v, %v", o.Netrc, err)
	}
	t.Setenv("BULKGET_NETRC_FILE", third)
	if o, _, err := credentialsFrom(t); err != nil || o.Netrc == nil || o.Netrc.Name != third {
		t.Errorf("BULKGET_NETRC_FILE: %v, %v", o.Netrc, err)
	}
}

func TestNetrcFileErrorsNameTheFileAndHideThePassword(t *testing.T) {
	h := home(t)
	missing := filepath.Join(h, "missing-netrc")
	if _, _, err := credentialsFrom(t, "--netrc-file", missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing --netrc-file: %v", err)
	}
	t.Setenv("NETRC", missing)
	if _, _, err := credentialsFrom(t); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing $NETRC: %v", err)
	}
	t.Setenv("NETRC", "")
	dot := writeFile(t, filepath.Join(h, ".netrc"), "machine a\nlogin ann\npassword \"s3cret-pass\n", 0o600)
	_, _, err := credentialsFrom(t)
	if err == nil || !strings.Contains(err.Error(), dot+":3") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("broken ~/.netrc: %v; want its name and line 3, and no password", err)
	}
	if _, _, err := credentialsFrom(t, "--no-netrc"); err != nil {
		t.Errorf("--no-netrc still reads the broken file: %v", err)
	}
	if _, _, err := credentialsFrom(t, "--no-netrc", "--netrc-file", dot); err == nil {
		t.Error("--no-netrc with --netrc-file was accepted")
	}
}

func TestNetrcOthersCanReadIsUsedWithAWarning(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	h := home(t)
	dot := writeFile(t, filepath.Join(h, ".netrc"), testNetrc, 0o644)
	o, warn, err := credentialsFrom(t)
	if err != nil || o.Netrc == nil {
		t.Fatalf("a 0644 ~/.netrc is refused: %v", err)
	}
	if strings.Count(warn, "warning") != 1 || !strings.Contains(warn, dot) || strings.Contains(warn, "s3cret") {
		t.Errorf("warning %q: want one, naming the file, without the password", warn)
	}
}

func TestCertificateFlagsReachTheScheduler(t *testing.T) {
	home(t)
	pki := testpki.New(t)
	if o, _, err := credentialsFrom(t); err != nil || o.RootCAs != nil || o.ClientCert != nil {
		t.Fatalf("without flags: %v, %v, %v", o.RootCAs, o.ClientCert, err)
	}
	o, _, err := credentialsFrom(t, "--ca-cert", pki.CAFile, "--cert", pki.CertFile, "--key", pki.KeyFile)
	if err != nil || o.RootCAs == nil || o.ClientCert == nil {
		t.Fatalf("--ca-cert --cert --key: %v, %v, %v", o.RootCAs, o.ClientCert, err)
	}
	if o, _, err := credentialsFrom(t, "--cert", pki.BothFile); err != nil || o.ClientCert == nil {
		t.Errorf("--cert with the key inside: %v", err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--ca-cert", pki.KeyFile}, pki.KeyFile},
		{[]string{"--cert", pki.CertFile}, pki.CertFile},
		{[]string{"--key", pki.KeyFile}, "--key needs --cert"},
		{[]string{"--cert", pki.CertFile, "--key", pki.CAFile}, pki.CAFile},
	} {
		_, _, err := credentialsFrom(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v; want an error naming %q", c.args, err, c.want)
		}
	}
}

// TestCredentialsEndToEnd runs the command over a list with two servers:
// one that requires a client certificate from the test CA, and one that
// wants the netrc's Basic credentials.
func TestCredentialsEndToEnd(t *testing.T) {
	h := home(t)
	pki := testpki.New(t)
	body := bytes.Repeat([]byte("x"), 300<<10)
	serve := func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "f", time.Unix(1e9, 0), bytes.NewReader(body))
	}
	mtls := httptest.NewUnstartedServer(http.HandlerFunc(serve))
	mtls.TLS = &tls.Config{Certificates: []tls.Certificate{pki.Server}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pki.Pool}
	mtls.Config.ErrorLog = log.New(io.Discard, "", 0)
	mtls.StartTLS()
	defer mtls.Close()
	basic := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "ann" || p != "s3cret-pass" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		serve(w, r)
	}))
	defer basic.Close()
	writeFile(t, filepath.Join(h, ".netrc"), "machine 127.0.0.1 login ann password s3cret-pass\n", 0o600)
	chdir(t)
	list := "filename,url\nmtls.bin," + mtls.URL + "/f\nbasic.bin," + basic.URL + "/f\n"
	writeFile(t, "l.csv", list, 0o644)

	code, stdout, stderr := runCLI(t, "--progress", "plain", "--retries", "1", "--ca-cert", pki.CAFile, "--cert", pki.CertFile, "--key", pki.KeyFile, "l.csv")
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	for _, n := range []string{"mtls.bin", "basic.bin"} {
		if got, err := os.ReadFile(filepath.Join("l", n)); err != nil || !bytes.Equal(got, body) {
			t.Errorf("%s: %d bytes, %v", n, len(got), err)
		}
	}
	if strings.Contains(stdout+stderr, "s3cret") {
		t.Error("the netrc password is in the output")
	}

	// Without the certificate and the netrc, both fail, and say why.
	os.RemoveAll("l")
	code, _, stderr = runCLI(t, "--progress", "plain", "--retries", "1", "--ca-cert", pki.CAFile, "--no-netrc", "l.csv")
	if code != exitFailed || !strings.Contains(stderr, "certificate required") || !strings.Contains(stderr, "401") {
		t.Errorf("exit %d, want %d with a certificate and a 401 failure; stderr:\n%s", code, exitFailed, stderr)
	}
}
