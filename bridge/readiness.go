package bridge

import (
	"errors"
	"io/fs"
	"os"

	"github.com/mailbridge/mailbridge/mailroot"
)

// readiness is what openIfDone learned about a Pickup file.
type readiness int

const (
	// ready: no other process has the file open for writing, and the
	// returned handle keeps writers out until it is closed.
	ready readiness = iota
	// busy: a writer still has the file open.
	busy
	// unknown: this system cannot tell; fall back to the quiet period
	// (size and modification time unchanged).
	unknown
	// gone: the file no longer exists (claimed or deleted by someone else).
	gone
	// denied: the file cannot be opened for reading (permissions, or on
	// Windows a pending delete or a scanner): claiming it would only move
	// a file that cannot be sent out of its writer's sight into Queue, so
	// it stays in Pickup and is tried again.
	denied
	// irregular: the name is not a regular file (a symbolic link or other
	// reparse point, a folder, a named pipe ...): it is never taken, since
	// following a link would read a file its writer may not (the error says
	// what it is).
	irregular
)

// openRegular opens a Pickup file for openIfDone: f is nil when it is
// gone, not a regular file, or cannot be opened, and st and err then say
// which (unknown for an open that failed otherwise).
func openRegular(path string) (f *os.File, st readiness, err error) {
	f, err = mailroot.OpenRegular(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, gone, nil
	case errors.Is(err, mailroot.ErrNotRegular):
		return nil, irregular, err
	case errors.Is(err, fs.ErrPermission):
		return nil, denied, err
	case err != nil:
		return nil, unknown, err
	}
	return f, ready, nil
}

// noLease is why openIfDone cannot tell whether a Pickup file's writer is
// done, where the system could tell for another file (Linux: a write
// lease refused).
type noLease struct{ why string }

func (e *noLease) Error() string { return "no write lease: " + e.why }
