//go:build !windows

package logfile

import (
	"os"
	"syscall"
)

// unlinked reports whether the open file f has no name left (deleted):
// what was written to it since is nowhere to be read.
func unlinked(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Nlink == 0
}
