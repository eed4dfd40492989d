package main

import "testing"

func TestParseSize(t *testing.T) {
	good := []struct {
		in   string
		want int64
	}{
		{"0", 0},
		{"4096", 4096},
		{"4K", 4 << 10},
		{"4k", 4 << 10},
		{"4M", 4 << 20},
		{"4MiB", 4 << 20},
		{"4MB", 4 << 20},
		{"4 MiB", 4 << 20},
		{"1G", 1 << 30},
		{"1.5G", 3 << 29},
		{"10G", 10 << 30},
		{"2T", 2 << 40},
		{"512KiB", 512 << 10},
	}
	for _, c := range good {
		t.Run(c.in, func(t *testing.T) {
			got, err := parseSize(c.in)
			if err != nil || got != c.want {
				t.Fatalf("parseSize(%q) = %d, %v; want %d", c.in, got, err, c.want)
			}
		})
	}
	for _, in := range []string{"", "M", "-1", "-1M", "1.5", "4X", "4MiBB", "1e3", "abc", "9999999999T", "4I"} {
		t.Run("bad "+in, func(t *testing.T) {
			if got, err := parseSize(in); err == nil {
				t.Fatalf("parseSize(%q) = %d, want an error", in, got)
			}
		})
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"4M", "1.5G", "100", "7KiB", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err == nil && n < 0 {
			t.Fatalf("parseSize(%q) = %d", s, n)
		}
	})
}

func TestFormatSize(t *testing.T) {
	for in, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 10 << 30: "10.0 GiB", 3 << 19: "1.5 MiB"} {
		if got := formatSize(in); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", in, got, want)
		}
	}
}
