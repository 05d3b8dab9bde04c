//go:build !windows

package sender

import (
	"errors"
	"syscall"
)

// connRefused reports whether a connect failed because nothing accepts
// connections on the port.
func connRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }
