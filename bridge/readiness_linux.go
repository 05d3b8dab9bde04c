//go:build linux

package bridge

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// openIfDone opens path, if it is a regular file (mailroot.OpenRegular:
// never through a symbolic link), and takes a write lease on it (fcntl
// F_SETLEASE, F_WRLCK). Linux grants a write lease only while no other
// process has the file open for writing (fcntl(2)), so a granted lease
// means the writer has closed the file; while we hold it, a writer opening
// the file again would have to wait for us. Leases need the file's owner or
// CAP_LEASE and a local file system: without them the answer is unknown
// and the caller falls back to the quiet period. The lease ends when the
// returned file is closed.
func openIfDone(path string) (*os.File, readiness, error) {
	f, st, err := openRegular(path)
	if f == nil {
		return nil, st, err
	}
	_, err = unix.FcntlInt(f.Fd(), unix.F_SETLEASE, unix.F_WRLCK)
	switch {
	case err == nil:
		return f, ready, nil
	case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EBUSY):
		f.Close()
		return nil, busy, nil
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		f.Close()
		return nil, unknown, &noLease{"mailbridge's account neither owns the file nor has CAP_LEASE"}
	default:
		// EINVAL: a file system without leases (NFS, some FUSE and
		// overlay mounts).
		f.Close()
		return nil, unknown, &noLease{"its file system grants no leases (" + err.Error() + ")"}
	}
}
