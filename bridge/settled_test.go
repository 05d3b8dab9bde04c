package bridge

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailbridge/mailbridge/internal/smtpsink"
	"github.com/mailbridge/mailbridge/mailroot"
)

// refuseBad is a smart host that refuses bad@dest.test for good.
func refuseBad(t *testing.T) *smtpsink.Sink {
	return smtpsink.Start(t, smtpsink.Hooks{Rcpt: func(to string) error {
		if to == "bad@dest.test" {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	}})
}

// sentTo lists, for each message the sink received, its recipients.
func sentTo(msgs []smtpsink.Message) [][]string {
	var to [][]string
	for _, m := range msgs {
		to = append(to, m.To)
	}
	return to
}

// A message partly refused records, before its Badmail copy and report
// are written, that every recipient is done or refused: found from
// outside, killed while they were written (kill -9 right after the
// "partly refused" line), the next start sent it again to the recipient
// who had it. Here the Badmail folder cannot take the copy: the state
// then says so, and the retry writes the copy without sending again.
func TestSettledBeforeBadmail(t *testing.T) {
	sink := refuseBad(t)
	l := testLayout(t)
	cfg := baseConfig(sink)
	cfg.Retry = []time.Duration{time.Second}
	h := start(t, l, cfg)
	if err := os.Remove(l.Badmail); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.Badmail, nil, 0o644); err != nil { // a file, not a folder
		t.Fatal(err)
	}
	drop(t, l, "partly.eml", []byte("x-sender: app@corp.test\r\nx-receiver: good@dest.test\r\nx-receiver: bad@dest.test\r\nSubject: partly\r\n\r\nbody\r\n"))
	h.waitLog("cannot write Badmail; retrying later")
	st, raw := onlyState(t, l)
	if !st.Settled || !slices.Equal(st.Done, []string{"good@dest.test"}) || len(st.Failed) != 1 {
		t.Fatalf("state while Badmail cannot be written:\n%s", raw)
	}
	if err := os.Remove(l.Badmail); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(l.Badmail, 0o755); err != nil {
		t.Fatal(err)
	}
	msgs := sink.WaitFor(t, wait, "the message and the report", count(2))
	waitEmpty(t, l)
	time.Sleep(300 * time.Millisecond)
	if to := sentTo(sink.Messages()); len(to) != 2 || !slices.Equal(to[0], []string{"good@dest.test"}) || !slices.Equal(to[1], []string{"app@corp.test"}) {
		t.Fatalf("sent to %v; want good@dest.test once, then the report to app@corp.test", to)
	}
	_ = msgs
	if bad, _ := filepath.Glob(filepath.Join(l.Badmail, "*.BAD")); len(bad) != 1 {
		t.Fatalf("Badmail copies: %v", bad)
	}
}

// A start that finds a message settled (its state says so) while it was
// being sent (the sending record) sends nothing again: it finishes the
// Badmail copy and the report, each once, and says so.
func TestSettledAfterACrash(t *testing.T) {
	for _, tc := range []struct {
		name      string
		state     string
		wantBad   int
		wantSaid  string
		wantNoSay string
	}{
		{"before the Badmail copy", `"settled": true`, 1, "not delivered to some recipients (the others have it)", ""},
		// Its .BDR written, then the stop: the set is written again under
		// the same name, not beside it as ID-2 (found from outside).
		{"during the Badmail copy", `"settled": true`, 1, "badmail=0000018C2F4D5E6F0001A1B2C3D5.BAD", ""},
		{"after the Badmail copy", `"settled": true, "badmailed": true`, 0, "", "not delivered to some recipients"},
		// The report's id recorded, and the report in Queue: it is sent,
		// and no second one written (found from outside: two reports).
		{"after the report", `"settled": true, "badmailed": true, "report_id": "0000018C2F4D5E6F0001A1B2C3D6"`, 0, "non-delivery report written before the stop: not written again", "queued non-delivery report"},
		// Its id recorded, the stop came before it was written: written
		// now, under that id.
		{"before the report", `"settled": true, "badmailed": true, "report_id": "0000018C2F4D5E6F0001A1B2C3D7"`, 0, "queued non-delivery report\" id=0000018C2F4D5E6F0001A1B2C3D7", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := refuseBad(t)
			l := testLayout(t)
			makeFolders(t, l)
			const id = "0000018C2F4D5E6F0001A1B2C3D5"
			eml := "x-sender: app@corp.test\r\nx-receiver: good@dest.test\r\nx-receiver: bad@dest.test\r\nSubject: partly\r\n\r\nbody\r\n"
			st := `{"queued": "` + time.Now().Add(-time.Minute).UTC().Format(time.RFC3339) + `", "attempts": 1, "source": "partly.eml", "done": ["good@dest.test"], ` +
				`"failed": [{"rcpt": "bad@dest.test", "reply": "550 5.1.1 no such user"}], ` + tc.state + `}`
			record := strings.Repeat(" ", 63) + "\n" + id + strings.Repeat(" ", 63-len(id)) + "\n"
			for name, data := range map[string]string{id + ".eml": eml, id + ".state": st, mailroot.SendingName: record} {
				if err := os.WriteFile(filepath.Join(l.Queue, name), []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tc.name == "after the report" {
				report := "x-sender: \r\nx-receiver: app@corp.test\r\nSubject: Delivery Status Notification (Failure)\r\n\r\nbad@dest.test\r\n"
				if err := os.WriteFile(filepath.Join(l.Queue, "0000018C2F4D5E6F0001A1B2C3D6.eml"), []byte(report), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tc.name == "during the Badmail copy" {
				if err := os.WriteFile(filepath.Join(l.Badmail, id+".BDR"), []byte("cut short"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			h := start(t, l, baseConfig(sink))
			h.waitLog("the last run ended while this message's Badmail copy and non-delivery report were being written")
			sink.WaitFor(t, wait, "the report", count(1))
			waitEmpty(t, l)
			time.Sleep(300 * time.Millisecond)
			if to := sentTo(sink.Messages()); len(to) != 1 || !slices.Equal(to[0], []string{"app@corp.test"}) {
				t.Fatalf("sent to %v; want the report to app@corp.test alone", to)
			}
			logs := h.logs.String()
			if strings.Contains(logs, "sent again now") || !strings.Contains(logs, "file=partly.eml") {
				t.Fatalf("log:\n%s", logs)
			}
			if tc.wantSaid != "" && !strings.Contains(logs, tc.wantSaid) || tc.wantNoSay != "" && strings.Contains(logs, tc.wantNoSay) {
				t.Fatalf("log:\n%s", logs)
			}
			if bad, _ := filepath.Glob(filepath.Join(l.Badmail, "*.BAD")); len(bad) != tc.wantBad {
				t.Fatalf("Badmail copies: %v, want %d", bad, tc.wantBad)
			}
			if all, _ := filepath.Glob(filepath.Join(l.Badmail, "*")); tc.wantBad == 1 && len(all) != 3 {
				t.Fatalf("Badmail holds %v, want one set of three", all)
			}
		})
	}
}

// onlyState reads the one .state file in Queue, as decoded and as written.
func onlyState(t *testing.T, l mailroot.Layout) (state, []byte) {
	t.Helper()
	states, _ := filepath.Glob(filepath.Join(l.Queue, "*.state"))
	if len(states) != 1 {
		t.Fatalf("state files %v, want one", states)
	}
	raw, err := os.ReadFile(states[0])
	if err != nil {
		t.Fatal(err)
	}
	var st state
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	return st, raw
}
