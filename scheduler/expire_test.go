package scheduler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkget/bulkget/manifest"
	"github.com/bulkget/bulkget/store"
)

// signingOrigin serves files whose URLs carry an expiry (?exp=unix-nanos),
// as pre-signed object-store links do: a request after the expiry is
// refused with 403. Bodies are paced to rate bytes/s per request.
type signingOrigin struct {
	body     []byte
	rate     int
	srv      *httptest.Server
	refused  atomic.Int64
	served   atomic.Int64 // body bytes written
	requests atomic.Int64
	// cut counts requests whose body stopped before its end because the
	// client went away: a transfer that was cancelled.
	cut atomic.Int64
}

func newSigningOrigin(t *testing.T, size, rate int) *signingOrigin {
	o := &signingOrigin{body: content(size), rate: rate}
	o.srv = httptest.NewServer(http.HandlerFunc(o.serve))
	t.Cleanup(o.srv.Close)
	return o
}

// sign returns a URL for name valid for d.
func (o *signingOrigin) sign(name string, d time.Duration) string {
	return fmt.Sprintf("%s/%s?exp=%d&sig=PLANTED-SIGNATURE", o.srv.URL, name, time.Now().Add(d).UnixNano())
}

func (o *signingOrigin) serve(w http.ResponseWriter, r *http.Request) {
	o.requests.Add(1)
	exp, _ := strconv.ParseInt(r.URL.Query().Get("exp"), 10, 64)
	if time.Now().UnixNano() > exp {
		o.refused.Add(1)
		http.Error(w, "Request has expired", http.StatusForbidden)
		return
	}
	size := int64(len(o.body))
	start, end, _ := byteRange(r.Header.Get("Range"), size)
	w.Header().Set("ETag", `"v1"`)
	w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end-1, size))
	w.Header().Set("Content-Length", strconv.FormatInt(end-start, 10))
	w.WriteHeader(http.StatusPartialContent)
	const piece = 16 << 10
	for off := start; off < end; off += piece {
		n, err := w.Write(o.body[off:min(off+piece, end)])
		o.served.Add(int64(n))
		if err != nil {
			o.cut.Add(1)
			return
		}
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			if off+piece < end {
				o.cut.Add(1)
			}
			return
		case <-time.After(time.Second * piece / time.Duration(o.rate)):
		}
	}
}

func (o *signingOrigin) run(t *testing.T, opts Options, url string) (Summary, *recorder) {
	t.Helper()
	rec := &recorder{}
	opts.Reporter = rec
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sum, err := Run(ctx, []manifest.Entry{{Line: 2, Name: "signed.bin", URL: url, Size: -1}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Interrupted {
		t.Fatal("the run hung")
	}
	return sum, rec
}

func TestExpiredURLIsRefreshedWithoutCancellingTransfers(t *testing.T) {
	const size = 4 << 20
	o := newSigningOrigin(t, size, 1<<20)
	dir := t.TempDir()
	opts := testOptions(dir)
	// Three connections split the file into a half and two quarters; the
	// quarters end first and open new requests for half of what is left,
	// after the first links have expired.
	opts.Connections = 3
	var refreshes atomic.Int64
	opts.RefreshURL = func(ctx context.Context, e manifest.Entry, current string) (string, error) {
		refreshes.Add(1)
		return o.sign("signed.bin", 300*time.Millisecond), nil
	}
	sum, rec := o.run(t, opts, o.sign("signed.bin", 300*time.Millisecond))
	if sum.Done != 1 {
		t.Fatalf("%+v", sum)
	}
	got, err := os.ReadFile(filepath.Join(dir, "signed.bin"))
	if err != nil || !bytes.Equal(got, o.body) {
		t.Fatalf("the file differs from the origin's (%v)", err)
	}
	t.Logf("%d requests, %d refused, %d refreshes, %d cut, %d bytes served for %d",
		o.requests.Load(), o.refused.Load(), refreshes.Load(), o.cut.Load(), o.served.Load(), size)
	if refreshes.Load() == 0 {
		t.Fatal("the links never expired during the download: the test proves nothing")
	}
	if o.refused.Load() > refreshes.Load() {
		t.Errorf("%d refused requests for %d expiries: requests kept going to an expired URL", o.refused.Load(), refreshes.Load())
	}
	if n := rec.count(Retrying); n != 0 {
		t.Errorf("%d retries: an expiry is not a failure to retry", n)
	}
	// A request whose range a split shrank is closed at its new end; no
	// other may be cut, and nothing is fetched twice.
	if o.served.Load() > size+int64(o.cut.Load())*(512<<10) {
		t.Errorf("%d bytes served for %d: transfers were cut and fetched again", o.served.Load(), size)
	}
}

func TestExpiredURLWithoutRefreshStopsTheFileAndKeepsItsBytes(t *testing.T) {
	const size = 4 << 20
	o := newSigningOrigin(t, size, 1<<20)
	dir := t.TempDir()
	opts := testOptions(dir)
	opts.Connections = 3
	opts.RefreshURL = func(context.Context, manifest.Entry, string) (string, error) {
		return "", errors.New("no fresh URL")
	}
	sum, rec := o.run(t, opts, o.sign("signed.bin", 400*time.Millisecond))
	if sum.Done != 0 || len(sum.Failed) != 0 || len(sum.Expired) != 1 {
		t.Fatalf("done %d, failed %v, expired %v: want the file expired, not failed", sum.Done, sum.Failed, sum.Expired)
	}
	if rec.count(Expired) != 1 {
		t.Errorf("%d expired events, want 1", rec.count(Expired))
	}
	if _, err := os.Stat(filepath.Join(dir, "signed.bin")); err == nil {
		t.Fatal("an expired file is under its final name")
	}
	kept := sum.Bytes
	if kept == 0 {
		t.Fatal("nothing was downloaded before the link expired")
	}
	for _, p := range []string{store.PartName("signed.bin"), store.StateName("signed.bin")} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("%s is gone: %v", p, err)
		}
	}

	// A run with a fresh link fetches only what was missing.
	before := o.served.Load()
	opts.RefreshURL = nil
	sum, _ = o.run(t, opts, o.sign("signed.bin", time.Minute))
	if sum.Done != 1 {
		t.Fatalf("%+v", sum)
	}
	got, err := os.ReadFile(filepath.Join(dir, "signed.bin"))
	if err != nil || !bytes.Equal(got, o.body) {
		t.Fatalf("the file differs from the origin's (%v)", err)
	}
	fetched := o.served.Load() - before
	t.Logf("first run kept %d bytes; the second fetched %d of %d", kept, fetched, size)
	// The expired file's state is saved as it stopped: nothing is fetched
	// twice.
	if fetched > size-kept {
		t.Errorf("the second run fetched %d bytes though %d of %d were kept", fetched, kept, size)
	}
}

func TestURLAboutToExpireIsRenewedBeforeTheHostRefusesIt(t *testing.T) {
	const size = 4 << 20
	o := newSigningOrigin(t, size, 512<<10) // three connections: about 3 s
	// This origin takes its expiry from Expires (Unix seconds), as
	// CloudFront's and Google's V2 signatures say it.
	sign := func(valid time.Duration) string {
		exp := time.Now().Add(valid)
		return fmt.Sprintf("%s/signed.bin?exp=%d&Expires=%d&Signature=PLANTED", o.srv.URL, exp.UnixNano(), exp.Unix())
	}
	dir := t.TempDir()
	opts := testOptions(dir)
	opts.Connections = 3
	var renewals atomic.Int64
	opts.RefreshURL = func(ctx context.Context, e manifest.Entry, current string) (string, error) {
		renewals.Add(1)
		return sign(2 * time.Second), nil
	}
	sum, rec := o.run(t, opts, sign(2*time.Second))
	if sum.Done != 1 {
		t.Fatalf("%+v", sum)
	}
	got, err := os.ReadFile(filepath.Join(dir, "signed.bin"))
	if err != nil || !bytes.Equal(got, o.body) {
		t.Fatalf("the file differs from the origin's (%v)", err)
	}
	t.Logf("%d requests, %d refused, %d renewals", o.requests.Load(), o.refused.Load(), renewals.Load())
	if renewals.Load() == 0 {
		t.Fatal("no URL was renewed during a download that outlived it")
	}
	if n := o.refused.Load(); n != 0 {
		t.Errorf("%d requests refused: the URL was not renewed before its stated expiry", n)
	}
	if !rec.has(Warning, "about to expire") {
		t.Error("no warning that the URL was renewed")
	}
}
