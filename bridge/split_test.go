package bridge

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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
	sink := smtpsink.Start(t, smtpsink.Hooks{Data: func(from string, to []string, data []byte) error {
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
	cfg.Sender.MaxRecipients = 2
	start(t, l, cfg)
	drop(t, l, "split.eml", []byte("X-Sender: app@corp.test\r\nX-Receiver: a@dest.test\r\nX-Receiver: b@dest.test\r\n"+
		"X-Receiver: c@dest.test\r\nX-Receiver: d@dest.test\r\nSubject: split\r\n\r\nbody\r\n"))
	select {
	case <-second:
	case <-time.After(wait):
		t.Fatal("no second transaction")
	}

	// The Queue now, as a crash would leave it.
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
	if !slices.Equal(st.Done, []string{"a@dest.test", "b@dest.test"}) {
		t.Fatalf("done %v during the second transaction, want the first's recipients", st.Done)
	}
	after := testLayout(t)
	for _, dir := range []string{after.Pickup, after.Queue} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	id := strings.TrimSuffix(filepath.Base(states[0]), ".state")
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
	msgs := sink2.WaitFor(t, wait, "the message to the recipients left", func(m []smtpsink.Message) bool { return len(m) > 0 })
	waitEmpty(t, after)
	if got := msgs[0].To; len(msgs) != 1 || !slices.Equal(got, []string{"c@dest.test", "d@dest.test"}) {
		t.Fatalf("after the crash: %d messages, first to %v; want one, to c and d", len(msgs), got)
	}
}
