package bridge

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailbridge/mailbridge/internal/smtpsink"
)

// A message split over several transactions records each transaction's
// recipients on disk before the next begins: a crash in a later
// transaction (here: the Queue as it is on disk at that moment, given to
// a new bridge) sends to the others only. Found from outside: a SIGKILL
// in the second transaction of 250 recipients sent to 200 of them twice.
func TestSplitMessageRecordsEachTransaction(t *testing.T) {
	second := make(chan struct{})
	release := make(chan struct{})
	calls := 0
	sink := smtpsink.Start(t, smtpsink.Hooks{Rcpt: func(to string) error {
		if to == "r@dest.test" {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	}, Data: func(from string, to []string, data []byte) error {
		calls++
		if calls == 2 {
			close(second)
			<-release
		}
		return nil
	}})
	defer close(release)
	l := testLayout(t)
	cfg := baseConfig(sink)
	cfg.Sender.MaxRecipients = 3
	start(t, l, cfg)
	drop(t, l, "split.eml", []byte("X-Sender: app@corp.test\r\nX-Receiver: a@dest.test\r\nX-Receiver: r@dest.test\r\nX-Receiver: b@dest.test\r\n"+
		"X-Receiver: c@dest.test\r\nX-Receiver: d@dest.test\r\nSubject: split\r\n\r\nbody\r\n"))
	select {
	case <-second:
	case <-time.After(wait):
		t.Fatal("no second transaction")
	}

	// The Queue now, as a crash would leave it.
	st, _ := onlyState(t, l)
	if !slices.Equal(st.Done, []string{"a@dest.test", "b@dest.test"}) || len(st.Failed) != 1 || st.Failed[0].Rcpt != "r@dest.test" {
		t.Fatalf("done %v, failed %+v during the second transaction, want the first's recipients, and the one it refused", st.Done, st.Failed)
	}
	// And the Queue file lists only those left, and the refused one not
	// yet reported: moved into Pickup after a crash (an administrator
	// stirring the queue), it is sent to them alone, and the refusal is
	// still reported (found from outside).
	emls, _ := filepath.Glob(filepath.Join(l.Queue, "*.eml"))
	if len(emls) != 1 {
		t.Fatalf("Queue files %v, want one", emls)
	}
	eml, err := os.ReadFile(emls[0])
	if err != nil {
		t.Fatal(err)
	}
	if got := string(eml); !strings.HasPrefix(got, "x-sender: app@corp.test\r\nx-receiver: r@dest.test\r\nx-receiver: c@dest.test\r\nx-receiver: d@dest.test\r\n") {
		t.Fatalf("Queue file during the second transaction:\n%.200s", got)
	}
	after := testLayout(t)
	for _, dir := range []string{after.Pickup, after.Queue} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	id := strings.TrimSuffix(filepath.Base(emls[0]), ".eml")
	for _, ext := range []string{".eml", ".state"} {
		data, err := os.ReadFile(filepath.Join(l.Queue, id+ext))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(after.Queue, id+ext), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sink2 := smtpsink.Start(t, smtpsink.Hooks{})
	start(t, after, baseConfig(sink2))
	// The message to those left, and the report of the refused one.
	sink2.WaitFor(t, wait, "the message and the report", func(m []smtpsink.Message) bool { return len(m) >= 2 })
	waitEmpty(t, after)
	time.Sleep(200 * time.Millisecond)
	msgs := sink2.Messages()
	var to [][]string
	for _, m := range msgs {
		to = append(to, m.To)
	}
	if len(msgs) != 2 || !slices.Equal(msgs[0].To, []string{"c@dest.test", "d@dest.test"}) || !slices.Equal(msgs[1].To, []string{"app@corp.test"}) ||
		!strings.Contains(string(msgs[1].Data), "r@dest.test") {
		t.Fatalf("after the crash, messages to %v; want one to c and d, then the report to app@corp.test naming r", to)
	}
}

// A refusal recorded between transactions, before a crash, is reported
// with the next attempt's refusals, not marked reported unsaid (found
// from outside: a restart whose attempt refused another recipient and
// deferred a third reported only the new refusal).
func TestRefusalRecordedBeforeACrashIsReported(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{Rcpt: func(to string) error {
		switch to {
		case "r5@dest.test":
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user r5"}
		case "r8@dest.test":
			return &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "try later"}
		}
		return nil
	}})
	l := testLayout(t)
	if err := os.MkdirAll(l.Queue, 0o755); err != nil {
		t.Fatal(err)
	}
	const id = "0000018C2F4D5E6F0001A1B2C3D4"
	eml := "x-sender: app@corp.test\r\nx-receiver: r2@dest.test\r\nx-receiver: r4@dest.test\r\nx-receiver: r5@dest.test\r\nx-receiver: r8@dest.test\r\n" +
		"From: app@corp.test\r\nSubject: split\r\n\r\nbody\r\n"
	st := `{"queued": "` + time.Now().Add(-time.Minute).UTC().Format(time.RFC3339) + `", "attempts": 1, "failed": [{"rcpt": "r2@dest.test", "reply": "550 5.1.1 no such user r2"}]}`
	for name, data := range map[string]string{id + ".eml": eml, id + ".state": st} {
		if err := os.WriteFile(filepath.Join(l.Queue, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := baseConfig(sink)
	cfg.Retry = []time.Duration{time.Hour}
	start(t, l, cfg)
	msgs := sink.WaitFor(t, wait, "the message to r4 and the report", func(m []smtpsink.Message) bool { return len(m) >= 2 })
	var report string
	for _, m := range msgs {
		if slices.Equal(m.To, []string{"app@corp.test"}) {
			report = string(m.Data)
		}
	}
	if !strings.Contains(report, "r2@dest.test") || !strings.Contains(report, "r5@dest.test") || strings.Contains(report, "Final-Recipient: rfc822; r8@dest.test") {
		t.Fatalf("report:\n%s\nwant r2 and r5 in it, not r8", report)
	}
}
