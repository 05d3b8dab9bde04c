package sender

import (
	"context"
	"strings"
	"testing"
)

// With tls = "none" and a user name, a smart host that offers no AUTH gets
// advice that fits it: the mode when it offers STARTTLS (AUTH usually
// comes only after it), the user name or the port otherwise.
func TestNoAUTHOfferedAdvice(t *testing.T) {
	for _, tt := range []struct {
		name     string
		startTLS string // "" offers no STARTTLS
		want     string
		mustNot  string
	}{
		{"STARTTLS offered", "220 2.0.0 go ahead", `set tls = "starttls" (or "opportunistic")`, "remove username"},
		{"nothing offered", "", "remove username and password, or check the smart host's port", "starttls"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := (&scriptHost{StartTLS: tt.startTLS}).start(t)
			cfg := scriptCfg(h) // tls = "none"
			cfg.Username, cfg.Password = "app", "secret"
			s := NewSession(cfg)
			res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
			s.Close()
			e := res[0].Err
			if e == nil || e.Permanent || e.Stage != "AUTH" || h.Messages() != 0 {
				t.Fatalf("got %+v, %d messages", e, h.Messages())
			}
			if r := e.ReplyLine(); !strings.Contains(r, tt.want) || strings.Contains(r, tt.mustNot) {
				t.Fatalf("reason %q, want %q and not %q", r, tt.want, tt.mustNot)
			}
		})
	}
}

// The commands sent in odd turns of a conversation are those of a
// well-behaved client: QUIT after a refused AUTH (never "*" after a final
// reply, RFC 4954 section 4); "*" only to give up on a challenge; RSET
// after a refused MAIL and no second EHLO (RFC 5321 section 4.1.1.5); one
// EHLO, then HELO, when EHLO is not known (section 4.1.1.1).
func TestClientSequences(t *testing.T) {
	for _, tt := range []struct {
		name     string
		host     *scriptHost
		cfg      func(*Config)
		messages int // sent one after the other on one session
		want     string
		wantSent int
	}{
		{"535 to AUTH PLAIN", &scriptHost{EHLO: []string{"AUTH PLAIN"}, Auth: []string{"535 5.7.8 Authentication credentials invalid"}},
			func(c *Config) { c.Username, c.Password = "app", "secret" }, 1,
			"EHLO AUTH QUIT", 0},
		{"535 to AUTH LOGIN", &scriptHost{EHLO: []string{"AUTH LOGIN PLAIN"}, Auth: []string{"334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6", "535 5.7.8 Authentication credentials invalid"}},
			func(c *Config) { c.Username, c.Password = "app", "secret" }, 1,
			"EHLO AUTH <sasl> <sasl> QUIT", 0},
		{"AUTH LOGIN accepted", &scriptHost{EHLO: []string{"AUTH LOGIN"}, Auth: []string{"334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6", "235 2.7.0 ok"}},
			func(c *Config) { c.Username, c.Password = "app", "secret" }, 1,
			"EHLO AUTH <sasl> <sasl> MAIL RCPT DATA QUIT", 1},
		// EHLO keywords in any case (RFC 5321 section 2.4), and the old
		// "AUTH=" form (found from outside: taken for no AUTH offered).
		{"auth login, lower case", &scriptHost{EHLO: []string{"auth login"}, Auth: []string{"334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6", "235 2.7.0 ok"}},
			func(c *Config) { c.Username, c.Password = "app", "secret" }, 1,
			"EHLO AUTH <sasl> <sasl> MAIL RCPT DATA QUIT", 1},
		// Found from outside: challenges in plain text, not base64.
		{"LOGIN challenges in plain text", &scriptHost{EHLO: []string{"AUTH LOGIN"}, Auth: []string{"334 Username:", "334 Password:", "235 2.7.0 ok"}},
			func(c *Config) { c.Username, c.Password = "app", "secret" }, 1,
			"EHLO AUTH <sasl> <sasl> MAIL RCPT DATA QUIT", 1},
		{"AUTH=LOGIN alone", &scriptHost{EHLO: []string{"AUTH=LOGIN"}, Auth: []string{"334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6", "235 2.7.0 ok"}},
			func(c *Config) { c.Username, c.Password = "app", "secret" }, 1,
			"EHLO AUTH <sasl> <sasl> MAIL RCPT DATA QUIT", 1},
		{"a third LOGIN challenge is cancelled", &scriptHost{EHLO: []string{"AUTH LOGIN"}, Auth: []string{"334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6", "334 TW9yZTo="}},
			func(c *Config) { c.Username, c.Password = "app", "secret" }, 1,
			"EHLO AUTH <sasl> <sasl> * QUIT", 0},
		{"451 to MAIL", &scriptHost{Mail: func(int) string { return "451 4.3.0 try later" }}, func(*Config) {}, 1,
			"EHLO MAIL RSET QUIT", 0},
		{"550 to MAIL, then the next message", &scriptHost{Mail: func(n int) string {
			if n == 1 {
				return "550 5.7.1 sender rejected"
			}
			return ""
		}}, func(*Config) {}, 2,
			"EHLO MAIL RSET MAIL RCPT DATA QUIT", 1},
		{"502 to EHLO, opportunistic", &scriptHost{EHLOReply: "502 5.5.1 command not recognized"}, func(c *Config) { c.TLS, c.InsecureSkipVerify = TLSOpportunistic, true }, 1,
			"EHLO HELO MAIL RCPT DATA QUIT", 1},
		{"502 to EHLO, none", &scriptHost{EHLOReply: "502 5.5.1 command not recognized"}, func(*Config) {}, 1,
			"EHLO HELO MAIL RCPT DATA QUIT", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.host
			h.start(t)
			cfg := scriptCfg(h)
			tt.cfg(&cfg)
			s := NewSession(cfg)
			for range tt.messages {
				s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
			}
			s.Close()
			if got := h.Verbs(); got != tt.want || h.Messages() != tt.wantSent {
				t.Fatalf("commands %q, %d sent; want %q, %d sent", got, h.Messages(), tt.want, tt.wantSent)
			}
		})
	}
}

// A recipient refused as relaying by a smart host that offers AUTH, with
// no username set, gets the advice to set one: the reply names neither.
// Found from outside with postfix's permit_sasl_authenticated. Without
// AUTH offered, or with a username, or for another refusal, no advice.
func TestRelayDeniedAUTHAdvice(t *testing.T) {
	const (
		login   = "the smart host offers AUTH and may relay only for clients that log in: set [outbound] username and password"
		relayIP = "the smart host does not relay for this server: add this server's IP address to the clients it relays for"
		account = "the smart host refused to relay although mailbridge logged in as app: check that this account may relay"
	)
	for _, tt := range []struct {
		name  string
		ehlo  []string
		user  string
		mail  bool // the reply is MAIL FROM's, not RCPT TO's
		reply string
		want  string // "": no advice
	}{
		{"relay denied, AUTH offered", []string{"AUTH PLAIN LOGIN"}, "", false, "554 5.7.1 <b@y.test>: Relay access denied", login},
		{"5.7.1 unauthenticated, AUTH offered", []string{"AUTH LOGIN"}, "", false, "550 5.7.1 Client does not have permissions to send as this sender", login},
		{"relay denied, no AUTH offered", nil, "", false, "554 5.7.1 <b@y.test>: Relay access denied", relayIP},
		// postfix's own wording when no restriction refuses for good.
		{"454 relay denied, AUTH offered", []string{"AUTH PLAIN LOGIN"}, "", false, "454 4.7.1 <b@y.test>: Relay access denied", login},
		{"454 relay denied, no AUTH offered", nil, "", false, "454 4.7.1 <b@y.test>: Relay access denied", relayIP},
		{"unknown user, AUTH offered", []string{"AUTH PLAIN"}, "", false, "550 5.1.1 <b@y.test>: Recipient address rejected: User unknown", ""},
		// Found from outside: greylisting got the AUTH advice.
		{"greylisted, AUTH offered", []string{"AUTH PLAIN"}, "", false, "451 4.7.1 <b@y.test>: Recipient address rejected: Greylisted", ""},
		{"greylisted, in relay's words", nil, "", false, "450 4.7.1 Greylisted: relay attempt delayed", ""},
		{"relay denied after a login", []string{"AUTH PLAIN"}, "app", false, "454 4.7.1 <b@y.test>: Relay access denied", account},
		{"relay denied at MAIL FROM", nil, "", true, "554 5.7.1 <a@x.test>: Relay access denied", relayIP},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := &scriptHost{EHLO: tt.ehlo, Auth: []string{"235 2.7.0 ok"}}
			if tt.mail {
				h.Mail = func(int) string { return tt.reply }
			} else {
				h.Rcpt = func(int, string) string { return tt.reply }
			}
			h.start(t)
			cfg := scriptCfg(h)
			if tt.user != "" {
				cfg.Username, cfg.Password = tt.user, "secret"
			}
			s := NewSession(cfg)
			res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
			s.Close()
			e := res[0].Err
			if e == nil || e.Permanent != (tt.reply[0] == '5') {
				t.Fatalf("got %+v", e)
			}
			if tt.want == "" && e.ReplyLine() != tt.reply || tt.want != "" && !strings.Contains(e.ReplyLine(), tt.want) {
				t.Fatalf("reason %q, want advice %q", e.ReplyLine(), tt.want)
			}
		})
	}
}
