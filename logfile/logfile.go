// Package logfile provides a log file that rotates by size, for a service
// that has no console and must not fill the disk.
//
// When a write would take the file past its maximum size, the file is closed
// and renamed NAME.1 (NAME.1 becomes NAME.2, and so on; the oldest beyond
// the kept count is deleted), and a new NAME is started. Each Write lands
// whole in one file, so a log record is never split across two files.
//
// A failed rotation never loses log records: on Windows a reader that opened
// the log without sharing delete access (some editors and tail tools) makes
// the rename fail; the file then keeps growing, the failure is written into
// it, and rotation is tried again after another quarter of the maximum size.
package logfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// File is a size-rotated log file; it is an io.Writer safe for concurrent
// use.
type File struct {
	path     string
	maxSize  int64
	maxFiles int

	mu         sync.Mutex
	f          *os.File
	size       int64
	nextRotate int64 // size at which the next rotation is attempted
}

// Open opens (appending) or creates the log file at path, creating its
// folder. A file reaching maxSize bytes is rotated, keeping maxFiles old
// files; maxSize <= 0 never rotates.
func Open(path string, maxSize int64, maxFiles int) (*File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("log file %s: creating its folder: %w", path, err)
	}
	l := &File{path: path, maxSize: maxSize, maxFiles: maxFiles}
	if err := l.open(); err != nil {
		return nil, err
	}
	l.nextRotate = maxSize
	return l, nil
}

func (l *File) open() error {
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
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
	if l.f == nil {
		return 0, fs.ErrClosed
	}
	if l.maxSize > 0 && l.size > 0 && l.size+int64(len(p)) > l.nextRotate {
		if err := l.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	return n, err
}

// rotate shifts the old files and starts a new one. It fails only when no
// file can be written at all.
func (l *File) rotate() error {
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	l.f = nil
	shiftErr := l.shift()
	if err := l.open(); err != nil {
		return err
	}
	if shiftErr != nil {
		// Keep writing to the same file rather than losing records.
		l.nextRotate = l.size + l.maxSize/4
		fmt.Fprintf(l.f, "time=%s level=WARN msg=\"log rotation failed; the log file keeps growing\" error=%q\n",
			time.Now().Format(time.RFC3339Nano), shiftErr.Error())
		return nil
	}
	l.nextRotate = l.maxSize
	return nil
}

// shift renames NAME.(n-1) to NAME.n down to NAME to NAME.1, deleting the
// oldest. Renaming the oldest first means a failure leaves no gap and
// overwrites nothing still kept.
func (l *File) shift() error {
	if l.maxFiles <= 0 {
		return os.Remove(l.path)
	}
	if err := os.Remove(l.name(l.maxFiles)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for i := l.maxFiles - 1; i >= 1; i-- {
		if err := os.Rename(l.name(i), l.name(i+1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return os.Rename(l.path, l.name(1))
}

func (l *File) name(i int) string { return l.path + "." + strconv.Itoa(i) }

// Close closes the file; later writes fail with fs.ErrClosed.
func (l *File) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
