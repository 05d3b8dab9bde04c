//go:build !linux && !windows

package bridge

import (
	"errors"
	"io/fs"
	"os"
)

// openIfDone cannot tell on this system whether a writer still has the
// file open: the caller waits for the quiet period instead.
func openIfDone(path string) (*os.File, readiness, error) {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, gone, nil
	}
	return nil, unknown, nil
}
