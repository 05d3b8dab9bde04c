package bridge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/mailbridge/mailbridge/internal/smtpsink"
	"github.com/mailbridge/mailbridge/internal/testtool"
	"github.com/mailbridge/mailbridge/mailroot"
)

// TestPickupDropImmutableHint: a Pickup message's copy for Drop that waits
// because Drop is immutable says what that likely is, as the listener's
// 451 does (found from outside: "operation not permitted" alone, which
// puzzles root), and goes in once Drop takes files again.
func TestPickupDropImmutableHint(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	l := testLayout(t)
	h := start(t, l, localConfig(sink))
	unpin := pinDrop(t, l)
	drop(t, l, "local.eml", []byte("From: app@corp.test\r\nTo: scan@fax.corp.test\r\nSubject: s\r\n\r\nbody\r\n"))
	const want = "the folder is immutable or append-only, which lsattr shows and chattr -i clears"
	h.waitLog(want)
	if logs := h.logs.String(); !strings.Contains(logs, "cannot move a message into Drop for its local recipients") || !strings.Contains(logs, want) {
		t.Fatalf("log:\n%s", logs)
	}
	unpin()
	files := waitFile(t, l.Drop, "*.eml")
	waitEmpty(t, l)
	if data, _ := os.ReadFile(files[0]); len(files) != 1 || !strings.HasPrefix(string(data), "x-sender: app@corp.test\r\nx-receiver: scan@fax.corp.test\r\n") {
		t.Fatalf("Drop holds %v:\n%s", files, data)
	}
	if left, _ := filepath.Glob(filepath.Join(l.Queue, "*.todrop")); len(left) != 0 {
		t.Fatalf("Queue holds %v", left)
	}
}

// TestReportToDropAfterRestart: a report for a local sender that waits for
// Drop is logged as a report when it goes in, whether by the run that wrote
// it or, found at start, by the next (found from outside: logged as a
// Pickup message's "delivered to Drop (local domain)").
func TestReportToDropAfterRestart(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(map[bool]string{false: "same run", true: "after a restart"}[restart], func(t *testing.T) {
			sink := smtpsink.Start(t, smtpsink.Hooks{Rcpt: func(to string) error {
				return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
			}})
			l := testLayout(t)
			h := start(t, l, localConfig(sink))
			unpin := pinDrop(t, l)
			drop(t, l, "ndr.eml", []byte("From: scan@fax.corp.test\r\nTo: bad@elsewhere.test\r\nSubject: refused\r\n\r\nbody\r\n"))
			h.waitLog("cannot move a message into Drop for its local recipients")
			want := "non-delivery report delivered to Drop (local sender)"
			if restart {
				h.stop()
				h = start(t, l, localConfig(sink))
				want = "msg=\"report delivered to Drop (local sender)\""
			}
			unpin()
			files := waitFile(t, l.Drop, "*.eml")
			if data, _ := os.ReadFile(files[0]); len(files) != 1 || !strings.HasPrefix(string(data), "x-sender: \r\nx-receiver: scan@fax.corp.test\r\n") {
				t.Fatalf("Drop holds %v:\n%s", files, data)
			}
			h.waitLog(want)
			if strings.Contains(h.logs.String(), "delivered to Drop (local domain)") {
				t.Fatalf("log:\n%s", h.logs.String())
			}
		})
	}
}

// pinDrop makes l's Drop immutable (pinFile) until the returned unpin, or
// the test's end; the test skips where that is not possible (fails in CI).
func pinDrop(t *testing.T, l mailroot.Layout) (unpin func()) {
	t.Helper()
	unpin, err := pinFile(t, l.Drop)
	if err != nil {
		testtool.Missing(t, "chattr +i not possible here: "+err.Error())
	}
	t.Cleanup(unpin)
	return unpin
}
