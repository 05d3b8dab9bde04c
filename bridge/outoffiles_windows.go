//go:build windows

package bridge

import (
	"errors"

	"golang.org/x/sys/windows"
)

// outOfFiles reports whether err is the process or the system out of
// handles or socket buffers (WSAEMFILE, WSAENOBUFS: no socket could be
// made; ERROR_TOO_MANY_OPEN_FILES, ERROR_NO_SYSTEM_RESOURCES), a shortage
// of this machine's that passes when sessions end.
func outOfFiles(err error) bool {
	return errors.Is(err, windows.WSAEMFILE) || errors.Is(err, windows.WSAENOBUFS) ||
		errors.Is(err, windows.ERROR_TOO_MANY_OPEN_FILES) || errors.Is(err, windows.ERROR_NO_SYSTEM_RESOURCES)
}
