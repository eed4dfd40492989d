package store

import "runtime"

const isWindows = runtime.GOOS == "windows"
