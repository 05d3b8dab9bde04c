//go:build !windows

package mailroot

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// syncDir fsyncs a folder so that renames into it survive a power cut
// (POSIX: the rename is durable only once its directory is synced).
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		// EINVAL: the file system cannot sync folders (some network mounts).
		return err
	}
	return nil
}

// transient reports whether a failed rename is worth retrying. On Unix no
// rename failure goes away by itself.
func transient(error) bool { return false }

// SameVolume reports an error when a file cannot be renamed from a into b.
func SameVolume(a, b string) error {
	sa, err := os.Stat(a)
	if err != nil {
		return err
	}
	sb, err := os.Stat(b)
	if err != nil {
		return err
	}
	da, ok1 := sa.Sys().(*syscall.Stat_t)
	db, ok2 := sb.Sys().(*syscall.Stat_t)
	if ok1 && ok2 && da.Dev != db.Dev {
		return fmt.Errorf("%s and %s are on different file systems, so a file cannot move between them in one atomic rename; set both folders on the same volume", a, b)
	}
	return nil
}
