//go:build !windows

package bridge

import (
	"errors"
	"syscall"
)

// outOfFiles reports whether err is the process or the system out of
// file descriptors (EMFILE: the open-files limit, ulimit -n or systemd's
// LimitNOFILE; ENFILE: the system's), a shortage of this machine's that
// passes when sessions end.
func outOfFiles(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}
