//go:build windows

package sender

import (
	"errors"
	"syscall"

	"golang.org/x/sys/windows"
)

// connRefused reports whether a connect failed because nothing accepts
// connections on the port: WSAECONNREFUSED ("No connection could be made
// because the target machine actively refused it"), which is not
// syscall.ECONNREFUSED on Windows.
func connRefused(err error) bool { return errors.Is(err, windows.WSAECONNREFUSED) }

// resetByPeer reports whether the smart host reset or aborted the
// connection: WSAECONNRESET and WSAECONNABORTED, which are not
// syscall.ECONNRESET and ECONNABORTED on Windows (found under Wine: a
// host that closed in the TLS handshake was not said to have closed).
func resetByPeer(err error) bool {
	return errors.Is(err, windows.WSAECONNRESET) || errors.Is(err, windows.WSAECONNABORTED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNABORTED)
}
