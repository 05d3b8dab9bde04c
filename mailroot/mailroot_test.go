package mailroot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/mailbridge/mailbridge/internal/testdir"
	"github.com/mailbridge/mailbridge/internal/testtool"
)

func openTemp(t *testing.T) *Root {
	t.Helper()
	r, err := Open(layoutUnder(testdir.New(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.Name() != lockName {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestOpenCreatesFoldersWithIISNames(t *testing.T) {
	r := openTemp(t)
	for _, f := range r.Layout().Folders() {
		if st, err := os.Stat(f.Path); err != nil || !st.IsDir() || filepath.Base(f.Path) != f.Name {
			t.Errorf("%s: %v", f.Name, err)
		}
	}
}

func TestCommitIsInvisibleUntilDone(t *testing.T) {
	r := openTemp(t)
	drop := r.Layout().Drop
	f, err := r.Create(drop, "a.eml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("x-sender: a@b\r\n")); err != nil {
		t.Fatal(err)
	}
	if n := names(t, drop); len(n) != 0 {
		t.Fatalf("Drop shows %v before Commit", n)
	}
	path, err := f.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "x-sender: a@b\r\n" {
		t.Fatalf("%q, %v", b, err)
	}
	if n := names(t, r.Layout().SortTemp); len(n) != 0 {
		t.Fatalf("SortTemp keeps %v", n)
	}
	f.Abort() // harmless after Commit
	if _, err := os.Stat(path); err != nil {
		t.Fatal("Abort after Commit removed the file")
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	r := openTemp(t)
	f, err := r.Create(r.Layout().Drop, "b.eml")
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("partial"))
	f.Abort()
	if n := append(names(t, r.Layout().Drop), names(t, r.Layout().SortTemp)...); len(n) != 0 {
		t.Fatalf("left behind: %v", n)
	}
}

func TestCommitIntoMissingFolderFailsCleanly(t *testing.T) {
	r := openTemp(t)
	drop := r.Layout().Drop
	os.Remove(drop)
	// The failure comes at Create (a file without a name is made in its
	// folder) or at Commit (a temporary file in SortTemp is renamed).
	f, err := r.Create(drop, "c.eml")
	if err == nil {
		f.Write([]byte("data"))
		_, err = f.Commit()
	}
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a file into a missing folder: %v", err)
	}
	if n := names(t, r.Layout().SortTemp); len(n) != 0 {
		t.Fatalf("SortTemp keeps %v", n)
	}
}

// A crash leaves temporary files in SortTemp; Open removes them, and only them.
func TestOpenRemovesCrashLeftovers(t *testing.T) {
	r := openTemp(t)
	st := r.Layout().SortTemp
	os.WriteFile(filepath.Join(st, tempPrefix+"123"), []byte("half"), 0o644)
	os.WriteFile(filepath.Join(st, "admin-note.txt"), []byte("keep"), 0o644)
	r.Close()
	r2, err := Open(r.Layout())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r2.Close() })
	defer r2.Close()
	if n := names(t, st); len(n) != 1 || n[0] != "admin-note.txt" {
		t.Fatalf("SortTemp after Open: %v", n)
	}
}

func TestClaim(t *testing.T) {
	r := openTemp(t)
	src := filepath.Join(r.Layout().Pickup, "Message.txt")
	os.WriteFile(src, []byte("To: a@b\r\n\r\nhi"), 0o644)
	dst, err := r.Claim(src, r.Layout().Queue, "Q1.eml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(src); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("source still in Pickup")
	}
	if b, _ := os.ReadFile(dst); string(b) != "To: a@b\r\n\r\nhi" {
		t.Fatalf("claimed content %q", b)
	}
	// A second claimant finds nothing: no message is processed twice.
	if _, err := r.Claim(src, r.Layout().Queue, "Q2.eml"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("second claim: %v", err)
	}
	// Claiming onto an existing name never overwrites.
	os.WriteFile(src, []byte("new"), 0o644)
	if _, err := r.Claim(src, r.Layout().Queue, "Q1.eml"); err == nil {
		t.Fatal("claim overwrote an existing queue file")
	}
}

func TestWriteFileReplaces(t *testing.T) {
	r := openTemp(t)
	q := r.Layout().Queue
	for i := 0; i < 3; i++ {
		if err := r.WriteFile(q, "state", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(q, "state")); string(b) != "2" {
		t.Fatalf("state %q", b)
	}
}

// Many writers at once: every file arrives whole, names never collide, and
// the grouped folder sync lets each caller go.
func TestConcurrentCommits(t *testing.T) {
	r := openTemp(t)
	drop := r.Layout().Drop
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				f, err := r.Create(drop, r.NewName()+".eml")
				if err != nil {
					errs <- err
					return
				}
				f.Write([]byte("complete\r\n"))
				if _, err := f.Commit(); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	n := names(t, drop)
	if len(n) != 400 {
		t.Fatalf("%d files, want 400", len(n))
	}
	for _, name := range n {
		if b, err := os.ReadFile(filepath.Join(drop, name)); err != nil || string(b) != "complete\r\n" {
			t.Fatalf("%s: %q, %v", name, b, err)
		}
	}
	// Each commit needs two syncs; concurrent commits share them.
	r.mu.Lock()
	if g := r.main.committer; g != nil {
		g.mu.Lock()
		t.Logf("%d rounds for 400 commits", g.started)
		if g.started > 800 {
			t.Errorf("%d rounds, more than two per commit", g.started)
		}
		g.mu.Unlock()
	}
	for dir, g := range r.syncers {
		t.Logf("%s: %d folder syncs", dir, g.started)
	}
	r.mu.Unlock()
}

func BenchmarkCommit10KB(b *testing.B) {
	dir := testdir.New(b)
	l := Layout{Pickup: dir + "/P", Drop: dir + "/D", Queue: dir + "/Q", Badmail: dir + "/B", SortTemp: dir + "/S"}
	r, err := Open(l)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	data := make([]byte, 10<<10)
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			f, _ := r.Create(l.Drop, r.NewName()+".eml")
			f.Write(data)
			if _, err := f.Commit(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// A second Open of the same mail root fails at once, before it touches
// the first one's temporary files; after Close the root can be opened again.
func TestOpenLocksTheMailRoot(t *testing.T) {
	r := openTemp(t)
	f, err := r.Create(r.Layout().Drop, "inflight.eml")
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("being received"))
	if _, err := Open(r.Layout()); !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "locked by another running mailbridge") {
		t.Fatalf("second Open: %v", err)
	}
	if _, err := f.Commit(); err != nil {
		t.Fatalf("the first root's file was disturbed: %v", err)
	}
	r.Close()
	r2, err := Open(r.Layout())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r2.Close() })
	r2.Close()
}

// Two mail roots with custom folders that share Queue but not SortTemp
// would both send its messages: the second Open is refused. A layout whose
// Queue is its SortTemp takes one lock.
func TestOpenLocksTheQueue(t *testing.T) {
	dir := testdir.New(t)
	a := Layout{Pickup: dir + "/P", Drop: dir + "/D", Queue: dir + "/Q", Badmail: dir + "/B", SortTemp: dir + "/S1"}
	ra, err := Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	b := a
	b.SortTemp = dir + "/S2"
	if _, err := Open(b); !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), filepath.Join(a.Queue, lockName)) {
		t.Fatalf("second Open sharing Queue: %v", err)
	}
	// The refused Open released what it had locked: SortTemp S2 is free.
	c := b
	c.Queue = dir + "/Q2"
	rc, err := Open(c)
	if err != nil {
		t.Fatalf("S2 with its own Queue: %v", err)
	}
	rc.Close()
	same := Layout{Pickup: dir + "/P3", Drop: dir + "/D3", Queue: dir + "/QS", Badmail: dir + "/B3", SortTemp: dir + "/QS/"}
	rs, err := Open(same)
	if err != nil {
		t.Fatalf("Queue and SortTemp in one folder: %v", err)
	}
	rs.Close()
}

// New files are readable by a consumer running as another user: 0666 less
// the umask, not os.CreateTemp's 0600.
func TestCommittedFileMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix permissions")
	}
	r := openTemp(t)
	f, _ := r.Create(r.Layout().Drop, "m.eml")
	path, err := f.Commit()
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm()&0o044 == 0 {
		t.Fatalf("mode %v: group and others cannot read", st.Mode())
	}
}

// Both ways of writing a new file keep the contract: the fallback through
// SortTemp (other systems, file systems without O_TMPFILE) is tested here
// on every system.
func TestCommitThroughSortTemp(t *testing.T) {
	r := openTemp(t)
	r.main.unnamed = false
	f, err := r.Create(r.Layout().Drop, "st.eml")
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("via SortTemp"))
	if n := names(t, r.Layout().SortTemp); len(n) != 1 {
		t.Fatalf("SortTemp holds %v while the file is written", n)
	}
	path, err := f.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "via SortTemp" {
		t.Fatalf("content %q", b)
	}
	if n := names(t, r.Layout().SortTemp); len(n) != 0 {
		t.Fatalf("SortTemp keeps %v", n)
	}
}

// An existing name is never overwritten.
func TestCommitNeverOverwrites(t *testing.T) {
	r := openTemp(t)
	drop := r.Layout().Drop
	os.WriteFile(filepath.Join(drop, "taken.eml"), []byte("first"), 0o644)
	f, err := r.Create(drop, "taken.eml")
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("second"))
	if _, err := f.Commit(); err == nil && r.main.unnamed {
		t.Fatal("a committed file replaced an existing one")
	}
	if b, _ := os.ReadFile(filepath.Join(drop, "taken.eml")); string(b) != "first" && r.main.unnamed {
		t.Fatalf("content %q", b)
	}
}

// TestOpenRefusesOneFolderTwice: folders that are one through a link are
// refused by Open, as the configuration refuses them written alike.
func TestOpenRefusesOneFolderTwice(t *testing.T) {
	base := testdir.New(t)
	l := layoutUnder(base)
	if err := os.MkdirAll(l.Pickup, 0o755); err != nil {
		t.Fatal(err)
	}
	l.Badmail = filepath.Join(base, "BadmailLink")
	if err := os.Symlink(l.Pickup, l.Badmail); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	if testtool.UnderWine() {
		t.Skip("Wine's file IDs do not identify a folder reached through a link")
	}
	errs := CheckDistinct(l)
	// Where the link leads is said (found from outside: two paths that
	// differ, said to be one folder, puzzled).
	real, _ := filepath.EvalSymlinks(l.Pickup)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "Badmail ("+l.Badmail+", through a link to "+real+") and Pickup ("+l.Pickup+") are one folder") {
		t.Fatalf("CheckDistinct = %v", errs)
	}
	if r, err := Open(l); err == nil {
		r.Close()
		t.Fatal("Open accepted Badmail linked to Pickup")
	} else if !strings.Contains(err.Error(), "are one folder") {
		t.Fatalf("Open: %v", err)
	}
	if errs := CheckDistinct(layoutUnder(testdir.New(t))); len(errs) != 0 {
		t.Fatalf("distinct folders: %v", errs)
	}
}

// Two folders whose names differ only in letter case are one folder on a
// file system that ignores case, whatever inode numbers it gives them
// (found from outside on FAT through FUSE): refused, before either exists.
func TestCheckDistinctLetterCase(t *testing.T) {
	base := testdir.New(t)
	l := layoutUnder(base)
	l.Drop = filepath.Join(base, "PICKUP")
	errs := CheckDistinct(l)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "Drop ("+l.Drop+") and Pickup ("+l.Pickup+") differ only in letter case") {
		t.Fatalf("CheckDistinct = %v", errs)
	}
	// Open refuses it before it makes any folder (found from outside).
	if r, err := Open(l); err == nil {
		r.Close()
		t.Fatal("Open accepted it")
	}
	if entries, _ := os.ReadDir(base); len(entries) != 0 {
		t.Fatalf("Open made %v", entries)
	}
}

// Folders deleted while the root is open (by hand, or a clean-up of
// temporary folders that takes SortTemp) are created again by Mend, and
// their locks taken again: a second Open is still refused. Found from
// outside: SortTemp was never created again, and a second instance ran.
func TestMendRecreatesFoldersAndLocks(t *testing.T) {
	r := openTemp(t)
	l := r.Layout()
	if created, err := r.Mend(); len(created) != 0 || err != nil {
		t.Fatalf("nothing to mend: %v %v", created, err)
	}
	for _, dir := range []string{l.SortTemp, l.Queue, l.Drop} {
		if err := os.RemoveAll(dir); err != nil {
			t.Skipf("cannot delete a folder holding an open lock file here (as on Windows): %v", err)
		}
	}
	created, err := r.Mend()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range created {
		got = append(got, f.Name)
	}
	if strings.Join(got, ",") != "Drop,Queue,SortTemp" {
		t.Fatalf("created %v", got)
	}
	if _, err := Open(l); !errors.Is(err, ErrInUse) {
		t.Fatalf("second Open after Mend: %v", err)
	}
	f, err := r.Create(l.Drop, "after.eml")
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("x"))
	if _, err := f.Commit(); err != nil {
		t.Fatal(err)
	}
}

// When another instance has locked the new lock file first, Mend says so.
func TestMendReportsAnotherInstance(t *testing.T) {
	r := openTemp(t)
	l := r.Layout()
	if err := os.RemoveAll(l.SortTemp); err != nil {
		t.Skipf("cannot delete a folder holding an open lock file here (as on Windows): %v", err)
	}
	os.RemoveAll(l.Queue)
	other, err := Open(l)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := r.Mend(); !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "another mailbridge running on this mail root") {
		t.Fatalf("Mend: %v", err)
	}
}

// Names sort by arrival within a run even when the wall clock steps back
// (NTP, a virtual machine restored): they go on from the last one.
func TestNewNameAfterClockStepBack(t *testing.T) {
	r := openTemp(t)
	before := r.NewName()
	// The last name as it would be had the clock been an hour ahead.
	ahead := r.lastName.Load() + uint64(3600e9)
	r.lastName.Store(ahead)
	a, b := r.NewName(), r.NewName()
	if !(before < a && a < b) {
		t.Fatalf("names out of order: %s %s %s", before, a, b)
	}
	if want := fmt.Sprintf("%016X", ahead+1); a[:16] != want {
		t.Errorf("time part %s, want %s (one after the last)", a[:16], want)
	}
}

// IsName knows NewName's names, and no IIS Queue name or name given by
// hand.
func TestIsName(t *testing.T) {
	r := openTemp(t)
	for i := 0; i < 100; i++ {
		if n := r.NewName(); !IsName(n) {
			t.Fatalf("IsName(%q) false for a NewName", n)
		}
	}
	for _, n := range []string{"", "NTFS_7f3a01d9c1a2b3c4000001", "0000018C2F4D5E6F0001a1b2c3d4", "0000018C2F4D5E6F0001A1B2C3D", "0000018C2F4D5E6F0001A1B2C3D4E", "odd name (copy)", "0000018C2F4D5E6F0001A1B2C3G4"} {
		if IsName(n) {
			t.Errorf("IsName(%q) true", n)
		}
	}
}

// CaseTwins says nothing of the layout's own folders, of a file, or of a
// folder of the same name: only of another folder whose name differs in
// case.
func TestCaseTwins(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("names differing in case only are one folder on Windows")
	}
	root := t.TempDir()
	l := Layout{Pickup: filepath.Join(root, "Pickup"), Drop: filepath.Join(root, "drop"), Queue: filepath.Join(root, "Queue"), Badmail: filepath.Join(root, "Badmail"), SortTemp: filepath.Join(root, "SortTemp")}
	for _, d := range []string{"Pickup", "drop", "Queue", "Badmail", "SortTemp", "PICKUP"} {
		os.Mkdir(filepath.Join(root, d), 0o755)
	}
	os.WriteFile(filepath.Join(root, "queue"), []byte("a file"), 0o644)
	got := CaseTwins(l)
	if len(got) != 1 || !strings.HasPrefix(got[0], filepath.Join(root, "PICKUP")+" is a folder of its own beside the Pickup folder") {
		t.Fatalf("%q", got)
	}
	if err := os.Remove(filepath.Join(root, "PICKUP")); err != nil {
		t.Fatal(err)
	}
	if got := CaseTwins(l); len(got) != 0 {
		t.Fatalf("%q", got)
	}
}

// A folder that is a link to a folder gone is said so, not "file exists".
func TestMakeFolderDanglingLink(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links need a privilege on Windows")
	}
	dir := t.TempDir()
	link := filepath.Join(dir, "Pickup")
	if err := os.Symlink(filepath.Join(dir, "gone", "Pickup"), link); err != nil {
		t.Fatal(err)
	}
	err := MakeFolder(link)
	if err == nil || !strings.Contains(err.Error(), link+" is a symbolic link to "+filepath.Join(dir, "gone", "Pickup")+", which cannot be reached") {
		t.Fatalf("%v", err)
	}
}

// HeldByOther tells a mail root in use by a running instance, and makes
// no lock file where there is none (found from outside: `service status`
// left lock files in a stopped service's folders).
func TestHeldByOther(t *testing.T) {
	d := testdir.New(t)
	l := Layout{Pickup: filepath.Join(d, "Pickup"), Drop: filepath.Join(d, "Drop"), Queue: filepath.Join(d, "Queue"),
		Badmail: filepath.Join(d, "Badmail"), SortTemp: filepath.Join(d, "SortTemp")}
	for _, f := range l.Folders() {
		if err := os.MkdirAll(f.Path, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := HeldByOther(l); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{l.SortTemp, l.Queue} {
		if _, err := os.Stat(filepath.Join(dir, lockName)); err == nil {
			t.Fatalf("a lock file was made in %s", dir)
		}
	}
	r, err := Open(l)
	if err != nil {
		t.Fatal(err)
	}
	if err := HeldByOther(l); !errors.Is(err, ErrInUse) {
		t.Fatalf("while open: %v", err)
	}
	r.Close()
	if err := HeldByOther(l); err != nil {
		t.Fatalf("once closed: %v", err)
	}
}
