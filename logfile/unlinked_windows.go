//go:build windows

package logfile

import "os"

// unlinked: on Windows an open log file cannot be deleted (it is opened
// without delete sharing), so it always has its name.
func unlinked(*os.File) bool { return false }
