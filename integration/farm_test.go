package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// haproxyConf balances @PORT0@ round robin over the two nginx replicas,
// per connection (mode tcp) or per request (mode http).
const haproxyConf = `
global
	maxconn 512
defaults
	mode @MODE@
	timeout connect 2s
	timeout client 30s
	timeout server 30s
frontend farm
	bind 127.0.0.1:@PORT0@
	default_backend replicas
backend replicas
	balance roundrobin
	server a 127.0.0.1:@A@
	server b 127.0.0.1:@B@
`

// startHAProxy starts HAProxy in mode (tcp or http) in front of the
// replicas on ports a and b.
func startHAProxy(t *testing.T, mode string, a, b int) *server {
	t.Helper()
	bin := lookServer(t, "haproxy")
	return start(t, "haproxy", 1, 1, func(s *server) *exec.Cmd {
		conf := filepath.Join(s.dir, "haproxy.cfg")
		text := strings.NewReplacer("@MODE@", mode, "@A@", fmt.Sprint(a), "@B@", fmt.Sprint(b)).Replace(haproxyConf)
		if err := os.WriteFile(conf, []byte(s.expand(text)), 0o644); err != nil {
			t.Fatal(err)
		}
		// -db: in the foreground, as the test's child.
		return exec.Command(bin, "-db", "-f", conf)
	})
}

// TestFarmBehindHAProxy fetches files from two nginx replicas behind
// HAProxy: with the same bytes (mtimes two months apart, so their ETags
// differ) every file is right with no restart; with different bytes or
// sizes (a deploy half done) every file is one replica's version whole.
func TestFarmBehindHAProxy(t *testing.T) {
	lookServer(t, "haproxy")
	for _, mode := range []string{"tcp", "http"} {
		for _, differ := range []replicas{sameBytes, otherBytes, otherSize} {
			// One at a time: the times they log compare runs.
			t.Run(mode+" "+differ.String(), func(t *testing.T) { farmScenario(t, mode, differ) })
		}
	}
}

// replicas is how the second replica's files differ from the first's.
type replicas int

const (
	sameBytes  replicas = iota // only their mtimes, so their ETags
	otherBytes                 // a deploy half done
	otherSize                  // a deploy half done that changed the size
)

func (r replicas) String() string {
	return [...]string{"same bytes", "different bytes", "different size"}[r]
}

func farmScenario(t *testing.T, mode string, differ replicas) {
	// Paced, so that the times compare connections rather than the CPU
	// of a loaded machine; /fast/ is not, for the runs in a row.
	nginx := startNginx(t, 2, `
	server { listen 127.0.0.1:@PORT0@; root "@ROOT@/a"; limit_rate 4m; location /fast/ { limit_rate 0; } }
	server { listen 127.0.0.1:@PORT1@; root "@ROOT@/b"; limit_rate 4m; location /fast/ { limit_rate 0; } }`)
	names := []string{"big.bin", "s1.bin", "s2.bin", "s3.bin"}
	sizes := []int64{16 << 20, 1 << 20, 1 << 20, 1 << 20}
	want := map[string][]string{}
	for i, n := range names {
		a := nginx.file("a/"+n, n, sizes[i])
		seed, size := n, sizes[i]
		if differ != sameBytes {
			seed = n + " new"
		}
		if differ == otherSize {
			size += 4096
		}
		b := nginx.file("b/"+n, seed, size)
		// Deployed two months apart: nginx's ETag is mtime and size.
		later := time.Now().Add(-time.Hour + 60*24*time.Hour)
		if err := os.Chtimes(filepath.Join(nginx.root, "b", n), later, later); err != nil {
			t.Fatal(err)
		}
		want[n] = []string{a, b}
	}
	lb := startHAProxy(t, mode, nginx.ports[0], nginx.ports[1])
	work, list, out := workDir(t)
	var pairs []string
	for _, n := range names {
		pairs = append(pairs, n, lb.url(0, n))
	}
	writeList(t, list, pairs...)
	res := get(t, work, out, list, nil, "-c", "8")
	wantExit(t, res, exitOK)
	for _, n := range names {
		got := fileSHA(t, filepath.Join(out, n))
		if got != want[n][0] && got != want[n][1] {
			t.Errorf("%s is neither replica's version: mixed", n)
		}
		if differ == sameBytes && got != want[n][0] {
			t.Errorf("%s is not the replicas' bytes", n)
		}
	}
	if strings.Contains(res.out, "restarting from zero") {
		t.Errorf("a file restarted from zero:\n%s", res.out)
	}
	if n := strings.Count(res.out, "several replicas"); n > 1 {
		t.Errorf("%d warnings of replicas, want at most one:\n%s", n, res.out)
	}
	t.Logf("behind haproxy mode %s: %v, nginx answered %v; warned of replicas: %v", mode, res.elapsed.Round(time.Millisecond),
		statuses(nginx.requests()), strings.Contains(res.out, "several replicas"))
	if differ == otherBytes {
		neverMixed(t, nginx, lb, work)
	}
	if differ == sameBytes {
		farmTime(t, mode, nginx, lb, names, work, list, out)
	}
}

// farmTime logs the time the files take behind the farm against one
// replica behind the same kind of balancer: the best of two runs each,
// taken in turn.
func farmTime(t *testing.T, mode string, nginx, lb *server, names []string, work, list, out string) {
	one := startHAProxy(t, mode, nginx.ports[0], nginx.ports[0])
	best := map[*server]time.Duration{}
	for i := range 2 {
		for _, s := range []*server{lb, one} {
			var pairs []string
			for _, n := range names {
				pairs = append(pairs, n, s.url(0, n))
			}
			writeList(t, list, pairs...)
			dir := fmt.Sprintf("%s-%d-%d", out, i, s.ports[0])
			res := get(t, work, dir, list, nil, "-c", "8")
			wantExit(t, res, exitOK)
			if d := best[s]; d == 0 || res.elapsed < d {
				best[s] = res.elapsed
			}
			os.RemoveAll(dir)
		}
	}
	t.Logf("mode %s: best of 2 behind the farm %v, one replica %v: %.2f×", mode, best[lb].Round(time.Millisecond),
		best[one].Round(time.Millisecond), float64(best[lb])/float64(best[one]))
}

// neverMixed fetches a file of a deploy half done 20 times in a row, split
// over 8 connections: every run ends with one replica's version whole.
func neverMixed(t *testing.T, nginx, lb *server, work string) {
	const size = 2 << 20
	a := nginx.file("a/fast/d.bin", "d", size)
	b := nginx.file("b/fast/d.bin", "d new", size)
	// Deployed later. With the same mtime nginx would give both the same
	// ETag, and nothing could tell the versions apart (docs/design.md).
	later := time.Now().Add(-time.Minute)
	if err := os.Chtimes(filepath.Join(nginx.root, "b", "fast", "d.bin"), later, later); err != nil {
		t.Fatal(err)
	}
	list := filepath.Join(work, "fast.csv")
	writeList(t, list, "d.bin", lb.url(0, "fast/d.bin"))
	kept := map[string]int{}
	for i := range 20 {
		out := filepath.Join(work, fmt.Sprintf("fast%d", i))
		res := runBulkget(t, work, nil, "get", "--progress", "plain", "-c", "8", "--min-segment", "256K", "-d", out, list)
		wantExit(t, res, exitOK)
		if strings.Contains(res.out, "several replicas") {
			kept["warned"]++
		}
		switch got := fileSHA(t, filepath.Join(out, "d.bin")); got {
		case a:
			kept["a"]++
		case b:
			kept["b"]++
		default:
			t.Fatalf("run %d: d.bin is neither replica's version: mixed", i)
		}
	}
	t.Logf("20 runs in a row: kept replica a's version %d times, b's %d times; %d met both and warned",
		kept["a"], kept["b"], kept["warned"])
	if kept["warned"] == 0 {
		t.Error("no run met both replicas: the runs prove nothing")
	}
}
