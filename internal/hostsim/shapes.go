package hostsim

import "time"

const (
	miB = 1 << 20
	ms  = time.Millisecond
)

// Shapes are the host shapes the controller is judged on: sized so that
// the best fixed level takes several seconds.
func Shapes() []Shape {
	return []Shape{
		{"percap-rtt20", []Host{{PerConn: 2 * miB, Total: 80 * miB, RTT: 20 * ms}}, 640 * miB},
		{"percap-rtt100", []Host{{PerConn: 2 * miB, Total: 80 * miB, RTT: 100 * ms}}, 640 * miB},
		{"percap-rtt300", []Host{{PerConn: 4 * miB, Total: 100 * miB, RTT: 300 * ms}}, 800 * miB},
		{"totalcap-rtt20", []Host{{Total: 30 * miB, RTT: 20 * ms}}, 256 * miB},
		{"totalcap-rtt100", []Host{{Total: 30 * miB, RTT: 100 * ms}}, 256 * miB},
		{"both-rtt50", []Host{{PerConn: 1 * miB, Total: 16 * miB, RTT: 50 * ms}}, 128 * miB},
		{"uncapped-rtt1", []Host{{RTT: 1 * ms}}, 4096 * miB},
		{"refuse4-rtt20", []Host{{PerConn: 8 * miB, MaxConns: 4, RTT: 20 * ms}}, 256 * miB},
		{"refuse8-rtt100", []Host{{PerConn: 4 * miB, MaxConns: 8, RTT: 100 * ms}}, 256 * miB},
		{"bursty-rtt20", []Host{{PerConn: 4 * miB, Total: 40 * miB, Bursts: true, RTT: 20 * ms}}, 320 * miB},
		{"bursty-rtt100", []Host{{PerConn: 4 * miB, Total: 40 * miB, Bursts: true, RTT: 100 * ms}}, 320 * miB},
		{"slows-rtt20", []Host{{PerConn: 2 * miB, Total: 64 * miB, RTT: 20 * ms,
			Changes: []Change{{At: 4 * time.Second, Total: 16 * miB}}}}, 320 * miB},
		{"speeds-rtt20", []Host{{Total: 16 * miB, RTT: 20 * ms,
			Changes: []Change{{At: 4 * time.Second, PerConn: 2 * miB, Total: 64 * miB}}}}, 320 * miB},
		{"mirrors-2", []Host{{PerConn: 1 * miB, Total: 32 * miB, RTT: 20 * ms}, {Total: 20 * miB, RTT: 50 * ms}}, 320 * miB},
		{"mirrors-3", []Host{{PerConn: 2 * miB, Total: 24 * miB, RTT: 20 * ms}, {PerConn: 1 * miB, Total: 24 * miB, RTT: 100 * ms},
			{PerConn: 4 * miB, MaxConns: 4, RTT: 50 * ms}}, 480 * miB},
	}
}
