package sender

import (
	"context"
	"strings"
	"testing"
)

// count is the number of lines that start with prefix.
func count(lines []string, prefix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(strings.ToUpper(l), prefix) {
			n++
		}
	}
	return n
}

// "452 4.5.3 Too many recipients" after some RCPTs: the message goes to
// those accepted, and the rest get it at once in the next transactions
// (RFC 5321 section 4.5.3.1.10), not at the next retry.
func TestTooManyRecipientsSendsTheRestAtOnce(t *testing.T) {
	for _, refusal := range []string{"452 4.5.3 Too many recipients", "552 5.5.3 Too many recipients", "452 too many recipients"} {
		t.Run(refusal, func(t *testing.T) {
			h := (&scriptHost{Rcpt: func(n int, _ string) string {
				if n > 2 {
					return refusal
				}
				return ""
			}}).start(t)
			lines := sendToFive(t, h)
			// 1, 2, 3 (refused); then 3 and 4 (the limit learnt); then 5.
			if h.Messages() != 3 || count(lines, "EHLO") != 1 || count(lines, "RCPT") != 6 {
				t.Fatalf("%d messages; commands %q", h.Messages(), lines)
			}
		})
	}
}

// LIMITS RCPTMAX (RFC 9422) sets the size of each transaction, below
// MaxRecipients; MAILMAX the transactions on one connection.
func TestLimitsRcptMaxMailMax(t *testing.T) {
	h := (&scriptHost{EHLO: []string{"LIMITS RCPTMAX=2 MAILMAX=2"}, Rcpt: func(n int, _ string) string {
		if n > 2 {
			return "550 5.5.3 over RCPTMAX"
		}
		return ""
	}}).start(t)
	lines := sendToFive(t, h)
	if h.Messages() != 3 || count(lines, "RCPT") != 5 || count(lines, "EHLO") != 2 {
		t.Fatalf("%d messages; commands %q", h.Messages(), lines)
	}
}

// A message larger than the smart host's SIZE is a permanent failure,
// with the sizes in the reason, and is not sent (RFC 1870 section 6).
func TestLargerThanSize(t *testing.T) {
	h := (&scriptHost{EHLO: []string{"SIZE 30"}}).start(t)
	s := NewSession(scriptCfg(h))
	defer s.Close()
	res := s.Send(context.Background(), "a@x.test", []string{"1@y.test", "2@y.test"}, []byte(msg))
	for _, r := range res {
		e := r.Err
		if e == nil || !e.Permanent || e.Enhanced != "5.3.4" || !strings.Contains(e.ReplyLine(), "the message is 34 bytes, larger than the 30 bytes the smart host accepts") {
			t.Fatalf("%s: %+v", r.Rcpt, e)
		}
	}
	if n := count(h.Lines(), "MAIL"); n != 0 {
		t.Fatalf("MAIL sent: %q", h.Lines())
	}
	// A message within the limit goes.
	res = s.Send(context.Background(), "a@x.test", []string{"1@y.test"}, []byte("Subject: t\r\n\r\nok\r\n"))
	if res[0].Err != nil || h.Messages() != 1 {
		t.Fatalf("%+v", res[0].Err)
	}
}

// sendToFive sends msg to five recipients through h, each of whom must be
// accepted, and returns the commands h received.
func sendToFive(t *testing.T, h *scriptHost) []string {
	t.Helper()
	s := NewSession(scriptCfg(h))
	defer s.Close()
	to := []string{"1@y.test", "2@y.test", "3@y.test", "4@y.test", "5@y.test"}
	for _, r := range s.Send(context.Background(), "a@x.test", to, []byte(msg)) {
		if r.Err != nil {
			t.Fatalf("%s: %v", r.Rcpt, r.Err)
		}
	}
	return h.Lines()
}
