package store

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// Record is what was verified about a finished file, kept with it so that
// a later run can trust the file without reading it: as long as its size
// and modification time are the recorded ones, its content is the one
// that matched Digest, and the version of the remote file that the
// validators name. A file checked against nothing has a record too, with
// no Algo and no Digest, when the server gave validators: a later run with
// --update asks the server whether they still hold. It lives in the file's extended attribute
// VerifiedAttr or, where the file system has none, in the sidecar
// <name>VerifiedSuffix.
type Record struct {
	Size    int64
	ModTime int64  // nanoseconds since the epoch
	Algo    string // "sha256", "crc32c", …; "" when nothing was checked
	Digest  string // lower-case hex; "" when nothing was checked
	// Source is who vouched for Digest: "list" or a header name.
	Source string
	// The server's validators of the version that was verified.
	ETag, LastModified string
}

// Checked says whether the record holds a verified digest, not only the
// server's validators.
func (r Record) Checked() bool { return r.Algo != "" && r.Digest != "" }

// Matches says whether fi is still the file the record describes.
func (r Record) Matches(fi fs.FileInfo) bool {
	return fi.Mode().IsRegular() && fi.Size() == r.Size && fi.ModTime().UnixNano() == r.ModTime
}

const recordMagic = "bulkget-verified 1"

func (r Record) encode() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\nsize %d\nmtime %d\nalgo %s\ndigest %s\nsource %s\netag %s\nlast-modified %s\n",
		recordMagic, r.Size, r.ModTime, r.Algo, r.Digest, r.Source, r.ETag, r.LastModified)
	return []byte(b.String())
}

var errRecord = errors.New("store: malformed verification record")

func decodeRecord(b []byte) (Record, error) {
	var r Record
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	if !sc.Scan() || sc.Text() != recordMagic {
		return r, errRecord
	}
	seen := 0
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		var err error
		switch k {
		case "size":
			r.Size, err = strconv.ParseInt(v, 10, 64)
		case "mtime":
			r.ModTime, err = strconv.ParseInt(v, 10, 64)
		case "algo":
			r.Algo = v
		case "digest":
			r.Digest = v
		case "source":
			r.Source = v
		case "etag":
			r.ETag = v
		case "last-modified":
			r.LastModified = v
		default:
			continue
		}
		if err != nil {
			return Record{}, errRecord
		}
		seen++
	}
	checked := r.Algo != "" && r.Digest != ""
	validated := r.Algo == "" && r.Digest == "" && (r.ETag != "" || r.LastModified != "")
	if seen < 4 || !checked && !validated || r.Size < 0 {
		return Record{}, errRecord
	}
	return r, nil
}

// WriteRecord records rec for the finished file name, taking its size and
// modification time from the file as it is now. A value with a line break
// (a hostile ETag, say) is left out rather than let it forge a field.
func (d *Dir) WriteRecord(name string, rec Record) error {
	f, err := d.fs.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	rec.Size, rec.ModTime = fi.Size(), fi.ModTime().UnixNano()
	for _, v := range []*string{&rec.ETag, &rec.LastModified, &rec.Source} {
		if strings.ContainsAny(*v, "\r\n") {
			*v = ""
		}
	}
	data := rec.encode()
	err = f.SetAttr(VerifiedAttr, data)
	if errors.Is(err, ErrNoAttrs) {
		// No extended attributes here (tmpfs without user xattrs, some
		// network file systems): the sidecar, replaced atomically.
		err = writeSidecar(d.fs, VerifiedName(name), data)
	} else if err == nil {
		// A sidecar from an earlier run on another file system is stale.
		_ = d.fs.Remove(VerifiedName(name))
	}
	return err
}

// ReadRecord returns the record of the finished file name, if it has one,
// with the file's current state; ok is false without a usable record.
// It reads only: status calls it on a folder in use.
func ReadRecord(root *os.Root, name string) (rec Record, fi fs.FileInfo, ok bool) {
	f, err := root.Open(name)
	if err != nil {
		return rec, nil, false
	}
	defer f.Close()
	fi, err = f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return rec, nil, false
	}
	data, err := getAttr(f)
	if err != nil {
		data, err = root.ReadFile(VerifiedName(name))
		if err != nil {
			return rec, fi, false
		}
	}
	rec, err = decodeRecord(data)
	return rec, fi, err == nil
}

func writeSidecar(fsys FS, name string, data []byte) error {
	tmp := TempName(name)
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(data, 0)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(tmp, name)
	}
	if err != nil {
		_ = fsys.Remove(tmp)
	}
	return err
}
