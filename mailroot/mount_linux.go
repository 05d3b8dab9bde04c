package mailroot

import "golang.org/x/sys/unix"

// mountID returns the ID of the mount that path is reached through
// (statx STATX_MNT_ID, Linux 5.8+): two bind mounts of one file system
// have one device and two mount IDs, and rename(2) between them fails
// with EXDEV.
func mountID(path string) (uint64, bool) {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, 0, unix.STATX_MNT_ID, &st); err != nil || st.Mask&unix.STATX_MNT_ID == 0 {
		return 0, false
	}
	return st.Mnt_id, true
}

// InMemory reports whether dir is on a file system held in memory (tmpfs,
// ramfs), whose files do not survive a restart of the machine: a 250 for
// a message written there is a promise it cannot keep.
func InMemory(dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false
	}
	return st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC
}
