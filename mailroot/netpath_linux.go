//go:build linux

package mailroot

import (
	"path/filepath"

	"golang.org/x/sys/unix"
)

// IsNetworkPath reports whether path is on a network file system (NFS, SMB,
// CIFS, 9P, Ceph, AFS, Coda, NCP). inotify sees only changes made through
// this machine's kernel, so a Pickup folder written by other machines must
// be polled. A path that does not exist yet is judged by its nearest
// existing parent.
func IsNetworkPath(path string) bool {
	for p := filepath.Clean(path); ; p = filepath.Dir(p) {
		var st unix.Statfs_t
		err := unix.Statfs(p, &st)
		if err == nil {
			switch uint32(st.Type) {
			case unix.NFS_SUPER_MAGIC, unix.SMB_SUPER_MAGIC, unix.CIFS_SUPER_MAGIC, unix.SMB2_SUPER_MAGIC,
				unix.V9FS_MAGIC, unix.CEPH_SUPER_MAGIC, unix.AFS_SUPER_MAGIC, unix.CODA_SUPER_MAGIC, unix.NCP_SUPER_MAGIC:
				return true
			}
			return false
		}
		if filepath.Dir(p) == p {
			return false
		}
	}
}
