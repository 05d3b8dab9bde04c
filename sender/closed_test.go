package sender

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// A connection closed by the smart host is said so, with the point of the
// conversation, instead of a bare "EOF".
func TestClosedBySmartHost(t *testing.T) {
	for _, tt := range []struct {
		closeAt, stage, want string
	}{
		{"MAIL", "MAIL FROM", "the smart host closed the connection after our MAIL FROM"},
		{"RCPT", "RCPT TO", "the smart host closed the connection after our RCPT TO"},
		{"DATA", "DATA", "the smart host closed the connection during DATA"},
		{".", "end of data", `the smart host closed the connection before its reply to the end of the message (the final "."): it may have taken the message`},
	} {
		t.Run(tt.closeAt, func(t *testing.T) {
			h := (&scriptHost{CloseAt: tt.closeAt}).start(t)
			s := NewSession(scriptCfg(h))
			defer s.Close()
			res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
			if e := res[0].Err; e == nil || e.Permanent || e.Stage != tt.stage || !strings.HasPrefix(e.ReplyLine(), tt.want) {
				t.Fatalf("%+v", e)
			}
		})
	}
	port := rawHost(t, func(c net.Conn) {}) // closes at once
	s := NewSession(Config{Host: "127.0.0.1", Port: port, TLS: TLSNone, CommandTimeout: 5 * time.Second})
	res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
	if e := res[0].Err; e == nil || e.Stage != "greeting" || !strings.Contains(e.ReplyLine(), "closed the connection without a greeting") {
		t.Fatalf("%+v", e)
	}
}

// A smart host that accepts the connection and says nothing (nor answers
// the TLS probe) is given up after the greeting timeout (RFC 5321 section
// 4.5.3.2.1: 5 minutes), not after the longer command timeout.
func TestSilentHostGreetingTimeout(t *testing.T) {
	port := rawHost(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	cfg := Config{Host: "127.0.0.1", Port: port, CommandTimeout: 20 * time.Second, probeAfter: 100 * time.Millisecond, greetingWait: 500 * time.Millisecond}
	s := NewSession(cfg)
	defer s.Close()
	start := time.Now()
	res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("gave up after %s", took)
	}
	if e := res[0].Err; e == nil || e.Permanent || e.Stage != "greeting" || !strings.Contains(e.Reply, "no greeting within 500ms") {
		t.Fatalf("%+v", e)
	}
}
