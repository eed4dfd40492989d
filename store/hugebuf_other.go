//go:build !linux

package store

func mapHuge(int) ([]byte, [][]byte, bool) { return nil, nil, false }
func unmapHuge([]byte)                     {}
