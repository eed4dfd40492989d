package origin

import (
	"context"
	"net"
	"syscall"
	"time"
	"unsafe"
)

// waitDrained polls the kernel send queue (unsent plus unacknowledged bytes)
// until it is empty, the context ends, or max elapses.
func waitDrained(ctx context.Context, c *net.TCPConn, max time.Duration) {
	raw, err := c.SyscallConn()
	if err != nil {
		return
	}
	deadline := time.Now().Add(max)
	for time.Now().Before(deadline) {
		var queued int32
		var errno syscall.Errno
		cerr := raw.Control(func(fd uintptr) {
			_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&queued)))
		})
		if cerr != nil || errno != 0 || queued == 0 {
			return
		}
		if !sleepCtx(ctx, time.Millisecond) {
			return
		}
	}
}
