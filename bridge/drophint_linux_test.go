package bridge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/smtpsink"
	"github.com/mailbridge/mailbridge/internal/testtool"
)

// TestPickupDropImmutableHint: a Pickup message's copy for Drop that waits
// because Drop is immutable says what that likely is, as the listener's
// 451 does (found from outside: "operation not permitted" alone, which
// puzzles root), and goes in once Drop takes files again.
func TestPickupDropImmutableHint(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	l := testLayout(t)
	h := start(t, l, localConfig(sink))
	unpin, err := pinFile(t, l.Drop)
	if err != nil {
		testtool.Missing(t, "chattr +i not possible here: "+err.Error())
	}
	t.Cleanup(unpin)
	drop(t, l, "local.eml", []byte("From: app@corp.test\r\nTo: scan@fax.corp.test\r\nSubject: s\r\n\r\nbody\r\n"))
	const want = "the folder is immutable or append-only, which lsattr shows and chattr -i clears"
	deadline := time.Now().Add(wait)
	for !strings.Contains(h.logs.String(), want) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
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
