//go:build !windows

package testtool

// UnderWine reports whether the tests run under Wine: never, outside
// Windows builds.
func UnderWine() bool { return false }
