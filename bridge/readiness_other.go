//go:build !linux && !windows

package bridge

import (
	"errors"
	"io/fs"
	"os"

	"github.com/mailbridge/mailbridge/mailroot"
)

// openIfDone cannot tell on this system whether a writer still has the
// file open: the caller waits for the quiet period instead. What is not a
// regular file is said at once.
func openIfDone(path string) (*os.File, readiness, error) {
	f, err := mailroot.OpenRegular(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, gone, nil
	case errors.Is(err, mailroot.ErrNotRegular):
		return nil, irregular, err
	case err == nil:
		f.Close()
	}
	return nil, unknown, nil
}
