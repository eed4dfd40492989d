package bench

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/bulkget/bulkget/internal/origin"
)

type fileState int

const (
	fileCorrupt fileState = iota // wrong size or content
	fileRight
	fileMissing
)

// verify checks the SHA-256 of every file in dir against the origin's,
// any of its first versions (at least one).
func verify(dir string, files []File, versions int) map[string]fileState {
	state := make(map[string]fileState, len(files))
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan File)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for f := range next {
				sum, err := fileSHA(filepath.Join(dir, f.Name))
				st := fileCorrupt
				switch {
				case errors.Is(err, os.ErrNotExist):
					st = fileMissing
				case err == nil:
					for v := range max(versions, 1) {
						if sum == origin.SHA256Hex(f.Name, v, f.Size) {
							st = fileRight
						}
					}
				}
				mu.Lock()
				state[f.Name] = st
				mu.Unlock()
			}
		})
	}
	for _, f := range files {
		next <- f
	}
	close(next)
	wg.Wait()
	return state
}

// CheckFiles says which file in dir, if any, is missing or differs from
// the origin's content, for a client measured outside the suite.
func CheckFiles(dir string, files []File) error {
	state := verify(dir, files, 1)
	for _, f := range files {
		switch state[f.Name] {
		case fileMissing:
			return fmt.Errorf("%s: missing", f.Name)
		case fileCorrupt:
			return fmt.Errorf("%s: wrong size or content", f.Name)
		}
	}
	return nil
}

func fileSHA(path string) (string, error) {
	fh, err := openToCheck(path)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
