// Package mailroot owns the IIS mail folders (Pickup, Drop, Queue, Badmail,
// SortTemp) and every write into them.
//
// A folder is a state and a rename is a transition. Crash semantics:
//
//   - A new file (Create, then Commit) is written in SortTemp (in Queue for
//     Pickup, Queue and Badmail when Drop and SortTemp are on a volume of
//     their own), flushed to disk, closed, renamed into its folder and the
//     folder is synced before Commit returns. A reader of the folder sees
//     the whole file or nothing; after a crash the file is either complete
//     in its folder or a leftover, which Open removes. On Linux, where the
//     file system allows it, the file is instead created without a name in
//     its folder (O_TMPFILE) and named by one link when complete: the same
//     guarantees, no leftover after a crash, and less work per file.
//   - Claim moves a file between folders by one rename and syncs both
//     folders: a file is in exactly one place, so what cannot be claimed is
//     not processed twice.
//   - WriteFile replaces a small file atomically (state files).
//   - Badmail writes the reason (.BDR) and envelope (.BDP) before the
//     message (.BAD), so a .BAD file always has its reason.
//
// On Windows, antivirus, indexers and backup agents open files for a moment
// without sharing: a rename or delete then fails with access denied or a
// sharing violation. Root retries those with bounded back-off (about 4 s in
// all) and logs each case; a rename either happens once or not at all, so a
// retry never duplicates or loses a message. One still held after that
// fails with an error matching ErrHeld.
//
// Syncs of concurrent writers are grouped: one fsync of a folder covers
// every rename that finished before it started. On Linux, a file created
// without a name is made durable by syncfs(2) on its file system, before
// and after its link: one call covers every file committed meanwhile, in
// any folder on that file system (group commit; Drop may have one of its
// own, with its own group), where one fsync per file wrote the same inode
// table block and flushed the disk's write cache once for each file. The
// price: the call also writes whatever else the file system holds
// unwritten, so on a volume shared with heavy writers a reply may wait for
// their data too. The sync after the link ends with a flush of the disk's
// write cache (fdatasync): on file systems without a journal, syncfs alone
// leaves the last metadata it writes in that cache. Because syncfs reports
// a failed write once, to whichever call comes first, any failed sync
// fails every commit it overlapped, in any folder of its file system.
package mailroot

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Layout names the five folders.
type Layout struct {
	Pickup   string
	Drop     string
	Queue    string
	Badmail  string
	SortTemp string
}

// Folders lists the folders with their IIS names, in a stable order.
func (l Layout) Folders() []Folder {
	return []Folder{
		{"Pickup", l.Pickup}, {"Drop", l.Drop}, {"Queue", l.Queue},
		{"Badmail", l.Badmail}, {"SortTemp", l.SortTemp},
	}
}

// makeFolder creates path with perm, and its missing parents with 0755
// (both less the umask); a folder already there is left as it is.
func makeFolder(path string, perm fs.FileMode) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil
	}
	if parent := filepath.Dir(filepath.Clean(path)); parent != path {
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return err
		}
	}
	err := os.Mkdir(path, perm)
	if errors.Is(err, fs.ErrExist) {
		if fi, serr := os.Stat(path); serr == nil && fi.IsDir() {
			return nil // made meanwhile
		}
	}
	return err
}

// CaseTwins says, for each folder of l, of any folder beside it whose name
// differs from its own in case only ("pickup" beside "Pickup"), and is
// another folder: on a file system that tells case apart (Linux), mail
// put there is never seen. Found from outside: an IIS mail root copied
// with such names passed check, and its Pickup and Queue files stayed
// where they were without a word. On NTFS, or a share that does not tell
// case apart, the two names are one folder, and nothing is said.
func CaseTwins(l Layout) []string {
	var out []string
	ours := map[string]bool{}
	for _, f := range l.Folders() {
		ours[filepath.Clean(f.Path)] = true
	}
	for _, f := range l.Folders() {
		dir, base := filepath.Split(filepath.Clean(f.Path))
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		own, err := os.Stat(f.Path)
		if err != nil {
			continue
		}
		for _, e := range entries {
			name := e.Name()
			if name == base || !strings.EqualFold(name, base) {
				continue
			}
			twin := filepath.Join(dir, name)
			if ours[twin] {
				continue // a folder of the layout itself
			}
			if fi, err := os.Stat(twin); err != nil || !fi.IsDir() || os.SameFile(fi, own) {
				continue
			}
			out = append(out, fmt.Sprintf("%s is a folder of its own beside the %s folder %s, its name differing in case only: mailbridge uses %s, and never looks in %s; move its files into %s, or set [mailroot] %s to it",
				twin, f.Name, f.Path, f.Path, twin, f.Path, strings.ToLower(f.Name)))
		}
	}
	return out
}

// Folder is one named folder of a Layout.
type Folder struct {
	Name string
	Path string
}

// tempPrefix marks mailroot's temporary files in SortTemp.
const tempPrefix = "mbtmp-"

// Root is an opened mail root. It is safe for concurrent use.
type Root struct {
	layout Layout
	locks  []*os.File // held while open: SortTemp's, Queue's
	// note is what NoteListening wrote into SortTemp's lock file, written
	// again into a lock file Mend makes anew.
	note string
	log  *slog.Logger
	// retryDelays are the waits between attempts of a rename or delete
	// that failed transiently.
	retryDelays []time.Duration

	// main is how files are made on SortTemp's volume: Drop's, and
	// every folder's when all share it. queue is Pickup's, Queue's and
	// Badmail's volume: main itself unless Drop is on a volume of its own
	// (custom folders, Drop on another drive for the program reading it).
	main, queue *volume

	mu      sync.Mutex
	syncers map[string]*syncGroup // folder syncs, by folder
	// madeInPickup holds the names of the files this process wrote into
	// Pickup, until claimed (MadeInPickup).
	madeInPickup map[string]bool

	seq      atomic.Uint64
	lastName atomic.Uint64 // nameTime's last

	// placed is where each folder was at Open, by its clean path.
	placed map[string]placement
	// gone, when set, is why no new file is made: a folder whose volume
	// went away (Mend).
	gone atomic.Pointer[error]
}

// placement is the volume of a folder, and of its parent, at Open.
type placement struct {
	dev, parentDev uint64
	known          bool         // volumeID could tell (not on Windows)
	access         folderAccess // its mode and group, given again if it is created again
}

// volume is how new files are made on one volume: where their temporary
// files are, and how they are committed.
type volume struct {
	temp      string // folder of the temporary files: SortTemp, or Queue
	unnamed   bool   // new files are created without a name (Linux O_TMPFILE)
	emptyPath bool   // and named through their descriptor, not /proc
	// committer commits the unnamed files of the volume's folders: one
	// syncfs(2) serves them all (CheckVolumes).
	committer *commitGroup
}

func newVolume(temp string) *volume {
	v := &volume{temp: temp}
	v.unnamed, v.emptyPath = probeUnnamed(temp)
	v.committer = newCommitGroup(v.emptyPath)
	return v
}

// volumeOf returns the volume of dir, one of the layout's folders.
func (r *Root) volumeOf(dir string) *volume {
	if r.queue == r.main {
		return r.main
	}
	if d := filepath.Clean(dir); d == filepath.Clean(r.layout.Drop) || d == filepath.Clean(r.layout.SortTemp) {
		return r.main
	}
	return r.queue
}

// Option configures a Root.
type Option func(*Root)

// WithLogger sets where Root reports what does not surface as an error:
// renames and deletes that succeeded only after retries. By default it
// reports nowhere.
func WithLogger(log *slog.Logger) Option {
	return func(r *Root) { r.log = log }
}

// defaultRetryDelays total about 4.3 s: longer than the usual hold of an
// on-access scanner, short enough for an SMTP client waiting for its reply.
func defaultRetryDelays() []time.Duration {
	return []time.Duration{
		10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond,
		160 * time.Millisecond, 320 * time.Millisecond, 640 * time.Millisecond,
		time.Second, time.Second, time.Second,
	}
}

// Open creates missing folders, removes temporary files that a crash left in
// SortTemp, and checks that files can be renamed from SortTemp into Drop and
// from Pickup into Queue (the same volume).
func Open(l Layout, opts ...Option) (*Root, error) {
	// Before any folder is made too, for what can be told already (found
	// from outside: a layout refused left its other folders made).
	if errs := CheckDistinct(l); len(errs) > 0 {
		return nil, errs[0]
	}
	for _, f := range l.Folders() {
		if err := MakeFolderMode(f.Path, FolderMode(f.Name)); err != nil {
			return nil, &FolderError{Folder: f, Err: err}
		}
	}
	if errs := CheckDistinct(l); len(errs) > 0 {
		return nil, errs[0]
	}
	if errs := CheckVolumes(l); len(errs) > 0 {
		return nil, errs[0]
	}
	// One mailbridge per mail root: a second one would remove the first's
	// temporary files as crash leftovers (SortTemp), and both would work
	// one queue, sending its messages twice (Queue: with custom folders,
	// two instances can share Queue and not SortTemp).
	locks, err := lockLayout(l)
	if err != nil {
		return nil, err
	}
	r := &Root{layout: l, syncers: map[string]*syncGroup{}, log: slog.New(slog.DiscardHandler), retryDelays: defaultRetryDelays(), locks: locks}
	for _, o := range opts {
		o(r)
	}
	r.main = newVolume(l.SortTemp)
	r.queue = r.main
	if SameVolume(l.SortTemp, l.Queue) != nil {
		// Queue is locked by this process like SortTemp, and on the volume
		// of Pickup and Badmail: their temporary files go there.
		r.queue = newVolume(l.Queue)
	}
	for _, dir := range []string{l.SortTemp, r.queue.temp} {
		if err := r.cleanTemp(dir); err != nil {
			r.Close()
			return nil, err
		}
	}
	r.placed = map[string]placement{}
	for _, f := range l.Folders() {
		dev, ok1 := volumeID(f.Path)
		parentDev, ok2 := volumeID(filepath.Dir(filepath.Clean(f.Path)))
		r.placed[filepath.Clean(f.Path)] = placement{dev: dev, parentDev: parentDev, known: ok1 && ok2, access: accessOf(f.Path)}
	}
	return r, nil
}

// FolderError is a folder of the layout that Open could not create.
type FolderError struct {
	Folder Folder
	Err    error // from MakeFolder
}

func (e *FolderError) Error() string {
	return fmt.Sprintf("creating the %s folder: %v", e.Folder.Name, e.Err)
}

func (e *FolderError) Unwrap() error { return e.Err }

// LayoutError is a pair of folders that the layout cannot have as they
// are (CheckDistinct, CheckVolumes): A is the one to change first, B the
// other, so that a caller can name the setting of either.
type LayoutError struct {
	A, B Folder
	Msg  string
}

func (e *LayoutError) Error() string { return e.Msg }

// MakeFolder creates the folder path and its parents where missing, with
// the permissions 0777 less the umask, as Open does. Its error names a
// file in the way in plain words (os.MkdirAll says only "mkdir D:\x: not
// a directory") and, for a folder on a network share, what to check.
func MakeFolder(path string) error {
	return MakeFolderMode(path, 0o777)
}

// FolderMode is the permissions a layout folder is created with, less the
// umask (the parents it needs get 0755 less the umask). Pickup and Drop
// are open to the group (applications write into Pickup, a document
// router reads and deletes Drop files, as the README's Linux steps give
// them the group); Queue, Badmail and SortTemp are mailbridge's own: found
// from outside, under the README's umask 0007 a member of the group could
// rewrite a queued message's recipients, or delete the lock files and run
// a second instance, and could replace Pickup with a link to any folder
// of mailbridge's, as the mail root was group-writable too. (Windows
// ignores the mode: the folders take their parent's permissions.)
func FolderMode(name string) fs.FileMode {
	if name == "Pickup" || name == "Drop" {
		return 0o777
	}
	return 0o700
}

// MakeFolderMode is MakeFolder with perm for the folder itself; its
// missing parents get 0755, both less the umask.
func MakeFolderMode(path string, perm fs.FileMode) error {
	err := makeFolder(path, perm)
	if err == nil {
		return nil
	}
	if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
		// Found from outside: "mkdir ...: file exists" for a link whose
		// target is gone.
		if target, rerr := os.Readlink(path); rerr == nil {
			if _, serr := os.Stat(path); serr != nil {
				return fmt.Errorf("cannot be created: %s is a symbolic link to %s, which cannot be reached (%v): create that folder, or replace the link", path, target, serr)
			}
		}
	}
	// The nearest of path and its parents that exists: a file there is
	// the cause, whatever the system called it (Windows: "The system
	// cannot find the path specified"); a folder there is where write
	// access is missing, when it is.
	nearest := ""
	for p := filepath.Clean(path); ; {
		fi, serr := os.Stat(p)
		if serr == nil && !fi.IsDir() {
			if p == filepath.Clean(path) {
				return fmt.Errorf("%s is a file, not a folder: move the file away, or set another folder", p)
			}
			return fmt.Errorf("cannot be created: %s is a file, not a folder: move the file away, or set another folder", p)
		}
		parent := filepath.Dir(p)
		if serr == nil {
			nearest = p
		}
		if serr == nil || parent == p {
			break
		}
		p = parent
	}
	advice := ShareAdvice(path)
	if advice == "" && nearest != "" {
		advice = AccessAdvice(nearest, err)
	}
	if drive, derr := MissingDrive(path); advice == "" && derr != nil {
		// Found from outside: "mkdir Q:\: Path not found", for a
		// configuration brought from a server that had a Q: drive.
		advice = fmt.Sprintf(" (drive %s does not exist on this machine, or cannot be used: %v; set a folder on a drive it has, or add the drive)", drive, derr)
	}
	return fmt.Errorf("cannot be created: %w%s", err, advice)
}

// MissingDrive returns path's drive letter (Windows: "Q:") and, when this
// machine does not have it (or it cannot be used: a drive without its
// disk), why. A network path or a path without a drive is never missing
// here (see ShareAdvice).
func MissingDrive(path string) (string, error) {
	vol := filepath.VolumeName(path)
	if len(vol) != 2 || vol[1] != ':' {
		return "", nil
	}
	_, err := os.Stat(vol + string(filepath.Separator))
	return vol, err
}

// ShareAdvice is what to check when a folder on a network share cannot be
// created or written, to follow the error: "" for a local folder. Found
// from outside: "mkdir \\fileserver\mail\mailroot: Path not found" said
// nothing of the share or of the account.
func ShareAdvice(path string) string {
	if !IsNetworkPath(path) {
		return ""
	}
	return " (the folder is on a network share: check that the share exists and can be reached from this machine, and that the account mailbridge runs as may write there; a Windows service running as LocalSystem uses the computer account, DOMAIN\\NAME$)"
}

// CheckVolumes reports every pair of folders that must share a volume and
// does not: files move between them by one rename. Open and `mailbridge
// check` use it alike. Drop may be on a volume of its own, with SortTemp,
// where inbound mail is written: the program reading Drop often has it on
// a data drive. Pickup, Queue and Badmail share one volume: a Pickup file
// is claimed into Queue, and a Queue file moved into Badmail, by one
// rename; new files for them are made in SortTemp when it is on their
// volume, else in Queue, and copies for Drop wait in SortTemp.
func CheckVolumes(l Layout) []error {
	pairs := []struct {
		a, b Folder
		how  string
	}{
		{Folder{"SortTemp", l.SortTemp}, Folder{"Drop", l.Drop}, "SortTemp holds files on their way into Drop, which enter it by a rename: set sorttemp to a folder on Drop's volume"},
		{Folder{"Pickup", l.Pickup}, Folder{"Queue", l.Queue}, "a Pickup file is claimed into Queue"},
		{Folder{"Queue", l.Queue}, Folder{"Badmail", l.Badmail}, "mail that cannot be delivered moves from Queue into Badmail"},
	}
	var errs []error
	for _, p := range pairs {
		if err := SameVolume(p.a.Path, p.b.Path); err != nil {
			errs = append(errs, &LayoutError{A: p.a, B: p.b, Msg: fmt.Sprintf("%s and %s: %v (%s)", p.a.Name, p.b.Name, err, p.how)})
		}
	}
	return errs
}

// DropStage is the folder where a copy bound for Drop waits, durable,
// until it may appear there (the bridge's ID.todrop): Queue, or SortTemp
// when Drop is on a volume of its own, since the copy enters Drop by one
// rename.
func (r *Root) DropStage() string {
	if r.queue == r.main {
		return r.layout.Queue
	}
	return r.layout.SortTemp
}

// CheckDistinct reports every pair of existing folders that must differ
// and are one folder, however they are written: through a link, a short
// (8.3) name or another letter case; and every pair whose paths differ
// only in letter case, existing or not. Pickup must be none of Drop,
// Queue, SortTemp and Badmail (its files would be sent out), Drop none of
// Queue and SortTemp (their files would be read as received mail), and
// Badmail none of Pickup, Drop and Queue (its files would be read as
// mail). Open and `mailbridge check` use it alike; the configuration
// refuses the same pairs when they are written alike.
func CheckDistinct(l Layout) []error {
	pairs := []struct {
		a, b Folder
		why  string
	}{
		{Folder{"Drop", l.Drop}, Folder{"Pickup", l.Pickup}, "received mail would be relayed out again"},
		{Folder{"Queue", l.Queue}, Folder{"Pickup", l.Pickup}, "queued mail would be claimed again"},
		{Folder{"Queue", l.Queue}, Folder{"Drop", l.Drop}, "queued mail would be read as received mail"},
		{Folder{"SortTemp", l.SortTemp}, Folder{"Pickup", l.Pickup}, "temporary files would be sent out"},
		{Folder{"SortTemp", l.SortTemp}, Folder{"Drop", l.Drop}, "temporary files would be read as received mail"},
		{Folder{"Badmail", l.Badmail}, Folder{"Pickup", l.Pickup}, "Badmail files would be sent out, and refused again, without end"},
		{Folder{"Badmail", l.Badmail}, Folder{"Drop", l.Drop}, "Badmail files would be read as received mail"},
		{Folder{"Badmail", l.Badmail}, Folder{"Queue", l.Queue}, "Badmail files would sit among queued mail"},
	}
	var errs []error
	for _, p := range pairs {
		if filepath.Clean(p.a.Path) != filepath.Clean(p.b.Path) && strings.EqualFold(filepath.Clean(p.a.Path), filepath.Clean(p.b.Path)) {
			// Found from outside: on FAT or exFAT through FUSE, which
			// gives one folder a new inode number for each spelling,
			// Pickup and PICKUP passed as two folders.
			errs = append(errs, &LayoutError{A: p.a, B: p.b, Msg: fmt.Sprintf("%s (%s) and %s (%s) differ only in letter case: on a file system that ignores case (Windows, FAT, exFAT) they are one folder, and %s; give each its own name",
				p.a.Name, p.a.Path, p.b.Name, p.b.Path, p.why)})
			continue
		}
		a, err := os.Stat(p.a.Path)
		if err != nil {
			continue // missing: nothing to compare yet (Open creates it)
		}
		b, err := os.Stat(p.b.Path)
		if err != nil {
			continue
		}
		if os.SameFile(a, b) {
			errs = append(errs, &LayoutError{A: p.a, B: p.b, Msg: fmt.Sprintf("%s and %s are one folder: %s; give each its own folder",
				throughLink(p.a), throughLink(p.b), p.why)})
		}
	}
	return errs
}

// throughLink names f with its path, and where the path leads through a
// symbolic link (or junction), where it leads: found from outside, "Queue
// (/srv/lnk) and Drop (/srv/mr/Drop) are one folder" puzzled, with two
// paths that differ.
func throughLink(f Folder) string {
	clean := filepath.Clean(f.Path)
	if real, err := filepath.EvalSymlinks(clean); err == nil && !strings.EqualFold(real, clean) {
		return fmt.Sprintf("%s (%s, through a link to %s)", f.Name, f.Path, real)
	}
	return fmt.Sprintf("%s (%s)", f.Name, f.Path)
}

// ErrInUse is returned by Open when another process has the mail root open.
var ErrInUse = errors.New("the mail root is in use")

// lockName is the lock file in SortTemp and Queue; the OS drops the lock
// when the process ends, however it ends.
const lockName = "mailbridge.lock"

// SendingName is the file in Queue where the Queue's deliverer notes the
// messages being sent (bridge), so that the next start can tell which an
// abrupt end cut short.
const SendingName = "mailbridge.sending"

// Internal reports whether name is a file that mailbridge itself keeps in
// a folder (its lock, the sending record, a temporary file), not a
// message.
func Internal(name string) bool {
	return name == lockName || name == SendingName || strings.HasPrefix(name, tempPrefix)
}

// NoteListening writes addrs, the addresses this instance listens on, into
// its SortTemp lock file, for check (Listening) to tell whether a port it
// finds taken is this mail root's running instance's: found from outside,
// taking any mailbridge's (or any hidden process's) for it had
// `check && restart` stop a service that then could not start. The text
// starts after the file's first byte, which the lock covers on Windows.
func (r *Root) NoteListening(addrs []string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.locks) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("\n")
	for _, a := range addrs {
		b.WriteString("listen " + a + "\n")
	}
	r.note = b.String()
	return writeNote(r.locks[0], r.note) // SortTemp's (lockLayout)
}

func writeNote(f *os.File, note string) error {
	if _, err := f.WriteAt([]byte(note), 0); err != nil {
		return err
	}
	return f.Truncate(int64(len(note)))
}

// HeldByOther reports ErrInUse when a running instance holds l's locks,
// for a look that must change nothing (`service status`): unlike
// CheckLocks it creates no lock file, and asks only where both are there,
// as a running instance has them; nil otherwise.
func HeldByOther(l Layout) error {
	for _, dir := range []string{l.SortTemp, l.Queue} {
		if _, err := os.Lstat(filepath.Join(dir, lockName)); err != nil {
			return nil
		}
	}
	return CheckLocks(l)
}

// Listening returns the addresses that the instance running with l's mail
// root listens on, as it noted them (NoteListening); nil when none is
// known.
func Listening(l Layout) []string {
	f, err := os.Open(filepath.Join(l.SortTemp, lockName))
	if err != nil {
		return nil
	}
	defer f.Close()
	buf := make([]byte, 4096)
	n, _ := f.ReadAt(buf, 1)
	var addrs []string
	for _, line := range strings.Split(string(buf[:n]), "\n") {
		if a, ok := strings.CutPrefix(line, "listen "); ok {
			addrs = append(addrs, a)
		}
	}
	return addrs
}

// lockLayout takes the locks of l's SortTemp and Queue (one lock when they
// are one folder), or none and the reason.
func lockLayout(l Layout) ([]*os.File, error) {
	var locks []*os.File
	for _, dir := range []string{l.SortTemp, l.Queue} {
		if len(locks) > 0 && filepath.Clean(dir) == filepath.Clean(l.SortTemp) {
			break // one folder for both
		}
		lockPath := filepath.Join(dir, lockName)
		lock, err := lockFile(lockPath)
		if err != nil {
			for _, l := range locks {
				l.Close()
			}
			if errors.Is(err, ErrInUse) {
				return nil, fmt.Errorf("%w: %s is locked by another running mailbridge; stop it, or give this one other folders", ErrInUse, lockPath)
			}
			return nil, fmt.Errorf("locking the mail root (%s): %w", lockPath, err)
		}
		locks = append(locks, lock)
	}
	return locks, nil
}

// CheckLocks reports whether another process has l's folders open (Open
// would refuse them), for `mailbridge check`; it takes and releases the
// locks.
func CheckLocks(l Layout) error {
	locks, err := lockLayout(l)
	for _, f := range locks {
		f.Close()
	}
	return err
}

// Close releases the mail root for another process. Files being written
// must be committed or aborted first.
func (r *Root) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var err error
	for _, l := range r.locks {
		err = errors.Join(err, l.Close())
	}
	r.locks = nil
	return err
}

// Mend creates again the folders that went missing since Open (deleted by
// hand, or by a clean-up of temporary folders that took SortTemp), as Open
// would, and takes again the locks that went with them, so that a second
// instance is still kept out. It returns the folders it created; the error
// says what it could not mend (ErrInUse: another instance took a lock
// meanwhile). Meant to be called every few seconds.
//
// A folder is not created again on another volume than the one it was
// on: found from outside, a volume unmounted under a running mailbridge
// got a new mail root on the disk beneath its mount point, and mail
// accepted there was hidden once the volume was mounted again. Such a
// folder, or one found on another volume, stops every new file (Create
// fails, and inbound mail gets 451) until it is back.
func (r *Root) Mend() ([]Folder, error) {
	var created []Folder
	var errs, gone []error
	away := map[string]bool{} // folders whose volume is away, by clean path
	for _, f := range r.layout.Folders() {
		pl := r.placed[filepath.Clean(f.Path)]
		_, err := os.Stat(f.Path)
		if err == nil {
			if dev, ok := volumeID(f.Path); ok && pl.known && dev != pl.dev {
				away[filepath.Clean(f.Path)] = true
				gone = append(gone, fmt.Errorf("the %s folder %s is on another volume than at start: its volume may have been unmounted; mailbridge takes no mail until it is back (mount it again; or restart mailbridge to take the folder as it is now)", f.Name, f.Path))
			}
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			// Found from outside: a failing volume's EIO went unsaid.
			errs = append(errs, fmt.Errorf("the %s folder %s cannot be looked at: %w", f.Name, f.Path, err))
			continue
		}
		if at := nearestFolder(f.Path); at == "" || !pl.parentOn(at) {
			away[filepath.Clean(f.Path)] = true
			where := "nothing of its path exists"
			if at != "" {
				where = at + " is on another volume than at start"
			}
			gone = append(gone, fmt.Errorf("the %s folder %s is missing, and %s: its volume may have been unmounted; mailbridge does not create the folder elsewhere, and takes no mail until it is back (mount it again; or restart mailbridge to create it)", f.Name, f.Path, where))
			continue
		}
		if err := os.MkdirAll(f.Path, 0o777); err != nil {
			errs = append(errs, fmt.Errorf("the %s folder is missing and cannot be created again: %w", f.Name, err))
			continue
		}
		if err := restoreAccess(f.Path, pl.access); err != nil {
			errs = append(errs, fmt.Errorf("the %s folder, created again, cannot be given the permissions it had: %w", f.Name, err))
		}
		created = append(created, f)
	}
	if len(gone) > 0 {
		err := errors.Join(gone...)
		r.gone.Store(&err)
		errs = append(errs, gone...)
	} else {
		r.gone.Store(nil)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, l := range r.locks {
		if lockHeld(l) || away[filepath.Dir(l.Name())] {
			// Not taken again in a folder beneath an unmounted volume's
			// mount point (found from outside): the volume's own lock
			// is still held, and is again when it is back.
			continue
		}
		nl, err := lockFile(l.Name())
		if errors.Is(err, ErrInUse) {
			errs = append(errs, fmt.Errorf("%w: %s was deleted, and another mailbridge running on this mail root has locked it since: stop one of them", ErrInUse, l.Name()))
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("taking the lock %s again: %w", l.Name(), err))
			continue
		}
		l.Close()
		r.locks[i] = nl
		if i == 0 && r.note != "" {
			// Found from outside: with SortTemp deleted and made again,
			// check took the running instance's port for another
			// program's.
			if err := writeNote(nl, r.note); err != nil {
				errs = append(errs, fmt.Errorf("noting the addresses listened on in %s again: %w", nl.Name(), err))
			}
		}
	}
	return created, errors.Join(errs...)
}

// Layout returns the folders of r.
func (r *Root) Layout() Layout { return r.layout }

// nearestFolder returns path or its nearest parent that exists, "" when
// none does.
func nearestFolder(path string) string {
	for p := filepath.Clean(path); ; {
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			return p
		}
		parent := filepath.Dir(p)
		if parent == p {
			return ""
		}
		p = parent
	}
}

// parentOn reports whether folder at, the nearest that exists of a missing
// folder's path, is on the volume of that folder's parent at Open.
func (p placement) parentOn(at string) bool {
	dev, ok := volumeID(at)
	return !ok || !p.known || dev == p.parentDev
}

// VolumeGone returns why no new file is made, when a folder's volume went
// away (see Mend), else nil.
func (r *Root) VolumeGone() error {
	if gone := r.gone.Load(); gone != nil {
		return *gone
	}
	return nil
}

// StoreAdvice says what likely kept a file from being stored in dir (err,
// from writing or naming it there), for the log line beside the system's
// words: a full volume (SpaceAdvice; need as there), a folder missing, or
// one this process may not write (AccessAdvice). "" for any other error.
// Found from outside: "operation not permitted" alone, for an immutable
// Drop, puzzled an administrator running as root.
func StoreAdvice(dir string, err error, need int64) string {
	if s := SpaceAdvice(dir, err, need); s != "" {
		return s
	}
	if errors.Is(err, fs.ErrNotExist) {
		return "a folder of the mail root is missing: deleted (mailbridge makes it again within 5 seconds), or its volume unmounted (then mail waits until it is back)"
	}
	if a := AccessAdvice(dir, err); a != "" {
		return strings.TrimSuffix(strings.TrimPrefix(a, " ("), ")")
	}
	return ""
}

// SpaceAdvice says, for err a failure to write in dir for want of space,
// how much the volume has and what was needed (need, when not 0, is the
// size of the message): found from outside, "no space left on device"
// while df showed 15 % free (a 200 MB message), or room but no inode
// left. It is "" for any other error.
func SpaceAdvice(dir string, err error, need int64) string {
	if err == nil || !noSpace(err) {
		return ""
	}
	free, inodes, ok := freeSpace(dir)
	if !ok {
		return ""
	}
	if inodes == 0 {
		return fmt.Sprintf("the volume of %s has %s free but no free inode (file entry) left: remove files there, or give it more inodes", dir, humanBytes(free))
	}
	s := fmt.Sprintf("the volume of %s has %s free", dir, humanBytes(free))
	if need > 0 {
		s += fmt.Sprintf(", and this message needs %s there", humanBytes(need))
	}
	return s + " (a quota may also limit the account mailbridge runs as)"
}

// LowSpace says what is short on the volume of dir, for check: full
// (no inode left, or less than minFree) when no message can be stored
// there, which a running mailbridge answers with 451 to every message
// (found from outside: check passed a volume with 0 bytes free); else,
// when need > 0 and it has less, that a message of need bytes cannot be.
// "" when neither, or when its free space cannot be known.
func LowSpace(dir string, need int64) (text string, full bool) {
	free, inodes, ok := freeSpace(dir)
	switch {
	case !ok:
		return "", false
	case inodes == 0:
		return fmt.Sprintf("the volume of %s has no free inode (file entry) left: no message can be stored there; remove files there, or give it more inodes", dir), true
	case free < minFree:
		return fmt.Sprintf("the volume of %s is full (%s free): no message can be stored there; free space on it", dir, humanBytes(free)), true
	case free < need:
		return fmt.Sprintf("the volume of %s has %s free, less than a message of [inbound] max_message_size (%s) needs", dir, humanBytes(free), humanBytes(need)), false
	}
	return "", false
}

// minFree is the least free space in which LowSpace takes a volume for
// able to store a message: a small one, headers and all.
const minFree = 64 << 10

// humanBytes writes n in the largest binary unit it fills.
func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// ErrVolumeGone is the error of a file that cannot be made because a
// folder's volume went away (see Mend).
var ErrVolumeGone = errors.New("a mail root folder's volume is gone")

// checkPlaced fails when f, just made in dir, is not on the volume dir
// was on at Open: the folder is a mount point whose volume went away
// since Mend last looked.
// CheckPlaced reports ErrVolumeGone when f, a file just made in the
// layout folder dir, is not on the volume dir was on at start: dir's
// volume was unmounted, and f is on the disk beneath the mount point,
// where nothing would find it once the volume is back. The caller removes
// such a file.
func (r *Root) CheckPlaced(f *os.File, dir string) error { return r.checkPlaced(f, dir) }

func (r *Root) checkPlaced(f *os.File, dir string) error {
	pl, ok := r.placed[filepath.Clean(dir)]
	if !ok || !pl.known {
		return nil
	}
	if dev, ok := fileVolumeID(f); ok && dev != pl.dev {
		return fmt.Errorf("%w: %s is on another volume than at start (unmounted?)", ErrVolumeGone, dir)
	}
	return nil
}

// cleanTemp removes the temporary files a crash left in dir.
func (r *Root) cleanTemp(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("reading %s: %w", dir, err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix) && e.Type().IsRegular() {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("removing a leftover temporary file: %w", err)
			}
		}
	}
	return nil
}

// NewName returns a name unique within this process and, through its random
// part, across restarts: time-ordered so that a folder listing sorts by
// arrival (NTFS lists a folder in name order, and so do Drop readers that
// take its files in turn). Its time never goes back within a run: after a
// step of the wall clock back (NTP, a virtual machine restored), names go
// on from the last one until the clock has caught up, rather than sorting
// new mail before the mail already waiting.
func (r *Root) NewName() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%016X%04X%s", r.nameTime(), r.seq.Add(1)&0xFFFF, strings.ToUpper(hex.EncodeToString(b[:])))
}

// IsName reports whether s has the shape of a name NewName returns: 28
// upper-case hexadecimal digits. A Queue file named otherwise is not one
// mailbridge queued (an IIS leftover such as NTFS_...EML, a copy put
// there by hand), and is never sent from there: found from outside, IIS
// Queue files named with a lower-case .eml were sent at the first start,
// to their header's addresses, and their Badmail files replaced IIS's.
func IsName(s string) bool {
	if len(s) != 28 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'A' || c > 'F') {
			return false
		}
	}
	return true
}

// nameTime returns the wall clock in nanoseconds, or one more than the
// last it returned when that is later.
func (r *Root) nameTime() uint64 {
	now := uint64(time.Now().UnixNano())
	for {
		last := r.lastName.Load()
		t := max(now, last+1)
		if r.lastName.CompareAndSwap(last, t) {
			return t
		}
	}
}

// File is a file being written; it becomes visible only through Commit.
type File struct {
	root    *Root
	f       *os.File
	dir     string
	name    string
	done    bool
	unnamed bool    // f has no name yet (createUnnamed); else it is in vol.temp
	vol     *volume // dir's volume
}

var errUnnamedUnsupported = errors.New("mailroot: files without a name are not supported here")

// Create starts a new file that Commit will place as dir/name, never over
// an existing file of that name. dir is one of the layout's folders.
func (r *Root) Create(dir, name string) (*File, error) {
	return r.create(dir, name, true)
}

// create is Create; unnamed false forces the way through a temporary
// file, whose rename replaces an existing file (WriteFile needs that).
func (r *Root) create(dir, name string, unnamed bool) (*File, error) {
	f, err := r.createIn(dir, name, unnamed)
	if err == nil && filepath.Clean(dir) == filepath.Clean(r.layout.Pickup) {
		// A file this process puts into Pickup (the listener's copy of
		// relayed mail) is mailbridge's alone until claimed: found from
		// outside, with the README's group for Pickup writers, any
		// application could read it and change its recipients. (Windows
		// ignores the mode; the folder's permissions apply.)
		if cerr := f.f.Chmod(0o600); cerr != nil && runtime.GOOS != "windows" {
			f.Abort()
			return nil, fmt.Errorf("making a new file in %s private: %w", dir, cerr)
		}
	}
	return f, err
}

func (r *Root) createIn(dir, name string, unnamed bool) (*File, error) {
	if gone := r.gone.Load(); gone != nil {
		return nil, fmt.Errorf("%w: %w", ErrVolumeGone, *gone)
	}
	vol := r.volumeOf(dir)
	if unnamed && vol.unnamed {
		f, err := createUnnamed(dir)
		if err == nil {
			if err := r.checkPlaced(f, dir); err != nil {
				f.Close()
				return nil, err
			}
			return &File{root: r, f: f, dir: dir, name: name, unnamed: true, vol: vol}, nil
		}
		if !errors.Is(err, errUnnamedUnsupported) {
			return nil, fmt.Errorf("creating a new file in %s: %w", dir, err)
		}
	}
	// Not os.CreateTemp: its 0600 would keep Drop files from a consumer
	// running as another user. 0666 less the umask, as any file.
	var f *os.File
	var err error
	for i := 0; i < 10; i++ {
		var b [8]byte
		_, _ = rand.Read(b[:])
		f, err = createFile(filepath.Join(vol.temp, tempPrefix+hex.EncodeToString(b[:])))
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("creating a temporary file in %s: %w", vol.temp, err)
	}
	if err := r.checkPlaced(f, vol.temp); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	folderGroup(f, "", dir)
	return &File{root: r, f: f, dir: dir, name: name, vol: vol}, nil
}

// Write writes to the temporary file.
func (f *File) Write(p []byte) (int, error) { return f.f.Write(p) }

// Dir returns the folder the file is committed into.
func (f *File) Dir() string { return f.dir }

// Temp returns the temporary file, for reading back what was written.
func (f *File) Temp() *os.File { return f.f }

// Commit flushes the file to disk, closes it, renames it into its folder and
// syncs the folder. It returns the final path. On error nothing is left in
// the folder.
func (f *File) Commit() (string, error) {
	dst, err := f.commit()
	if err == nil && filepath.Clean(f.dir) == filepath.Clean(f.root.layout.Pickup) {
		f.root.mu.Lock()
		if f.root.madeInPickup == nil {
			f.root.madeInPickup = map[string]bool{}
		}
		f.root.madeInPickup[f.name] = true
		f.root.mu.Unlock()
	}
	return dst, err
}

// MadeInPickup reports whether mailbridge wrote the Pickup file name (the
// listener's copies of relayed mail), now claimed as the file claimed,
// and forgets it: the Pickup watcher asks once it has claimed the file.
// Found from outside: a file that any application wrote into Pickup,
// beginning with a Received field naming this host, was taken for one of
// these, and went into Drop without the Pickup trace, as if received over
// SMTP. This process's own files are known by name; an earlier run's
// (left in Pickup by a stop or a crash) by what no other account can
// give a file: mailbridge's account as its owner, no access for others
// (Create's 0600) and a name as NewName makes them. Not on Windows, whose
// owners are not read: there an earlier run's copies get the Pickup trace.
func (r *Root) MadeInPickup(name, claimed string) bool {
	r.mu.Lock()
	made := r.madeInPickup[name]
	delete(r.madeInPickup, name)
	r.mu.Unlock()
	if made {
		return true
	}
	if base, ok := strings.CutSuffix(name, ".eml"); !ok || !IsName(base) {
		return false
	}
	fi, err := os.Lstat(claimed)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 != 0 {
		return false
	}
	owner, ok := Owner(fi)
	return ok && owner == os.Geteuid()
}

func (f *File) commit() (string, error) {
	if f.done {
		return "", errors.New("mailroot: file already committed or aborted")
	}
	f.done = true
	if f.unnamed {
		return f.commitUnnamed()
	}
	tmp := f.f.Name()
	if err := f.f.Sync(); err != nil {
		f.f.Close()
		os.Remove(tmp)
		return "", fmt.Errorf("flushing %s: %w", tmp, err)
	}
	if err := f.f.Close(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("closing %s: %w", tmp, err)
	}
	dst := filepath.Join(f.dir, f.name)
	if err := f.root.rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return "", err
	}
	if err := f.root.SyncDir(f.dir); err != nil {
		// The file is complete but its name may not survive a power cut:
		// take it back so that the sender retries rather than trusting it.
		os.Remove(dst)
		return "", fmt.Errorf("syncing folder %s: %w", f.dir, err)
	}
	return dst, nil
}

// commitUnnamed is Commit for a file without a name: its content is made
// durable, then it gets its name (never over an existing file), then the
// name is made durable, each step shared with every file committed
// meanwhile in any folder of the mail root (commitGroup): under load one
// syncfs(2) covers a group of messages, where one fsync(2) per file wrote
// the same inode table block once for each, and flushed the disk's cache
// once for each.
func (f *File) commitUnnamed() (string, error) {
	dst := filepath.Join(f.dir, f.name)
	defer f.f.Close()
	if err := f.vol.committer.commit(f.f, dst); err != nil {
		return "", fmt.Errorf("committing %s: %w", dst, err)
	}
	return dst, nil
}

// Abort discards the file. It is safe after Commit, and safe to defer.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.f.Close()
	if !f.unnamed {
		os.Remove(f.f.Name())
	}
}

// probeUnnamed reports whether files without a name can be created in dir
// and named (O_TMPFILE needs Linux and a file system that has it), and
// whether they can be named through their descriptor (emptyPath) or only
// through /proc.
func probeUnnamed(dir string) (ok, emptyPath bool) {
	for _, emptyPath := range []bool{true, false} {
		f, err := createUnnamed(dir)
		if err != nil {
			return false, false
		}
		var b [8]byte
		_, _ = rand.Read(b[:])
		probe := filepath.Join(dir, tempPrefix+"probe-"+hex.EncodeToString(b[:]))
		err = linkUnnamed(f, probe, emptyPath)
		f.Close()
		if err == nil {
			os.Remove(probe)
			return true, emptyPath
		}
	}
	return false, false
}

// rename moves a file, retrying where the OS reports a transient failure
// (on Windows, antivirus and indexers hold files for a moment).
func (r *Root) rename(src, dst string) error {
	err := r.retry("rename", src, func() error { return renameFile(src, dst) })
	if err != nil {
		return fmt.Errorf("renaming into %s: %w", filepath.Dir(dst), err)
	}
	return nil
}

// Remove deletes the file at path, retrying like a rename. A missing file is
// reported with an error matching fs.ErrNotExist.
func (r *Root) Remove(path string) error {
	return r.retry("delete", path, func() error { return os.Remove(path) })
}

// ErrHeld matches the error of a rename or delete given up while another
// program held the file (on Windows: antivirus, indexers and backup agents
// open files without sharing). The hold is transient: a caller that can
// try again later (the Pickup watcher) need not report it as a failure.
// Its text names the other cause of the same Windows error, a folder the
// account may not change (found from outside: an administrator would look
// for an antivirus that is not there).
var ErrHeld = errors.New("another program holds the file (antivirus, indexer or backup agent?), or the account mailbridge runs as may not change this folder (give it the Modify permission)")

// retry runs op until it succeeds, fails for good, or the retry delays are
// used up. A retried operation is logged once, with its count and first
// error, so that an administrator can find the program holding files: at
// info level when it succeeded, at debug level when it was given up, as
// the error returned (matching ErrHeld) reaches a caller that decides
// whether that is a failure (a 451 to the SMTP client) or a wait (a
// Pickup file claimed later).
func (r *Root) retry(what, path string, op func() error) error {
	start := time.Now()
	var first error
	for i := 0; ; i++ {
		err := op()
		if err == nil || !transient(err) || i >= len(r.retryDelays) {
			if i == 0 {
				return err
			}
			waited := time.Since(start).Round(time.Millisecond)
			lvl, result := slog.LevelInfo, "done"
			if err != nil {
				lvl, result = slog.LevelDebug, "gave up"
			}
			r.log.Log(context.Background(), lvl, what+" retried: another program held the file (antivirus, indexer or backup agent?)",
				"path", path, "attempts", i+1, "waited", waited,
				"result", result, "first_error", first, "error", err)
			if err != nil && transient(err) {
				return fmt.Errorf("%w: %w (%d attempts in %s)", ErrHeld, err, i+1, waited)
			}
			return err
		}
		if first == nil {
			first = err
		}
		time.Sleep(r.retryDelays[i])
	}
}

// Claim moves src into dir under name with one rename, then syncs both
// folders. ErrNotExist (someone else claimed it first) is returned as is.
func (r *Root) Claim(src, dir, name string) (string, error) {
	dst, err := r.Move(src, dir, name)
	if err != nil {
		return "", err
	}
	if err := r.SyncDir(dir); err != nil {
		return dst, fmt.Errorf("syncing folder %s: %w", dir, err)
	}
	if err := r.SyncDir(filepath.Dir(src)); err != nil {
		return dst, fmt.Errorf("syncing folder %s: %w", filepath.Dir(src), err)
	}
	return dst, nil
}

// Move is Claim without the folder syncs, for a caller that syncs both
// folders itself before it relies on the move (the bridge writes a durable
// file into dir right after, and syncs the source folder then): one rename,
// retried while Windows reports the file held, never over an existing file.
//
// Nothing moves while a folder's volume is away (see Mend), nor into a
// folder that is not on its volume of the start: found from outside, a
// file written into Pickup beneath an unmounted volume's mount point was
// claimed into the Queue beneath it, and forgotten there.
func (r *Root) Move(src, dir, name string) (string, error) {
	if gone := r.gone.Load(); gone != nil {
		return "", fmt.Errorf("%w: %w", ErrVolumeGone, *gone)
	}
	if pl, ok := r.placed[filepath.Clean(dir)]; ok && pl.known {
		if dev, ok := volumeID(dir); ok && dev != pl.dev {
			return "", fmt.Errorf("%w: %s is on another volume than at start (unmounted?)", ErrVolumeGone, dir)
		}
	}
	dst := filepath.Join(dir, name)
	if _, err := os.Lstat(dst); err == nil {
		return "", fmt.Errorf("claiming %s: %s already exists", src, dst)
	}
	folderGroup(nil, src, dir)
	if err := r.rename(src, dst); err != nil {
		return "", err
	}
	return dst, nil
}

// WriteFile atomically replaces dir/name with data: readers see the old
// content or the new, never a mixture.
func (r *Root) WriteFile(dir, name string, data []byte) error {
	return r.WriteFileFrom(dir, name, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFileFrom is WriteFile for content that write writes, so that a
// large message is copied through, not held in memory.
func (r *Root) WriteFileFrom(dir, name string, write func(io.Writer) error) error {
	f, err := r.create(dir, name, false)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := write(f); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	_, err = f.Commit()
	return err
}

// Overwrite rewrites the existing file path with data where it is, for a
// folder where no file can be created or renamed (made read-only while a
// file in it stays writable): data is padded with spaces to the file's
// old size, written from the start without truncating, then synced, so
// that the file is never empty or short on the way. The caller's format
// must take trailing spaces (JSON does). Not atomic: the last resort when
// WriteFile cannot be done.
func Overwrite(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = fmt.Errorf("%s: %w", path, ErrNotRegular)
		}
		return err
	}
	if pad := fi.Size() - int64(len(data)); pad > 0 {
		data = append(data[:len(data):len(data)], bytes.Repeat([]byte(" "), int(pad))...)
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Truncate rewrites the existing file path to hold data alone, in place,
// and syncs it: for a file whose content is no longer needed, in a folder
// where no file can be created, renamed or removed. Not atomic: a crash
// may leave it empty or short.
func Truncate(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// CopyFile writes a durable copy of src as dir/name.
func (r *Root) CopyFile(src, dir, name string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	f, err := r.Create(dir, name)
	if err != nil {
		return "", err
	}
	defer f.Abort()
	if _, err := io.Copy(f, in); err != nil {
		return "", fmt.Errorf("copying %s: %w", src, err)
	}
	return f.Commit()
}

// SyncDir makes the names in dir durable. Concurrent callers share syncs:
// a caller returns after a sync that started after it called.
func (r *Root) SyncDir(dir string) error {
	return r.syncer(dir).sync()
}

func (r *Root) syncer(dir string) *syncGroup {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.syncers[dir]
	if g == nil {
		g = &syncGroup{dir: dir}
		g.cond = sync.NewCond(&g.mu)
		r.syncers[dir] = g
	}
	return g
}

// syncGroup shares the syncs of one folder among concurrent callers
// ("group commit").
type syncGroup struct {
	dir     string
	mu      sync.Mutex
	cond    *sync.Cond
	started uint64 // rounds started
	done    uint64 // rounds finished
	running bool
	err     error // of the last finished round
}

// sync returns the result of a folder sync that started after it was
// called; the caller that finds none running runs one.
func (s *syncGroup) sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A round already running may have started before our write: we need
	// the next one.
	need := s.started + 1
	for s.done < need {
		if !s.running {
			s.running = true
			s.started++
			s.mu.Unlock()
			err := syncDir(s.dir)
			s.mu.Lock()
			s.running = false
			s.done = s.started
			s.err = err
			s.cond.Broadcast()
			continue
		}
		s.cond.Wait()
	}
	return s.err
}

// ErrNotRegular is returned by OpenRegular for a name that is not a
// regular file: a symbolic link (or, on Windows, any reparse point), a
// folder, a named pipe, a socket or a device. The error names which.
var ErrNotRegular = errors.New("not a regular file")

// NotRegular returns the error matching ErrNotRegular for path, of type
// mode: it says what the name is, for the log (an administrator must know
// what to remove).
func NotRegular(path string, mode fs.FileMode) error {
	what := "an unusual file (" + mode.Type().String() + ")"
	switch {
	case mode&fs.ModeSymlink != 0:
		what = "a symbolic link"
	case mode.IsDir():
		what = "a folder"
	case mode&fs.ModeNamedPipe != 0:
		what = "a named pipe"
	case mode&fs.ModeSocket != 0:
		what = "a socket"
	case mode&fs.ModeDevice != 0:
		what = "a device"
	case mode&fs.ModeIrregular != 0:
		what = "a reparse point or another unusual file"
	}
	return &os.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w: it is %s", ErrNotRegular, what)}
}
