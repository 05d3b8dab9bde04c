//go:build !windows

package sender

import (
	"errors"
	"syscall"
)

// connRefused reports whether a connect failed because nothing accepts
// connections on the port.
func connRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// resetByPeer reports whether the smart host reset or aborted the
// connection.
func resetByPeer(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNABORTED)
}
