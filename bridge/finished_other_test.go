//go:build !windows

package bridge

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailbridge/mailbridge/internal/smtpsink"
)

// A finished message in a Queue folder where no file can be created or
// renamed (chattr +i on the folder) has its .state rewritten in place, so
// that the next start does not send it again (found from outside: it did).
func TestFinishedInReadOnlyQueueFolder(t *testing.T) {
	// Then restarted, or the Queue moved into Pickup as administrators
	// stir it (found from outside: sent again).
	for _, stir := range []bool{false, true} {
		t.Run(map[bool]string{false: "restart", true: "stirred"}[stir], func(t *testing.T) {
			finishedInReadOnlyQueueFolder(t, stir)
		})
	}
}

func finishedInReadOnlyQueueFolder(t *testing.T, stir bool) {
	l := testLayout(t)
	var ready atomic.Bool
	sink := smtpsink.Start(t, smtpsink.Hooks{Rcpt: func(string) error {
		if !ready.Load() {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "later"}
		}
		return nil
	}})
	cfg := baseConfig(sink)
	cfg.Retry = []time.Duration{time.Second}
	h := start(t, l, cfg)
	drop(t, l, "f.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nonce\r\n"))
	waitFile(t, l.Queue, "*.state")
	unpin, err := pinFile(t, l.Queue)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unpin)
	ready.Store(true)
	sink.WaitFor(t, wait, "the message", count(1))
	h.waitLog("rewritten in place")
	h.stop()
	unpin()
	if stir {
		es, _ := os.ReadDir(l.Queue)
		for _, e := range es {
			if err := os.Rename(filepath.Join(l.Queue, e.Name()), filepath.Join(l.Pickup, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	h = start(t, l, cfg)
	waitEmpty(t, l)
	time.Sleep(300 * time.Millisecond)
	if n := len(sink.Messages()); n != 1 {
		t.Fatalf("%d messages sent, want 1:\n%s", n, h.logs.String())
	}
	if left, _ := filepath.Glob(filepath.Join(l.Queue, "*.state")); len(left) != 0 {
		t.Fatalf("Queue holds %v", left)
	}
	if bad, _ := os.ReadDir(l.Badmail); len(bad) != 0 {
		t.Fatalf("Badmail holds %d files", len(bad))
	}
}

// The same on a first attempt, which has no .state file to rewrite: the
// Queue file itself, done with, is rewritten to say that its message is
// finished, and is removed at the next start, not sent (found from
// outside: it was sent again).
func TestFinishedFirstAttemptInReadOnlyQueueFolder(t *testing.T) {
	l := testLayout(t)
	pin := &dataPin{}
	sink := smtpsink.Start(t, smtpsink.Hooks{Data: pin.hook(t, func() (string, error) { return l.Queue, nil })})
	cfg := baseConfig(sink)
	h := start(t, l, cfg)
	drop(t, l, "f.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nonce\r\n"))
	sink.WaitFor(t, wait, "the message", count(1))
	if pin.err != nil {
		t.Fatal(pin.err)
	}
	h.waitLog("in its Queue file, rewritten in place to say so alone")
	h.stop()
	pin.release()
	h = start(t, l, cfg)
	waitEmpty(t, l)
	time.Sleep(300 * time.Millisecond)
	if n := len(sink.Messages()); n != 1 {
		t.Fatalf("%d messages sent, want 1:\n%s", n, h.logs.String())
	}
	if bad, _ := os.ReadDir(l.Badmail); len(bad) != 0 {
		t.Fatalf("Badmail holds %d files", len(bad))
	}
}
