package bridge

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/smtpsink"
)

// A smart host that takes one connection from us at a time (postfix's
// smtpd_client_connection_count_limit = 1) while we open 4: the refused
// connections cost no message a retry interval, every message goes over
// the connection that works, and the log says once what to set. Found
// from outside: 12 messages sent 1 at once, 3 at the first retry.
func TestConnectionLimitLearnt(t *testing.T) {
	for _, limit := range []int{1, 2} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) { testConnectionLimit(t, limit) })
	}
}

func testConnectionLimit(t *testing.T, limit int) {
	sink := smtpsink.StartLimited(t, smtpsink.Hooks{}, limit)
	l := testLayout(t)
	cfg := baseConfig(sink)
	cfg.Connections = 4
	cfg.Retry = []time.Duration{time.Hour} // a deferred message would not come in time
	h := start(t, l, cfg)
	const n = 12
	for i := 0; i < n; i++ {
		drop(t, l, fmt.Sprintf("lim%02d.eml", i), []byte(fmt.Sprintf("From: a@x.test\r\nTo: b@y.test\r\nSubject: %d\r\n\r\nbody %d\r\n", i, i)))
	}
	sink.WaitFor(t, wait, fmt.Sprint(n, " messages"), count(n))
	waitEmpty(t, l)
	seen := map[string]bool{}
	for _, m := range sink.Messages() {
		seen[string(m.Data)] = true
	}
	if len(sink.Messages()) != n || len(seen) != n {
		t.Fatalf("%d messages, %d distinct, want %d", len(sink.Messages()), len(seen), n)
	}
	logs := h.logs.String()
	if strings.Contains(logs, "result=deferred") || strings.Contains(logs, "attempt=2") {
		t.Errorf("a message was deferred:\n%s", logs)
	}
	if sink.Refused() > 0 {
		// Said once, with the smart host's limit: the connections still
		// opening when the first refusal came are not counted.
		advice := fmt.Sprintf("set [outbound] connections = %d to stop", limit)
		if strings.Count(logs, "set [outbound] connections = ") != 1 || !strings.Contains(logs, advice) {
			t.Errorf("advice not said once as %q:\n%s", advice, logs)
		}
	}
	t.Logf("%d connections refused", sink.Refused())
}

// When the smart host's connections are taken by other clients, none of
// ours open, a refusal is not a limit on ours: the messages are deferred,
// said once as a warning, and all retried as soon as a delivery gets in,
// not each after its retry interval. Found from outside: a warning per
// message, and each message waited 15 minutes.
func TestConnectionLimitOfOthers(t *testing.T) {
	sink := smtpsink.StartLimited(t, smtpsink.Hooks{}, 1)
	other, err := net.Dial("tcp", sink.Addr) // another client holds the slot
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	l := testLayout(t)
	cfg := baseConfig(sink)
	cfg.Retry = []time.Duration{time.Hour} // a retry would not come in time
	h := start(t, l, cfg)
	const n = 5
	for i := 0; i < n; i++ {
		drop(t, l, fmt.Sprintf("busy%d.eml", i), []byte(fmt.Sprintf("From: a@x.test\r\nTo: b@y.test\r\n\r\nwhile busy %d\r\n", i)))
	}
	h.waitLogCount("result=deferred", n)
	logs := h.logs.String()
	if c := strings.Count(logs, "none of mailbridge's is open"); c != 1 || strings.Contains(logs, "handed over") {
		t.Fatalf("want one warning that other clients hold the connections (%d), and nothing handed over:\n%s", c, logs)
	}
	if c := strings.Count(logs, "level=WARN msg=delivery"); c != 1 {
		t.Errorf("%d deliveries logged at WARN, want the first only:\n%s", c, logs)
	}
	other.Close()
	// A new message gets in, and brings the deferred ones with it.
	drop(t, l, "after.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nafter\r\n"))
	sink.WaitFor(t, wait, fmt.Sprint(n+1, " messages"), count(n+1))
	waitEmpty(t, l)
}

// A 421 at the greeting in words not known as a connection limit, while
// other connections of ours to the smart host are open, refuses that
// connection, not the host: no "not available", and no retry of every
// refused message at each delivery. Found from outside: such a limit
// started a storm of connections, with attempts counted up to 66.
func TestGreeting421WhileOthersOpen(t *testing.T) {
	sink := smtpsink.StartLimitedReply(t, smtpsink.Hooks{}, 2, "421 4.3.2 Service not available, closing transmission channel")
	l := testLayout(t)
	cfg := baseConfig(sink)
	cfg.Connections = 4
	h := start(t, l, cfg)
	const n = 40
	for i := 0; i < n; i++ {
		drop(t, l, fmt.Sprintf("m%02d.eml", i), []byte(fmt.Sprintf("From: a@x.test\r\nTo: b@y.test\r\nSubject: %d\r\n\r\nbody %d\r\n", i, i)))
	}
	sink.WaitFor(t, wait, fmt.Sprint(n, " messages"), count(n))
	waitEmpty(t, l)
	logs := h.logs.String()
	// The first refusals may come before the other connections are open:
	// one catch-up at most.
	if c := strings.Count(logs, "accepts mail again"); c > 1 {
		t.Errorf("%d catch-ups, want at most one:\n%s", c, logs)
	}
	if r := sink.Refused(); r > 2*n {
		t.Errorf("%d connections refused for %d messages", r, n)
	}
	t.Logf("%d connections refused", sink.Refused())
}
