package bridge

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/smtpsink"
	"github.com/mailbridge/mailbridge/internal/testdir"
	"github.com/mailbridge/mailbridge/mailroot"
)

// A Pickup file that mailbridge's account may not read (an application
// that writes its files with permissions of its own) is not claimed: in
// Queue it could not be read either, and it would vanish from its writer's
// sight under a Queue name. It stays in Pickup, a warning says why and
// what to change, the files beside it go out, and once it can be read it
// is sent. Where the test runs as root (who reads any file), or on
// Windows, the refusal comes from the readiness check's seam; elsewhere
// from the file's own mode.
func TestUnreadablePickupFileStays(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	l := testLayout(t)
	cfg := baseConfig(sink)
	cfg.QuietPeriod = 50 * time.Millisecond
	real := runtime.GOOS != "windows" && os.Geteuid() != 0
	var deny atomic.Bool
	deny.Store(true)
	locked := filepath.Join(l.Pickup, "locked.eml")
	h := start(t, l, cfg, func(b *Bridge) {
		b.warnAfter = 200 * time.Millisecond
		if real {
			return
		}
		b.openIfDone = func(path string) (*os.File, readiness, error) {
			if path == locked && deny.Load() {
				return nil, denied, &fs.PathError{Op: "open", Path: path, Err: syscall.EACCES}
			}
			return openIfDone(path)
		}
	})
	if err := os.MkdirAll(l.Pickup, 0o755); err != nil {
		t.Fatal(err)
	}
	mode := os.FileMode(0o644)
	if real {
		mode = 0
	}
	if err := os.WriteFile(locked, []byte("From: app@x.test\r\nTo: locked@y.test\r\nSubject: locked\r\n\r\nbody\r\n"), mode); err != nil {
		t.Fatal(err)
	}
	drop(t, l, "ok.eml", []byte("From: app@x.test\r\nTo: ok@y.test\r\nSubject: ok\r\n\r\nbody\r\n"))
	sink.WaitFor(t, wait, "the readable file", count(1))
	const warning = "Pickup file cannot be read by mailbridge (access denied)"
	h.waitLog(warning)
	time.Sleep(300 * time.Millisecond) // more tries: still said once
	logs := h.logs.String()
	if n := strings.Count(logs, warning); n != 1 {
		t.Errorf("warned %d times, want once", n)
	}
	if !strings.Contains(logs, "file=locked.eml") || !strings.Contains(logs, "permission denied") {
		t.Errorf("the warning names neither the file nor the cause:\n%s", logs)
	}
	if _, err := os.Stat(locked); err != nil {
		t.Fatalf("the unreadable file left Pickup: %v", err)
	}
	if q, _ := filepath.Glob(filepath.Join(l.Queue, "*.in")); len(q) != 0 {
		t.Fatalf("Queue holds %q: the unreadable file was claimed", q)
	}
	if n := len(sink.Messages()); n != 1 {
		t.Fatalf("%d messages sent, want 1", n)
	}

	// Readable now: sent, at the latest after intakeRetry's longest wait.
	deny.Store(false)
	if real {
		if err := os.Chmod(locked, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	msgs := sink.WaitFor(t, 2*time.Minute, "the file once readable", count(2))
	if msgs[1].To[0] != "locked@y.test" {
		t.Fatalf("second message to %v", msgs[1].To)
	}
	waitEmpty(t, l)
}

// A Queue file that mailbridge may not read (restored there by another
// account) is said with what to do, tried at its retries, and moved to
// Badmail when it expires, rather than tried for ever. Found from
// outside: an ERROR every 15 minutes, never ending, without advice.
func TestUnreadableQueueFileExpires(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	l := testLayout(t)
	if err := os.MkdirAll(l.Queue, 0o755); err != nil {
		t.Fatal(err)
	}
	const id = "0000018C2F4D5E6F0001A1B2C3D5"
	path := filepath.Join(l.Queue, id+".eml")
	real := runtime.GOOS != "windows" && os.Geteuid() != 0
	mode := os.FileMode(0o644)
	if real {
		mode = 0
	}
	if err := os.WriteFile(path, []byte("x-sender: a@x.test\r\nx-receiver: b@y.test\r\n\r\nbody\r\n"), mode); err != nil {
		t.Fatal(err)
	}
	// A Badmail file of that name kept already (an IIS one): the log
	// names the file it is kept as (found from outside: it named none).
	if err := os.MkdirAll(l.Badmail, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(l.Badmail, id+".BDR"), []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := baseConfig(sink)
	cfg.Retry = []time.Duration{200 * time.Millisecond}
	cfg.Expiration = 2 * time.Second
	h := start(t, l, cfg, func(b *Bridge) {
		if real {
			return
		}
		b.openQueue = func(p string) (*os.File, error) {
			if p == path {
				return nil, &fs.PathError{Op: "open", Path: p, Err: syscall.EACCES}
			}
			return os.Open(p)
		}
	})
	h.waitLog("Queue file moved to Badmail: it could not be read until the message expired")
	logs := h.logs.String()
	if !strings.Contains(logs, "mailbridge may not read it") || !strings.Contains(logs, "permission denied") {
		t.Fatalf("no advice:\n%s", logs)
	}
	if _, err := os.Stat(filepath.Join(l.Badmail, id+"-2.BAD")); err != nil || !strings.Contains(logs, "badmail="+id+"-2.BAD") {
		t.Fatalf("not in Badmail as %s-2.BAD, or not said: %v\n%s", id, err, logs)
	}
	if b, err := os.ReadFile(filepath.Join(l.Badmail, id+"-2.BDR")); err != nil || !strings.Contains(string(b), "could not be read until the message expired (2s)") {
		t.Fatalf(".BDR: %q %v", b, err)
	}
	if n := len(sink.Messages()); n != 0 {
		t.Fatalf("%d messages sent", n)
	}
}

// A Queue folder full of files not of mailbridge's (an IIS queue left
// behind) is said file by file up to maxForeignSaid at start, then in one
// line: found from outside, 3001 lines at each start.
func TestManyForeignQueueFiles(t *testing.T) {
	l := testLayout(t)
	if err := os.MkdirAll(l.Queue, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < maxForeignSaid+5; i++ {
		if err := os.WriteFile(filepath.Join(l.Queue, fmt.Sprintf("NTFS_%04d.EML", i)), []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nx\r\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h := start(t, l, baseConfig(nil))
	h.waitLog("and 5 more files in Queue that mailbridge did not queue")
	if n := strings.Count(h.logs.String(), "a file in Queue that mailbridge did not queue"); n != maxForeignSaid {
		t.Fatalf("%d said one by one, want %d", n, maxForeignSaid)
	}
}

// The message being sent is noted in Queue/mailbridge.sending while its
// attempt lasts; a start that finds one noted (the last run killed during
// its attempt) says that its recipients may get it twice. Found from
// outside: after kill -9 the resend was logged as an ordinary delivery.
func TestSendingRecord(t *testing.T) {
	release := make(chan struct{})
	sink := smtpsink.Start(t, smtpsink.Hooks{Data: func(string, []string, []byte) error {
		<-release
		return nil
	}})
	l := testLayout(t)
	h := start(t, l, baseConfig(sink))
	drop(t, l, "slow.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nslow\r\n"))
	record := filepath.Join(l.Queue, mailroot.SendingName)
	deadline := time.Now().Add(wait)
	var id string
	for id == "" {
		b, _ := os.ReadFile(record)
		if f := strings.Fields(string(b)); len(f) == 1 && mailroot.IsName(f[0]) {
			id = f[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message noted while it is sent: %q", b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	sink.WaitFor(t, wait, "the message", count(1))
	waitEmpty(t, l)
	// Cleared once the attempt has returned, just after the Queue file
	// is removed.
	for deadline := time.Now().Add(wait); ; time.Sleep(10 * time.Millisecond) {
		b, _ := os.ReadFile(record)
		if len(strings.TrimSpace(string(b))) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still noted after its attempt: %q", b)
		}
	}
	h.stop()

	// As a kill during the attempt leaves it: the Queue file, and the note.
	if err := os.WriteFile(filepath.Join(l.Queue, id+".eml"), []byte("x-sender: a@x.test\r\nx-receiver: b@y.test\r\n\r\nagain\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(record, []byte(strings.Repeat(" ", 63)+"\n"+id+strings.Repeat(" ", 63-len(id))+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Its Pickup file's name, as a state saved before names it, is said
	// (found from outside: the id alone).
	if err := os.WriteFile(filepath.Join(l.Queue, id+".state"), []byte(`{"source": "slow.eml"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	h = start(t, l, baseConfig(sink))
	sink.WaitFor(t, wait, "the message again", count(2))
	h.waitLog("the last run ended while this message was being sent")
	h.waitLog("file=slow.eml attempts=1")
	h.waitLog("result=sent attempt=2") // the attempt cut short counts
	if !strings.Contains(h.logs.String(), "id="+id) {
		t.Fatalf("log:\n%s", h.logs.String())
	}
	h.stop()
	if runtime.GOOS == "windows" {
		return // a file held open cannot be moved there (as with IIS)
	}

	// Moved into Pickup with the rest of Queue while mailbridge runs,
	// the record is removed there, and written anew in Queue.
	release = make(chan struct{})
	sink.SetHooks(smtpsink.Hooks{Data: func(string, []string, []byte) error {
		<-release
		return nil
	}})
	h = start(t, l, baseConfig(sink))
	drop(t, l, "one.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\none\r\n"))
	for deadline := time.Now().Add(wait); ; time.Sleep(10 * time.Millisecond) {
		if b, _ := os.ReadFile(record); len(strings.TrimSpace(string(b))) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing noted")
		}
	}
	if err := os.Rename(record, filepath.Join(l.Pickup, mailroot.SendingName)); err != nil {
		t.Fatal(err)
	}
	h.waitLog("Pickup file removed: it is mailbridge's lock, sending record or temporary file")
	close(release)
	sink.WaitFor(t, wait, "the third message", count(3))
	time.Sleep(2100 * time.Millisecond) // past the record's look at its path
	drop(t, l, "two.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\ntwo\r\n"))
	sink.WaitFor(t, wait, "the fourth message", count(4))
	if _, err := os.Stat(record); err != nil {
		t.Fatalf("the record is not in Queue again: %v", err)
	}
}

// The record is not made in a Queue folder beneath an unmounted volume's
// mount point (placed fails): found from outside, it was, where no file
// may be. It is made once the folder can take it again.
func TestSendingRecordPlaced(t *testing.T) {
	dir := testdir.New(t)
	away := errors.New("on another volume than at start")
	var gone atomic.Bool
	gone.Store(true)
	placed := func(*os.File) error {
		if gone.Load() {
			return away
		}
		return nil
	}
	r, _, err := openSendingRecord(dir, 2, placed)
	if !errors.Is(err, away) {
		t.Fatalf("open: %v", err)
	}
	path := filepath.Join(dir, mailroot.SendingName)
	if _, err := os.Stat(path); err == nil {
		t.Fatal("the record was left in the folder")
	}
	r.set(0, "0000018C2F4D5E6F0001A1B2C3D5") // no file: nothing written, no panic
	gone.Store(false)
	r.mu.Lock()
	r.checked = time.Time{} // its next look is due
	r.mu.Unlock()
	r.set(1, "0000018C2F4D5E6F0001A1B2C3D6")
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), "0000018C2F4D5E6F0001A1B2C3D5") || !strings.Contains(string(b), "0000018C2F4D5E6F0001A1B2C3D6") {
		t.Fatalf("once the folder takes it: %q %v", b, err)
	}
	r.close()
}
