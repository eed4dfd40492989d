package control

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bulkget/bulkget/store"
)

// ErrNoRun is matched (via errors.Is) by the error of Call when no run
// answers on the folder's socket.
var ErrNoRun = errors.New("control: no run holds the folder")

// ErrUnsupported is returned where the platform has no control socket.
var ErrUnsupported = errors.New("control: not supported on this platform")

// maxSocketPath is the longest socket path every Unix takes: sun_path is
// 104 bytes on macOS and the BSDs, and the last holds the terminating NUL.
const maxSocketPath = 103

// acceptRetry is the pause after a failed accept.
const acceptRetry = 100 * time.Millisecond

// maxRequest bounds the request line a client may send.
const maxRequest = 4 << 10

// Request is the one line a client sends.
type Request struct {
	Op string `json:"op"`
	// Value is the op's argument, for ops that take one.
	Value string `json:"value,omitempty"`
}

// Handler serves one op: it writes its reply lines to w until it is done
// or ctx ends (the client left or the server is closing).
type Handler func(ctx context.Context, req Request, w io.Writer) error

// SocketPath is where the run holding dir listens (see the package
// documentation). dir must exist.
func SocketPath(dir string) (string, error) {
	p, _, err := socketPath(dir)
	return p, err
}

// socketPath is SocketPath, and whether it is the short path outside dir.
func socketPath(dir string) (string, bool, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", false, fmt.Errorf("control: %w", err)
	}
	resolved, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", false, fmt.Errorf("control: %w", err)
	}
	p := filepath.Join(resolved, store.SocketName)
	if len(p) <= maxSocketPath {
		return p, false, nil
	}
	sum := sha256.Sum256([]byte(resolved))
	return filepath.Join(shortDir(), hex.EncodeToString(sum[:12])+".sock"), true, nil
}

// Server answers requests on a folder's socket.
type Server struct {
	ln   *net.UnixListener
	path string
	fi   os.FileInfo // the socket as created, to remove only our own
	ops  map[string]Handler

	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once
	closing atomic.Bool
}

// Listen creates the socket of dir, which the caller's run holds the lock
// of, and serves ops on it from Serve.
func Listen(dir string, ops map[string]Handler) (*Server, error) {
	if !Supported {
		return nil, ErrUnsupported
	}
	p, short, err := socketPath(dir)
	if err != nil {
		return nil, err
	}
	if short {
		if err := privateDir(filepath.Dir(p)); err != nil {
			return nil, err
		}
	}
	// Whoever made a file here is gone, since we hold the lock: a socket
	// is stale, anything else is not ours to remove.
	if fi, err := os.Lstat(p); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("control: %s exists and is not a socket", p)
		}
		if err := os.Remove(p); err != nil {
			return nil, fmt.Errorf("control: remove stale socket: %w", err)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control: listen: %w", err)
	}
	ln.SetUnlinkOnClose(false) // Close removes it only if it is still ours
	if err := os.Chmod(p, 0o600); err != nil {
		ln.Close()
		os.Remove(p)
		return nil, fmt.Errorf("control: %w", err)
	}
	fi, err := os.Lstat(p)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("control: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{ln: ln, path: p, fi: fi, ops: ops, ctx: ctx, cancel: cancel}, nil
}

// Path is the socket's path.
func (s *Server) Path() string { return s.path }

// Serve accepts connections until Close, serving each on a goroutine of
// its own.
func (s *Server) Serve() {
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if s.closing.Load() {
				return
			}
			// Out of descriptors, say: the run must not care, and a
			// watcher can try again.
			time.Sleep(acceptRetry)
			continue
		}
		if !samePeer(c) {
			c.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(c)
		}()
	}
}

// serve answers one connection: one request, its reply, then close.
func (s *Server) serve(c *net.UnixConn) {
	defer c.Close()
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	line, err := bufio.NewReader(io.LimitReader(c, maxRequest)).ReadBytes('\n')
	if err != nil {
		return
	}
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		writeError(c, fmt.Sprintf("bad request: %v", err))
		return
	}
	h := s.ops[req.Op]
	if h == nil {
		writeError(c, fmt.Sprintf("unknown request %q", req.Op))
		return
	}
	// The client only ever sends one line: its end of the connection
	// closing is its leaving, and it ends the handler.
	go func() {
		var b [1]byte
		for {
			if _, err := c.Read(b[:]); err != nil {
				cancel()
				return
			}
		}
	}()
	if err := h(ctx, req, c); err != nil && ctx.Err() == nil {
		writeError(c, err.Error())
	}
}

func writeError(w io.Writer, msg string) {
	b, _ := json.Marshal(struct {
		Type  string `json:"type"`
		Error string `json:"error"`
	}{"error", msg})
	w.Write(append(b, '\n'))
}

// Close stops accepting and removes the socket if the path still names
// it; the connections being served go on until Wait. Calling it again is
// harmless.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		s.closing.Store(true)
		err = s.ln.Close()
		if fi, lerr := os.Lstat(s.path); lerr == nil && os.SameFile(fi, s.fi) {
			if rerr := os.Remove(s.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				err = rerr
			}
		}
	})
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("control: close: %w", err)
	}
	return nil
}

// Wait closes the server if it is not yet, lets the handlers finish until
// ctx ends, then cancels those left and waits for them.
func (s *Server) Wait(ctx context.Context) {
	s.Close()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.cancel()
		<-done
	}
	s.cancel()
}

// Call sends req to the run that holds dir and returns its reply lines;
// the caller closes the reader. Ending ctx closes the connection. With no
// run on the folder the error matches ErrNoRun.
func Call(ctx context.Context, dir string, req Request) (io.ReadCloser, error) {
	if !Supported {
		return nil, ErrUnsupported
	}
	if _, err := os.Stat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w (%v)", ErrNoRun, err)
		}
		return nil, fmt.Errorf("control: %w", err)
	}
	p, err := SocketPath(dir)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, ErrNoRun
		}
		return nil, fmt.Errorf("control: %w", err)
	}
	b, err := json.Marshal(req)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("control: %w", err)
	}
	if _, err := c.Write(append(b, '\n')); err != nil {
		c.Close()
		return nil, fmt.Errorf("control: send: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	return &reply{Conn: c, stop: stop}, nil
}

type reply struct {
	net.Conn
	stop func() bool
}

func (r *reply) Close() error {
	r.stop()
	return r.Conn.Close()
}
