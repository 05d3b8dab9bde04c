package sender

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/mailbridge/mailbridge/internal/testlog"
)

const (
	refused454 = "454 4.7.0 TLS not available due to temporary reason"
	notTLS     = "this is not tls\r\nthis is not tls\r\nthis is not tls\r\n"
)

// Opportunistic TLS that fails goes on in plain text when nothing requires
// TLS (RFC 7435): a refused STARTTLS in the same session, a failed
// handshake on a second connection without STARTTLS. Where TLS is
// required (a password to send, a certificate to verify, or mode
// starttls) the message waits, with a reason that says what to do.
func TestOpportunisticTLSFailure(t *testing.T) {
	for _, tt := range []struct {
		name      string
		startTLS  string // the smart host's reply to STARTTLS
		after     string // what it sends after a 220 instead of TLS
		cfg       func(*Config)
		wantConns int
		wantLines string   // the commands received, over all connections
		wantErr   []string // "" means delivered; else in the reason
		wantStage string
	}{
		{"454, plain text in the same session", refused454, "", func(c *Config) {},
			1, "EHLO STARTTLS MAIL RCPT DATA QUIT", nil, ""},
		{"554, plain text in the same session", "554 5.7.3 no TLS today", "", func(c *Config) {},
			1, "EHLO STARTTLS MAIL RCPT DATA QUIT", nil, ""},
		{"handshake fails, plain text on a new connection", "220 2.0.0 go ahead", notTLS, func(c *Config) {},
			2, "EHLO STARTTLS EHLO MAIL RCPT DATA QUIT", nil, ""},
		{"454 with AUTH waits", refused454, "", func(c *Config) { c.Username, c.Password = "app", "secret" },
			1, "EHLO STARTTLS", []string{refused454, "username is set", `tls = "none"`}, "STARTTLS"},
		{"handshake fails with AUTH waits", "220 2.0.0 go ahead", notTLS, func(c *Config) { c.Username, c.Password = "app", "secret" },
			1, "EHLO STARTTLS", []string{"first record does not look like a TLS handshake", "username is set"}, "TLS handshake"},
		{"454 with verification waits", refused454, "", func(c *Config) { c.InsecureSkipVerify = false },
			1, "EHLO STARTTLS", []string{refused454, "verify_certificate = false"}, "STARTTLS"},
		{"handshake fails with verification waits", "220 2.0.0 go ahead", notTLS, func(c *Config) { c.InsecureSkipVerify = false },
			1, "EHLO STARTTLS", []string{"first record does not look like a TLS handshake", "verify_certificate"}, "TLS handshake"},
		{"454 in mode starttls waits", refused454, "", func(c *Config) { c.TLS = TLSStartTLS },
			1, "EHLO STARTTLS", []string{refused454, `tls = "starttls" requires TLS`, `tls = "none"`}, "STARTTLS"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := (&scriptHost{EHLO: []string{"AUTH PLAIN"}, StartTLS: tt.startTLS, AfterStartTLS: tt.after}).start(t)
			var logBuf testlog.Buffer
			cfg := scriptCfg(h)
			cfg.TLS, cfg.InsecureSkipVerify = TLSOpportunistic, true // as config has it without username, ca_file, server_name
			cfg.Log = slog.New(slog.NewTextHandler(&logBuf, nil))
			tt.cfg(&cfg)
			s := NewSession(cfg)
			res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
			s.Close()
			e := res[0].Err
			if tt.wantErr == nil {
				if e != nil || h.Messages() != 1 {
					t.Fatalf("got %v, %d messages", e, h.Messages())
				}
				if n := strings.Count(logBuf.String(), "level=WARN"); n != 1 || !strings.Contains(logBuf.String(), cfg.Addr()) {
					t.Errorf("want one warning naming %s, got:\n%s", cfg.Addr(), logBuf.String())
				}
			} else {
				if e == nil || e.Permanent || e.Stage != tt.wantStage || h.Messages() != 0 {
					t.Fatalf("got %+v, %d messages; want a transient %s failure", e, h.Messages(), tt.wantStage)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(e.ReplyLine(), w) {
						t.Errorf("reason lacks %q:\n%s", w, e.ReplyLine())
					}
				}
				if strings.Contains(logBuf.String(), "plain text") {
					t.Errorf("fell back to plain text:\n%s", logBuf.String())
				}
			}
			if got := h.Verbs(); got != tt.wantLines || h.Conns() != tt.wantConns {
				t.Errorf("commands %q on %d connections, want %q on %d", got, h.Conns(), tt.wantLines, tt.wantConns)
			}
		})
	}
}

// The W3C transcript of a refused STARTTLS followed by plain text: every
// command once, as on the wire (the EHLO reply is not asked for again).
func TestOutboundW3CSTARTTLSRefused(t *testing.T) {
	h := (&scriptHost{StartTLS: refused454}).start(t)
	cfg := scriptCfg(h)
	cfg.TLS, cfg.InsecureSkipVerify = TLSOpportunistic, true
	want := "220 EHLO 250 STARTTLS 454 MAIL 250 RCPT 250 DATA 354 250 QUIT 221"
	if got, all := sendLogged(t, cfg); got != want {
		t.Fatalf("transcript %s, want %s:\n%s", got, want, all)
	}
}

// A smart host that offers no STARTTLS (or knows no EHLO) gets plain text
// from opportunistic TLS only when nothing requires TLS. With a
// certificate to verify or a password to send, the message waits, as it
// does when STARTTLS is refused: otherwise an attacker on the path who
// strips "250-STARTTLS" from the EHLO reply gets the message in clear.
func TestNoSTARTTLSOffered(t *testing.T) {
	for _, tt := range []struct {
		name      string
		ehloReply string
		cfg       func(*Config)
		wantLines string
		wantErr   []string // nil: delivered
	}{
		{"plain text when nothing requires TLS", "", func(c *Config) {}, "EHLO MAIL RCPT DATA QUIT", nil},
		{"verification waits", "", func(c *Config) { c.InsecureSkipVerify = false },
			"EHLO", []string{"does not offer STARTTLS", "make the smart host offer STARTTLS", "verify_certificate = false"}},
		{"a password waits", "", func(c *Config) { c.Username, c.Password = "app", "secret" },
			"EHLO", []string{"does not offer STARTTLS", "username is set"}},
		{"EHLO unknown, plain text when nothing requires TLS", "500 5.5.1 command unrecognized", func(c *Config) {}, "EHLO HELO MAIL RCPT DATA QUIT", nil},
		{"EHLO unknown with verification waits", "500 5.5.1 command unrecognized", func(c *Config) { c.InsecureSkipVerify = false },
			"EHLO", []string{"does not offer STARTTLS", "verify_certificate"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := (&scriptHost{EHLOReply: tt.ehloReply}).start(t)
			cfg := scriptCfg(h)
			cfg.TLS, cfg.InsecureSkipVerify = TLSOpportunistic, true
			tt.cfg(&cfg)
			s := NewSession(cfg)
			res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
			s.Close()
			if got := h.Verbs(); got != tt.wantLines {
				t.Errorf("commands %q, want %q", got, tt.wantLines)
			}
			e := res[0].Err
			if tt.wantErr == nil {
				if e != nil || h.Messages() != 1 {
					t.Fatalf("got %v, %d messages; want delivered", e, h.Messages())
				}
				return
			}
			if e == nil || e.Permanent || e.Stage != "STARTTLS" || h.Messages() != 0 {
				t.Fatalf("got %+v, %d messages; want a transient STARTTLS failure", e, h.Messages())
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(e.ReplyLine(), w) {
					t.Errorf("reason lacks %q:\n%s", w, e.ReplyLine())
				}
			}
			if strings.Contains(e.ReplyLine(), "its certificate") {
				t.Errorf("no certificate was presented; the reason speaks of one:\n%s", e.ReplyLine())
			}
		})
	}
}
