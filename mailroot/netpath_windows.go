//go:build windows

package mailroot

import (
	"path/filepath"
	"strings"

	"golang.org/x/sys/windows"
)

// IsNetworkPath reports whether path is on a network share: a UNC path
// (\\server\share\..., \\?\UNC\server\share\...) or a drive letter mapped to
// a share. Windows delivers no change notifications for folders on shares
// in a form we can rely on (IIS reference §10), so a Pickup folder there must
// be polled.
func IsNetworkPath(path string) bool {
	if hasPrefixFold(path, `\\?\UNC\`) {
		return true
	}
	if strings.HasPrefix(path, `\\?\`) || strings.HasPrefix(path, `\\.\`) {
		path = path[4:]
	} else if len(path) >= 2 && isSep(path[0]) && isSep(path[1]) {
		return true
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	vol := filepath.VolumeName(path)
	if len(vol) != 2 || vol[1] != ':' {
		return false
	}
	root, err := windows.UTF16PtrFromString(vol + `\`)
	if err != nil {
		return false
	}
	return windows.GetDriveType(root) == windows.DRIVE_REMOTE
}

func isSep(c byte) bool { return c == '\\' || c == '/' }

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
