//go:build !windows

package mailroot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// renameFile renames src to dst, replacing dst; the caller syncs the
// folders (syncDir) to make it durable.
func renameFile(src, dst string) error { return os.Rename(src, dst) }

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

// OpenRegular opens path for reading if it is a regular file, and only
// then: the name itself, never what a symbolic link names (O_NOFOLLOW), and
// without waiting on a named pipe (O_NONBLOCK; the descriptor blocks again
// once the file is known to be regular). A folder writable by others
// (Pickup) may hold a link to a file only the service account may read: a
// service that followed it would send or quote that file. Anything else
// gives an error matching ErrNotRegular that says what it is.
func OpenRegular(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, unix.ELOOP):
		return nil, NotRegular(path, fs.ModeSymlink)
	case errors.Is(err, unix.ENXIO):
		return nil, NotRegular(path, fs.ModeSocket) // a socket cannot be opened
	case err != nil:
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		var mode fs.FileMode
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			mode = fs.ModeDir
		case unix.S_IFIFO:
			mode = fs.ModeNamedPipe
		case unix.S_IFSOCK:
			mode = fs.ModeSocket
		case unix.S_IFCHR, unix.S_IFBLK:
			mode = fs.ModeDevice
		default:
			mode = fs.ModeIrregular
		}
		return nil, NotRegular(path, mode)
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fcntl", Path: path, Err: err}
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
	ma, ok1 := mountID(a)
	mb, ok2 := mountID(b)
	if ok1 && ok2 && ma != mb {
		// Found from outside: Queue through a bind mount passed the
		// check, and every claim of a Pickup file failed with EXDEV.
		return fmt.Errorf("%s and %s are on one file system but reached through different mounts (a bind mount?), and a file cannot be renamed from one mount to another; set both folders under the same mount", a, b)
	}
	return nil
}

// lockHeld reports whether the lock file f is still the one at its path:
// a folder or file deleted by hand takes the lock with it, and a second
// instance would lock a new file there.
func lockHeld(f *os.File) bool {
	fi, err := os.Stat(f.Name())
	if err != nil {
		return false
	}
	cur, err := f.Stat()
	return err != nil || os.SameFile(fi, cur) // cannot tell: held
}

// lockFile takes an exclusive, non-blocking lock (flock) on path.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if errors.Is(err, fs.ErrPermission) {
		// flock needs no write access: a lock file made by another
		// account (`sudo mailbridge check` before the service's first
		// start, found from outside: the service could not start) is
		// taken read-only.
		if ro, rerr := os.Open(path); rerr == nil {
			f, err = ro, nil
		}
	}
	if err != nil {
		return nil, err
	}
	// Readable by every account whatever the umask, as the read-only
	// open above needs: found from outside, `sudo mailbridge check` under
	// umask 077 left a 0600 lock file that the service's account could
	// not open. (It holds no secret: the addresses listened on.)
	_ = f.Chmod(0o644)
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, ErrInUse
		}
		return nil, err
	}
	return f, nil
}

// AccessAdvice says, for a folder mailbridge may not write (err, from
// creating a file in it), which account it runs as and who owns the folder
// with what mode, and how to give the account access: found from outside,
// "permission denied" alone left an administrator to find out both. A
// read-only volume or an immutable folder is said as such; "" for any
// other error.
func AccessAdvice(dir string, err error) string {
	switch {
	case errors.Is(err, unix.EROFS):
		return " (the volume is mounted read-only)"
	case errors.Is(err, unix.EPERM):
		// Found from outside: "operation not permitted" alone, for a
		// folder made immutable.
		return " (not a question of permissions: the folder is immutable or append-only, which lsattr shows and chattr -i clears, or a security module refuses it)"
	case !errors.Is(err, unix.EACCES):
		return ""
	}
	who := "the account mailbridge runs as"
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Sprintf(" (mailbridge runs as %s: give it write access to %s)", who, dir)
	}
	owner := "?"
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		owner = strconv.FormatUint(uint64(st.Uid), 10)
		if u, err := user.LookupId(owner); err == nil {
			owner = u.Username
		}
	}
	return fmt.Sprintf(" (mailbridge runs as %s; %s is owned by %s, mode %s: give %s write access to it, with chown, chmod or a group both share)", who, dir, owner, fi.Mode(), who)
}

// CanAddFiles reports whether this process may create files in dir,
// without creating one: a probe file in Drop would be seen by the program
// polling it, which must only ever see whole messages. access(2) weighs
// the mode, POSIX ACLs and a read-only mount (EROFS).
func CanAddFiles(dir string) error {
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		return &os.PathError{Op: "access", Path: dir, Err: err}
	}
	return nil
}

// volumeID returns the device of the file system holding path (st_dev).
func volumeID(path string) (uint64, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, false
	}
	return statVolume(fi)
}

// folderAccess is a folder's mode (the setgid bit included) and group, as
// found at start, for a folder created again (see Mend).
type folderAccess struct {
	mode  fs.FileMode
	gid   int
	known bool
}

// accessOf returns the mode and group of the folder path.
func accessOf(path string) folderAccess {
	fi, err := os.Stat(path)
	if err != nil {
		return folderAccess{}
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return folderAccess{}
	}
	return folderAccess{mode: fi.Mode() & (fs.ModePerm | fs.ModeSetgid | fs.ModeSticky), gid: int(st.Gid), known: true}
}

// folderGroup gives the file path (or, when f is not nil, the open file
// f) the group that a file created in dir gets from it: dir's own when it
// has the set-group-ID bit (README: Drop 2770, so that the program
// reading it has its files), for a file created elsewhere (SortTemp,
// Queue) that is renamed into dir, and so keeps mailbridge's group. Found
// from outside: mail for local domains from Pickup, and reports for local
// senders, landed in Drop with mailbridge's group, and the router could
// not read them. A failure is left alone, as the file itself is good: an
// account not in the folder's group cannot give it (folderGroupWarning
// says so at start).
func folderGroup(f *os.File, path, dir string) {
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode()&fs.ModeSetgid == 0 {
		return
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return
	}
	if f != nil {
		_ = f.Chown(-1, int(st.Gid))
		return
	}
	if cur, err := os.Lstat(path); err == nil {
		if cst, ok := cur.Sys().(*syscall.Stat_t); ok && cst.Gid != st.Gid {
			_ = os.Lchown(path, -1, int(st.Gid))
		}
	}
}

// Owner returns the account (uid) that owns the file fi describes; ok
// false where it cannot be told.
func Owner(fi fs.FileInfo) (uid int, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

// Group returns the group (gid) of the file fi describes; ok false where
// it cannot be told.
func Group(fi fs.FileInfo) (gid int, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Gid), true
}

// restoreAccess gives the folder path, created again, the mode and group
// it had: found from outside, a Pickup folder made setgid for the
// applications' group (as the README has it) came back without the bit
// when deleted, and the files written there next were not readable by
// mailbridge.
func restoreAccess(path string, a folderAccess) error {
	if !a.known {
		return nil
	}
	if err := os.Lchown(path, -1, a.gid); err != nil {
		return err
	}
	return os.Chmod(path, a.mode)
}

// fileVolumeID is volumeID for an open file.
func fileVolumeID(f *os.File) (uint64, bool) {
	fi, err := f.Stat()
	if err != nil {
		return 0, false
	}
	return statVolume(fi)
}

func statVolume(fi fs.FileInfo) (uint64, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return uint64(st.Dev), true
}

// noSpace reports whether err is a full volume (ENOSPC; also out of
// inodes, or over a quota: EDQUOT).
func noSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// freeSpace returns the bytes and inodes free for this process on the
// volume of dir (inodes -1 where the file system does not count them).
func freeSpace(dir string) (bytes, inodes int64, ok bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, false
	}
	inodes = -1
	if st.Files > 0 {
		inodes = int64(st.Ffree)
	}
	return int64(st.Bavail) * int64(st.Bsize), inodes, true
}
