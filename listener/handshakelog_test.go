package listener

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/testlog"
	"github.com/mailbridge/mailbridge/internal/testpki"
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

// startTLSWith is startTLSServer (implicit TLS) with an RSA certificate,
// as Windows exports them, and cfg changed by set.
func startTLSWith(t *testing.T, set func(*Config)) (*testServer, string, *x509.CertPool) {
	t.Helper()
	cfg := testConfig()
	pki := testpki.New(t, "mailbridge test CA")
	cfg.TLSConfig = &tls.Config{Certificates: []tls.Certificate{pki.ServerRSA(t, "mail.example.com", "127.0.0.1")}, MinVersion: tls.VersionTLS12}
	set(&cfg)
	ts, addr := serveTLS(t, cfg)
	return ts, addr, pki.Pool
}

// waitLog waits until the server's log holds want.
func waitLog(t *testing.T, ts *testServer, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(ts.logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the log lacks %q:\n%s", want, ts.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TLS 1.2 clients that offer only RSA key exchange (older printers and
// scanners; found from outside with curl --ciphers AES128-GCM-SHA256) are
// served, as Windows' Schannel served them, unless tls_rsa_key_exchange
// is false; then the log names the suites they offered. A client that
// offers ECDHE gets it either way.
func TestRSAKeyExchange(t *testing.T) {
	rsaOnly := []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_CBC_SHA}
	both := append([]uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}, rsaOnly...)
	for _, tt := range []struct {
		name      string
		rsaKex    bool
		offer     []uint16
		wantSuite uint16 // 0: refused
	}{
		{"RSA only, accepted", true, rsaOnly, tls.TLS_RSA_WITH_AES_128_GCM_SHA256},
		{"RSA only, refused", false, rsaOnly, 0},
		{"ECDHE offered too", true, both, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256},
		{"ECDHE offered too, RSA refused", false, both, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts, addr, pool := startTLSWith(t, func(c *Config) { c.RSAKeyExchange = tt.rsaKex })
			tc, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "mail.example.com", MaxVersion: tls.VersionTLS12, CipherSuites: tt.offer})
			if tt.wantSuite == 0 {
				if err == nil {
					tc.Close()
					t.Fatal("handshake succeeded")
				}
				waitLog(t, ts, "the client offers only RSA key exchange, which tls_rsa_key_exchange = false refuses")
				waitLog(t, ts, "client_suites=\"[TLS_RSA_WITH_AES_128_GCM_SHA256 TLS_RSA_WITH_AES_256_CBC_SHA]\"")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer tc.Close()
			if got := tc.ConnectionState().CipherSuite; got != tt.wantSuite {
				t.Errorf("suite %s; want %s", tls.CipherSuiteName(got), tls.CipherSuiteName(tt.wantSuite))
			}
		})
	}
}

// A client that refuses the certificate (self-signed, or an internal CA it
// lacks) ends the handshake once it has it. Under TLS 1.3 the server sees
// only "bad record MAC", EOF or a reset (found from outside with curl,
// Perl, nodemailer and msmtp): the log says what it likely means.
func TestCertificateRefusedHint(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			ts, addr, _ := startTLSWith(t, func(*Config) {})
			tc, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: x509.NewCertPool(), ServerName: "mail.example.com", MinVersion: v, MaxVersion: v})
			if err == nil {
				tc.Close()
				t.Fatal("an untrusted certificate was accepted")
			}
			waitLog(t, ts, "the client ended the handshake once it had the certificate; it may not trust it")
		})
	}
}

// A handshake that timed out says so in words (found from outside: the
// log said "context deadline exceeded" alone).
func TestHandshakeTimeoutWording(t *testing.T) {
	var logs testlog.Buffer
	s := &Server{log: slog.New(slog.NewTextHandler(&logs, nil)), tlsConf: &tls.Config{}}
	s.handshakeFailed("TLS handshake failed", "192.0.2.7", nil, fmt.Errorf("tls: %w", context.DeadlineExceeded))
	if out := logs.String(); !strings.Contains(out, "the client did not complete it within 30s") || !strings.Contains(out, "client=192.0.2.7") {
		t.Fatalf("%s", out)
	}
	// A client that sent no ClientHello waits for a greeting: it is
	// pointed at the port that gives one (found from outside: not named).
	for _, tc := range []struct {
		startTLS bool
		want     string
	}{
		{true, "it is likely set for STARTTLS or plain SMTP and waits for a greeting: point it at port 2525, for STARTTLS, or set it for implicit TLS (SSL) on this port"},
		{false, "point it at port 2525, for plain SMTP, or set it for implicit TLS (SSL) on this port"},
	} {
		var logs testlog.Buffer
		s := &Server{log: slog.New(slog.NewTextHandler(&logs, nil)), tlsConf: &tls.Config{}, cfg: Config{StartTLS: tc.startTLS}, plainPorts: []string{"2525"}}
		s.handshakeFailed("TLS handshake failed", "192.0.2.7", &helloConn{implicit: true}, fmt.Errorf("tls: %w", context.DeadlineExceeded))
		if out := logs.String(); !strings.Contains(out, "the client sent no TLS handshake within 30s") || !strings.Contains(out, tc.want) {
			t.Fatalf("%s", out)
		}
	}
}

// The suites a refused client offered are named, signalling values left
// out (found from outside: "[0x1305 0x00FF]").
func TestOfferedSuites(t *testing.T) {
	got := offeredSuites([]uint16{0x2A2A, 0x1305, 0x00FF, tls.TLS_RSA_WITH_AES_128_CBC_SHA256, 0x5600, 0x1234})
	want := []string{"TLS_AES_128_CCM_8_SHA256", "TLS_RSA_WITH_AES_128_CBC_SHA256", "0x1234"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
