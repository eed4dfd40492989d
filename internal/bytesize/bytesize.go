// Package bytesize formats byte counts for people, in the binary units
// bulkget prints everywhere (KiB, MiB, …).
package bytesize

import "fmt"

// Format is n bytes with one decimal and a 1024-based unit: "512 B",
// "1.5 KiB", "3.2 GiB"; counts beyond PiB stay in PiB.
func Format(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
