package integration

import (
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulkget/bulkget/state"
)

// workDir is a folder of the test's own, where bulkget runs, with its list
// and its output folder out.
func workDir(t *testing.T) (work, list, out string) {
	work = t.TempDir()
	return work, filepath.Join(work, "list.csv"), filepath.Join(work, "out")
}

// get runs `bulkget get` with plain progress into out.
func get(t *testing.T, work, out, list string, env []string, args ...string) result {
	t.Helper()
	return runBulkget(t, work, env, append(append([]string{"get", "--progress", "plain", "-d", out}, args...), list)...)
}

func wantExit(t *testing.T, res result, code int) {
	t.Helper()
	if res.code != code {
		t.Fatalf("exit %d, want %d; output:\n%s", res.code, code, res.out)
	}
}

func wantOutput(t *testing.T, res result, substr string) {
	t.Helper()
	if !strings.Contains(res.out, substr) {
		t.Errorf("the output does not say %q:\n%s", substr, res.out)
	}
}

func TestNginxRangesOverSeveralConnections(t *testing.T) {
	t.Parallel()
	srv := startNginx(t, 1, `server { listen 127.0.0.1:@PORT0@; }`)
	want := srv.file("files/big.bin", "big", 64<<20)
	work, list, out := workDir(t)
	writeList(t, list, "big.bin", srv.url(0, "files/big.bin"))
	res := get(t, work, out, list, nil, "-c", "8")
	wantExit(t, res, exitOK)
	checkFile(t, filepath.Join(out, "big.bin"), want)
	st := statuses(srv.requests())
	t.Logf("nginx answered %v", st)
	if st[206] < 3 {
		t.Errorf("the access log shows %d responses 206, want several (statuses %v)", st[206], st)
	}
}

func TestNginxLimitRateIsBeatenBySeveralConnections(t *testing.T) {
	t.Parallel()
	// nginx lets each response send a second's worth at once, then rate
	// bytes a second: 5 MiB take about 4 s over one connection.
	const size, rate = 5 << 20, 1 << 20
	srv := startNginx(t, 1, `server { listen 127.0.0.1:@PORT0@; location /slow/ { limit_rate 1m; } }`)
	want := srv.file("slow/f.bin", "slow", size)
	work, list, out := workDir(t)
	writeList(t, list, "f.bin", srv.url(0, "slow/f.bin"))

	one := get(t, work, out+"1", list, nil, "-c", "1")
	wantExit(t, one, exitOK)
	checkFile(t, filepath.Join(out+"1", "f.bin"), want)
	before := len(srv.requests())
	many := get(t, work, out+"4", list, nil, "-c", "4", "-k", "1M")
	wantExit(t, many, exitOK)
	checkFile(t, filepath.Join(out+"4", "f.bin"), want)

	ideal := time.Duration(float64(size-rate) / rate * float64(time.Second))
	t.Logf("5 MiB at limit_rate 1m per connection: one connection %v (ideal %v), four connections %v (%.2f×, %d requests)",
		one.elapsed.Round(time.Millisecond), ideal, many.elapsed.Round(time.Millisecond),
		float64(many.elapsed)/float64(one.elapsed), len(srv.requests())-before)
	if one.elapsed < ideal/2 {
		t.Errorf("one connection took %v: nginx did not throttle it (ideal %v)", one.elapsed, ideal)
	}
	if many.elapsed >= one.elapsed*8/10 {
		t.Errorf("four connections took %v, one took %v: want well under (< 0.8×)", many.elapsed, one.elapsed)
	}
}

func TestNginxHTTPS(t *testing.T) {
	t.Parallel()
	srv := startNginx(t, 1, `server {
		listen 127.0.0.1:@PORT0@ ssl http2;
		ssl_certificate "@CERT@";
		ssl_certificate_key "@KEY@";
	}`)
	testHTTPS(t, srv)
}

// testHTTPS downloads over TLS from srv, whose certificate bulkget trusts
// through SSL_CERT_FILE: HTTP/1.1 by default (several connections), HTTP/2
// with --http2; and without the certificate, a clear failure.
func testHTTPS(t *testing.T, srv *server) {
	want := srv.file("files/tls.bin", "tls", 16<<20)
	work, list, out := workDir(t)
	writeList(t, list, "tls.bin", srv.tlsURL(0, "files/tls.bin"))
	trust := []string{"SSL_CERT_FILE=" + srv.cert}
	for _, tc := range []struct {
		name  string
		env   []string
		args  []string
		proto string
	}{
		{"http1.1 by default", trust, nil, "HTTP/1.1"},
		{"http2 with --http2", trust, []string{"--http2"}, "HTTP/2.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(srv.requests())
			dir := filepath.Join(out, strings.ReplaceAll(tc.name, " ", "-"))
			res := get(t, work, dir, list, tc.env, append([]string{"-c", "4", "-k", "1M"}, tc.args...)...)
			wantExit(t, res, exitOK)
			checkFile(t, filepath.Join(dir, "tls.bin"), want)
			reqs := srv.requests()[before:]
			st := statuses(reqs)
			t.Logf("%s answered %v", srv.name, st)
			if st[206] < 2 {
				t.Errorf("%d responses 206, want several", st[206])
			}
			for _, r := range reqs {
				if r.Proto != tc.proto {
					t.Errorf("a request came over %s, want %s: %+v", r.Proto, tc.proto, r)
				}
			}
		})
	}
	t.Run("untrusted certificate", func(t *testing.T) {
		dir := filepath.Join(out, "untrusted")
		res := get(t, work, dir, list, []string{"SSL_CERT_FILE=" + filepath.Join(work, "none.pem")}, "--retries", "1")
		wantExit(t, res, exitFailed)
		wantOutput(t, res, "certificate")
		if _, err := os.Stat(filepath.Join(dir, "tls.bin")); err == nil {
			t.Errorf("tls.bin exists after a refused certificate")
		}
	})
}

func TestNginxRedirectToAnotherHostDropsPrivateHeaders(t *testing.T) {
	t.Parallel()
	srv := startNginx(t, 2, `
	server {
		listen 127.0.0.1:@PORT0@;
		location /files/ { return 302 http://127.0.0.1:@PORT1@$request_uri; }
	}
	server { listen 127.0.0.1:@PORT1@; }`)
	const token, password = "tok-8d1f0c", "pw-Redirect-42"
	credentials := func(url string) string { return strings.Replace(url, "//", "//alice:"+password+"@", 1) }
	// One large file over several connections, and enough small ones that
	// bulkget tells the host redirects every request.
	want := map[string]string{"r.bin": srv.file("files/r.bin", "redirect", 8<<20)}
	nameURL := []string{"r.bin", credentials(srv.url(0, "files/r.bin"))}
	for i := range 9 {
		name := fmt.Sprintf("s%d.bin", i)
		want[name] = srv.file("files/"+name, name, 64<<10)
		nameURL = append(nameURL, name, credentials(srv.url(0, "files/"+name)))
	}
	work, list, out := workDir(t)
	writeList(t, list, nameURL...)
	res := get(t, work, out, list, nil, "-c", "4", "-k", "1M", "-H", "X-Token: "+token)
	wantExit(t, res, exitOK)
	for name, sum := range want {
		checkFile(t, filepath.Join(out, name), sum)
	}
	wantOutput(t, res, "redirects every request")
	noSecret(t, out, res.out, token)
	noSecret(t, out, res.out, password)

	var first, second int
	for _, r := range srv.requests() {
		switch r.Port {
		case srv.ports[0]:
			first++
			if r.Status != 302 || r.Token != token || r.Auth == "" {
				t.Errorf("first host: status %d, X-Token %q, Authorization %q; want 302 with the token and the credentials", r.Status, r.Token, r.Auth)
			}
		case srv.ports[1]:
			second++
			if r.Token != "" || r.Auth != "" {
				t.Errorf("the second host got X-Token %q and Authorization %q: private to the first host", r.Token, r.Auth)
			}
		}
	}
	t.Logf("%d requests to the first host, %d to the second", first, second)
	if first == 0 || second == 0 {
		t.Errorf("%d requests to the first host and %d to the second, want both", first, second)
	}
}

// signSecret is the secret of nginx's secure_link_md5 in
// TestNginxSignedLinksThatExpire.
const signSecret = "bulkget-secret"

// signedURL is a link to uri valid until expires, as nginx's secure_link
// checks it: md5 of expiry, URI and secret, in unpadded base64url.
func signedURL(srv *server, uri string, expires int64) string {
	sum := md5.Sum(fmt.Appendf(nil, "%d%s %s", expires, uri, signSecret))
	return fmt.Sprintf("http://127.0.0.1:%d%s?md5=%s&expires=%d", srv.ports[0], uri, base64.RawURLEncoding.EncodeToString(sum[:]), expires)
}

func signature(url string) string {
	return url[strings.Index(url, "md5=")+4 : strings.Index(url, "&")]
}

// signScript prints a link to /secure/$1 valid for ttl seconds: what a
// user's presigner does, in shell with openssl.
const signScript = `#!/bin/sh
e=$(( $(date +%%s) + %d ))
h=$(printf '%%s' "$e/secure/$1 %s" | openssl md5 -binary | openssl base64 -A | tr '+/' '-_' | tr -d '=')
printf 'http://127.0.0.1:%d/secure/%%s?md5=%%s&expires=%%s\n' "$1" "$h" "$e"
`

func TestNginxSignedLinksThatExpire(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed: the refresh script needs it")
	}
	// An expired link is refused with 403, as S3 does; a bad signature
	// with 400, so that a mistake in the signing shows as such.
	srv := startNginx(t, 1, `server {
		listen 127.0.0.1:@PORT0@;
		location /secure/ {
			limit_rate 512k;
			secure_link $arg_md5,$arg_expires;
			secure_link_md5 "$secure_link_expires$uri `+signSecret+`";
			if ($secure_link = "") { return 400; }
			if ($secure_link = "0") { return 403; }
		}
	}`)
	// 8 MiB at 512 KiB/s per connection (after a first second's worth)
	// over 3 connections take about 4 s: the links, signed for 1 to 2 s,
	// expire while the first requests are still running, and the requests
	// that split or take over their rest need a fresh link.
	const size, ttl = 8 << 20, 2
	args := []string{"-c", "3", "-k", "1M"}
	bulkgetBin(t) // built before any link is signed

	refused := func(t *testing.T, uri string, since int) (n int) {
		t.Helper()
		var reqs []request
		for _, r := range srv.requests()[since:] {
			if strings.HasPrefix(r.URI, uri+"?") {
				reqs = append(reqs, r)
			}
		}
		logRequests(t, reqs)
		for _, r := range reqs {
			switch r.Status {
			case 403:
				n++
			case 200, 206:
			default:
				t.Errorf("%s answered %d: %+v", srv.name, r.Status, r)
			}
		}
		return n
	}

	t.Run("refreshed by --refresh-command", func(t *testing.T) {
		t.Parallel()
		want := srv.file("secure/a.bin", "signed-a", size)
		work, list, out := workDir(t)
		script := filepath.Join(work, "sign.sh")
		if err := os.WriteFile(script, fmt.Appendf(nil, signScript, ttl, signSecret, srv.ports[0]), 0o755); err != nil {
			t.Fatal(err)
		}
		url := signedURL(srv, "/secure/a.bin", time.Now().Unix()+ttl)
		writeList(t, list, "a.bin", url)
		res := get(t, work, out, list, nil, append(args, "--refresh-command", "'"+script+"' \"$1\"")...)
		wantExit(t, res, exitOK)
		checkFile(t, filepath.Join(out, "a.bin"), want)
		n := refused(t, "/secure/a.bin", 0)
		t.Logf("%d requests refused as expired", n)
		if n == 0 {
			t.Errorf("no request was refused: the download did not outlive its link, and this test proved nothing (make it longer)")
		}
		if n > 3 {
			t.Errorf("%d requests refused as expired, want at most a few", n)
		}
		wantOutput(t, res, "fresh URL")
		noSecret(t, out, res.out, signature(url))
	})

	t.Run("expired without a way to refresh, then a fresh link", func(t *testing.T) {
		t.Parallel()
		want := srv.file("secure/b.bin", "signed-b", size)
		work, list, out := workDir(t)
		url := signedURL(srv, "/secure/b.bin", time.Now().Unix()+ttl)
		writeList(t, list, "b.bin", url)
		res := get(t, work, out, list, nil, args...)
		wantExit(t, res, exitFailed)
		wantOutput(t, res, "expired")
		if _, err := os.Stat(filepath.Join(out, "b.bin")); err == nil {
			t.Fatalf("b.bin exists under its final name after its link expired")
		}
		part, err := os.Stat(filepath.Join(out, "b.bin.part"))
		if err != nil {
			t.Fatalf("the .part was not kept: %v", err)
		}
		noSecret(t, out, res.out, signature(url))
		if n := refused(t, "/secure/b.bin", 0); n == 0 || n > 3 {
			t.Errorf("%d requests refused as expired, want one or a few", n)
		}
		var kept int64
		if m := regexp.MustCompile(`(\d+) of \d+ bytes are kept`).FindStringSubmatch(res.out); m == nil {
			t.Errorf("the output does not say how many bytes are kept")
		} else {
			kept, _ = strconv.ParseInt(m[1], 10, 64)
		}
		if b, err := os.ReadFile(filepath.Join(out, "b.bin.part.state")); err != nil {
			t.Errorf("the state was not kept: %v", err)
		} else if st, err := state.Decode(b); err != nil {
			t.Errorf("the state kept is unusable: %v", err)
		} else {
			t.Logf("kept: .part of %d bytes, %d bytes said kept, state segments %+v", part.Size(), kept, st.Segments)
			if st.DoneBytes() != kept {
				t.Errorf("the state holds %d bytes, the message says %d are kept", st.DoneBytes(), kept)
			}
		}

		before := len(srv.requests())
		fresh := signedURL(srv, "/secure/b.bin", time.Now().Unix()+120)
		writeList(t, list, "b.bin", fresh)
		res = get(t, work, out, list, nil, args...)
		wantExit(t, res, exitOK)
		checkFile(t, filepath.Join(out, "b.bin"), want)
		noSecret(t, out, res.out, signature(fresh))
		var served int64
		for _, r := range srv.requests()[before:] {
			served += r.Bytes
		}
		// The state holds what was kept (above), so the run with a fresh
		// link asks only for what was missing. nginx logs what it sent,
		// which for a request whose range a split shrank includes what sat
		// in socket buffers: bounded here by less than the whole file.
		t.Logf("the run with a fresh link fetched %d of %d bytes; %d were missing", served, size, size-kept)
		if served >= size {
			t.Errorf("the run with a fresh link fetched %d bytes, the whole file is %d: it did not continue the .part", served, size)
		}
	})
}

func TestNginxBasicAuth(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed: the htpasswd file needs it")
	}
	srv := startNginx(t, 1, `server {
		listen 127.0.0.1:@PORT0@;
		location /private/ {
			auth_basic "bulkget";
			auth_basic_user_file "@DIR@/htpasswd";
			limit_rate 512k;
		}
	}`)
	const password = "pw-Basic-4711"
	hash, err := exec.Command("openssl", "passwd", "-apr1", password).Output()
	if err != nil {
		t.Fatalf("openssl passwd: %v", err)
	}
	if err := os.WriteFile(filepath.Join(srv.dir, "htpasswd"), append([]byte("alice:"), hash...), 0o644); err != nil {
		t.Fatal(err)
	}
	want := srv.file("private/p.bin", "private", 8<<20)
	work, list, out := workDir(t)
	url := strings.Replace(srv.url(0, "private/p.bin"), "//", "//alice:"+password+"@", 1)
	writeList(t, list, "p.bin", url)
	args := []string{"-c", "4", "-k", "1M", "--summary", filepath.Join(out, "summary.json")}
	basic := base64.StdEncoding.EncodeToString([]byte("alice:" + password))

	// Interrupted (at 512 KiB/s per connection after a first second's
	// worth, 8 MiB take at least 2 s): the .part, its state and the summary
	// stay.
	run := startBulkget(t, work, nil, append(append([]string{"get", "--progress", "plain", "-d", out}, args...), list)...)
	waitForFile(t, filepath.Join(out, "p.bin.part"), 0)
	time.Sleep(700 * time.Millisecond)
	res := run.interrupt()
	wantExit(t, res, exitInterrupted)
	if _, err := os.Stat(filepath.Join(out, "p.bin.part.state")); err != nil {
		t.Errorf("no state beside the .part after SIGINT: %v", err)
	}
	noSecret(t, out, res.out, password)
	noSecret(t, out, res.out, basic)

	res = get(t, work, out, list, nil, args...)
	wantExit(t, res, exitOK)
	checkFile(t, filepath.Join(out, "p.bin"), want)
	noSecret(t, out, res.out, password)
	noSecret(t, out, res.out, basic)
	for _, r := range srv.requests() {
		if r.Status != 206 {
			t.Errorf("nginx answered %d: %+v", r.Status, r)
		}
	}

	t.Run("wrong password", func(t *testing.T) {
		work, list, out := workDir(t)
		writeList(t, list, "p.bin", strings.Replace(url, password, "wrong", 1))
		res := get(t, work, out, list, nil)
		wantExit(t, res, exitFailed)
		wantOutput(t, res, "401")
	})
}

func TestNginxWithoutRanges(t *testing.T) {
	t.Parallel()
	// Capped, so that the first answer is still streaming when a range
	// past 0 is tried: a 200 to "bytes=0-" alone proves nothing.
	srv := startNginx(t, 1, `server { listen 127.0.0.1:@PORT0@; location /noranges/ { max_ranges 0; limit_rate 4m; } }`)
	want := srv.file("noranges/n.bin", "noranges", 8<<20)
	work, list, out := workDir(t)
	writeList(t, list, "n.bin", srv.url(0, "noranges/n.bin"))
	res := get(t, work, out, list, nil, "-c", "4", "-k", "256K")
	wantExit(t, res, exitOK)
	checkFile(t, filepath.Join(out, "n.bin"), want)
	wantOutput(t, res, "does not serve byte ranges")
	reqs := srv.requests()
	st := statuses(reqs)
	t.Logf("nginx answered %v", st)
	if st[206] != 0 {
		t.Errorf("nginx answered 206 %d times with max_ranges 0", st[206])
	}
	if len(reqs) > 2 {
		logRequests(t, reqs)
		t.Errorf("%d requests for one file, want at most 2 (the stream and one trial of a range)", len(reqs))
	}
}

func TestNginxContentReplacedBetweenRuns(t *testing.T) {
	t.Parallel()
	// nginx lets a response send a second's worth at once, then 512 KiB at
	// each turn of the clock's second: four connections need at least 2 s
	// for 8 MiB, so the interrupt comes in the middle.
	srv := startNginx(t, 1, `server { listen 127.0.0.1:@PORT0@; location /slow/ { limit_rate 512k; } }`)
	const size = 8 << 20
	srv.file("slow/c.bin", "old", size)
	work, list, out := workDir(t)
	writeList(t, list, "c.bin", srv.url(0, "slow/c.bin"))
	args := []string{"get", "--progress", "plain", "-d", out, "-c", "4", "-k", "1M", list}

	run := startBulkget(t, work, nil, args...)
	waitForFile(t, filepath.Join(out, "c.bin.part"), 0)
	time.Sleep(700 * time.Millisecond)
	res := run.interrupt()
	wantExit(t, res, exitInterrupted)
	if _, err := os.Stat(filepath.Join(out, "c.bin.part")); err != nil {
		t.Fatalf("no .part after SIGINT: %v", err)
	}

	// Other bytes, the same size, a later modification time: nginx's ETag
	// and Last-Modified change, its Content-Length does not.
	want := srv.file("slow/c.bin", "new", size)
	now := time.Now()
	if err := os.Chtimes(filepath.Join(srv.root, "slow", "c.bin"), now, now); err != nil {
		t.Fatal(err)
	}
	res = get(t, work, out, list, nil, "-c", "4", "-k", "1M")
	wantExit(t, res, exitOK)
	checkFile(t, filepath.Join(out, "c.bin"), want)
	wantOutput(t, res, "changed")
}
