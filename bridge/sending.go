package bridge

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"

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
	mu sync.Mutex
	f  *os.File // nil: not kept (the folder could not take it)
}

// slotSize is one worker's line: a Queue id (28 characters), padded.
const slotSize = 64

// openSendingRecord opens the record in the Queue folder dir for workers
// workers, and returns it with the ids the last run left in it.
func openSendingRecord(dir string, workers int) (*sendingRecord, []string, error) {
	path := filepath.Join(dir, mailroot.SendingName)
	var cut []string
	if old, err := os.ReadFile(path); err == nil {
		for _, line := range strings.Split(string(old), "\n") {
			if id := strings.TrimSpace(line); mailroot.IsName(id) {
				cut = append(cut, id)
			}
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o660)
	if err != nil {
		return &sendingRecord{}, cut, err
	}
	r := &sendingRecord{f: f}
	blank := bytes.Repeat(r.line(""), workers)
	if _, err := f.WriteAt(blank, 0); err != nil {
		f.Close()
		return &sendingRecord{}, cut, err
	}
	return r, cut, nil
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
