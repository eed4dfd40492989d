//go:build !unix

package control

// Supported says whether this platform has the control socket.
const Supported = false

func shortDir() string { return "" }

func privateDir(string) error { return ErrUnsupported }
