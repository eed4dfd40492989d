package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// outDir is where a test has bulkget download: a folder of its own.
func outDir(t *testing.T) (work, out string) {
	work = t.TempDir()
	return work, filepath.Join(work, "out")
}

func TestNginxRangesOverSeveralConnections(t *testing.T) {
	t.Parallel()
	srv := startNginx(t, 1, `server { listen 127.0.0.1:@PORT0@; }`)
	const size = 64 << 20
	want := srv.file("files/big.bin", "big", size)
	work, out := outDir(t)
	list := filepath.Join(work, "list.csv")
	writeList(t, list, "big.bin", srv.url(0, "files/big.bin"))
	res := runBulkget(t, work, nil, "get", "--progress", "plain", "-c", "8", "-d", out, list)
	if res.code != exitOK {
		t.Fatalf("exit %d, want %d", res.code, exitOK)
	}
	checkFile(t, filepath.Join(out, "big.bin"), want)
	st := statuses(srv.requests())
	if st[206] < 3 {
		t.Errorf("the access log shows %d responses 206, want several (statuses %v)", st[206], st)
	}
	t.Logf("statuses %v", st)
	_ = os.Remove
	_ = strings.Contains
}
