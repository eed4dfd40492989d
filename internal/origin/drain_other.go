//go:build !linux

package origin

import (
	"context"
	"net"
	"time"
)

// waitDrained cannot see the send queue here, so it grants loopback a short,
// fixed grace period to deliver what was written before the reset.
func waitDrained(ctx context.Context, _ *net.TCPConn, max time.Duration) {
	sleepCtx(ctx, min(max, 50*time.Millisecond))
}
