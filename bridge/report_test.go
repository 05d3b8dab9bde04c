package bridge

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/mailbridge/mailbridge/internal/smtpsink"
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

// A report gives the sender the smart host's reply as it was: our advice
// on mailbridge's settings, which the log and the .BDR carry, is for the
// administrator (RFC 3464 section 2.3.6).
func TestReportWithoutOurAdvice(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{
		Auth: func(string, string) error { return nil }, // offers AUTH
		Rcpt: func(to string) error {
			if to == "b@y.test" {
				return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "<b@y.test>: Relay access denied"}
			}
			return nil
		},
	})
	l := testLayout(t)
	start(t, l, baseConfig(sink))
	drop(t, l, "relay.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\nSubject: relayed\r\n\r\nbody\r\n"))
	ndr := sink.WaitFor(t, wait, "the report", count(1))[0]
	if !bytes.Contains(ndr.Data, []byte("Diagnostic-Code: smtp;554 5.7.1 <b@y.test>: Relay access denied\r\n")) || bytes.Contains(ndr.Data, []byte("[outbound]")) {
		t.Fatalf("report:\n%s", ndr.Data)
	}
	bdr := waitFile(t, l.Badmail, "*.BDR")
	if b, _ := os.ReadFile(bdr[0]); !bytes.Contains(b, []byte("set [outbound] username and password")) {
		t.Fatalf(".BDR without the advice:\n%s", b)
	}
}
