//go:build windows

package logfile

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/windows"
)

// OpenAppend opens path for appending, creating it when it does not exist
// (perm is not used: the folder's permissions apply), shared for reading,
// writing and deletion. Found from outside: opened as os.OpenFile opens
// (without FILE_SHARE_DELETE), the log file could not be moved or deleted
// while mailbridge ran ("Sharing violation"), where the README says that
// a log moved away is started anew, as on Linux, and an administrator's
// archiving script failed.
func OpenAppend(path string, perm fs.FileMode) (*os.File, error) {
	p, err := windows.UTF16PtrFromString(longPath(path))
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	// The rights os.OpenFile asks for O_APPEND (writes at the end only),
	// and reading attributes for Stat.
	access := uint32(windows.FILE_APPEND_DATA | windows.FILE_WRITE_ATTRIBUTES | windows.FILE_WRITE_EA |
		windows.STANDARD_RIGHTS_WRITE | windows.SYNCHRONIZE | windows.FILE_READ_ATTRIBUTES)
	share := uint32(windows.FILE_SHARE_READ | windows.FILE_SHARE_WRITE | windows.FILE_SHARE_DELETE)
	h, err := windows.CreateFile(p, access, share, nil, windows.OPEN_ALWAYS, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(h), path), nil
}

// longPath gives an absolute path of 248 characters or more the \\?\
// prefix, as os.OpenFile does (its fixLongPath), so that a log folder deep
// in a tree opens where long paths are not enabled: CreateFile is called
// here without os's help.
func longPath(path string) string {
	if len(path) < 248 || !filepath.IsAbs(path) || strings.HasPrefix(path, `\\?\`) {
		return path
	}
	clean := filepath.Clean(path) // \\?\ takes no "." or "..", nor "/"
	if strings.HasPrefix(clean, `\\`) {
		return `\\?\UNC\` + clean[2:]
	}
	return `\\?\` + clean
}
