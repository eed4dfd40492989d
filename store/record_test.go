package store

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestRecordSticksToTheFileItVerified(t *testing.T) {
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	d := Open(root, dir, Options{Connections: 1})
	defer d.Close()
	path := filepath.Join(dir, "a.bin")
	if err := os.WriteFile(path, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := Record{Algo: "sha256", Digest: "ab", Source: "list", ETag: `"x"`, LastModified: "Mon"}
	if err := d.WriteRecord("a.bin", want); err != nil {
		t.Fatal(err)
	}
	rec, fi, ok := ReadRecord(root, "a.bin")
	if !ok || !rec.Matches(fi) || rec.Algo != want.Algo || rec.Digest != want.Digest || rec.Source != "list" ||
		rec.ETag != want.ETag || rec.Size != 5 {
		t.Fatalf("read %+v, ok %v", rec, ok)
	}
	// Changed since: the record no longer vouches for it.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	if rec, fi, ok := ReadRecord(root, "a.bin"); !ok || rec.Matches(fi) {
		t.Fatalf("a touched file still matches its record")
	}
}

func TestRecordSidecarWhereThereAreNoAttributes(t *testing.T) {
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := os.WriteFile(filepath.Join(dir, "a.bin"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(dir, "a.bin"))
	rec := Record{Size: 5, ModTime: fi.ModTime().UnixNano(), Algo: "crc32c", Digest: "01020304", Source: "x-goog-hash"}
	if err := writeSidecar(&OS{top: topDir{root: root}}, "a.bin"+VerifiedSuffix, rec.encode()); err != nil {
		t.Fatal(err)
	}
	got, fi, ok := ReadRecord(root, "a.bin")
	if !ok || !got.Matches(fi) || got.Digest != rec.Digest {
		t.Fatalf("read %+v, ok %v", got, ok)
	}
}

func TestMalformedRecordsAreRefused(t *testing.T) {
	for _, b := range []string{"", "bulkget-verified 2\nsize 1\n", "bulkget-verified 1\nsize x\nalgo a\ndigest b\nmtime 1\n",
		"bulkget-verified 1\nsize 1\nmtime 1\n"} {
		if _, err := decodeRecord([]byte(b)); err == nil {
			t.Errorf("accepted %q", b)
		}
	}
}

func TestRecordOfValidatorsOnly(t *testing.T) {
	rec := Record{Size: 5, ModTime: 1, ETag: `"v1"`, LastModified: "Mon, 01 Jan 2024 00:00:00 GMT"}
	got, err := decodeRecord(rec.encode())
	if err != nil || got != rec || got.Checked() {
		t.Fatalf("decoded %+v, %v (checked %v)", got, err, got.Checked())
	}
	for _, bad := range []Record{
		{Size: 5, ModTime: 1},                              // nothing recorded
		{Size: 5, ModTime: 1, Algo: "sha256", ETag: `"v"`}, // an algorithm without its value
		{Size: 5, ModTime: 1, Digest: "ab", ETag: `"v"`},   // a value without its algorithm
	} {
		if _, err := decodeRecord(bad.encode()); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
}
