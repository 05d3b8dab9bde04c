//go:build windows

package main

import (
	"errors"

	"golang.org/x/sys/windows"
)

// addrInUse reports whether a listen failed because the port is taken:
// WSAEADDRINUSE, which is not syscall.EADDRINUSE on Windows, and whose
// text ("Only one usage of each socket address ...") a service may get
// without (as "winapi error #10048").
func addrInUse(err error) bool { return errors.Is(err, windows.WSAEADDRINUSE) }

// addrNotHere reports whether a listen failed because the address to bind
// is not one of this machine's: WSAEADDRNOTAVAIL ("The requested address
// is not valid in its context").
func addrNotHere(err error) bool { return errors.Is(err, windows.WSAEADDRNOTAVAIL) }
