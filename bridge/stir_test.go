package bridge

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailbridge/mailbridge/internal/smtpsink"
)

// An administrator "stirs" the queue by moving its files back into Pickup
// (iis-reference.md section 4). A file moved while it is being sent is
// not claimed as a new message: the attempt takes it back into Queue, so
// that its outcome stands. Found from outside: such a file was sent
// twice. (On Windows the move fails while the file is sent, as with IIS.)
func TestStirDuringAttempt(t *testing.T) {
	// Where leases tell when a file's writer is done, the file held for
	// the attempt reads as busy; the quiet period alone would take it.
	quiet := func(b *Bridge) {
		b.openIfDone = func(path string) (*os.File, readiness, error) {
			if _, err := os.Lstat(path); os.IsNotExist(err) {
				return nil, gone, nil
			}
			return nil, unknown, nil
		}
	}
	for _, tt := range []struct {
		name    string
		as      string // its name in Pickup; "" keeps the Queue name
		refuse  bool   // the attempt is deferred (451)
		setup   func(*Bridge)
		wantMsg int
	}{
		{"sent, moved under its own name", "", false, nil, 1},
		{"sent, moved under another name", "stirred.eml", false, nil, 1},
		{"deferred, then tried again at once", "", true, nil, 1},
		{"sent, quiet period", "", false, quiet, 1},
		{"sent, moved under another name, quiet period", "stirred.eml", false, quiet, 1},
		{"deferred, quiet period", "", true, quiet, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inData := make(chan struct{}, 1)
			release := make(chan struct{})
			var calls atomic.Int32
			sink := smtpsink.Start(t, smtpsink.Hooks{Data: func(from string, to []string, data []byte) error {
				if calls.Add(1) == 1 {
					inData <- struct{}{}
					<-release
					if tt.refuse {
						return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
					}
				}
				return nil
			}})
			l := testLayout(t)
			cfg := baseConfig(sink)
			cfg.Retry = []time.Duration{time.Hour} // a retry must be the stir's, not the schedule's
			var setup []func(*Bridge)
			if tt.setup != nil {
				setup = append(setup, tt.setup)
			}
			h := start(t, l, cfg, setup...)
			drop(t, l, "app.eml", []byte("From: a@corp.test\r\nTo: b@dest.test\r\nSubject: stir\r\n\r\nbody\r\n"))
			select {
			case <-inData:
			case <-time.After(wait):
				t.Fatal("no attempt")
			}
			queued, _ := filepath.Glob(filepath.Join(l.Queue, "*.eml"))
			if len(queued) != 1 {
				t.Fatalf("Queue holds %v", queued)
			}
			as := tt.as
			if as == "" {
				as = filepath.Base(queued[0])
			}
			err := os.Rename(queued[0], filepath.Join(l.Pickup, as))
			moved := err == nil
			switch {
			case runtime.GOOS == "windows" && moved:
				t.Fatal("on Windows a Queue file being sent was moved: it must be held, as IIS held it")
			case runtime.GOOS != "windows" && !moved:
				t.Fatal(err)
			}
			time.Sleep(3 * cfg.QuietPeriod) // long enough to be claimed, were it not held
			close(release)
			if !moved && tt.refuse {
				// Windows: deferred, and left for its retry, an hour on.
				time.Sleep(300 * time.Millisecond)
				if got := len(sink.Messages()); got != 0 {
					t.Fatalf("the smart host has %d messages, want none", got)
				}
				return
			}
			sink.WaitFor(t, wait, "the message", func(m []smtpsink.Message) bool { return len(m) >= tt.wantMsg })
			waitEmpty(t, l)
			time.Sleep(300 * time.Millisecond)
			if got := len(sink.Messages()); got != tt.wantMsg {
				t.Fatalf("the smart host has %d messages, want %d", got, tt.wantMsg)
			}
			if moved && !strings.Contains(h.logs.String(), "taken back into Queue") {
				t.Errorf("no word of the file taken back:\n%s", h.logs.String())
			}
		})
	}
}

// "move Queue\* Pickup", the whole folder, brings mailbridge's own files
// along: the lock and each message's .state. They are removed, not sent
// to Badmail with a reason that says to resend them (found from outside);
// the message is sent once. A file only named .state is still a message.
func TestStirWholeQueueFolder(t *testing.T) {
	addr, l, cfg := smartHostDown(t)
	h := start(t, l, cfg)
	drop(t, l, "down.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nwhile down\r\n"))
	waitFile(t, l.Queue, "*.state")
	h.stop()
	es, err := os.ReadDir(l.Queue)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if err := os.Rename(filepath.Join(l.Queue, e.Name()), filepath.Join(l.Pickup, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(l.Pickup, "mailbridge.lock")); err != nil {
		t.Fatalf("the lock was not moved: %v", err)
	}
	drop(t, l, "notes.state", []byte("From: c@x.test\r\nTo: d@y.test\r\n\r\nnamed .state\r\n"))

	sink := smtpsink.StartAt(t, addr.String(), smtpsink.Hooks{})
	h = start(t, l, cfg)
	sink.WaitFor(t, soon, "the queued message and notes.state", count(2))
	waitEmpty(t, l)
	if _, err := os.Stat(filepath.Join(l.Pickup, "mailbridge.lock")); err == nil {
		t.Fatal("the lock moved into Pickup is still there")
	}
	if bad, _ := os.ReadDir(l.Badmail); len(bad) > 0 {
		t.Fatalf("Badmail holds %d files", len(bad))
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(sink.Messages()); n != 2 {
		t.Fatalf("%d messages sent, want 2", n)
	}
	if logs := h.logs.String(); strings.Count(logs, "Pickup file removed: it is") != 2 {
		t.Fatalf("log:\n%s", logs)
	}
}

// A message from the null sender that is no report (a Pickup file with an
// empty X-Sender) fails without a report, and its reason says why, not
// that it is a report itself (found from outside).
func TestNullSenderBadmailReason(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{Rcpt: func(to string) error {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}})
	l := testLayout(t)
	start(t, l, baseConfig(sink))
	drop(t, l, "n.eml", []byte("X-Sender: <>\r\nX-Receiver: bad@y.test\r\nSubject: auto\r\n\r\nbody\r\n"))
	bads := waitFile(t, l.Badmail, "*.BDR")
	waitEmpty(t, l)
	bdr, _ := os.ReadFile(bads[0])
	if !strings.Contains(string(bdr), "none: the sender is the null sender <>, to whom no report is sent") || strings.Contains(string(bdr), "itself a report") {
		t.Fatalf(".BDR:\n%s", bdr)
	}
	if n := len(sink.Messages()); n != 0 {
		t.Fatalf("%d messages sent, want none", n)
	}
}

// dataPin pins, when the first message's data reaches the sink, the file
// or folder its target names (pinFile), and releases it when the test
// ends if the test has not.
type dataPin struct {
	once  sync.Once
	unpin func()
	err   error
}

// hook is the sink's Data hook that pins.
func (p *dataPin) hook(t *testing.T, target func() (string, error)) func(string, []string, []byte) error {
	t.Cleanup(p.release)
	return func(string, []string, []byte) error {
		p.once.Do(func() {
			path, err := target()
			if err == nil {
				p.unpin, err = pinFile(t, path)
			}
			p.err = err
		})
		return nil
	}
}

func (p *dataPin) release() {
	if p.unpin != nil {
		p.unpin()
	}
}

// A message done with whose Queue file cannot be removed is recorded as
// finished in its .state file, and is not sent again, in this run or at
// the next start, where its file is removed. Found from outside: it was
// sent again at the next start.
func TestFinishedMessageNotSentAgain(t *testing.T) {
	l := testLayout(t)
	pin := &dataPin{}
	sink := smtpsink.Start(t, smtpsink.Hooks{Data: pin.hook(t, func() (string, error) {
		q, _ := filepath.Glob(filepath.Join(l.Queue, "*.eml"))
		if len(q) != 1 {
			return "", fmt.Errorf("Queue holds %v", q)
		}
		return q[0], nil
	})})
	cfg := baseConfig(sink)
	h := start(t, l, cfg)
	drop(t, l, "f.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nonce\r\n"))
	sink.WaitFor(t, wait, "the message", count(1))
	if pin.err != nil {
		t.Fatal(pin.err)
	}
	h.waitLog("cannot remove a message done with from Queue")
	if !strings.Contains(h.logs.String(), "it is recorded as done") {
		t.Fatalf("log:\n%s", h.logs.String())
	}
	h.stop()
	h = start(t, l, cfg) // the file is still there, and still pinned
	time.Sleep(500 * time.Millisecond)
	h.stop()
	pin.release()
	h = start(t, l, cfg)
	waitEmpty(t, l)
	if n := len(sink.Messages()); n != 1 {
		t.Fatalf("%d messages sent, want 1:\n%s", n, h.logs.String())
	}
}

// A Queue file rewritten to record that its message is finished, moved
// into Pickup with the rest of the Queue, is removed: not sent, and not
// put into Badmail.
func TestStirFinishedRecord(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	l := testLayout(t)
	h := start(t, l, baseConfig(sink))
	drop(t, l, "18ECF0000000000000000000000.eml", []byte(finishedMark+"18ECF0000000000000000000000\r\n"))
	h.waitLog("the record of a message already done with")
	waitEmpty(t, l)
	if bad, _ := os.ReadDir(l.Badmail); len(bad) != 0 || len(sink.Messages()) != 0 {
		t.Fatalf("Badmail holds %d files, the sink %d messages", len(bad), len(sink.Messages()))
	}
}

// A sender refused at MAIL FROM refuses every recipient, and the Badmail
// reason says it was the sender (found from outside: it blamed the
// recipient).
func TestSenderRefusedReason(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{Mail: func(string) error {
		return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 7}, Message: "malformed address"}
	}})
	l := testLayout(t)
	start(t, l, baseConfig(sink))
	drop(t, l, "s.eml", []byte("X-Sender: bad@x.test\r\nX-Receiver: b@y.test\r\nSubject: s\r\n\r\nbody\r\n"))
	bdr := waitFile(t, l.Badmail, "*.BDR")
	waitEmpty(t, l)
	raw, _ := os.ReadFile(bdr[0])
	if !strings.Contains(string(raw), "(the reply to MAIL FROM: the sender <bad@x.test> was refused, not the recipient)") {
		t.Fatalf(".BDR:\n%s", raw)
	}
}
