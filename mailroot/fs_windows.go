//go:build windows

package mailroot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strings"

	"golang.org/x/sys/windows"
)

// NTFS journals its metadata, but writes its log lazily: a rename that
// has returned is lost at a power cut until the log reaches the disk, and
// then the message acknowledged with 250 is gone (its SortTemp file is
// removed at the next start). So renames are written through, and the
// folder is flushed after them, as fsync(2) of the folder does on Linux.
//
// renameFile is os.Rename (MoveFileEx, replacing dst) with
// MOVEFILE_WRITE_THROUGH: "the function does not return until the file
// is actually moved on the disk" (MoveFileEx, Microsoft Learn; the
// guarantee is spelt out for moves made as a copy and delete, hence the
// folder flush too).
func renameFile(src, dst string) error {
	from, err := windows.UTF16PtrFromString(longPath(src))
	if err != nil {
		return &os.LinkError{Op: "rename", Old: src, New: dst, Err: err}
	}
	to, err := windows.UTF16PtrFromString(longPath(dst))
	if err != nil {
		return &os.LinkError{Op: "rename", Old: src, New: dst, Err: err}
	}
	if err := windows.MoveFileEx(from, to, windows.MOVEFILE_REPLACE_EXISTING|windows.MOVEFILE_WRITE_THROUGH); err != nil {
		return &os.LinkError{Op: "rename", Old: src, New: dst, Err: err}
	}
	return nil
}

// syncDir flushes a folder: FlushFileBuffers on a handle of the folder
// itself, opened with FILE_FLAG_BACKUP_SEMANTICS (how CreateFile opens a
// folder) and FILE_WRITE_DATA (a flush needs write or append access,
// NtFlushBuffersFileEx, Microsoft Learn; on a folder it is the right to
// add files, which mailbridge has on every folder it renames into). The
// same page documents folder handles as flushable: only its
// FLUSH_FLAGS_FILE_DATA_SYNC_ONLY is "not valid with volume or directory
// handles", and a normal flush writes "file data and metadata" on NTFS,
// ReFS, FAT and exFAT and flushes the disk's cache. os.Open cannot do
// this: it opens for reading, and the flush is refused (access denied).
// A file system that cannot flush a folder (some network shares) leaves
// the written-through rename as the best there is, as EINVAL does on
// Linux.
func syncDir(dir string) error {
	h, err := openDirForWrite(dir)
	if err != nil {
		return err
	}
	defer windows.CloseHandle(h)
	if err := windows.FlushFileBuffers(h); err != nil && !flushUnsupported(err) {
		return &os.PathError{Op: "FlushFileBuffers", Path: dir, Err: err}
	}
	return nil
}

// flushUnsupported reports whether a failed folder flush means that the
// file system does not flush folders, rather than that the flush failed.
func flushUnsupported(err error) bool {
	return errors.Is(err, windows.ERROR_INVALID_FUNCTION) ||
		errors.Is(err, windows.ERROR_NOT_SUPPORTED) ||
		errors.Is(err, windows.ERROR_INVALID_PARAMETER) ||
		errors.Is(err, windows.ERROR_ACCESS_DENIED) // a share that refuses the flush, not the open
}

// longPath is path in the \\?\ form where it is too long for the classic
// Windows limit (MAX_PATH), as package os does for its own calls.
func longPath(path string) string {
	const limit = 248 // MAX_PATH less room for an 8.3 file name
	if len(path) < limit || !filepath.IsAbs(path) || strings.HasPrefix(path, `\\?\`) {
		return path
	}
	path = filepath.Clean(path)
	if strings.HasPrefix(path, `\\`) {
		return `\\?\UNC\` + path[2:]
	}
	return `\\?\` + path
}

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

// lockHeld reports whether the lock file f is still at its path. (Not
// compared with the file at the path: os.SameFile is not reliable between
// a handle and a path on every Windows file system, and taking the lock
// again on the same file would find it locked, by us.)
func lockHeld(f *os.File) bool {
	_, err := os.Stat(f.Name())
	return err == nil
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

// AccessAdvice says, for a folder mailbridge may not write (err, from
// creating a file in it), which account it runs as and how to give that
// account access: found from outside, "Access is denied" alone left an
// administrator to find out which account needs what. "" when err is not
// a lack of access.
func AccessAdvice(dir string, err error) string {
	if !errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		return ""
	}
	who := "the account mailbridge runs as"
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	return fmt.Sprintf(" (mailbridge runs as %s: give that account the Modify permission on %s, in its Properties, Security tab; a service running as LocalSystem is NT AUTHORITY\\SYSTEM)", who, dir)
}

// CanAddFiles reports whether this process may create files in dir,
// without creating one: a probe file in Drop would be seen by the program
// polling it, which must only ever see whole messages. Opening the folder
// for FILE_ADD_FILE (FILE_WRITE_DATA on a folder) is the access check a
// new file in it meets.
func CanAddFiles(dir string) error {
	h, err := openDirForWrite(dir)
	if err != nil {
		return err
	}
	windows.CloseHandle(h)
	return nil
}

// openDirForWrite opens the folder dir for FILE_WRITE_DATA (FILE_ADD_FILE
// on a folder), sharing everything.
func openDirForWrite(dir string) (windows.Handle, error) {
	p, err := windows.UTF16PtrFromString(longPath(dir))
	if err != nil {
		return 0, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	h, err := windows.CreateFile(p, windows.FILE_WRITE_DATA,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil,
		windows.OPEN_EXISTING, windows.FILE_FLAG_BACKUP_SEMANTICS, 0)
	if err != nil {
		return 0, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return h, nil
}

// volumeID cannot tell volumes apart here: a drive that is gone has no
// folder left at all, which Mend sees without it.
func volumeID(string) (uint64, bool) { return 0, false }

// folderAccess: see fs_other.go. On Windows a folder created again takes
// the permissions its parent passes on.
type folderAccess struct{}

// accessOf: see fs_other.go.
func accessOf(string) folderAccess { return folderAccess{} }

// folderGroup: see fs_other.go. On Windows a file renamed into a folder
// keeps its own permissions, set where it was made (see createFile).
func folderGroup(*os.File, string, string) {}

// Owner: see fs_other.go; Windows' owners are not read (ok false).
func Owner(fs.FileInfo) (uid int, ok bool) { return 0, false }

// Group: see fs_other.go; not read here either.
func Group(fs.FileInfo) (gid int, ok bool) { return 0, false }

// restoreAccess: see fs_other.go.
func restoreAccess(string, folderAccess) error { return nil }

// fileVolumeID: see volumeID.
func fileVolumeID(*os.File) (uint64, bool) { return 0, false }

// noSpace reports whether err is a full volume (or a quota reached).
func noSpace(err error) bool {
	return errors.Is(err, windows.ERROR_DISK_FULL) || errors.Is(err, windows.ERROR_HANDLE_DISK_FULL) || errors.Is(err, windows.ERROR_DISK_QUOTA_EXCEEDED)
}

// freeSpace returns the bytes free for this account on the volume of dir;
// NTFS does not run out of inodes (-1).
func freeSpace(dir string) (bytes, inodes int64, ok bool) {
	p, err := windows.UTF16PtrFromString(longPath(dir))
	if err != nil {
		return 0, 0, false
	}
	var free, total, totalFree uint64
	if err := windows.GetDiskFreeSpaceEx(p, &free, &total, &totalFree); err != nil {
		return 0, 0, false
	}
	return int64(free), -1, true
}
