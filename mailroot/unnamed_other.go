//go:build !linux

package mailroot

import "os"

// createUnnamed: files without a name exist only on Linux; elsewhere new
// files are written in SortTemp and renamed into place.
func createUnnamed(string) (*os.File, error) { return nil, errUnnamedUnsupported }

func linkUnnamed(*os.File, string, bool) error { return errUnnamedUnsupported }

func announceWritten(string) {}

func syncFS(*os.File) error { return errUnnamedUnsupported }

func flushDisk(*os.File) error { return errUnnamedUnsupported }

func writebackError(*os.File) error { return errUnnamedUnsupported }
