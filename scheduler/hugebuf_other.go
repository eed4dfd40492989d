//go:build !linux

package scheduler

func mapHuge(int) ([]byte, [][]byte, bool) { return nil, nil, false }
func unmapHuge([]byte)                     {}
