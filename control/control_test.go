//go:build unix

package control

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkget/bulkget/store"
)

func echo(_ context.Context, req Request, w io.Writer) error {
	_, err := io.WriteString(w, `{"type":"echo","value":"`+req.Value+`"}`+"\n")
	return err
}

func call(t *testing.T, dir string, req Request) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rc, err := Call(ctx, dir, req)
	if err != nil {
		t.Fatalf("call %v: %v", req, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read reply: %v", err)
	}
	return string(b)
}

func serve(t *testing.T, dir string, ops map[string]Handler) *Server {
	t.Helper()
	s, err := Listen(dir, ops)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSocketAnswersItsOwner(t *testing.T) {
	dir := t.TempDir()
	s := serve(t, dir, map[string]Handler{"echo": echo})
	if want := filepath.Join(dir, store.SocketName); !strings.HasSuffix(s.Path(), filepath.Base(want)) {
		t.Errorf("socket at %s, want %s", s.Path(), want)
	}
	fi, err := os.Lstat(s.Path())
	if err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %v, mode %v: want a socket with mode 0600", err, fi.Mode())
	}
	if got := call(t, dir, Request{Op: "echo", Value: "hi"}); got != `{"type":"echo","value":"hi"}`+"\n" {
		t.Errorf("echo: %q", got)
	}
	if got := call(t, dir, Request{Op: "limit"}); !strings.Contains(got, `"type":"error"`) || !strings.Contains(got, `unknown request \"limit\"`) {
		t.Errorf("unknown op: %q", got)
	}
	s.Close()
	if _, err := os.Lstat(s.Path()); err == nil {
		t.Errorf("Close left the socket")
	}
	if _, err := Call(context.Background(), dir, Request{Op: "echo"}); !errors.Is(err, ErrNoRun) {
		t.Errorf("after Close: %v, want ErrNoRun", err)
	}
}

func TestNoRunOnAFolderWithoutSocket(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Join(dir, "missing")} {
		if _, err := Call(context.Background(), d, Request{Op: "status"}); !errors.Is(err, ErrNoRun) {
			t.Errorf("%s: %v, want ErrNoRun", d, err)
		}
	}
}

// A folder whose path leaves no room in sun_path gets its socket in a
// private folder of /tmp, where a client computes the same path.
func TestLongFolderGetsAShortSocketPath(t *testing.T) {
	dir := t.TempDir()
	for len(dir) <= maxSocketPath {
		dir = filepath.Join(dir, strings.Repeat("d", 40))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := serve(t, dir, map[string]Handler{"echo": echo})
	if strings.HasPrefix(s.Path(), dir) || len(s.Path()) > maxSocketPath {
		t.Fatalf("socket path %s for a folder of %d bytes", s.Path(), len(dir))
	}
	fi, err := os.Lstat(filepath.Dir(s.Path()))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("the socket's folder: %v, mode %v, want 0700", err, fi.Mode())
	}
	if got := call(t, dir, Request{Op: "echo", Value: "long"}); !strings.Contains(got, "long") {
		t.Errorf("echo: %q", got)
	}
}

// A socket left by a run that died is replaced; a file that is not a
// socket is not bulkget's to remove.
func TestStaleSocketIsReplaced(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, store.SocketName)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	serve(t, dir, map[string]Handler{"echo": echo})
	if got := call(t, dir, Request{Op: "echo"}); !strings.Contains(got, "echo") {
		t.Errorf("echo: %q", got)
	}

	other := t.TempDir()
	os.WriteFile(filepath.Join(other, store.SocketName), []byte("mine"), 0o644)
	if _, err := Listen(other, nil); err == nil {
		t.Fatalf("Listen over a regular file succeeded")
	}
	if b, _ := os.ReadFile(filepath.Join(other, store.SocketName)); string(b) != "mine" {
		t.Errorf("the regular file was touched")
	}
}

// Wait lets a handler finish its reply, and cancels one that would go on
// past its deadline; a client that leaves ends its handler.
func TestWaitAndLeavingClients(t *testing.T) {
	dir := t.TempDir()
	left := make(chan struct{})
	s := serve(t, dir, map[string]Handler{
		"forever": func(ctx context.Context, _ Request, w io.Writer) error {
			io.WriteString(w, "{}\n")
			<-ctx.Done()
			return nil
		},
		"leave": func(ctx context.Context, _ Request, w io.Writer) error {
			io.WriteString(w, "{}\n")
			<-ctx.Done()
			close(left)
			return nil
		},
	})
	rc, err := Call(context.Background(), dir, Request{Op: "leave"})
	if err != nil {
		t.Fatal(err)
	}
	bufio.NewReader(rc).ReadString('\n')
	rc.Close()
	select {
	case <-left:
	case <-time.After(2 * time.Second):
		t.Fatalf("the handler went on after its client left")
	}

	rc, err = Call(context.Background(), dir, Request{Op: "forever"})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	bufio.NewReader(rc).ReadString('\n')
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	s.Wait(ctx)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Wait took %v with a deadline of 100ms", d)
	}
}
