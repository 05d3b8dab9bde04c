// Package logfile provides a log file that rotates by size, for a service
// that has no console and must not fill the disk.
//
// When a write would take the file past its maximum size, the file is closed
// and renamed NAME.1 (NAME.1 becomes NAME.2, and so on; the oldest beyond
// the kept count is deleted), and a new NAME is started. Each Write lands
// whole in one file, so a log record is never split across two files.
//
// A failed rotation never loses log records, nor old files: on Windows a
// reader that opened the log without sharing delete access (some editors,
// tail tools and scanners) makes the rename fail; the file then keeps
// growing, the failure is written into it, and rotation is tried again
// after another quarter of the maximum size.
//
// A log file moved or deleted while it is written (an administrator freeing
// space, a tool that rotates logs by moving them, the folder removed) is
// noticed within checkEvery and started anew, its folder created again;
// what was written meanwhile to a file since deleted is written again into
// the new one.
// Until it can be, records go to the fallback writer (standard error), and
// the new file says how many went there. So do records that the open file
// does not take (its volume full, a quota reached), and the file says so
// once it takes them again.
package logfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// recordTime is the time format of the records the log file writes itself,
// as log/slog's text handler writes its own (milliseconds).
const recordTime = "2006-01-02T15:04:05.000Z07:00"

// checkEvery is how often, at most, a write looks whether the log file is
// still where it was opened; maxRecent bounds what is kept meanwhile.
const (
	checkEvery = 5 * time.Second
	maxRecent  = 1 << 20
)

// File is a size-rotated log file; it is an io.Writer safe for concurrent
// use.
type File struct {
	path     string
	maxSize  int64
	maxFiles int
	fallback io.Writer     // records while no file can be written; may be nil
	every    time.Duration // checkEvery; tests shorten it

	mu         sync.Mutex
	f          *os.File // nil while missing (or closed)
	closed     bool
	size       int64
	nextRotate int64     // size at which the next rotation is attempted
	checked    time.Time // when the path was last compared with f
	missed     int       // records not written to a file since missedAt
	missedErr  error     // why
	missedAt   time.Time // when the file went missing
	// recent holds what was written since the file was last seen at its
	// path (recentAt), to be written again when it turns out to have been
	// deleted meanwhile (at most maxRecent bytes; recentCut when more).
	recent    []byte
	recentAt  time.Time
	recentCut bool
	// failed counts the records that the open file did not take (a
	// full volume, a quota, an I/O error) since failedAt, and sent to
	// the fallback; cut: one of them is in the file in part.
	failed    int
	failedErr error
	failedAt  time.Time
	cut       bool
}

// Open opens (appending) or creates the log file at path, creating its
// folder. A file reaching maxSize bytes is rotated, keeping maxFiles old
// files; maxSize <= 0 never rotates. While the file cannot be written,
// records go to fallback (nil: they are dropped).
func Open(path string, maxSize int64, maxFiles int, fallback io.Writer) (*File, error) {
	l := &File{path: path, maxSize: maxSize, maxFiles: maxFiles, fallback: fallback, every: checkEvery, checked: time.Now(), recentAt: time.Now()}
	if err := l.open(); err != nil {
		return nil, err
	}
	l.nextRotate = maxSize
	return l, nil
}

func (l *File) open() error {
	if err := os.MkdirAll(filepath.Dir(l.path), 0o755); err != nil {
		return fmt.Errorf("log file %s: creating its folder: %w", l.path, err)
	}
	if _, err := os.Lstat(l.path); errors.Is(err, fs.ErrNotExist) {
		// A rotation cut short (a crash, a failed rename back) left the
		// log aside: it goes on there.
		os.Rename(l.asideName(), l.path)
	}
	f, err := OpenAppend(l.path, 0o640)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("log file: %w", err)
	}
	l.f, l.size = f, st.Size()
	return nil
}

// Write appends p, rotating first when p would take the file past its
// maximum size.
func (l *File) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, fs.ErrClosed
	}
	if now := time.Now(); now.Sub(l.checked) >= l.every {
		l.checked = now
		l.check()
	}
	if l.f != nil && l.maxSize > 0 && l.size > 0 && l.size+int64(len(p)) > l.nextRotate {
		if fi, err := l.f.Stat(); err == nil && fi.Size() < l.size {
			// Truncated in place since the last look (check): found
			// from outside, a burst right after logrotate's
			// copytruncate rotated a file of 4 KB.
			l.size, l.nextRotate = fi.Size(), l.maxSize
		}
	}
	if l.f != nil && l.maxSize > 0 && l.size > 0 && l.size+int64(len(p)) > l.nextRotate {
		l.rotate()
	}
	if l.f == nil {
		return l.miss(p)
	}
	if l.failed > 0 && !l.writeGapNote() {
		return l.writeFailed(p, 0, l.failedErr)
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	if len(l.recent)+n <= maxRecent {
		l.recent = append(l.recent, p[:n]...)
	} else {
		l.recentCut = true
	}
	if err != nil {
		return l.writeFailed(p, n, err)
	}
	return n, err
}

// writeFailed sends p, which the open file did not take whole (n bytes
// of it went in), to the fallback, and counts it for the note that
// writeGapNote writes once the file takes records again. Found from
// outside: on a full volume about 120 records were lost without a word,
// where a file that could not be opened had its records on standard
// error and a note of the gap.
func (l *File) writeFailed(p []byte, n int, err error) (int, error) {
	if l.failed == 0 {
		l.failedAt = time.Now()
	}
	l.failed++
	l.failedErr = err
	l.cut = l.cut || n > 0
	if l.fallback == nil {
		return n, fmt.Errorf("log file: %w", err)
	}
	return l.fallback.Write(p)
}

// writeGapNote writes, before the next record, what the records that the
// file did not take became, and reports whether the file took it.
func (l *File) writeGapNote() bool {
	where := "went to standard error"
	if l.fallback == nil {
		where = "were lost"
	}
	lead := ""
	if l.cut {
		lead = "\n" // after the part of a record that went in
	}
	note := fmt.Sprintf("%stime=%s level=WARN msg=\"the log file could not be written; the records meanwhile %s\" records=%d since=%s error=%q\n",
		lead, time.Now().Format(recordTime), where, l.failed, l.failedAt.Format(recordTime), l.failedErr.Error())
	n, err := io.WriteString(l.f, note)
	l.size += int64(n)
	if err != nil {
		l.cut = l.cut || n > 0
		return false
	}
	l.failed, l.cut = 0, false
	return true
}

// check starts the file anew when it is no longer at its path (moved,
// deleted, its folder removed), or tries again to open it when it could
// not be.
func (l *File) check() {
	var lost []byte // written to a file deleted since
	var lostAt time.Time
	var lostCut bool
	if l.f != nil {
		fi, err := os.Stat(l.path)
		if err == nil {
			if cur, err := l.f.Stat(); err != nil || os.SameFile(fi, cur) {
				if err == nil && cur.Size() < l.size {
					// Truncated in place (logrotate's copytruncate):
					// found from outside, a file of 8.8 KB was rotated
					// as if it had reached max_size.
					l.size, l.nextRotate = cur.Size(), l.maxSize
				}
				l.recent, l.recentAt, l.recentCut = l.recent[:0], time.Now(), false
				return
			}
		}
		if unlinked(l.f) {
			lost, lostAt, lostCut = l.recent, l.recentAt, l.recentCut
		}
		l.f.Close()
		l.f = nil
		l.missedErr, l.missedAt = errors.New("the log file was moved or deleted"), time.Now()
	}
	l.reopen()
	if l.f != nil && len(lost) > 0 {
		// Written to the deleted file: nowhere to be read but here.
		note := ""
		if lostCut {
			note = " (the first megabyte of them only)"
		}
		fmt.Fprintf(l.f, "time=%s level=WARN msg=\"the log file was deleted; the records written to it since %s follow%s\"\n",
			time.Now().Format(recordTime), lostAt.Format(recordTime), note)
		n, _ := l.f.Write(lost)
		l.size += int64(n)
	}
	l.recent, l.recentAt, l.recentCut = l.recent[:0], time.Now(), false
}

// reopen opens the file again after a gap and says in it what the gap cost.
func (l *File) reopen() {
	if err := l.open(); err != nil {
		l.missedErr = err
		return
	}
	l.nextRotate = l.maxSize
	defer func() { l.missed, l.missedAt = 0, time.Time{} }()
	if l.missed == 0 {
		return
	}
	where := "went to standard error"
	if l.fallback == nil {
		where = "were lost"
	}
	fmt.Fprintf(l.f, "time=%s level=WARN msg=\"the log file could not be written; the records meanwhile %s\" records=%d since=%s error=%q\n",
		time.Now().Format(recordTime), where, l.missed, l.missedAt.Format(recordTime), l.missedErr.Error())
}

// miss sends p to the fallback while no file can be written.
func (l *File) miss(p []byte) (int, error) {
	l.missed++
	if l.fallback == nil {
		return 0, fmt.Errorf("log file: %w", l.missedErr)
	}
	return l.fallback.Write(p)
}

// rotate shifts the old files and starts a new one. When no new file can
// be opened, f is left nil and records go to the fallback until one can.
func (l *File) rotate() {
	l.f.Close()
	l.f = nil
	shiftErr := l.shift()
	if err := l.open(); err != nil {
		l.missedErr, l.missedAt = err, time.Now()
		return
	}
	if shiftErr != nil {
		// Keep writing to the same file rather than losing records.
		l.nextRotate = l.size + l.maxSize/4
		fmt.Fprintf(l.f, "time=%s level=WARN msg=\"log rotation failed; the log file keeps growing\" error=%q\n",
			time.Now().Format(recordTime), shiftErr.Error())
		return
	}
	l.nextRotate = l.maxSize
}

// shift renames NAME.(n-1) to NAME.n down to NAME to NAME.1, deleting the
// oldest. The log itself is moved aside first: on Windows its rename is
// the one that fails while a reader holds it without delete sharing, and
// failing first changes nothing. (Renamed last, it failed after the oldest
// kept file was deleted, and every retry deleted one more.) The old files
// move up only as far as the first missing number, and a rename of one
// that fails (held too) is undone with those before it (shiftOld).
func (l *File) shift() error {
	if l.maxFiles <= 0 {
		return os.Remove(l.path)
	}
	aside := l.asideName()
	if err := os.Rename(l.path, aside); err != nil {
		return err
	}
	err := l.shiftOld()
	if err == nil {
		err = os.Rename(aside, l.name(1))
	}
	if err != nil {
		// Back in place: the file keeps growing until the next try.
		if berr := os.Rename(aside, l.path); berr != nil {
			return fmt.Errorf("%w; and the log was left as %s: %v", err, aside, berr)
		}
	}
	return err
}

// shiftOld moves NAME.1, NAME.2 ... up by one as far as the first missing
// number; when none is missing, NAME.maxFiles goes first, to be deleted
// once all have moved. A rename that fails (a reader holds the file)
// undoes the ones before it, so a failed rotation deletes nothing.
func (l *File) shiftOld() error {
	gap := 1
	for ; gap <= l.maxFiles; gap++ {
		if _, err := os.Lstat(l.name(gap)); errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	oldest := l.path + ".deleted"
	os.Remove(oldest) // one a reader held at the last rotation
	full := gap > l.maxFiles
	if full {
		if err := os.Rename(l.name(l.maxFiles), oldest); err != nil {
			return err
		}
		gap = l.maxFiles
	}
	for i := gap - 1; i >= 1; i-- {
		if err := os.Rename(l.name(i), l.name(i+1)); err != nil {
			for j := i + 1; j < gap; j++ {
				os.Rename(l.name(j+1), l.name(j))
			}
			if full {
				os.Rename(oldest, l.name(l.maxFiles))
			}
			return err
		}
	}
	if full {
		os.Remove(oldest) // held by a reader: removed at the next rotation
	}
	return nil
}

// asideName is where the log waits during a rotation.
func (l *File) asideName() string { return l.path + ".rotating" }

func (l *File) name(i int) string { return l.path + "." + strconv.Itoa(i) }

// Close closes the file; later writes fail with fs.ErrClosed.
func (l *File) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
