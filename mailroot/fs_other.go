//go:build !windows

package mailroot

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
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

// lockFile takes an exclusive, non-blocking lock (flock) on path.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, ErrInUse
		}
		return nil, err
	}
	return f, nil
}
