//go:build !windows && !linux

package mailroot

// Unjournaled: see journal_linux.go; elsewhere it cannot tell.
func Unjournaled(string) string { return "" }
