package manifest_test

import (
	"fmt"
	"io"
	"strings"

	"github.com/bulkget/bulkget/manifest"
)

func Example() {
	list := `name,url,size
# models for the demo
models/small.bin,https://example.com/small.bin,1024
"notes, v2.txt",https://example.com/notes.txt,
../../.ssh/authorized_keys,https://example.com/keys,
models/small.bin,https://example.com/other.bin,
`
	entries, bad, err := manifest.ReadAll(strings.NewReader(list))
	if err != nil {
		fmt.Println("cannot read the list:", err)
		return
	}
	for _, e := range entries {
		fmt.Printf("%d: %s <- %s (size %d)\n", e.Line, e.Name, e.URL, e.Size)
	}
	for _, b := range bad {
		fmt.Println(b)
	}
	// Output:
	// 3: models/small.bin <- https://example.com/small.bin (size 1024)
	// 4: notes, v2.txt <- https://example.com/notes.txt (size -1)
	// line 5: name "../../.ssh/authorized_keys" contains a ".." component; it must stay inside the output folder
	// line 6: duplicate name "models/small.bin" (also on line 3)
}

func ExampleReader() {
	list := "filename\turl\n" +
		"a.iso\thttp://example.com/a.iso\n" +
		"b.iso\tftp://example.com/b.iso\n" +
		"c.iso\thttp://example.com/c.iso\n"
	r, err := manifest.NewReader(strings.NewReader(list))
	if err != nil {
		fmt.Println(err)
		return
	}
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if le, ok := err.(*manifest.LineError); ok {
			fmt.Println("skipping", le)
			continue
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(e.Name, e.URL)
	}
	// Output:
	// a.iso http://example.com/a.iso
	// skipping line 3: url scheme "ftp" is not supported; use http or https
	// c.iso http://example.com/c.iso
}

func Example_mirrors() {
	list := `name,url,mirrors
big.iso,https://a.example.com/big.iso,https://b.example.org/big.iso https://c.example.net/pub/big.iso
small.iso,https://a.example.com/small.iso,
again.iso,https://a.example.com/again.iso,https://a.example.com/again.iso
bad.iso,https://a.example.com/bad.iso,https://b.example.org/bad.iso ftp://c.example.net/bad.iso
`
	entries, bad, err := manifest.ReadAll(strings.NewReader(list))
	if err != nil {
		fmt.Println("cannot read the list:", err)
		return
	}
	for _, e := range entries {
		fmt.Println(e.Name, "from", append([]string{e.URL}, e.Mirrors...))
	}
	for _, b := range bad {
		fmt.Println(b)
	}
	// Output:
	// big.iso from [https://a.example.com/big.iso https://b.example.org/big.iso https://c.example.net/pub/big.iso]
	// small.iso from [https://a.example.com/small.iso]
	// again.iso from [https://a.example.com/again.iso]
	// line 5: mirror 2 scheme "ftp" is not supported; use http or https
}
