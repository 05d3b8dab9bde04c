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

	"github.com/mailbridge/mailbridge/internal/testtool"
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

// A file made elsewhere (SortTemp, Queue) and renamed into a folder with
// the set-group-ID bit gets that folder's group, as a file created there
// does: found from outside, mail for local domains from Pickup and
// reports for local senders landed in a Drop folder set up as README
// says (2770, the router's group) with mailbridge's group, and the router
// could not read them.
func TestFilesRenamedIntoSetgidFolderTakeItsGroup(t *testing.T) {
	gid, ok := testtool.OtherGroup()
	if !ok {
		t.Skip("this account belongs to no second group to give the folder (root or a supplementary group needed)")
	}
	l := layoutUnder(t.TempDir())
	if err := os.MkdirAll(l.Drop, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(l.Drop, -1, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(l.Drop, fs.ModeSetgid|0o770); err != nil {
		t.Fatal(err)
	}
	r, err := Open(l)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	groupOf := func(path string) int {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return int(fi.Sys().(*syscall.Stat_t).Gid)
	}

	// Written in Queue, then moved in (the bridge's ID.todrop).
	f, err := r.Create(l.Queue, "a.todrop")
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("x-sender: a@x.test\r\n"))
	staged, err := f.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if g := groupOf(staged); g == gid {
		t.Fatalf("the test needs a file in Queue without Drop's group; it has %d", g)
	}
	moved, err := r.Move(staged, l.Drop, "a.eml")
	if err != nil {
		t.Fatal(err)
	}
	if g := groupOf(moved); g != gid {
		t.Errorf("moved into Drop: group %d, want Drop's %d", g, gid)
	}

	// Written through SortTemp (a volume without unnamed files, and
	// WriteFile), and either way created in Drop.
	if err := r.WriteFile(l.Drop, "b.eml", []byte("x")); err != nil {
		t.Fatal(err)
	}
	f, err = r.Create(l.Drop, "c.eml")
	if err != nil {
		t.Fatal(err)
	}
	cpath, err := f.Commit()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(l.Drop, "b.eml"), cpath} {
		if g := groupOf(p); g != gid {
			t.Errorf("%s: group %d, want Drop's %d", p, g, gid)
		}
	}
}
