//go:build !windows

package main

import "golang.org/x/sys/unix"

// openFileLimit returns the most files the process may have open: the
// hard RLIMIT_NOFILE, to which Go's runtime raises the soft limit at
// start (os package, Go 1.19 and later). ok is false when it is unknown
// or unlimited.
func openFileLimit() (limit uint64, ok bool) {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil || r.Max == unix.RLIM_INFINITY {
		return 0, false
	}
	return r.Max, true
}
