package crashtest

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/bulkget/bulkget/store"
)

// readAttrs returns the attributes of name that bulkget sets.
func readAttrs(root *os.Root, name string) map[string][]byte {
	f, err := root.Open(name)
	if err != nil {
		return nil
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	n, err := unix.Fgetxattr(int(f.Fd()), store.VerifiedAttr, buf)
	if err != nil {
		return nil
	}
	return map[string][]byte{store.VerifiedAttr: append([]byte(nil), buf[:n]...)}
}

func writeAttr(f *os.File, name string, data []byte) error {
	return unix.Fsetxattr(int(f.Fd()), name, data, 0)
}
