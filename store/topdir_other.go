//go:build !linux

package store

import (
	"errors"
	"os"
	"sync/atomic"
)

const haveTopDir = false

var errNoTopDir = errors.New("not on this platform")

func createAt(int, string) (*os.File, error) { return nil, errNoTopDir }
func renameAt(int, string, string) error     { return errNoTopDir }

func createUnnamedAt(int) (*os.File, error)            { return nil, errNoTopDir }
func linkAt(*os.File, int, string, *atomic.Bool) error { return errNoTopDir }
func unnamedPossible() bool                            { return false }
func unnamedUnsupported(error) bool                    { return true }
