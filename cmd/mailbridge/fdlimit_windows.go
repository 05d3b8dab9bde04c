//go:build windows

package main

// openFileLimit: Windows sets no per-process limit on open handles that a
// service would meet (some 16 million): none to check.
func openFileLimit() (limit uint64, ok bool) { return 0, false }
