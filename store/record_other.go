//go:build !linux

package store

import (
	"errors"
	"os"
)

// errNoAttrs: extended attributes are used on Linux only; elsewhere the
// record is a sidecar.
var errNoAttrs = errors.New("store: no extended attributes")

func setAttr(*os.File, string, []byte) error { return errNoAttrs }

func getAttr(*os.File) ([]byte, error) { return nil, errNoAttrs }
