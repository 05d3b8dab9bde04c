package sender

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/testpki"
)

// A 5xx greeting or a 5xx reply to EHLO (the smart host does not accept
// our address) is transient, in every TLS mode, with a reason that says
// what to check: every message would otherwise bounce at once.
func TestRefusedConnectionIsTransient(t *testing.T) {
	pki := testpki.New(t, "mailbridge test CA")
	cert := pki.Server(t, "127.0.0.1")
	for _, tt := range []struct {
		name, mode string
		host       *scriptHost
		implicit   bool
		stage      string
		want       string
	}{
		{"greeting, none", TLSNone, &scriptHost{Greeting: "554 5.7.1 go away"}, false, "greeting", "554 5.7.1 go away (the smart host refused the connection in its greeting: check that its relay or connector settings accept mail from this machine's address (we connect from 127.0.0.1"},
		{"greeting, opportunistic", TLSOpportunistic, &scriptHost{Greeting: "554 5.7.1 go away"}, false, "greeting", "refused the connection in its greeting"},
		{"greeting, starttls", TLSStartTLS, &scriptHost{Greeting: "554 go away"}, false, "greeting", "554 go away (the smart host refused the connection"},
		{"greeting, implicit", TLSImplicit, &scriptHost{Greeting: "554 5.7.1 go away"}, true, "greeting", "refused the connection in its greeting"},
		{"EHLO, none", TLSNone, &scriptHost{EHLOReply: "550 5.7.1 not you"}, false, "EHLO", `550 5.7.1 not you (the smart host refused our EHLO bridge.test: check that its relay or connector settings accept mail from this machine's address`},
		{"EHLO, opportunistic", TLSOpportunistic, &scriptHost{EHLOReply: "550 5.7.1 not you"}, false, "EHLO", "refused our EHLO bridge.test"},
		// Found from outside with postfix's smtpd_client_connection_count_limit.
		{"too many connections", TLSNone, &scriptHost{Greeting: "421 4.7.0 mx.test Error: too many connections from 127.0.0.1"}, false, "greeting", "lower [outbound] connections"},
		{"Exchange's connection limit", TLSNone, &scriptHost{Greeting: "421 4.3.2 The maximum number of concurrent connections has exceeded a limit, closing transmission channel"}, false, "greeting", "lower [outbound] connections"},
		// Found from outside: Exchange's other wording was taken for the
		// host not being available.
		{"Exchange's server connection limit", TLSNone, &scriptHost{Greeting: "421 4.3.2 The maximum number of concurrent server connections has exceeded a limit, closing transmission channel"}, false, "greeting", "lower [outbound] connections"},
		{"a connection limit in other words", TLSNone, &scriptHost{Greeting: "421 4.7.0 Connection limit reached for your IP"}, false, "greeting", "lower [outbound] connections"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.host
			var port int
			if tt.implicit {
				port = rawHost(t, func(c net.Conn) {
					tc := tls.Server(c, serverTLS(cert))
					if tc.Handshake() == nil {
						h.serve(tc)
					}
				})
			} else {
				port = h.start(t).Port
			}
			cfg := Config{Host: "127.0.0.1", Port: port, Hostname: "bridge.test", TLS: tt.mode, RootCAs: pki.Pool, CommandTimeout: 5 * time.Second}
			s := NewSession(cfg)
			defer s.Close()
			res := s.Send(context.Background(), "a@x.test", []string{"b@y.test", "c@y.test"}, []byte(msg))
			for _, r := range res {
				e := r.Err
				if e == nil || e.Permanent || e.Stage != tt.stage || !strings.Contains(e.ReplyLine(), tt.want) {
					t.Fatalf("%s: %+v\n%v", r.Rcpt, e, e)
				}
			}
		})
	}
}

// A 530 (TLS or authentication required) refuses mailbridge as it is
// configured, not the message: transient, with the setting to change, at
// whatever stage it comes. Found from outside: every message bounced, with
// a report to its sender.
func TestRequiredTLSOrAuthIsTransient(t *testing.T) {
	for _, tt := range []struct {
		name string
		host *scriptHost
		want string
	}{
		{"STARTTLS required at MAIL", &scriptHost{StartTLS: "220 2.0.0 go ahead", Mail: func(int) string { return "530 5.7.0 Must issue a STARTTLS command first" }}, `set [outbound] tls = "starttls"`},
		{"authentication required at MAIL (Microsoft 365)", &scriptHost{Mail: func(int) string { return "530 5.7.57 Client not authenticated to send mail" }}, "set [outbound] username and password"},
		{"authentication required at RCPT", &scriptHost{Rcpt: func(int, string) string { return "530 5.7.0 Authentication required" }}, "set [outbound] username and password"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.host.start(t)
			s := NewSession(Config{Host: "127.0.0.1", Port: h.Port, Hostname: "bridge.test", TLS: TLSNone, CommandTimeout: 5 * time.Second})
			defer s.Close()
			for _, r := range s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg)) {
				if e := r.Err; e == nil || e.Permanent || !strings.Contains(e.ReplyLine(), tt.want) {
					t.Fatalf("%s: %+v", r.Rcpt, e)
				}
			}
		})
	}
}

// A smart host that refuses the connection (nothing listens on its port)
// is said in words an administrator acts on, the system's text after
// them. Found from outside: ".BDR" files and reports carried "dial tcp
// 127.0.0.1:25: connect: connection refused" alone.
func TestConnectionRefusedWording(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := NewSession(Config{Host: "127.0.0.1", Port: port, Hostname: "bridge.test", TLS: TLSNone, ConnectTimeout: 5 * time.Second})
	defer s.Close()
	e := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))[0].Err
	if e == nil || e.Permanent || e.Stage != "connect" || !strings.Contains(e.Reply, "connection refused by 127.0.0.1:") ||
		!strings.Contains(e.ReplyLine(), "check that the smart host's SMTP service runs and that [outbound] server and port name it") {
		t.Fatalf("%+v", e)
	}
	// The advice is for the administrator (log, .BDR), not for the
	// sender's report (Line).
	if strings.Contains(e.Line(), "[outbound]") {
		t.Fatalf("report text %q", e.Line())
	}
}

// A smart host that refuses the connection in its greeting (554) gets a
// QUIT, as RFC 5321 section 3.1 has the client send; one that closes it
// (421) gets nothing more.
func TestQuitAfterRefusedGreeting(t *testing.T) {
	for _, tt := range []struct {
		greeting string
		quit     bool
	}{
		{"554 5.7.1 go away", true},
		{"421 4.7.0 too many connections", false},
	} {
		h := (&scriptHost{Greeting: tt.greeting}).start(t)
		s := NewSession(Config{Host: "127.0.0.1", Port: h.Port, Hostname: "bridge.test", TLS: TLSNone, CommandTimeout: 5 * time.Second})
		res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
		s.Close()
		if res[0].Err == nil || res[0].Err.Stage != "greeting" {
			t.Fatalf("%s: %+v", tt.greeting, res[0].Err)
		}
		deadline := time.Now().Add(5 * time.Second) // the host reads on its own goroutine
		for tt.quit && !strings.HasSuffix(h.Verbs(), "QUIT") && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if got := strings.HasSuffix(h.Verbs(), "QUIT"); got != tt.quit {
			t.Errorf("%s: commands %q, QUIT %v, want %v", tt.greeting, h.Verbs(), got, tt.quit)
		}
	}
}
