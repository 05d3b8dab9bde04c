//go:build windows

package bridge

import (
	"errors"
	"os"

	"github.com/mailbridge/mailbridge/mailroot"
	"golang.org/x/sys/windows"
)

// openIfDone opens path for reading while denying write sharing
// (iis-reference.md section 3): Windows refuses the open with a sharing
// violation while any writer still has the file open, and while we hold the
// handle no writer can open it. FILE_SHARE_DELETE is granted so that our
// own rename into Queue succeeds while the handle is held. A reparse point
// (symbolic link, junction) is opened itself, not followed
// (FILE_FLAG_OPEN_REPARSE_POINT), and refused as irregular, as is anything
// that is not a regular file.
func openIfDone(path string) (*os.File, readiness, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, unknown, err
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_DELETE, nil,
		windows.OPEN_EXISTING, windows.FILE_FLAG_OPEN_REPARSE_POINT|windows.FILE_FLAG_BACKUP_SEMANTICS, 0)
	switch {
	case err == nil:
		if err := mailroot.CheckRegularHandle(h, path); err != nil {
			windows.CloseHandle(h)
			if errors.Is(err, mailroot.ErrNotRegular) {
				return nil, irregular, err
			}
			return nil, unknown, err
		}
		return os.NewFile(uintptr(h), path), ready, nil
	case errors.Is(err, windows.ERROR_SHARING_VIOLATION), errors.Is(err, windows.ERROR_LOCK_VIOLATION):
		return nil, busy, nil
	case errors.Is(err, windows.ERROR_FILE_NOT_FOUND), errors.Is(err, windows.ERROR_PATH_NOT_FOUND):
		return nil, gone, nil
	case errors.Is(err, windows.ERROR_ACCESS_DENIED):
		// The file's permissions, or briefly a pending delete or a
		// scanner: try again later.
		return nil, denied, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return nil, unknown, err
}
