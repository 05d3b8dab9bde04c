//go:build !windows

package listener

import (
	"errors"
	"syscall"
)

// clientGoneAtAccept reports whether an accept failed for the one
// connection it was taking, which its client reset or aborted before it
// was accepted, rather than for the listener: another accept follows.
func clientGoneAtAccept(err error) bool {
	return errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.ECONNRESET)
}

// resetByClient reports whether a read failed because the client reset
// the connection.
func resetByClient(err error) bool { return errors.Is(err, syscall.ECONNRESET) }
