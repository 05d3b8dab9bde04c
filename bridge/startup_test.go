package bridge

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/smtpsink"
)

// TestQueueMissingAtStart: a Queue folder deleted between the mail root's
// opening and the bridge's reading it (a clean-up running at boot, say)
// stopped the start ("reading the Queue folder"), and with it inbound
// mail. Now the bridge runs: Pickup files wait until the folder is back
// (mailbridge run makes it again within seconds), then go out.
func TestQueueMissingAtStart(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("on Windows the folder cannot be deleted while mailbridge holds its lock file open")
	}
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	l := testLayout(t)
	h := start(t, l, baseConfig(sink), func(*Bridge) {
		// After mailroot.Open, before Run: the folder and its lock file.
		if err := os.RemoveAll(l.Queue); err != nil {
			t.Fatal(err)
		}
	})
	deadline := time.Now().Add(wait)
	for !strings.Contains(h.logs.String(), "the Queue folder is missing") {
		if time.Now().After(deadline) {
			t.Fatalf("log:\n%s", h.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	drop(t, l, "waits.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\nSubject: waits\r\n\r\nbody\r\n"))
	time.Sleep(100 * time.Millisecond) // a claim fails meanwhile: the file waits
	if err := os.Mkdir(l.Queue, 0o755); err != nil {
		t.Fatal(err)
	}
	sink.WaitFor(t, wait, "the message", count(1))
	waitEmpty(t, l)
}
