package sender

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/smtpsink"
	"github.com/mailbridge/mailbridge/internal/testpki"
)

// A smart host that speaks only TLS 1.0 or 1.1 is told apart from one with
// a bad certificate: the reason names mailbridge's minimum, TLS 1.2, both
// when the smart host says so (a protocol_version alert) and when it just
// closes the connection, as OpenSSL and SChannel servers often do.
func TestOldTLSSmartHostReason(t *testing.T) {
	pki := testpki.New(t, "test CA")
	old := smtpsink.StartTLS(t, smtpsink.Hooks{}, smtpsink.TLSOptions{Config: &tls.Config{
		Certificates: []tls.Certificate{pki.Server(t, "127.0.0.1")}, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}})
	closer := rawHost(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		c.Write([]byte("220 old.test ESMTP\r\n"))
		br.ReadString('\n') // EHLO
		c.Write([]byte("250-old.test\r\n250 STARTTLS\r\n"))
		br.ReadString('\n') // STARTTLS
		c.Write([]byte("220 2.0.0 go ahead\r\n"))
		br.Read(make([]byte, 512)) // the ClientHello, refused without a word
	})
	for _, tt := range []struct {
		name string
		port int
		want string
	}{
		{"alert", old.Port, "the smart host speaks only TLS versions below 1.2, mailbridge's minimum"},
		{"closed", closer, "the smart host closed the connection during the TLS handshake: most often it speaks only TLS 1.0 or 1.1, below mailbridge's minimum of TLS 1.2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSession(Config{Host: "127.0.0.1", Port: tt.port, TLS: TLSStartTLS, InsecureSkipVerify: true, CommandTimeout: 5 * time.Second})
			defer s.Close()
			res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
			if e := res[0].Err; e == nil || e.Permanent || e.Stage != "TLS handshake" || !strings.Contains(e.ReplyLine(), tt.want) {
				t.Fatalf("got %v, want %q", e, tt.want)
			}
		})
	}
}

// A refused password (535) says where the credentials come from, in the
// log and the Badmail reason alike (both take ReplyLine).
func TestAuthRefusedNamesTheKeys(t *testing.T) {
	h := (&scriptHost{EHLO: []string{"AUTH PLAIN"}, Auth: []string{"535 5.7.8 Authentication credentials invalid"}}).start(t)
	cfg := scriptCfg(h)
	cfg.Username, cfg.Password = "app", "s3cret"
	s := NewSession(cfg)
	defer s.Close()
	res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
	e := res[0].Err
	if e == nil || e.Permanent || !strings.HasPrefix(e.ReplyLine(), "535 5.7.8 Authentication credentials invalid (") ||
		!strings.Contains(e.ReplyLine(), "check [outbound] username and password (or password_file, password_env)") || strings.Contains(e.ReplyLine(), "s3cret") {
		t.Fatalf("got %v", e)
	}
}

// A smart host that offers LOGIN and PLAIN but refuses LOGIN with 504 is
// tried with PLAIN on the same connection; when it refuses both, the note
// says what to enable (found from outside: PLAIN was never tried, and the
// 504 came without a word).
func TestAuthMechanismRefused(t *testing.T) {
	for _, tt := range []struct {
		name  string
		plain []string
		want  string
	}{
		{"PLAIN accepted", []string{"235 2.7.0 ok"}, ""},
		{"both refused", []string{"504 5.5.4 Unrecognized authentication type"}, "the smart host refused AUTH LOGIN and AUTH PLAIN, though it offers them (AUTH LOGIN PLAIN): its administrator must enable LOGIN or PLAIN for this account"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := (&scriptHost{EHLO: []string{"AUTH LOGIN PLAIN"}, AuthFor: func(mech string) []string {
				if mech == "LOGIN" {
					return []string{"504 5.5.4 Unrecognized authentication type"}
				}
				return tt.plain
			}}).start(t)
			cfg := scriptCfg(h)
			cfg.Username, cfg.Password = "app", "s3cret"
			s := NewSession(cfg)
			defer s.Close()
			res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
			e := res[0].Err
			if tt.want == "" {
				if e != nil || h.Messages() != 1 {
					t.Fatalf("got %v, %d messages", e, h.Messages())
				}
				return
			}
			if e == nil || e.Permanent || !strings.Contains(e.ReplyLine(), tt.want) {
				t.Fatalf("got %v", e)
			}
		})
	}
}

// A positive reply where SMTP calls for another (a 250 to DATA) is
// deferred with a note that names the step and the reply it calls for:
// the reply alone ("250 2.0.0 ok") read as a delivery in the log.
func TestUnexpectedPositiveReply(t *testing.T) {
	for _, tt := range []struct {
		name string
		host *scriptHost
		want string
	}{
		{"250 to DATA", &scriptHost{DataReply: "250 2.0.0 ok"}, "250 2.0.0 ok (a reply that SMTP does not allow at DATA, where it calls for 354 (RFC 5321 section 4.3.2)"},
		{"354 to MAIL", &scriptHost{Mail: func(int) string { return "354 go ahead" }}, "354 go ahead (a reply that SMTP does not allow at MAIL FROM, where it calls for 250 (RFC 5321 section 4.3.2)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.host.start(t)
			s := NewSession(scriptCfg(h))
			defer s.Close()
			res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
			e := res[0].Err
			if e == nil || e.Permanent || !strings.HasPrefix(e.ReplyLine(), tt.want) {
				t.Fatalf("got %v, want a temporary failure %q...", e, tt.want)
			}
			if strings.Contains(e.Line(), "RFC") {
				t.Errorf("the note is in Line, which a report carries: %q", e.Line())
			}
		})
	}
}
