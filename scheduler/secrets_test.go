package scheduler

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkget/bulkget/internal/origin"
	"github.com/bulkget/bulkget/state"
	"github.com/bulkget/bulkget/store"
)

// The planted secrets: a password, a signed query and a header token.
const (
	plantedPassword = "s3cr3t"
	plantedQuery    = "?X-Amz-Signature=PLANTEDSIG&token=PLANTEDTOK"
	plantedHeader   = "Bearer PLANTEDBEARER"
)

var planted = []string{plantedPassword, "PLANTEDSIG", "PLANTEDTOK", "PLANTEDBEARER"}

// withSecrets rewrites fx's URLs to carry a password and a signature.
func withSecrets(fx *fixture, query string) {
	for i := range fx.entries {
		u := fx.srv.URL(fx.entries[i].Name)
		fx.entries[i].URL = strings.Replace(u, "://", "://user:"+plantedPassword+"@", 1) + query
	}
}

func assertNoSecret(t *testing.T, what string, b []byte) {
	t.Helper()
	for _, s := range planted {
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("%s holds the planted secret %q", what, s)
		}
	}
}

// assertNoSecretOnDisk reads every file under dir but the .part files
// (their content is the download).
func assertNoSecretOnDisk(t *testing.T, dir string) {
	t.Helper()
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || strings.HasSuffix(p, store.PartSuffix) {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Error(err)
			return nil
		}
		assertNoSecret(t, p, b)
		return nil
	})
}

func eventsText(events []Event) []byte {
	var b bytes.Buffer
	for _, e := range events {
		b.WriteString(e.Name + " ")
		if e.Err != nil {
			b.WriteString(e.Err.Error())
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func TestNoSecretInStateEventsOrFailures(t *testing.T) {
	fx := newFixture(t, origin.Options{PerConnRate: 2 << 20})
	fx.add("a.bin", 6<<20)
	fx.add("gone.bin", 1<<20)
	withSecrets(fx, plantedQuery)
	fx.srv.SetOptions(func(o *origin.Options) {
		o.Fault = func(r origin.Request) origin.Fault {
			if r.Name == "gone.bin" {
				return origin.Fault{Status: http.StatusInternalServerError}
			}
			return origin.Fault{}
		}
	})
	dir := t.TempDir()
	opts := testOptions(dir)
	opts.Header = http.Header{"Authorization": {plantedHeader}}
	opts.Retries = 1
	sum := interruptedRun(t, fx, opts, 1<<20)
	assertNoSecretOnDisk(t, dir)
	if st := loadState(t, dir, "a.bin"); st.DoneBytes() == 0 {
		t.Fatalf("no progress saved: %+v", st)
	}
	for _, f := range sum.Failed {
		assertNoSecret(t, "failure of "+f.Name, []byte(f.Err.Error()))
	}

	// Finish (a.bin) and fail (gone.bin, a 500 every time).
	rec := &recorder{}
	opts.Reporter = rec
	sum = runFixture(t, fx, opts)
	if sum.Done != 1 || len(sum.Failed) != 1 {
		t.Fatalf("%+v", sum)
	}
	if !strings.Contains(sum.Failed[0].Err.Error(), "500") {
		t.Errorf("failure does not say what happened: %v", sum.Failed[0].Err)
	}
	for _, f := range sum.Failed {
		assertNoSecret(t, "failure of "+f.Name, []byte(f.Err.Error()))
	}
	assertNoSecret(t, "events", eventsText(rec.events))
	assertNoSecretOnDisk(t, dir)
}

func TestFailedRequestErrorsHideURLAndHeader(t *testing.T) {
	fx := newFixture(t, origin.Options{})
	fx.add("a.bin", 1000)
	withSecrets(fx, plantedQuery)
	// Nothing listens there: net/http's error quotes the whole URL.
	fx.entries[0].URL = "http://user:" + plantedPassword + "@127.0.0.1:1/a.bin" + plantedQuery
	opts := testOptions(t.TempDir())
	opts.Header = http.Header{"Authorization": {plantedHeader}}
	opts.Retries = 1
	rec := &recorder{}
	opts.Reporter = rec
	sum := runFixture(t, fx, opts)
	if len(sum.Failed) != 1 {
		t.Fatalf("%+v", sum)
	}
	msg := sum.Failed[0].Err.Error()
	assertNoSecret(t, "failure", []byte(msg))
	if !strings.Contains(msg, "127.0.0.1:1/a.bin") {
		t.Errorf("the failure no longer says which URL failed: %s", msg)
	}
	assertNoSecret(t, "events", eventsText(rec.events))
}

// encodeStateV1 encodes the claims of st in version 1 with url, as
// bulkget wrote it before version 2.
func encodeStateV1(t *testing.T, st *state.File, url string) []byte {
	t.Helper()
	b := append([]byte("BGST"), 0, 1)
	p := append(binary.AppendUvarint(nil, uint64(len(url))), url...)
	for _, s := range []string{st.ETag, st.LastModified} {
		p = binary.AppendUvarint(p, uint64(len(s)))
		p = append(p, s...)
	}
	p = binary.AppendUvarint(p, uint64(st.Size))
	p = binary.AppendUvarint(p, uint64(len(st.Segments)))
	for _, sg := range st.Segments {
		p = binary.AppendUvarint(p, uint64(sg.End-sg.Start))
		p = binary.AppendUvarint(p, uint64(sg.Done))
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
	b = append(b, p...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

// TestOldStateLosesItsSecretAtOnce: a state of the previous format, which
// held the whole URL, is rewritten without it as soon as a run reads it,
// even if the run then writes nothing for that file.
func TestOldStateLosesItsSecretAtOnce(t *testing.T) {
	const size = 6 << 20
	fx := newFixture(t, origin.Options{PerConnRate: 2 << 20})
	fx.add("a.bin", size)
	dir := t.TempDir()
	opts := testOptions(dir)
	interruptedRun(t, fx, opts, 1<<20)
	before := loadState(t, dir, "a.bin")
	statePath := filepath.Join(dir, store.StateName("a.bin"))
	secretURL := "https://user:" + plantedPassword + "@example.com/a.bin" + plantedQuery
	if err := os.WriteFile(statePath, encodeStateV1(t, before, secretURL), 0o600); err != nil {
		t.Fatal(err)
	}
	if st := loadState(t, dir, "a.bin"); !st.Outdated() || st.DoneBytes() != before.DoneBytes() {
		t.Fatalf("the planted version 1 state reads as %+v", st)
	}

	fx.srv.SetOptions(func(o *origin.Options) {
		o.Fault = func(origin.Request) origin.Fault { return origin.Fault{Status: http.StatusNotFound} }
	})
	if sum := runFixture(t, fx, opts); len(sum.Failed) != 1 {
		t.Fatalf("%+v", sum)
	}
	assertNoSecretOnDisk(t, dir)
	after := loadState(t, dir, "a.bin")
	if after.Outdated() || after.DoneBytes() != before.DoneBytes() {
		t.Errorf("after the run the state is %+v (outdated %v), want the claims of %+v", after, after.Outdated(), before)
	}

	// And the bytes are still good for a resume.
	fx.srv.SetOptions(func(o *origin.Options) { o.Fault = nil })
	fx.srv.WaitIdle(2 * time.Second)
	fx.srv.ResetStats()
	if sum := runFixture(t, fx, opts); sum.Done != 1 {
		t.Fatalf("%+v", sum)
	}
	fx.verify(t, dir, nil)
	fx.srv.WaitIdle(2 * time.Second)
	if served, missing := fx.srv.Stats().BytesServed, size-before.DoneBytes(); served > missing+16*int64(opts.BufferSize)*2 { // 16: the default connections
		t.Errorf("served %d bytes, %d were missing", served, missing)
	}
}

// TestResumeWithNewSignatureKeepsEveryByte: the same list with freshly
// signed URLs (only the query differs) continues every .part.
func TestResumeWithNewSignatureKeepsEveryByte(t *testing.T) {
	const size = 8 << 20
	fx := newFixture(t, origin.Options{PerConnRate: 2 << 20})
	fx.add("a.bin", size)
	fx.add("sub/b.bin", size)
	withSecrets(fx, "?X-Amz-Signature=first&X-Amz-Expires=60")
	dir := t.TempDir()
	opts := testOptions(dir)
	opts.Connections = 6
	interruptedRun(t, fx, opts, 2<<20)
	var onDisk int64
	for _, n := range []string{"a.bin", "sub/b.bin"} {
		onDisk += loadState(t, dir, n).DoneBytes()
	}
	if onDisk < 1<<20 {
		t.Fatalf("the states claim only %d bytes after the interruption", onDisk)
	}

	withSecrets(fx, "?X-Amz-Signature=second&X-Amz-Expires=60")
	fx.srv.WaitIdle(2 * time.Second)
	fx.srv.ResetStats()
	rec := &recorder{}
	opts.Reporter = rec
	if sum := runFixture(t, fx, opts); sum.Done != 2 {
		t.Fatalf("%+v", sum)
	}
	fx.verify(t, dir, nil)
	fx.srv.WaitIdle(2 * time.Second)
	served := fx.srv.Stats().BytesServed
	if limit := 2*size - onDisk + int64(opts.Connections)*int64(opts.BufferSize)*2; served > limit {
		t.Errorf("the re-signed run fetched %d bytes; %d were missing (limit %d)", served, 2*size-onDisk, limit)
	}
	if rec.count(Resumed) != 2 {
		t.Errorf("%d resumed events, want 2", rec.count(Resumed))
	}
}
