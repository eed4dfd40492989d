package segment

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRangeHeaderHasAnInclusiveEndAndIsOpenForANegativeOne(t *testing.T) {
	tests := []struct {
		name       string
		start, end int64
		want       string
	}{
		{"first ten bytes", 0, 10, "bytes=0-9"},
		{"single byte", 0, 1, "bytes=0-0"},
		{"middle", 100, 200, "bytes=100-199"},
		{"open ended from zero", 0, -1, "bytes=0-"},
		{"open ended from offset", 4096, -1, "bytes=4096-"},
		{"any negative end is open", 7, -42, "bytes=7-"},
		{"large offsets", 1 << 40, 1<<40 + 1, "bytes=1099511627776-1099511627776"},
		{"max int64 end", 0, math.MaxInt64, "bytes=0-9223372036854775806"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RangeHeader(tt.start, tt.end); got != tt.want {
				t.Errorf("RangeHeader(%d, %d) = %q, want %q", tt.start, tt.end, got, tt.want)
			}
		})
	}
}

// A header built for [a, b) and the
// Content-Range a compliant server answers it with describe the same range.
func TestRangeHeaderAndItsContentRangeDescribeTheSameBytes(t *testing.T) {
	for _, r := range [][2]int64{{0, 1}, {0, 10}, {5, 6}, {65536, 131072}, {1 << 33, 1<<33 + 12345}} {
		t.Run(fmt.Sprintf("%d-%d", r[0], r[1]), func(t *testing.T) {
			h := RangeHeader(r[0], r[1])
			spec, ok := strings.CutPrefix(h, "bytes=")
			if !ok {
				t.Fatalf("RangeHeader = %q, missing unit", h)
			}
			cr, err := ParseContentRange("bytes " + spec + "/*")
			if err != nil {
				t.Fatalf("ParseContentRange(%q): %v", "bytes "+spec+"/*", err)
			}
			if cr.Start != r[0] || cr.End != r[1] {
				t.Errorf("round trip of [%d, %d) gave [%d, %d)", r[0], r[1], cr.Start, cr.End)
			}
		})
	}
}

func TestContentRangeParsesToAnExclusiveEndAndUnknownTotal(t *testing.T) {
	tests := []struct {
		in   string
		want ContentRange
	}{
		{"bytes 0-9/10", ContentRange{0, 10, 10}},
		{"bytes 0-0/1", ContentRange{0, 1, 1}},
		{"bytes 5-9/100", ContentRange{5, 10, 100}},
		{"bytes 99-99/100", ContentRange{99, 100, 100}},
		{"bytes 0-9/*", ContentRange{0, 10, -1}},
		{"bytes 1024-2047/*", ContentRange{1024, 2048, -1}},
		{"bytes */0", ContentRange{-1, -1, 0}},
		{"bytes */1234", ContentRange{-1, -1, 1234}},
		{"  bytes 0-9/10  ", ContentRange{0, 10, 10}},
		{"bytes 0-9/10\t", ContentRange{0, 10, 10}},
		{"bytes 000-009/0010", ContentRange{0, 10, 10}},
		{"bytes 0-9223372036854775806/9223372036854775807", ContentRange{0, math.MaxInt64, math.MaxInt64}},
		{"bytes 9223372036854775805-9223372036854775805/*", ContentRange{math.MaxInt64 - 2, math.MaxInt64 - 1, -1}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseContentRange(tt.in)
			if err != nil {
				t.Fatalf("ParseContentRange(%q) error: %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseContentRange(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestMalformedContentRangeIsRejected(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{"empty", ""},
		{"only unit", "bytes "},
		{"missing unit", "0-9/10"},
		{"other unit", "items 0-9/10"},
		{"unit without space", "bytes0-9/10"},
		{"unit upper case", "BYTES 0-9/10"},
		{"unit with equals", "bytes=0-9/10"},
		{"missing slash", "bytes 0-9"},
		{"missing total", "bytes 0-9/"},
		{"missing first", "bytes -9/10"},
		{"missing last", "bytes 0-/10"},
		{"missing dash", "bytes 09/10"},
		{"both missing", "bytes -/10"},
		{"last before first", "bytes 10-9/100"},
		{"last equals total", "bytes 0-10/10"},
		{"last beyond total", "bytes 0-99/10"},
		{"total zero with range", "bytes 0-0/0"},
		{"star star", "bytes */*"},
		{"star range with dash", "bytes *-9/10"},
		{"plus sign first", "bytes +0-9/10"},
		{"plus sign last", "bytes 0-+9/10"},
		{"plus sign total", "bytes 0-9/+10"},
		{"minus sign first", "bytes -1-9/10"},
		{"minus sign total", "bytes 0-9/-10"},
		{"minus star total", "bytes */-1"},
		{"space inside first", "bytes 1 0-19/100"},
		{"space inside last", "bytes 0-1 9/100"},
		{"space inside total", "bytes 0-9/1 00"},
		{"space before dash", "bytes 0 -9/10"},
		{"space after dash", "bytes 0- 9/10"},
		{"space before slash", "bytes 0-9 /10"},
		{"space after slash", "bytes 0-9/ 10"},
		{"hex", "bytes 0x0-0x9/0x10"},
		{"decimal point", "bytes 0-9.0/10"},
		{"underscore", "bytes 0-1_0/100"},
		{"unicode digit", "bytes 0-٩/10"},
		{"overflow first", "bytes 9223372036854775808-9223372036854775809/*"},
		{"overflow last", "bytes 0-9223372036854775808/*"},
		{"overflow total", "bytes 0-9/9223372036854775808"},
		{"twenty digits", "bytes 0-9/10000000000000000000"},
		{"last is max int64, end not representable", "bytes 0-9223372036854775807/*"},
		{"two ranges", "bytes 0-4,5-9/10"},
		{"two slashes", "bytes 0-9/10/10"},
		{"extra dash", "bytes 0-5-9/10"},
		{"trailing garbage", "bytes 0-9/10x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseContentRange(tt.in)
			if err == nil {
				t.Fatalf("ParseContentRange(%q) = %+v, want error", tt.in, got)
			}
			if !errors.Is(err, errContentRange) {
				t.Errorf("error %v does not wrap errContentRange", err)
			}
			if got != (ContentRange{}) {
				t.Errorf("on error got %+v, want zero value", got)
			}
		})
	}
}

func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{
		"bytes 0-9/10", "bytes 0-9/*", "bytes */10", "bytes */0", "bytes 5-4/10",
		"bytes 0-9223372036854775806/*", "bytes 0-9223372036854775807/*",
		"bytes +1-2/3", " bytes  1-2/3 ", "bytes 1-2/-3", "", "bytes */*",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cr, err := ParseContentRange(s)
		if err != nil {
			if cr != (ContentRange{}) {
				t.Fatalf("error with non-zero value %+v", cr)
			}
			return
		}
		var back string
		switch {
		case cr.Start == -1 && cr.End == -1:
			if cr.Total < 0 {
				t.Fatalf("%q: unsatisfied form with unknown total: %+v", s, cr)
			}
			back = fmt.Sprintf("bytes */%d", cr.Total)
		case cr.Start >= 0 && cr.Start < cr.End:
			if cr.Total >= 0 && cr.End > cr.Total {
				t.Fatalf("%q: End beyond Total: %+v", s, cr)
			}
			if cr.Total < -1 {
				t.Fatalf("%q: Total %d", s, cr.Total)
			}
			if cr.Total >= 0 {
				back = fmt.Sprintf("bytes %d-%d/%d", cr.Start, cr.End-1, cr.Total)
			} else {
				back = fmt.Sprintf("bytes %d-%d/*", cr.Start, cr.End-1)
			}
		default:
			t.Fatalf("%q: invalid range %+v", s, cr)
		}
		again, err := ParseContentRange(back)
		if err != nil {
			t.Fatalf("%q parsed to %+v, but its canonical form %q does not parse: %v", s, cr, back, err)
		}
		if again != cr {
			t.Fatalf("%q parsed to %+v, canonical form %q parsed to %+v", s, cr, back, again)
		}
	})
}

func TestRetryAfterIsSecondsOrADateCappedAtADay(t *testing.T) {
	now := time.Date(2024, time.March, 10, 12, 0, 0, 0, time.UTC)
	date := func(d time.Duration) string { return now.Add(d).Format(http.TimeFormat) }
	tests := []struct {
		name, in string
		want     time.Duration
	}{
		{"empty", "", 0},
		{"blank", "   ", 0},
		{"zero seconds", "0", 0},
		{"seconds", "120", 120 * time.Second},
		{"seconds with spaces", "  5 ", 5 * time.Second},
		{"leading zeros", "007", 7 * time.Second},
		{"exactly a day", "86400", 24 * time.Hour},
		{"just over a day", "86401", 24 * time.Hour},
		{"a year", "31536000", 24 * time.Hour},
		{"eighteen digits", "999999999999999999", 24 * time.Hour},
		{"max int64", "9223372036854775807", 24 * time.Hour},
		{"beyond int64", "9223372036854775808", 24 * time.Hour},
		{"thirty digits", "123456789012345678901234567890", 24 * time.Hour},
		{"negative", "-5", 0},
		{"plus sign", "+5", 0},
		{"fraction", "1.5", 0},
		{"space inside", "1 0", 0},
		{"garbage", "soon", 0},
		{"http date in future", date(90 * time.Second), 90 * time.Second},
		{"http date now", date(0), 0},
		{"http date in past", date(-time.Hour), 0},
		{"rfc850 date in future", now.Add(time.Minute).Format(time.RFC850), time.Minute},
		{"asctime date in future", now.Add(2 * time.Minute).Format(time.ANSIC), 2 * time.Minute},
		{"http date far in future", date(365 * 24 * time.Hour), 24 * time.Hour},
		{"http date year 9999", "Fri, 31 Dec 9999 23:59:59 GMT", 24 * time.Hour},
		{"malformed date", "Sun, 99 Mar 2024 12:00:00 GMT", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseRetryAfter(tt.in, now); got != tt.want {
				t.Errorf("ParseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	now := time.Date(2024, time.March, 10, 12, 0, 0, 0, time.UTC)
	for _, s := range []string{
		"", "0", "120", "86401", "99999999999999999999", "-1", "+1",
		"Sun, 10 Mar 2024 12:01:00 GMT", "Sun, 10 Mar 2024 11:00:00 GMT",
		"Fri, 31 Dec 9999 23:59:59 GMT", "Sunday, 10-Mar-24 12:01:00 GMT",
		"Sun Mar 10 12:01:00 2024",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := ParseRetryAfter(s, now)
		if d < 0 {
			t.Fatalf("ParseRetryAfter(%q) = %v, negative", s, d)
		}
		if d > 24*time.Hour {
			t.Fatalf("ParseRetryAfter(%q) = %v, above the 24h cap", s, d)
		}
	})
}
