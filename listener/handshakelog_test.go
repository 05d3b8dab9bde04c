package listener

import (
	"bufio"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"
)

// A failed TLS handshake is the client's doing (scanners, old clients):
// it is logged once, at INFO, with the client's highest TLS version in
// words, and why when that is below min_tls_version; go-smtp's error log
// (WARN) does not log it again.
func TestHandshakeFailureLoggedOnce(t *testing.T) {
	for _, startTLS := range []bool{false, true} {
		name := map[bool]string{false: "implicit", true: "starttls"}[startTLS]
		t.Run(name, func(t *testing.T) {
			ts, tlsAddr, pool := startTLSServer(t, startTLS)
			addr := tlsAddr
			if startTLS {
				addr = ts.addr
			}
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			if startTLS {
				c := &client{t: t, c: nc, br: bufio.NewReader(nc)}
				c.reply()
				c.cmd("EHLO client.test")
				c.expect("STARTTLS", "220 2.0.0 SMTP server ready")
			}
			tc := tls.Client(nc, &tls.Config{RootCAs: pool, ServerName: "mail.example.com", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
			if err := tc.Handshake(); err == nil {
				t.Fatal("a TLS 1.1 handshake succeeded")
			}
			want := "client offers at most TLS 1.1; min_tls_version is 1.2"
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(ts.logs.String(), want) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(100 * time.Millisecond) // for a second line, if any
			logs := ts.logs.String()
			if n := strings.Count(logs, "handshake failed"); n != 1 || !strings.Contains(logs, want) {
				t.Fatalf("%d lines of the failure, want 1 with %q:\n%s", n, want, logs)
			}
			for _, line := range strings.Split(logs, "\n") {
				if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") || strings.Contains(line, "msg=smtp") ||
					strings.Contains(line, "handshake failed") && !strings.Contains(line, "level=INFO") {
					t.Fatalf("logged above INFO or twice: %s\n%s", line, logs)
				}
			}
		})
	}
}
