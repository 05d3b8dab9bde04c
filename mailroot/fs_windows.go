//go:build windows

package mailroot

import (
	"errors"
	"fmt"
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
