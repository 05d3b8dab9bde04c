//go:build !windows

package bridge

import (
	"path/filepath"
	"strings"
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
	for deadline := time.Now().Add(wait); !strings.Contains(h.logs.String(), "rewritten in place"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("log:\n%s", h.logs.String())
		}
	}
	h.stop()
	unpin()
	h = start(t, l, cfg)
	waitEmpty(t, l)
	time.Sleep(300 * time.Millisecond)
	if n := len(sink.Messages()); n != 1 {
		t.Fatalf("%d messages sent, want 1:\n%s", n, h.logs.String())
	}
	if left, _ := filepath.Glob(filepath.Join(l.Queue, "*.state")); len(left) != 0 {
		t.Fatalf("Queue holds %v", left)
	}
}
