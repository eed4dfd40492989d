package segment_test

import (
	"fmt"

	"github.com/bulkget/bulkget/segment"
)

func ExampleRangeHeader() {
	// Go ranges are half-open, HTTP ranges are inclusive.
	fmt.Println(segment.RangeHeader(0, 10))
	fmt.Println(segment.RangeHeader(1024, -1))
	// Output:
	// bytes=0-9
	// bytes=1024-
}

func ExampleParseContentRange() {
	for _, v := range []string{"bytes 0-9/100", "bytes 10-19/*", "bytes */100", "bytes 0-100/100"} {
		cr, err := segment.ParseContentRange(v)
		if err != nil {
			fmt.Println("error:", err)
			continue
		}
		fmt.Printf("start %d end %d total %d\n", cr.Start, cr.End, cr.Total)
	}
	// Output:
	// start 0 end 10 total 100
	// start 10 end 20 total -1
	// start -1 end -1 total 100
	// error: segment: malformed Content-Range: "bytes 0-100/100"
}
