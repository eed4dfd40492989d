package integration

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Exit statuses of bulkget (docs/usage.md, "Exit status").
const (
	exitOK          = 0
	exitFailed      = 1
	exitInterrupted = 130
)

// runTimeout bounds one bulkget run, so that a hang fails its test instead
// of the whole test binary.
const runTimeout = 45 * time.Second

var (
	moduleRoot string // where go build runs, whatever folder a test is in
	binDir     string

	buildOnce sync.Once
	buildErr  error
)

func TestMain(m *testing.M) {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	moduleRoot = filepath.Dir(wd) // this package is one folder below the module root
	if binDir, err = os.MkdirTemp("", "bulkget-integration"); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(binDir)
	os.Exit(code)
}

// bulkgetBin builds the real binary once per test binary, on first use.
func bulkgetBin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(binDir, "bulkget")
	buildOnce.Do(func() {
		build := exec.Command("go", "build", "-o", bin, "./cmd/bulkget")
		build.Dir = moduleRoot
		if out, err := build.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build bulkget: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bin
}

// result is what one bulkget run left: its exit status, everything it
// printed (stdout and stderr in order), and how long it took.
type result struct {
	code    int
	out     string
	elapsed time.Duration
}

// bulkget is one run of the binary, started but maybe not ended.
type bulkget struct {
	t      *testing.T
	cmd    *exec.Cmd
	out    *syncBuffer
	start  time.Time
	cancel context.CancelFunc

	once sync.Once
	res  result
}

// startBulkget starts the binary with args, in dir, with env added to the
// environment.
func startBulkget(t *testing.T, dir string, env []string, args ...string) *bulkget {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	cmd := exec.CommandContext(ctx, bulkgetBin(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out := new(syncBuffer)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start bulkget: %v", err)
	}
	b := &bulkget{t: t, cmd: cmd, out: out, start: time.Now(), cancel: cancel}
	t.Cleanup(func() {
		cancel() // kills it if the test ended without waiting
		b.wait()
	})
	return b
}

// wait waits for the run to end and returns its result.
func (b *bulkget) wait() result {
	b.once.Do(func() {
		err := b.cmd.Wait()
		b.res = result{out: b.out.String(), elapsed: time.Since(b.start)}
		b.cancel()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			b.res.code = ee.ExitCode()
		case err != nil:
			b.t.Errorf("bulkget: %v", err)
			b.res.code = -1
		}
	})
	return b.res
}

// interrupt sends SIGINT, as Ctrl-C does, and waits for the run to end.
func (b *bulkget) interrupt() result {
	b.t.Helper()
	if err := b.cmd.Process.Signal(syscall.SIGINT); err != nil {
		b.t.Fatalf("SIGINT: %v", err)
	}
	res := b.wait()
	b.t.Logf("bulkget %s: interrupted, exit %d in %v\n%s", strings.Join(b.cmd.Args[1:], " "), res.code, res.elapsed.Round(time.Millisecond), res.out)
	return res
}

// runBulkget runs the binary to its end.
func runBulkget(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	r := startBulkget(t, dir, env, args...)
	res := r.wait()
	t.Logf("bulkget %s: exit %d in %v\n%s", strings.Join(args, " "), res.code, res.elapsed.Round(time.Millisecond), res.out)
	return res
}

// waitForFile waits until path exists and holds at least min bytes.
func waitForFile(t *testing.T, path string, min int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if fi, err := os.Stat(path); err == nil && fi.Size() >= min {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not appear", path)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// writeContent writes size deterministic bytes, derived from seed, to path
// and returns their SHA-256. Its modification time is set an hour back, so
// that a file replaced later (with the time of its replacement) gets other
// validators even within the same second.
func writeContent(t *testing.T, path, seed string, size int64) string {
	t.Helper()
	b := make([]byte, size)
	mrand.NewChaCha8(sha256.Sum256([]byte(seed))).Read(b)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// checkFile fails unless path holds the content whose SHA-256 is want.
func checkFile(t *testing.T, path, want string) {
	t.Helper()
	if got := fileSHA(t, path); got != want {
		t.Errorf("%s: sha256 %s, want %s", path, got, want)
	}
}

// writeList writes a list with a header line and one `name,url` line per
// pair.
func writeList(t *testing.T, path string, nameURL ...string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("filename,url\n")
	for i := 0; i+1 < len(nameURL); i += 2 {
		fmt.Fprintf(&b, "%s,%s\n", nameURL[i], nameURL[i+1])
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// noSecret fails if secret appears in any file under dir or in out.
func noSecret(t *testing.T, dir, out, secret string) {
	t.Helper()
	if strings.Contains(out, secret) {
		t.Errorf("bulkget printed the secret %q", secret)
	}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s holds the secret %q", path, secret)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// freePorts returns n distinct TCP ports free on 127.0.0.1 at the time of
// the call.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// writeCert generates a self-signed certificate for 127.0.0.1 and
// localhost, writes it and its key as PEM into dir, and returns their
// paths. The certificate is its own CA: bulkget trusts it through
// SSL_CERT_FILE=cert.
func writeCert(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: "bulkget integration test"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}
