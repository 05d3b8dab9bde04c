package sender

import (
	"context"
	"strconv"
	"strings"
	"sync"
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
// with the sizes in the reason, and is not sent (RFC 1870 section 6). The
// keyword counts in any case (RFC 5321 section 2.4; found from outside: a
// host saying "size 300" got the whole message, then refused it).
func TestLargerThanSize(t *testing.T) {
	for _, kw := range []string{"SIZE 30", "size 30"} {
		t.Run(kw, func(t *testing.T) { testLargerThanSize(t, kw) })
	}
}

func testLargerThanSize(t *testing.T, kw string) {
	h := (&scriptHost{EHLO: []string{kw}}).start(t)
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

// The limit learnt from a 452 outlives the connection: a smart host that
// limits recipients without LIMITS RCPTMAX is not asked for one too many
// on every new connection.
func TestTooManyRecipientsRemembered(t *testing.T) {
	h := (&scriptHost{Rcpt: func(n int, _ string) string {
		if n > 2 {
			return "452 4.5.3 Too many recipients"
		}
		return ""
	}}).start(t)
	s := NewSession(scriptCfg(h))
	defer s.Close()
	to := []string{"1@y.test", "2@y.test", "3@y.test", "4@y.test", "5@y.test"}
	for round := 1; round <= 2; round++ {
		for _, r := range s.Send(context.Background(), "a@x.test", to, []byte(msg)) {
			if r.Err != nil {
				t.Fatalf("round %d: %s: %v", round, r.Rcpt, r.Err)
			}
		}
		s.Close() // the next message on a new connection
	}
	// Round 1: 1, 2, 3 (refused); 3, 4; 5. Round 2: 1, 2; 3, 4; 5.
	if lines := h.Lines(); h.Messages() != 6 || count(lines, "EHLO") != 2 || count(lines, "RCPT") != 11 {
		t.Fatalf("%d messages; commands %q", h.Messages(), lines)
	}
}

// LIMITS RCPTDOMAINMAX (RFC 9422): no transaction has recipients in more
// domains than that; domains compare without regard to case.
func TestLimitsRcptDomainMax(t *testing.T) {
	for _, tc := range []struct {
		max  string
		to   []string
		msgs int
	}{
		{"1", []string{"a@x.test", "b@X.TEST", "c@y.test", "d@y.test", "e@z.test"}, 3},
		{"2", []string{"a@x.test", "b@y.test", "c@y.test", "d@z.test"}, 2},
		{"5", []string{"a@x.test", "b@y.test", "c@z.test"}, 1},
	} {
		t.Run(tc.max, func(t *testing.T) {
			var mu sync.Mutex
			var domains map[string]bool
			bad := ""
			h := (&scriptHost{EHLO: []string{"LIMITS RCPTDOMAINMAX=" + tc.max}, Rcpt: func(n int, line string) string {
				mu.Lock()
				defer mu.Unlock()
				if n == 1 {
					domains = map[string]bool{}
				}
				domains[strings.ToLower(line[strings.LastIndexByte(line, '@'):])] = true
				if max, _ := strconv.Atoi(tc.max); len(domains) > max {
					bad = line
					return "452 4.5.3 Too many domains"
				}
				return ""
			}}).start(t)
			s := NewSession(scriptCfg(h))
			defer s.Close()
			for _, r := range s.Send(context.Background(), "a@x.test", tc.to, []byte(msg)) {
				if r.Err != nil {
					t.Fatalf("%s: %v", r.Rcpt, r.Err)
				}
			}
			if h.Messages() != tc.msgs || count(h.Lines(), "RCPT") != len(tc.to) || bad != "" {
				t.Fatalf("%d messages (want %d), over the limit at %q; commands %q", h.Messages(), tc.msgs, bad, h.Lines())
			}
		})
	}
}

// A reused connection lost or closed with 421 before anything of the next
// message was accepted is not a reason to defer it: it goes at once on a
// new connection (found from outside: hosts that take one message per
// connection deferred every second message by a retry interval). Once
// only: a new connection refused the same way defers it.
func TestReusedConnectionRefusedAtMail(t *testing.T) {
	for _, tt := range []struct {
		name      string
		host      *scriptHost
		wantSent  int
		wantConns int
		wantErr   bool // the third message's result
	}{
		{"421 to the second MAIL of a connection", &scriptHost{Mail: func(n int) string {
			if n == 2 || n == 4 {
				return "421 4.7.0 too many messages in this session"
			}
			return ""
		}}, 3, 3, false},
		{"closed after each message", &scriptHost{CloseAfterMessage: true}, 3, 3, false},
		{"421 to every MAIL but the first", &scriptHost{Mail: func(n int) string {
			if n > 1 {
				return "421 4.3.2 closing"
			}
			return ""
		}}, 1, 3, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.host.start(t)
			s := NewSession(scriptCfg(h))
			defer s.Close()
			var last []Result
			for i := range 3 {
				last = s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
				if i < 2 && tt.wantErr {
					continue
				}
				if !tt.wantErr && last[0].Err != nil {
					t.Fatalf("message %d: %+v", i+1, last[0].Err)
				}
			}
			if tt.wantErr && (last[0].Err == nil || last[0].Err.Permanent) {
				t.Fatalf("third message: %+v, want a deferral", last[0].Err)
			}
			if h.Messages() != tt.wantSent || h.Conns() != tt.wantConns {
				t.Fatalf("%d messages on %d connections, want %d on %d; commands %q", h.Messages(), h.Conns(), tt.wantSent, tt.wantConns, h.Verbs())
			}
		})
	}
}

// The same for each transaction of a message split over several (more
// recipients than one transaction takes): found from outside, the third
// recipient waited a retry interval.
func TestSplitMessageOnePerConnection(t *testing.T) {
	h := (&scriptHost{Mail: func(n int) string {
		if n%2 == 0 {
			return "421 4.7.0 too many messages in this session"
		}
		return ""
	}}).start(t)
	cfg := scriptCfg(h)
	cfg.MaxRecipients = 1
	s := NewSession(cfg)
	defer s.Close()
	for _, r := range s.Send(context.Background(), "a@x.test", []string{"1@y.test", "2@y.test", "3@y.test"}, []byte(msg)) {
		if r.Err != nil {
			t.Fatalf("%s: %+v", r.Rcpt, r.Err)
		}
	}
	if h.Messages() != 3 || h.Conns() != 3 {
		t.Fatalf("%d messages on %d connections; commands %q", h.Messages(), h.Conns(), h.Verbs())
	}
}
