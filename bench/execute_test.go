package bench

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// A run killed at the timeout says so (the suite does not repeat it); one
// stopped because the suite itself was interrupted does not.
func TestExecuteTellsTimeoutFromInterruption(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep executable")
	}
	invs := []Invocation{{Args: []string{sleep, "10"}}}
	r := &Runner{Timeout: 100 * time.Millisecond}

	var res Result
	r.execute(context.Background(), invs, nil, t.TempDir(), &res)
	if !res.TimedOut || !strings.Contains(res.Err, "timed out") {
		t.Errorf("after the timeout: TimedOut %v, Err %q", res.TimedOut, res.Err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	res = Result{}
	r.Timeout = time.Minute
	r.execute(ctx, invs, nil, t.TempDir(), &res)
	if res.TimedOut || res.Err != "interrupted" {
		t.Errorf("after an interruption: TimedOut %v, Err %q", res.TimedOut, res.Err)
	}
}
