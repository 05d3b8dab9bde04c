//go:build windows

package sender

import (
	"errors"

	"golang.org/x/sys/windows"
)

// connRefused reports whether a connect failed because nothing accepts
// connections on the port: WSAECONNREFUSED ("No connection could be made
// because the target machine actively refused it"), which is not
// syscall.ECONNREFUSED on Windows.
func connRefused(err error) bool { return errors.Is(err, windows.WSAECONNREFUSED) }
