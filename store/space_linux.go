package store

import "golang.org/x/sys/unix"

// freeSpace returns the bytes an unprivileged user may still write on the
// filesystem holding dir, or -1 if it cannot tell.
func freeSpace(dir string) int64 {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return -1
	}
	return int64(st.Bavail) * int64(st.Bsize)
}
