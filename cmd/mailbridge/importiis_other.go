//go:build !windows

package main

// defaultMetabasePath is "": outside Windows the file must be named.
func defaultMetabasePath() string { return "" }
