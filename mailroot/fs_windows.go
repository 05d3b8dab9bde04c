//go:build windows

package mailroot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/windows"
)

// syncDir is a no-op on Windows: a folder cannot be opened for
// FlushFileBuffers through os.Open (access denied), and NTFS journals its
// metadata, so a completed rename survives a crash. File data is always
// flushed (File.Sync is FlushFileBuffers) before the rename.
func syncDir(string) error { return nil }

// OpenRegular opens path for reading if it is a regular file, and only
// then: the name itself, never what a reparse point (symbolic link,
// junction, mount point) leads to (FILE_FLAG_OPEN_REPARSE_POINT). A folder
// writable by others (Pickup) may hold a link to a file only the service
// account may read: a service that followed it would send or quote that
// file. Every reparse point is refused, also those that hold data elsewhere
// (deduplicated or cloud files): a Pickup file is new and never one. Other
// sharing is granted, as os.Open does. Anything else gives an error
// matching ErrNotRegular that says what it is.
func OpenRegular(path string) (*os.File, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil,
		windows.OPEN_EXISTING, windows.FILE_FLAG_OPEN_REPARSE_POINT|windows.FILE_FLAG_BACKUP_SEMANTICS, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	if err := CheckRegularHandle(h, path); err != nil {
		windows.CloseHandle(h)
		return nil, err
	}
	return os.NewFile(uintptr(h), path), nil
}

// CheckRegularHandle returns an error matching ErrNotRegular when h, opened
// with FILE_FLAG_OPEN_REPARSE_POINT, is not a regular file: a reparse
// point, a folder, or no disk file at all (a pipe or a device).
func CheckRegularHandle(h windows.Handle, path string) error {
	if t, err := windows.GetFileType(h); err == nil && t != windows.FILE_TYPE_DISK {
		return NotRegular(path, fs.ModeDevice)
	}
	var info windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(h, &info); err != nil {
		return &os.PathError{Op: "stat", Path: path, Err: err}
	}
	switch a := info.FileAttributes; {
	case a&windows.FILE_ATTRIBUTE_REPARSE_POINT != 0:
		return &os.PathError{Op: "open", Path: path,
			Err: fmt.Errorf("%w: it is a reparse point (a symbolic link, a junction, or a file whose data is held elsewhere)", ErrNotRegular)}
	case a&windows.FILE_ATTRIBUTE_DIRECTORY != 0:
		return NotRegular(path, fs.ModeDir)
	}
	return nil
}

// transient reports whether a failed rename is worth retrying: antivirus,
// indexers and backup agents hold files for a moment on Windows.
func transient(err error) bool {
	return errors.Is(err, windows.ERROR_ACCESS_DENIED) ||
		errors.Is(err, windows.ERROR_SHARING_VIOLATION) ||
		errors.Is(err, windows.ERROR_LOCK_VIOLATION)
}

// SameVolume reports an error when a file cannot be renamed from a into b.
func SameVolume(a, b string) error {
	va, vb := filepath.VolumeName(a), filepath.VolumeName(b)
	if !strings.EqualFold(va, vb) {
		return fmt.Errorf("%s and %s are on different volumes, so a file cannot move between them in one atomic rename; set both folders on the same volume", a, b)
	}
	return nil
}

// lockFile takes an exclusive, non-blocking lock (LockFileEx) on path.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	var ol windows.Overlapped
	err = windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
	if err != nil {
		f.Close()
		if errors.Is(err, windows.ERROR_LOCK_VIOLATION) || errors.Is(err, windows.ERROR_IO_PENDING) {
			return nil, ErrInUse
		}
		return nil, err
	}
	return f, nil
}

// createFile creates a new file for reading and writing, failing if it
// exists.
func createFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
}
