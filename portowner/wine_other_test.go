//go:build !windows

package portowner

// underWine is false: Wine runs Windows programs only.
func underWine() bool { return false }
