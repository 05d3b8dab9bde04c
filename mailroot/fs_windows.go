//go:build windows

package mailroot

import (
	"errors"
	"fmt"
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
