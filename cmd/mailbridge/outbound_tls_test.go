package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/config"
	"github.com/mailbridge/mailbridge/internal/smtpsink"
	"github.com/mailbridge/mailbridge/internal/testpki"
	"github.com/mailbridge/mailbridge/sender"
)

// ca_file, server_name and tls from the configuration file reach the
// sender: an internal CA's certificate is trusted only with ca_file.
func TestOutboundCAFile(t *testing.T) {
	pki := testpki.New(t, "Corp Internal CA")
	sink := smtpsink.StartTLS(t, smtpsink.Hooks{}, smtpsink.TLSOptions{Config: &tls.Config{
		Certificates: []tls.Certificate{pki.Server(t, "relay.corp.example")}}})

	dir := testDir(t)
	os.WriteFile(filepath.Join(dir, "corp-ca.pem"), pki.CAPEM(), 0o644)
	for _, tt := range []struct {
		name, extra string
		ok          bool
	}{
		{"with ca_file", "ca_file = 'corp-ca.pem'\n", true},
		{"without ca_file", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conf := filepath.Join(dir, "mailbridge.toml")
			os.WriteFile(conf, []byte(fmt.Sprintf("[outbound]\nserver = \"127.0.0.1\"\nport = %d\ntls = \"starttls\"\nserver_name = \"relay.corp.example\"\n%s", sink.Port, tt.extra)), 0o644)
			cfg, err := config.Load(conf)
			if err != nil {
				t.Fatal(err)
			}
			sc := bridgeConfig(cfg, nil).Sender
			sc.CommandTimeout = 10 * time.Second
			s := sender.NewSession(sc)
			defer s.Close()
			res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte("Subject: t\r\n\r\nbody\r\n"))
			if tt.ok {
				if res[0].Err != nil {
					t.Fatal(res[0].Err)
				}
				return
			}
			if e := res[0].Err; e == nil || e.Permanent || !strings.Contains(e.Error(), `certificate verification for "relay.corp.example" failed`) || !strings.Contains(e.Error(), "ca_file") {
				t.Fatalf("got %v", e)
			}
		})
	}
}
