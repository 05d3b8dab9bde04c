//go:build !windows

package mailroot

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// A folder deleted while mailbridge runs comes back with the mode (the
// setgid bit included) and group it had at start: found from outside, a
// Pickup folder made setgid for the applications' group came back without
// the bit, and the files written there next were not readable by
// mailbridge.
func TestMendKeepsModeAndGroup(t *testing.T) {
	l := layoutUnder(t.TempDir())
	if err := os.MkdirAll(l.Pickup, 0o755); err != nil {
		t.Fatal(err)
	}
	gid := os.Getgid()
	if os.Geteuid() == 0 {
		gid = 65534 // nogroup: root may give any group
	}
	if err := os.Chown(l.Pickup, -1, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(l.Pickup, fs.ModeSetgid|0o770); err != nil {
		t.Fatal(err)
	}
	r, err := Open(l)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := os.Remove(l.Pickup); err != nil {
		t.Fatal(err)
	}
	if created, err := r.Mend(); err != nil || len(created) != 1 {
		t.Fatalf("Mend: %v %v", created, err)
	}
	fi, err := os.Stat(l.Pickup)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode() & (fs.ModePerm | fs.ModeSetgid); m != 0o770|fs.ModeSetgid {
		t.Errorf("mode %v, want setgid and 0770", m)
	}
	if g := int(fi.Sys().(*syscall.Stat_t).Gid); g != gid {
		t.Errorf("group %d, want %d", g, gid)
	}
}

// A lock file that this account may not write (made by another one, as
// `sudo mailbridge check` makes it before the service's first start) is
// taken all the same: flock needs no write access.
func TestLockFileNotWritable(t *testing.T) {
	l := layoutUnder(t.TempDir())
	r, err := Open(l)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	lock := filepath.Join(l.Queue, lockName)
	if os.Geteuid() == 0 {
		// Root writes any file it may read: an immutable file it may not.
		if out, err := exec.Command("chattr", "+i", lock).CombinedOutput(); err != nil {
			t.Skipf("chattr +i: %v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("chattr", "-i", lock).Run() })
	} else if err := os.Chmod(lock, 0o444); err != nil {
		t.Fatal(err)
	}
	if f, err := os.OpenFile(lock, os.O_RDWR, 0); err == nil {
		f.Close()
		t.Fatal("the lock file is still writable")
	}
	r, err = Open(l)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	if err := CheckLocks(l); !errors.Is(err, ErrInUse) {
		t.Fatalf("a second instance: %v", err)
	}
}

// Under the README's umask 0007, the mail root is open to the group for
// reading only, Pickup and Drop for writing, and Queue, Badmail and
// SortTemp not at all: found from outside, a member of the group could
// rewrite queued mail, delete the locks, or replace Pickup with a link.
func TestFolderModes(t *testing.T) {
	old := syscall.Umask(0o007)
	defer syscall.Umask(old)
	root := filepath.Join(t.TempDir(), "srv", "mailroot")
	r, err := Open(layoutUnder(root))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for name, want := range map[string]fs.FileMode{"": 0o750, "Pickup": 0o770, "Drop": 0o770, "Queue": 0o700, "Badmail": 0o700, "SortTemp": 0o700} {
		fi, err := os.Stat(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%q: mode %v, want %v", name, got, want)
		}
	}
}
