package bridge

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/smtpsink"
	"github.com/mailbridge/mailbridge/internal/testpki"
	"github.com/mailbridge/mailbridge/sender"
)

// The delivery line says whether the message went over TLS, in which
// version, and whether the smart host's certificate was verified.
func TestDeliveryLogSaysTLS(t *testing.T) {
	pki := testpki.New(t, "test CA")
	tlsSink := smtpsink.StartTLS(t, smtpsink.Hooks{}, smtpsink.TLSOptions{Config: &tls.Config{
		Certificates: []tls.Certificate{pki.Server(t, "127.0.0.1")}, MaxVersion: tls.VersionTLS12}})
	plainSink := smtpsink.Start(t, smtpsink.Hooks{})
	for _, tt := range []struct {
		name string
		sink *smtpsink.Sink
		set  func(*sender.Config)
		want string
	}{
		{"verified", tlsSink, func(c *sender.Config) { c.TLS, c.RootCAs, c.InsecureSkipVerify = sender.TLSStartTLS, pki.Pool, false }, "tls=TLS1.2 tls_verified=true"},
		{"unverified", tlsSink, func(c *sender.Config) { c.TLS, c.InsecureSkipVerify = sender.TLSOpportunistic, true }, "tls=TLS1.2 tls_verified=false"},
		{"plain", plainSink, func(c *sender.Config) { c.TLS = sender.TLSOpportunistic }, "tls=none"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := testLayout(t)
			cfg := baseConfig(tt.sink)
			tt.set(&cfg.Sender)
			h := start(t, l, cfg)
			drop(t, l, "m.eml", []byte("X-Sender: a@x.test\r\nX-Receiver: b@y.test\r\n\r\nSubject: tls\r\n\r\nbody\r\n"))
			deadline := time.Now().Add(wait)
			for !strings.Contains(h.logs.String(), "msg=delivery") {
				if time.Now().After(deadline) {
					t.Fatalf("no delivery:\n%s", h.logs.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			var line string
			for _, l := range strings.Split(h.logs.String(), "\n") {
				if strings.Contains(l, "msg=delivery") {
					line = l
				}
			}
			if !strings.Contains(line, "result=sent") || !strings.Contains(line, tt.want) {
				t.Fatalf("delivery line lacks %q:\n%s", tt.want, line)
			}
		})
	}
}
