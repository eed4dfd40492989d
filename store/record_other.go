//go:build !linux

package store

import "os"

// Extended attributes are used on Linux only; elsewhere the record is a
// sidecar.

func setAttr(*os.File, string, []byte) error { return ErrNoAttrs }

func getAttr(*os.File) ([]byte, error) { return nil, ErrNoAttrs }
