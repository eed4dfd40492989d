package store

import "testing"

func TestUnnamedFilesOnlyWhereDescriptorsAllow(t *testing.T) {
	cases := []struct {
		limit, conns int
		want         bool
	}{
		{0, 16, true},         // no known limit
		{1024, 16, true},      // the usual soft limit
		{640, 16, true},       // 512 unnamed + 64 + 4 × 16 exactly
		{639, 16, false},      // one short
		{128, 16, false},      // ulimit -n 128
		{4096, 1000, false},   // many connections take the room
		{1 << 20, 1000, true}, // a raised limit
	}
	for _, c := range cases {
		if got := unnamedFits(c.limit, c.conns, 512); got != c.want {
			t.Errorf("unnamedFits(%d, %d, 512) = %v, want %v", c.limit, c.conns, got, c.want)
		}
	}
}

func TestConnectionsFitTheDescriptorLimit(t *testing.T) {
	cases := []struct{ limit, conns, want int }{
		{0, 16, 16},      // no known limit
		{1024, 16, 16},   // plenty
		{64, 16, 16},     // (64 - 16) / 3
		{63, 16, 15},     // one short
		{24, 16, 2},      // ulimit -n 24
		{10, 16, 1},      // never none
		{1024, 600, 336}, // many connections asked for
	}
	for _, c := range cases {
		if got := connectionsFit(c.limit, c.conns); got != c.want {
			t.Errorf("connectionsFit(%d, %d) = %d, want %d", c.limit, c.conns, got, c.want)
		}
	}
}
