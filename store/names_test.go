package store

import "testing"

func TestStateLivesBesideItsPart(t *testing.T) {
	if got := PartName("a/b.bin"); got != "a/b.bin.part" {
		t.Errorf("PartName = %q", got)
	}
	if got := StateName("a/b.bin"); got != "a/b.bin.part.state" {
		t.Errorf("StateName = %q", got)
	}
}
