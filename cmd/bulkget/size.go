package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/bulkget/bulkget/internal/bytesize"
)

// parseSize reads a byte count: plain bytes ("4096"), or a number with a
// 1024-based suffix K, M, G, T, optionally written KiB/MiB/GiB/TiB or KB/MB/
// GB/TB (treated as 1024-based too, like curl and aria2c do). Fractions are
// allowed with a suffix ("1.5G").
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("size %q: empty", s)
	}
	i := len(t)
	for i > 0 && (t[i-1] < '0' || t[i-1] > '9') && t[i-1] != '.' {
		i--
	}
	num, unit := strings.TrimSpace(t[:i]), strings.ToUpper(strings.TrimSpace(t[i:]))
	unit = strings.TrimSuffix(strings.TrimSuffix(unit, "B"), "I")
	shift := map[string]uint{"": 0, "K": 10, "M": 20, "G": 30, "T": 40}
	sh, ok := shift[unit]
	if !ok || num == "" || (strings.TrimSpace(t[i:]) != "" && strings.ToUpper(t[i:]) == "I") {
		return 0, fmt.Errorf("size %q: want a number with an optional K, M, G or T suffix", s)
	}
	if sh == 0 {
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("size %q: want a whole number of bytes", s)
		}
		return n, nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("size %q: bad number", s)
	}
	v := f * float64(int64(1)<<sh)
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return int64(v), nil
}

// formatSize renders n bytes with a 1024-based unit for people.
func formatSize(n int64) string { return bytesize.Format(n) }

// formatRate renders a speed in bytes per second.
func formatRate(bytes int64, seconds float64) string {
	if seconds <= 0 {
		return "-"
	}
	return formatSize(int64(float64(bytes)/seconds)) + "/s"
}
