package mailroot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// createUnnamed opens a new file without a name in dir (O_TMPFILE, Linux
// 3.11+). It appears only when linkUnnamed gives it one, and a crash before
// that leaves nothing behind. Compared with a named temporary file renamed
// into place, it spares the folder one entry created and one removed per
// message: on ext4 under load that was a fifth of mailbridge's CPU time.
func createUnnamed(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o666)
	if err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EINVAL) {
			return nil, errUnnamedUnsupported
		}
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return os.NewFile(uintptr(fd), filepath.Join(dir, "(new file)")), nil
}

// linkUnnamed names f as dst, failing if dst exists: the file appears
// whole, at once. With emptyPath it links f's descriptor itself
// (AT_EMPTY_PATH), which before Linux 6.10 needs CAP_DAC_READ_SEARCH and
// since then is also allowed to the process that opened the file;
// otherwise through /proc/self/fd, which needs no privilege but walks a
// path through /proc for every file (1 % of all CPU under load).
func linkUnnamed(f *os.File, dst string, emptyPath bool) error {
	var err error
	if emptyPath {
		err = unix.Linkat(int(f.Fd()), "", unix.AT_FDCWD, dst, unix.AT_EMPTY_PATH)
	} else {
		err = unix.Linkat(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", f.Fd()), unix.AT_FDCWD, dst, unix.AT_SYMLINK_FOLLOW)
	}
	if err != nil {
		return &os.LinkError{Op: "link", Old: f.Name(), New: dst, Err: err}
	}
	return nil
}

// announceWritten opens the file just named dst for writing, and closes
// it, writing nothing: the close gives a program watching the folder with
// inotify IN_CLOSE_WRITE under the file's name, as a file written under
// its name gives, where linkUnnamed gave only IN_CREATE (the close of the
// file written without a name is said under "#inode"). Found from
// outside: a document router waiting for close_write or moved_to, the
// usual idiom (inotifywait -e close_write,moved_to), never saw mail
// received over SMTP, which a rename into place would have shown. Cheaper
// than that rename, which costs the folder an entry made and removed. Not
// blocking (O_NONBLOCK): a reader holding a lease is not waited for, and
// then gets no event; a failure is left alone, the file being whole.
func announceWritten(dst string) {
	fd, err := unix.Open(dst, unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err == nil {
		unix.Close(fd)
	}
}

// syncFS writes everything the file system of f holds in memory: the data
// and metadata of every file committed meanwhile, in one syncfs(2).
func syncFS(f *os.File) error {
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return &os.PathError{Op: "syncfs", Path: f.Name(), Err: err}
	}
	return nil
}

// flushDisk empties the disk's write cache after a syncfs, which on file
// systems without a journal may have written metadata after its own flush
// (see commitGroup). fdatasync(2) of a file that syncfs has just written
// has nothing left to write and issues the flush alone; on ext4 without a
// journal it always does (ext4_fsync_nojournal).
func flushDisk(f *os.File) error {
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
	}
	return nil
}

// writebackError reports a failure to write f's own data: syncfs reports
// writeback errors of the whole file system once, to whichever call comes
// first, and that may be another file's commit. Waiting on f's pages
// (written already, so no I/O) returns f's own error.
func writebackError(f *os.File) error {
	if err := unix.SyncFileRange(int(f.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WAIT_BEFORE); err != nil {
		return &os.PathError{Op: "sync_file_range", Path: f.Name(), Err: err}
	}
	return nil
}
