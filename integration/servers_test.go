package integration

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// server is a real web server started by a test: its folder (config, logs,
// temp files), its document root, the ports it listens on, and its access
// log.
type server struct {
	t     *testing.T
	name  string
	dir   string
	root  string
	ports []int
	serve int // how many of ports it listens on (the first ones)
	log   string
	cert  string // the self-signed certificate, for SSL_CERT_FILE; "" without TLS
	cmd   *exec.Cmd
	exit  chan struct{} // closed when the process has ended
}

// url is the address of path on the server's i-th port, over plain HTTP.
func (s *server) url(i int, path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d/%s", s.ports[i], strings.TrimPrefix(path, "/"))
}

// tlsURL is the address of path on the server's i-th port, over HTTPS.
func (s *server) tlsURL(i int, path string) string {
	return "https" + strings.TrimPrefix(s.url(i, path), "http")
}

// file writes size deterministic bytes to path in the document root and
// returns their SHA-256.
func (s *server) file(path, seed string, size int64) string {
	s.t.Helper()
	return writeContent(s.t, filepath.Join(s.root, filepath.FromSlash(path)), seed, size)
}

// lookServer finds a server binary on PATH, or where Debian puts it (sbin
// folders are not on an ordinary user's PATH), or skips the test.
func lookServer(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	t.Skipf("%s not installed; .ci/run installs it (apt-get install %s)", name, name)
	return ""
}

// nginxConf is the frame of every nginx configuration: one process, every
// path inside the test's folder, and an access log in JSON lines that
// records what a request carried. @SERVERS@ is the test's server blocks.
const nginxConf = `
master_process off;
worker_processes 1;
pid "@DIR@/nginx.pid";
error_log "@DIR@/error.log" warn;
events { worker_connections 512; }
http {
	default_type application/octet-stream;
	sendfile on;
	keepalive_timeout 30s;
	client_body_temp_path "@DIR@/tmp/body";
	proxy_temp_path "@DIR@/tmp/proxy";
	fastcgi_temp_path "@DIR@/tmp/fastcgi";
	uwsgi_temp_path "@DIR@/tmp/uwsgi";
	scgi_temp_path "@DIR@/tmp/scgi";
	log_format j escape=json '{"port":"$server_port","status":"$status","method":"$request_method","uri":"$request_uri",'
		'"range":"$http_range","token":"$http_x_token","auth":"$http_authorization","bytes":"$body_bytes_sent","proto":"$server_protocol","time":"$msec","rt":"$request_time","client":"$remote_port"}';
	access_log "@DIR@/access.log" j;
	root "@ROOT@";
@SERVERS@
}
`

// startNginx starts nginx with the server blocks servers, in which @PORT0@,
// @PORT1@, … are free ports, @ROOT@ is the document root, @DIR@ the
// server's folder, and @CERT@ and @KEY@ a self-signed certificate made for
// the test. The server is killed when the test ends.
func startNginx(t *testing.T, nports int, servers string) *server {
	t.Helper()
	bin := lookServer(t, "nginx")
	return start(t, "nginx", nports, nports, func(s *server) *exec.Cmd {
		conf := filepath.Join(s.dir, "nginx.conf")
		text := strings.Replace(nginxConf, "@SERVERS@", servers, 1)
		if err := os.WriteFile(conf, []byte(s.expand(text)), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{"body", "proxy", "fastcgi", "uwsgi", "scgi"} {
			if err := os.MkdirAll(filepath.Join(s.dir, "tmp", d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		// -e: the error log before the configuration is read, which would
		// otherwise be the system's.
		return exec.Command(bin, "-p", s.dir, "-c", conf, "-e", filepath.Join(s.dir, "error.log"), "-g", "daemon off;")
	})
}

// caddyConf serves the document root over HTTPS (HTTP/1.1 and HTTP/2, with
// the test's certificate) on @PORT0@, with an access log in JSON lines. No
// admin endpoint, no automatic certificates, nothing outside the test's
// folder.
const caddyConf = `{
	admin off
	auto_https off
	http_port @PORT1@
	https_port @PORT0@
	storage file_system "@DIR@/data"
	servers {
		protocols h1 h2
	}
}
https://127.0.0.1:@PORT0@ {
	tls "@CERT@" "@KEY@"
	root * "@ROOT@"
	file_server
	log {
		output file "@DIR@/access.log"
		format json
	}
}
`

// startCaddy starts caddy serving the document root over HTTPS on the
// server's first port.
func startCaddy(t *testing.T) *server {
	t.Helper()
	bin := lookServer(t, "caddy")
	// The second port is caddy's HTTP port, given so that it never tries
	// port 80; with automatic HTTPS off it listens there on nothing.
	return start(t, "caddy", 2, 1, func(s *server) *exec.Cmd {
		conf := filepath.Join(s.dir, "Caddyfile")
		if err := os.WriteFile(conf, []byte(s.expand(caddyConf)), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "run", "--config", conf, "--adapter", "caddyfile")
		cmd.Env = append(os.Environ(), "HOME="+s.dir, "XDG_DATA_HOME="+s.dir, "XDG_CONFIG_HOME="+s.dir)
		return cmd
	})
}

func (s *server) expand(text string) string {
	r := []string{"@DIR@", s.dir, "@ROOT@", s.root, "@CERT@", s.cert, "@KEY@", filepath.Join(s.dir, "key.pem")}
	for i, p := range s.ports {
		r = append(r, fmt.Sprintf("@PORT%d@", i), strconv.Itoa(p))
	}
	return strings.NewReplacer(r...).Replace(text)
}

// start runs the server that command makes, on fresh ports, until it
// accepts connections on all of them. A port taken by someone else between
// freePorts and the server's bind gets another try.
func start(t *testing.T, name string, nports, serve int, command func(*server) *exec.Cmd) *server {
	t.Helper()
	s := &server{t: t, name: name, dir: t.TempDir(), serve: serve}
	s.root = filepath.Join(s.dir, "www")
	s.log = filepath.Join(s.dir, "access.log")
	if err := os.MkdirAll(s.root, 0o755); err != nil {
		t.Fatal(err)
	}
	s.cert, _ = writeCert(t, s.dir)
	var err error
	for try := 0; try < 3; try++ {
		s.ports = freePorts(t, nports)
		if err = s.run(command(s)); err == nil {
			return s
		}
	}
	t.Fatalf("%s: %v", name, err)
	return nil
}

// run starts cmd and waits until it accepts connections on every port.
func (s *server) run(cmd *exec.Cmd) error {
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Its own process group, killed with it; and killed if this test
	// binary dies before its cleanups run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd, s.exit = cmd, make(chan struct{})
	go func() {
		cmd.Wait()
		close(s.exit)
	}()
	deadline := time.Now().Add(15 * time.Second)
	for _, p := range s.ports[:s.serve] {
		for {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p), time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-s.exit:
				log, _ := os.ReadFile(filepath.Join(s.dir, "error.log"))
				return fmt.Errorf("exited at start:\n%s%s", out.String(), log)
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				s.stop()
				return fmt.Errorf("not listening on port %d after 15s:\n%s", p, out.String())
			}
		}
	}
	s.t.Cleanup(func() {
		s.stop()
		if s.t.Failed() {
			log, _ := os.ReadFile(filepath.Join(s.dir, "error.log"))
			s.t.Logf("%s output:\n%s%s", s.name, out.String(), log)
		}
	})
	return nil
}

// stop ends the server: SIGTERM, then SIGKILL to its whole group if it
// lingers.
func (s *server) stop() {
	pid := s.cmd.Process.Pid
	syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-s.exit:
	case <-time.After(5 * time.Second):
		syscall.Kill(-pid, syscall.SIGKILL)
		<-s.exit
	}
	syscall.Kill(-pid, syscall.SIGKILL) // anything it left in its group
}

// request is one line of a server's access log.
type request struct {
	Port   int
	Status int
	Method string
	URI    string
	Range  string
	Token  string // X-Token
	Auth   string // Authorization
	Proto  string
	Bytes  int64
	Start  float64 // seconds since the epoch, when the request came (nginx only)
	End    float64 // and when its response ended
	Client string  // the client's port, where the log has it: one per connection
}

// requests reads the server's access log.
func (s *server) requests() []request {
	s.t.Helper()
	f, err := os.Open(s.log)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		s.t.Fatal(err)
	}
	defer f.Close()
	var reqs []request
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		r, err := s.parse(sc.Bytes())
		if err != nil {
			s.t.Fatalf("%s access log: %v: %s", s.name, err, sc.Text())
		}
		if r != nil {
			reqs = append(reqs, *r)
		}
	}
	if err := sc.Err(); err != nil {
		s.t.Fatal(err)
	}
	return reqs
}

func (s *server) parse(line []byte) (*request, error) {
	if s.name == "caddy" {
		var l struct {
			Msg     string
			Status  int
			Size    int64
			Request struct {
				Proto, Method, URI string
				Headers            map[string][]string
			}
		}
		if err := json.Unmarshal(line, &l); err != nil {
			return nil, err
		}
		if l.Msg != "handled request" {
			return nil, nil
		}
		h := func(k string) string { return strings.Join(l.Request.Headers[k], ",") }
		return &request{Port: s.ports[0], Status: l.Status, Method: l.Request.Method, URI: l.Request.URI,
			Range: h("Range"), Token: h("X-Token"), Auth: h("Authorization"), Proto: l.Request.Proto, Bytes: l.Size}, nil
	}
	var l map[string]string
	if err := json.Unmarshal(line, &l); err != nil {
		return nil, err
	}
	r := &request{Method: l["method"], URI: l["uri"], Range: l["range"], Token: l["token"], Auth: l["auth"], Proto: l["proto"], Client: l["client"]}
	var err1, err2, err3, err4, err5 error
	var took float64
	r.Port, err1 = strconv.Atoi(l["port"])
	r.Status, err2 = strconv.Atoi(l["status"])
	r.Bytes, err3 = strconv.ParseInt(l["bytes"], 10, 64)
	r.End, err4 = strconv.ParseFloat(l["time"], 64)
	took, err5 = strconv.ParseFloat(l["rt"], 64)
	r.Start = r.End - took
	return r, errors.Join(err1, err2, err3, err4, err5)
}

// statuses counts the requests of reqs by status.
func statuses(reqs []request) map[int]int {
	n := map[int]int{}
	for _, r := range reqs {
		n[r.Status]++
	}
	return n
}

// logRequests logs reqs in the order they came, one a line, with their
// start and end relative to the first start.
func logRequests(t *testing.T, reqs []request) {
	t.Helper()
	reqs = slices.Clone(reqs)
	slices.SortStableFunc(reqs, func(a, b request) int { return cmp.Compare(a.Start, b.Start) })
	var b strings.Builder
	for _, r := range reqs {
		fmt.Fprintf(&b, "\n  %6.3fs-%6.3fs %d %-23s %8d bytes %s %s", r.Start-reqs[0].Start, r.End-reqs[0].Start, r.Status, r.Range, r.Bytes, r.Proto, r.URI)
	}
	t.Logf("%d requests:%s", len(reqs), b.String())
}
