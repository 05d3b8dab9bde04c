//go:build !windows

package main

import (
	"errors"
	"syscall"
)

// addrInUse reports whether a listen failed because the port is taken.
func addrInUse(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }

// addrNotHere reports whether a listen failed because the address to bind
// is not one of this machine's.
func addrNotHere(err error) bool { return errors.Is(err, syscall.EADDRNOTAVAIL) }
