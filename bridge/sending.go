package bridge

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mailbridge/mailbridge/mailroot"
)

// sendingRecord notes, in Queue/mailbridge.sending, the message each
// worker is sending, one line of fixed size per worker, written in place
// (no new file, no sync: what it guards against is the process ending, and
// the page cache outlives the process). The next start reads what the
// last run left there: a message named is one whose attempt was under way
// when the process was killed or crashed, so the smart host may have it
// already, and sending it again may give its recipients two copies (found
// from outside: after kill -9 such a resend was logged as an ordinary
// first delivery, where a stop says so). A power cut may leave the record
// short of a line: it then says less, never something false.
type sendingRecord struct {
	mu   sync.Mutex
	f    *os.File // nil: not kept now (the folder could not take it); tried again
	path string
	// placed checks that a new record is on Queue's volume (see create).
	placed  func(*os.File) error
	ids     []string  // each worker's message, "" for none
	checked time.Time // when the file was last found at path
}

// recordCheckEvery is how often, at most, set looks whether the file is still
// at its path: found from outside, moved into Pickup with the rest of
// Queue ("stirring" the queue), it went on being written there, and a
// kill after that left no record.
const recordCheckEvery = 2 * time.Second

// slotSize is one worker's line: a Queue id (28 characters), padded.
const slotSize = 64

// openSendingRecord opens the record in the Queue folder dir for workers
// workers, and returns it with the ids the last run left in it. placed
// checks that a file made in dir is on dir's volume (mailroot's
// CheckPlaced). A record that cannot be made now is tried again as
// workers note their messages (set).
func openSendingRecord(dir string, workers int, placed func(*os.File) error) (*sendingRecord, []string, error) {
	path := filepath.Join(dir, mailroot.SendingName)
	var cut []string
	if old, err := os.ReadFile(path); err == nil {
		for _, line := range strings.Split(string(old), "\n") {
			if id := strings.TrimSpace(line); mailroot.IsName(id) {
				cut = append(cut, id)
			}
		}
	}
	r := &sendingRecord{path: path, ids: make([]string, workers), placed: placed}
	if err := r.create(); err != nil {
		return r, cut, err
	}
	return r, cut, nil
}

// create writes the record anew at its path, with the messages being
// sent now. It runs with r.mu held (or before r is shared).
func (r *sendingRecord) create() error {
	r.checked = time.Now()
	f, err := os.OpenFile(r.path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if r.placed != nil {
		if err := r.placed(f); err != nil {
			// Queue's volume is away, and this is the folder beneath
			// its mount point: found from outside, the record was made
			// there, where no file may be.
			f.Close()
			os.Remove(r.path)
			return err
		}
	}
	var b []byte
	for _, id := range r.ids {
		b = append(b, r.line(id)...)
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		f.Close()
		os.Remove(r.path)
		return err
	}
	if r.f != nil {
		r.f.Close()
	}
	r.f, r.checked = f, time.Now()
	return nil
}

// line is one slot's content: id, padded with spaces, then LF.
func (r *sendingRecord) line(id string) []byte {
	b := bytes.Repeat([]byte{' '}, slotSize)
	copy(b, id)
	b[slotSize-1] = '\n'
	return b
}

// set notes that worker slot sends message id ("" when it sends none).
// A failure is not worth more than the record: it is ignored.
func (r *sendingRecord) set(slot int, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ids == nil {
		return // not a record (a bridge made without one)
	}
	r.ids[slot] = id
	if time.Since(r.checked) >= recordCheckEvery {
		r.checked = time.Now()
		if r.f == nil {
			_ = r.create() // could not be made before: tried again
			return
		}
		fi, err := os.Stat(r.path)
		cur, cerr := r.f.Stat()
		if err != nil || cerr != nil || !os.SameFile(fi, cur) {
			// Moved or deleted: written anew where the next start
			// looks (the old one, moved into Pickup, is removed there).
			_ = r.create()
			return
		}
	}
	if r.f != nil {
		_, _ = r.f.WriteAt(r.line(id), int64(slot)*slotSize)
	}
}

// close ends the record: a stop that finishes removes it (what it cut
// short it has said itself), and leaves Queue with the messages alone.
func (r *sendingRecord) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f != nil {
		_ = r.f.Truncate(0) // where it cannot be removed
		r.f.Close()
		os.Remove(r.f.Name())
		r.f = nil
	}
}
