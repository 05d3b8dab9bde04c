//go:build windows

package mailroot

import (
	"path/filepath"
	"strings"

	"golang.org/x/sys/windows"
)

// Unjournaled names the file system dir is on when a power cut can undo
// the changes of its folders, with no journal to replay: FAT, FAT32 or
// exFAT, as a volume formatted for a removable disk has; "" for NTFS and
// ReFS, or when it cannot tell. See journal_linux.go for what was
// measured.
func Unjournaled(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return ""
	}
	vol := make([]uint16, windows.MAX_PATH+1)
	if windows.GetVolumePathName(p, &vol[0], uint32(len(vol))) != nil {
		return ""
	}
	name := make([]uint16, windows.MAX_PATH+1)
	if windows.GetVolumeInformation(&vol[0], nil, 0, nil, nil, nil, &name[0], uint32(len(name))) != nil {
		return ""
	}
	switch fs := windows.UTF16ToString(name); strings.ToUpper(fs) {
	case "FAT", "FAT32", "EXFAT":
		return fs
	}
	return ""
}
