//go:build !windows

package logfile

import (
	"io/fs"
	"os"
)

// OpenAppend opens path for appending, creating it with perm (less the
// umask) when it does not exist.
func OpenAppend(path string, perm fs.FileMode) (*os.File, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, perm)
}
