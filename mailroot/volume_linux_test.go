package mailroot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailbridge/mailbridge/internal/testtool"
)

// A volume unmounted under a running mailbridge: its folders are not made
// again on the disk beneath the mount point, no file is made while it is
// away, and all is as before once it is mounted again (found from
// outside: mail accepted into a mail root made on the disk beneath was
// hidden by the volume mounted again).
func TestMendVolumeGone(t *testing.T) {
	for _, tt := range []struct {
		name string
		// at is where the volume is mounted, under the test's folder.
		at   string
		root string
		// beneath: the mail root's folders exist on the disk beneath
		// the mount point too (made there before the volume was
		// mounted, by a start that came before the mount).
		beneath bool
		want    string
	}{
		{"mail root on the volume", "vol", "vol/mailroot", false, "is missing, and"},
		{"the mail root is the volume, folders beneath", "mailroot", "mailroot", true, "is on another volume than at start"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			store := testtool.Tmpfs(t, "4m") // the volume itself
			at := filepath.Join(base, tt.at)
			os.MkdirAll(at, 0o777)
			if tt.beneath {
				for _, f := range layoutUnder(filepath.Join(base, tt.root)).Folders() {
					os.MkdirAll(f.Path, 0o777)
				}
			}
			testtool.BindMount(t, store, at)
			r, err := Open(layoutUnder(filepath.Join(base, tt.root)))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			l := r.Layout()

			testtool.Unmount(t, at)
			created, err := r.Mend()
			if len(created) != 0 || err == nil || !strings.Contains(err.Error(), "volume may have been unmounted") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Mend with the volume away: created %v, %v", created, err)
			}
			if _, err := os.Stat(l.Drop); !tt.beneath && err == nil {
				t.Fatal("Drop made again beneath the mount point")
			}
			// Nor is the lock taken again there (found from outside).
			if _, err := os.Stat(filepath.Join(l.SortTemp, lockName)); err == nil {
				t.Fatal("a lock file made beneath the mount point")
			}
			if _, err := r.Create(l.Drop, "away.eml"); !errors.Is(err, ErrVolumeGone) {
				t.Fatalf("Create with the volume away: %v", err)
			}

			testtool.BindMount(t, store, at)
			if created, err := r.Mend(); len(created) != 0 || err != nil {
				t.Fatalf("Mend with the volume back: created %v, %v", created, err)
			}
			f, err := r.Create(l.Drop, "back.eml")
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte("x"))
			if _, err := f.Commit(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A mail root whose volume went away between two Mends, with folders of
// the same names beneath its mount point, makes no file there.
func TestCreateOnVolumeGone(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "mailroot")
	l := layoutUnder(root)
	for _, f := range l.Folders() {
		os.MkdirAll(f.Path, 0o777)
	}
	testtool.BindMount(t, testtool.Tmpfs(t, "4m"), root)
	r, err := Open(l)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	testtool.Unmount(t, root)
	if _, err := r.Create(l.Drop, "away.eml"); !errors.Is(err, ErrVolumeGone) {
		t.Fatalf("Create: %v", err)
	}
	if n := names(t, l.SortTemp); len(n) != 0 {
		t.Fatalf("SortTemp beneath the mount point holds %v", n)
	}
}

// Folders on one file system but reached through two mounts (a bind
// mount) cannot rename into each other: refused as different volumes
// (found from outside: Queue through a bind mount passed, and every claim
// of a Pickup file failed with EXDEV).
func TestCheckVolumesBindMount(t *testing.T) {
	base := t.TempDir()
	if _, ok := mountID(base); !ok {
		t.Skip("no mount IDs here (Linux before 5.8); skipping")
	}
	store := filepath.Join(base, "store")
	os.MkdirAll(filepath.Join(store, "Queue"), 0o777)
	bq := filepath.Join(base, "bq")
	os.MkdirAll(bq, 0o777)
	testtool.BindMount(t, store, bq)
	l := layoutUnder(filepath.Join(base, "mailroot"))
	for _, f := range l.Folders() {
		os.MkdirAll(f.Path, 0o777)
	}
	l.Queue = filepath.Join(bq, "Queue")
	errs := CheckVolumes(l)
	if len(errs) != 2 || !strings.Contains(errs[0].Error(), "Pickup and Queue") || !strings.Contains(errs[0].Error(), "reached through different mounts (a bind mount?)") {
		t.Fatalf("CheckVolumes = %v", errs)
	}
}

// A volume out of inodes is said to be so, with the room it has left
// (found from outside: "no space left on device" while df showed room).
func TestSpaceAdviceInodes(t *testing.T) {
	mnt := testtool.Tmpfs(t, "4m,nr_inodes=16")
	var err error
	for i := 0; err == nil && i < 100; i++ {
		var f *os.File
		if f, err = os.Create(filepath.Join(mnt, fmt.Sprint(i))); err == nil {
			f.Close()
		}
	}
	if advice := SpaceAdvice(mnt, err, 0); !strings.Contains(advice, "free but no free inode (file entry) left") {
		t.Fatalf("%v: advice %q", err, advice)
	}
	if advice := SpaceAdvice(mnt, os.ErrPermission, 0); advice != "" {
		t.Fatalf("advice for another error: %q", advice)
	}
}
