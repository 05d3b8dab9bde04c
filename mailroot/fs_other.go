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
	// Plain system calls: os.Open would also set up the runtime poller for
	// the folder, three more system calls on the path of every message.
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Fsync(fd); err != nil && !errors.Is(err, syscall.EINVAL) {
		// EINVAL: the file system cannot sync folders (some network mounts).
		return &os.PathError{Op: "fsync", Path: dir, Err: err}
	}
	return nil
}

// createFile creates a new file (0666 less the umask) for reading and
// writing, failing if it exists. A blocking descriptor wrapped by
// os.NewFile is not registered with the runtime poller (regular files
// cannot be polled anyway), which saves system calls per message.
func createFile(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o666)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
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
