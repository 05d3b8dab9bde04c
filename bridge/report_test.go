package bridge

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/sender"
)

// A report for a smart host that never replied names no Remote-MTA (RFC
// 3464 section 2.3.5: the MTA that gave the diagnostic), and its
// Diagnostic-Code is not of type smtp. The report cannot go either, and
// stays in Badmail, where it is read.
func TestReportWithoutReplyHasNoRemoteMTA(t *testing.T) {
	l := testLayout(t)
	cfg := baseConfig(nil)
	cfg.Expiration = time.Second
	cfg.Sender = sender.Config{Host: "127.0.0.1", Port: closedPort(t).Port, Hostname: "bridge.test", ConnectTimeout: time.Second, CommandTimeout: 5 * time.Second, InsecureSkipVerify: true}
	start(t, l, cfg)
	drop(t, l, "down.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\nSubject: never\r\n\r\nbody\r\n"))
	deadline := time.Now().Add(wait)
	for {
		bads, _ := filepath.Glob(filepath.Join(l.Badmail, "*.BAD"))
		for _, f := range bads {
			b, _ := os.ReadFile(f)
			if !bytes.Contains(b, []byte("multipart/report")) {
				continue
			}
			if bytes.Contains(b, []byte("Remote-MTA")) || !bytes.Contains(b, []byte("Diagnostic-Code: X-mailbridge;")) {
				t.Fatalf("report:\n%s", b)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no report in Badmail: %v", bads)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
