package integration

import "testing"

func TestCaddyHTTPS(t *testing.T) {
	t.Parallel()
	testHTTPS(t, startCaddy(t))
}
