// Package mailroot owns the IIS mail folders (Pickup, Drop, Queue, Badmail,
// SortTemp) and every write into them.
//
// A folder is a state and a rename is a transition. Crash semantics:
//
//   - A new file (Create, then Commit) is written in SortTemp, flushed to
//     disk, closed, renamed into its folder and the folder is synced before
//     Commit returns. A reader of the folder sees the whole file or nothing;
//     after a crash the file is either complete in its folder or a leftover in
//     SortTemp, which Open removes.
//   - Claim moves a file between folders by one rename and syncs both
//     folders: a file is in exactly one place, so what cannot be claimed is
//     not processed twice.
//   - WriteFile replaces a small file atomically (state files).
//   - Badmail writes the reason (.BDR) and envelope (.BDP) before the
//     message (.BAD), so a .BAD file always has its reason.
//
// Folder syncs of concurrent writers are grouped: one fsync of a folder
// covers every rename that finished before it started, which keeps the cost
// of durability flat under load.
package mailroot

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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

	mu      sync.Mutex
	syncers map[string]*dirSyncer

	seq atomic.Uint64
}

// Open creates missing folders, removes temporary files that a crash left in
// SortTemp, and checks that files can be renamed from SortTemp into Drop,
// Queue and Badmail, and from Pickup into Queue (the same volume).
func Open(l Layout) (*Root, error) {
	for _, f := range l.Folders() {
		if err := os.MkdirAll(f.Path, 0o755); err != nil {
			return nil, fmt.Errorf("creating the %s folder: %w", f.Name, err)
		}
	}
	if err := SameVolume(l.SortTemp, l.Drop); err != nil {
		return nil, fmt.Errorf("SortTemp and Drop: %w", err)
	}
	if err := SameVolume(l.Pickup, l.Queue); err != nil {
		return nil, fmt.Errorf("Pickup and Queue: %w", err)
	}
	// Queue and Badmail files are written in SortTemp and renamed there.
	for _, f := range []Folder{{"Queue", l.Queue}, {"Badmail", l.Badmail}} {
		if err := SameVolume(l.SortTemp, f.Path); err != nil {
			return nil, fmt.Errorf("SortTemp and %s: %w", f.Name, err)
		}
	}
	r := &Root{layout: l, syncers: map[string]*dirSyncer{}}
	if err := r.cleanSortTemp(); err != nil {
		return nil, err
	}
	return r, nil
}

// Layout returns the folders of r.
func (r *Root) Layout() Layout { return r.layout }

func (r *Root) cleanSortTemp() error {
	entries, err := os.ReadDir(r.layout.SortTemp)
	if err != nil {
		return fmt.Errorf("reading SortTemp: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix) && e.Type().IsRegular() {
			if err := os.Remove(filepath.Join(r.layout.SortTemp, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("removing a leftover temporary file: %w", err)
			}
		}
	}
	return nil
}

// NewName returns a name unique within this process and, through its random
// part, across restarts: time-ordered so that a folder listing sorts by
// arrival.
func (r *Root) NewName() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%016X%04X%s", uint64(time.Now().UnixNano()), r.seq.Add(1)&0xFFFF, strings.ToUpper(hex.EncodeToString(b[:])))
}

// File is a file being written; it becomes visible only through Commit.
type File struct {
	root *Root
	f    *os.File
	dir  string
	name string
	done bool
}

// Create starts a new file that Commit will place as dir/name. dir is one of
// the layout's folders.
func (r *Root) Create(dir, name string) (*File, error) {
	f, err := os.CreateTemp(r.layout.SortTemp, tempPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("creating a temporary file in SortTemp: %w", err)
	}
	return &File{root: r, f: f, dir: dir, name: name}, nil
}

// Write writes to the temporary file.
func (f *File) Write(p []byte) (int, error) { return f.f.Write(p) }

// Temp returns the temporary file, for reading back what was written.
func (f *File) Temp() *os.File { return f.f }

// Commit flushes the file to disk, closes it, renames it into its folder and
// syncs the folder. It returns the final path. On error nothing is left in
// the folder.
func (f *File) Commit() (string, error) {
	if f.done {
		return "", errors.New("mailroot: file already committed or aborted")
	}
	f.done = true
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

// Abort discards the file. It is safe after Commit, and safe to defer.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.f.Close()
	os.Remove(f.f.Name())
}

// rename moves a file, retrying where the OS reports a transient failure
// (on Windows, antivirus and indexers hold files for a moment).
func (r *Root) rename(src, dst string) error {
	var err error
	for i, delay := 0, 10*time.Millisecond; ; i++ {
		err = os.Rename(src, dst)
		if err == nil || i >= 6 || !transient(err) {
			break
		}
		time.Sleep(delay)
		delay *= 2
	}
	if err != nil {
		return fmt.Errorf("renaming into %s: %w", filepath.Dir(dst), err)
	}
	return nil
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
func (r *Root) Move(src, dir, name string) (string, error) {
	dst := filepath.Join(dir, name)
	if _, err := os.Lstat(dst); err == nil {
		return "", fmt.Errorf("claiming %s: %s already exists", src, dst)
	}
	if err := r.rename(src, dst); err != nil {
		return "", err
	}
	return dst, nil
}

// WriteFile atomically replaces dir/name with data: readers see the old
// content or the new, never a mixture.
func (r *Root) WriteFile(dir, name string, data []byte) error {
	f, err := r.Create(dir, name)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	_, err = f.Commit()
	return err
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
	r.mu.Lock()
	s := r.syncers[dir]
	if s == nil {
		s = &dirSyncer{dir: dir}
		s.cond = sync.NewCond(&s.mu)
		r.syncers[dir] = s
	}
	r.mu.Unlock()
	return s.sync()
}

// dirSyncer groups folder syncs ("group commit").
type dirSyncer struct {
	dir     string
	mu      sync.Mutex
	cond    *sync.Cond
	started uint64 // rounds started
	done    uint64 // rounds finished
	running bool
	err     error // of the last finished round
}

func (s *dirSyncer) sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A round already running may have started before our rename: we need
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
