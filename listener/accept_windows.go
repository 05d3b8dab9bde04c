//go:build windows

package listener

import (
	"errors"

	"golang.org/x/sys/windows"
)

// clientGoneAtAccept reports whether an accept failed for the one
// connection it was taking, which its client reset or aborted before it
// was accepted, rather than for the listener: another accept follows.
// Go's own retry covers ERROR_NETNAME_DELETED and WSAECONNRESET; found
// under Wine, a client that reset at once made AcceptEx fail with
// WSAENOTCONN, which ended Serve and with it the listener.
func clientGoneAtAccept(err error) bool {
	return errors.Is(err, windows.WSAENOTCONN) || errors.Is(err, windows.WSAECONNRESET) ||
		errors.Is(err, windows.WSAECONNABORTED) || errors.Is(err, windows.ERROR_NETNAME_DELETED)
}

// resetByClient reports whether a read failed because the client reset
// or aborted the connection (WSAECONNRESET, WSAECONNABORTED: not
// syscall.ECONNRESET on Windows).
func resetByClient(err error) bool {
	return errors.Is(err, windows.WSAECONNRESET) || errors.Is(err, windows.WSAECONNABORTED)
}
