//go:build !unix

package control

const supported = false

func shortDir() string { return "" }

func privateDir(string) error { return ErrUnsupported }
