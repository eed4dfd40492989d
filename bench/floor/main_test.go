//go:build linux

package main

import (
	"os"
	"strings"
	"testing"

	"github.com/bulkget/bulkget/bench"
)

// TestMain lets the test binary stand in for the command: measure runs the
// client by executing itself with childEnv set.
func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		if err := client(mode, os.Args[1], os.Args[2]); err != nil {
			os.Stderr.WriteString("floor client: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Both kinds of file the client writes (whole small ones, large ones in
// O_DIRECT ranges, with a last piece that is not block-aligned) must come
// out right: measure checks every file's SHA-256 and fails otherwise.
func TestFloorWritesEveryFileRight(t *testing.T) {
	s := bench.Scenario{Name: "mixed", About: "test", Sets: []bench.FileSet{{Count: 5, Size: 40 << 10}, {Count: 2, Size: 3<<20 + 1234}}}
	var out strings.Builder
	if err := measure(&out, s, []string{"discard", "write", "buffered"}, 1, t.TempDir()); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"discard median", "write   median", "buffered median"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in\n%s", want, out.String())
		}
	}
}

func TestFloorRefusesWhatItCannotMeasure(t *testing.T) {
	s, err := bench.Lookup("flaky")
	if err != nil {
		t.Fatal(err)
	}
	if err := measure(&strings.Builder{}, s, []string{"write"}, 1, t.TempDir()); err == nil {
		t.Error("measured a faulty origin, which the floor client cannot survive")
	}
	s, _ = bench.Lookup("uncapped")
	if err := measure(&strings.Builder{}, s, []string{"fast"}, 1, t.TempDir()); err == nil {
		t.Error("accepted an unknown mode")
	}
}
