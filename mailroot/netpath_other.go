//go:build !windows && !linux

package mailroot

// IsNetworkPath reports whether path is on a network share, where change
// notifications cannot be relied on. Outside Windows and Linux it cannot
// tell and answers false.
func IsNetworkPath(path string) bool { return false }
