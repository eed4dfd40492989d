package store

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

func setAttr(f *os.File, name string, data []byte) error {
	err := unix.Fsetxattr(int(f.Fd()), name, data, 0)
	if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EPERM) {
		return ErrNoAttrs
	}
	return err
}

func getAttr(f *os.File) ([]byte, error) {
	buf := make([]byte, 1024)
	for {
		n, err := unix.Fgetxattr(int(f.Fd()), VerifiedAttr, buf)
		if errors.Is(err, unix.ERANGE) && len(buf) < 64<<10 {
			buf = make([]byte, 4*len(buf))
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}
