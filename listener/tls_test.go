package listener

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"net/smtp"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/mailbridge/mailbridge/internal/testdir"
	"github.com/mailbridge/mailbridge/internal/testpki"
	"github.com/mailbridge/mailbridge/tlscert"
)

// testCA makes a CA and a server certificate for mail.example.com and
// 127.0.0.1, and returns the server's tls.Config and the client's roots.
func testCA(t testing.TB) (*tls.Config, *x509.CertPool) {
	t.Helper()
	pki := testpki.New(t, "mailbridge test CA")
	return &tls.Config{
		Certificates: []tls.Certificate{pki.Server(t, "mail.example.com", "127.0.0.1")},
		MinVersion:   tls.VersionTLS12,
	}, pki.Pool
}

func startTLSServer(t *testing.T, startTLS bool) (*testServer, string, *x509.CertPool) {
	t.Helper()
	cfg := testConfig()
	srvTLS, pool := testCA(t)
	cfg.TLSConfig, cfg.StartTLS = srvTLS, startTLS
	ts, addr := serveTLS(t, cfg)
	return ts, addr, pool
}

// serveTLS starts a server with cfg, its plain port at ts.addr and its
// implicit-TLS port at addr.
func serveTLS(t *testing.T, cfg Config) (ts *testServer, addr string) {
	t.Helper()
	ts = startServer(t, cfg)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go ts.srv.ServeTLS(l)
	waitServing(t, ts.srv, true)
	return ts, l.Addr().String()
}

func TestImplicitTLS(t *testing.T) {
	ts, tlsAddr, pool := startTLSServer(t, false)
	tc, err := tls.Dial("tcp", tlsAddr, &tls.Config{RootCAs: pool, ServerName: "mail.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, c: tc, br: bufio.NewReader(tc)}
	t.Cleanup(func() { tc.Close() })
	if g := c.reply(); !strings.HasPrefix(g, "220 mail.example.com Microsoft ESMTP MAIL Service") {
		t.Fatalf("greeting %q", g)
	}
	if ehlo := c.cmd("EHLO client.test"); strings.Contains(ehlo, "STARTTLS") {
		t.Errorf("STARTTLS offered inside TLS:\n%s", ehlo)
	}
	c.expect("STARTTLS", "503 5.5.1 TLS already active")
	if r := c.sendMessage("a@x.test", []string{"b@y.test"}, "Subject: tls\r\n\r\nsecret"); !strings.HasPrefix(r, "250 2.6.0") {
		t.Fatalf("reply %q", r)
	}
	got := string(ts.onlyDrop(t))
	if !strings.Contains(got, "Received: from client.test ([127.0.0.1]) by mail.example.com over TLS secured channel with Microsoft SMTPSVC(10.0.17763.1697);\r\n") {
		t.Fatalf("Received header does not say TLS:\n%s", got)
	}
	// The plain port of a server without STARTTLS offers none.
	p := dial(t, ts.addr)
	p.reply()
	if ehlo := p.cmd("EHLO client.test"); strings.Contains(ehlo, "STARTTLS") {
		t.Errorf("STARTTLS offered though not configured:\n%s", ehlo)
	}
	p.expect("STARTTLS", "502 5.5.1")
}

// STARTTLS asked for where it is not offered is logged, with what to do:
// found from outside (QA97), a client set to require TLS (curl
// --ssl-reqd, msmtp --tls=on) said "STARTTLS not supported" and the log
// said nothing.
func TestSTARTTLSNotOfferedLogged(t *testing.T) {
	for _, tc := range []struct {
		name string
		tls  bool // a certificate and an implicit-TLS port
		want string
	}{
		{"no certificate", false, `command=STARTTLS hint="STARTTLS is not offered: give mailbridge a certificate ([inbound] pfx_path) and set [inbound] tls = \"starttls\", or set the client to send without TLS"`},
		{"implicit-TLS port", true, `command=STARTTLS hint="point it at port PORT, where mailbridge speaks TLS from the first byte (SSL), or set [inbound] tls = \"starttls\""`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ts *testServer
			want := tc.want
			if tc.tls {
				var tlsAddr string
				ts, tlsAddr, _ = startTLSServer(t, false)
				_, port, _ := net.SplitHostPort(tlsAddr)
				want = strings.Replace(want, "PORT", port, 1)
			} else {
				ts = startServer(t, testConfig())
			}
			c := dial(t, ts.addr)
			c.hello()
			c.expect("STARTTLS", "502 5.5.1 TLS not supported")
			// Not a bad command: the session goes on.
			c.expect("STARTTLS", "502 5.5.1 TLS not supported")
			c.expect("STARTTLS", "502 5.5.1 TLS not supported")
			c.expect("NOOP", "250")
			c.expect("QUIT", "221")
			c.waitClosed()
			l := ts.logs.String()
			if !strings.Contains(l, `msg="command refused" client=127.0.0.1 reply="502 5.5.1 TLS not supported" `+want) {
				t.Errorf("log lacks the refusal with %s:\n%s", want, l)
			}
		})
	}
}

// A client that greets with EHLO and leaves without a command more, where
// STARTTLS is not offered, is said in the log once an hour for each
// client: a client set to require TLS (curl --ssl-reqd, msmtp --tls=on,
// .NET's SmtpClient with EnableSsl) does that, and sends no STARTTLS to
// refuse (found from outside, QA97).
func TestLeftAfterEHLOWithoutTLSLogged(t *testing.T) {
	const line = `msg="a client greeted with EHLO and left without sending a message, where STARTTLS is not offered`
	// session runs one session and returns once the server has closed
	// it (its connection released, after the line would be logged).
	session := func(t *testing.T, ts *testServer, cmds ...string) {
		c := dial(t, ts.addr)
		c.reply()
		for _, cmd := range cmds {
			c.cmd(cmd)
		}
		c.waitClosed()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			ts.srv.mu.Lock()
			n := len(ts.srv.conns)
			ts.srv.mu.Unlock()
			if n == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d sessions still open", n)
			}
		}
	}
	t.Run("said once", func(t *testing.T) {
		ts := startServer(t, testConfig())
		session(t, ts, "EHLO curl.test", "QUIT")
		session(t, ts, "EHLO curl.test", "QUIT")
		l := ts.logs.String()
		want := line + `: a client set to require TLS does this, and reports \"STARTTLS not supported\" (a monitor that only greets does it too; said once an hour for each client)" client=127.0.0.1 hint="STARTTLS is not offered: give mailbridge a certificate`
		if n := strings.Count(l, want); n != 1 {
			t.Fatalf("%d lines %s, want 1:\n%s", n, want, l)
		}
	})
	for _, tc := range []struct {
		name     string
		startTLS bool
		cmds     []string
	}{
		{"STARTTLS offered", true, []string{"EHLO curl.test", "QUIT"}},
		{"HELO", false, []string{"HELO monitor.test", "QUIT"}},
		{"a transaction", false, []string{"EHLO a.test", "MAIL FROM:<a@x.test>", "QUIT"}},
		{"NOOP", false, []string{"EHLO a.test", "NOOP", "QUIT"}},
		{"EHLO refused", false, []string{"EHLO", "QUIT"}},
	} {
		t.Run("not said: "+tc.name, func(t *testing.T) {
			var ts *testServer
			if tc.startTLS {
				ts, _, _ = startTLSServer(t, true)
			} else {
				ts = startServer(t, testConfig())
			}
			session(t, ts, tc.cmds...)
			if l := ts.logs.String(); strings.Contains(l, line) {
				t.Fatalf("said:\n%s", l)
			}
		})
	}
}

func TestSTARTTLS(t *testing.T) {
	ts, _, pool := startTLSServer(t, true)
	// Go's own client: EHLO, STARTTLS, verified handshake, EHLO again.
	sc, err := smtp.Dial(ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if ok, _ := sc.Extension("STARTTLS"); !ok {
		t.Fatal("STARTTLS not offered")
	}
	if err := sc.StartTLS(&tls.Config{RootCAs: pool, ServerName: "mail.example.com"}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := sc.Extension("STARTTLS"); ok {
		t.Error("STARTTLS still offered after TLS started")
	}
	if err := sc.Mail("a@x.test"); err != nil {
		t.Fatal(err)
	}
	if err := sc.Rcpt("b@y.test"); err != nil {
		t.Fatal(err)
	}
	w, err := sc.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("Subject: starttls\r\n\r\nbody\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	sc.Quit()
	if got := string(ts.onlyDrop(t)); !strings.Contains(got, " over TLS secured channel with ") {
		t.Fatalf("Received header does not say TLS:\n%s", got)
	}
}

// RFC 3207 section 4.2 (and CVE-2011-0411): commands pipelined after
// STARTTLS in plain text must not be executed inside the TLS session.
func TestSTARTTLSDiscardsInjectedCommands(t *testing.T) {
	ts, _, pool := startTLSServer(t, true)
	c := dial(t, ts.addr)
	c.hello()
	c.expect("MAIL FROM:<before@x.test>", "250")
	c.send("STARTTLS\r\nMAIL FROM:<injected@x.test>\r\n")
	if r := c.reply(); r != "220 2.0.0 SMTP server ready" {
		t.Fatalf("STARTTLS reply %q", r)
	}
	tc := tls.Client(c.c, &tls.Config{RootCAs: pool, ServerName: "mail.example.com"})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	s := &client{t: t, c: tc, br: bufio.NewReader(tc)}
	// The greeting before TLS is forgotten too: the client greets again.
	s.expect("MAIL FROM:<after@x.test>", "503 5.5.1 Send EHLO again after STARTTLS")
	s.expect("EHLO client.test", "250-mail.example.com Hello [127.0.0.1]")
	// Neither the MAIL before STARTTLS nor the injected one survives.
	s.expect("RCPT TO:<b@y.test>", "503 5.5.1")
	s.expect("MAIL FROM:<after@x.test>", "250 2.1.0 after@x.test")
}

// A greeting pipelined behind the MAIL it should have preceded does not
// count for that MAIL: the session learns of the greeting when go-smtp
// answers it, not when the scanner reads it.
func TestSTARTTLSPipelinedMailBeforeGreeting(t *testing.T) {
	ts, _, pool := startTLSServer(t, true)
	c := dial(t, ts.addr)
	c.hello()
	c.expect("STARTTLS", "220 2.0.0 SMTP server ready")
	tc := tls.Client(c.c, &tls.Config{RootCAs: pool, ServerName: "mail.example.com"})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	s := &client{t: t, c: tc, br: bufio.NewReader(tc)}
	s.send("MAIL FROM:<early@x.test>\r\nEHLO client.test\r\n")
	if r := s.reply(); r != "503 5.5.1 Send EHLO again after STARTTLS" {
		t.Fatalf("MAIL before the greeting: %q", r)
	}
	if r := s.reply(); !strings.HasPrefix(r, "250-mail.example.com Hello") {
		t.Fatalf("EHLO: %q", r)
	}
	s.expect("MAIL FROM:<after@x.test>", "250 2.1.0 after@x.test")
}

// TestSTARTTLSWithParameters: RFC 3207 section 4 allows STARTTLS no
// parameters; a server that offers it answers one with parameters 501
// and stays in plain text. Where TLS is not configured, STARTTLS is not
// implemented, with or without parameters (502).
func TestSTARTTLSWithParameters(t *testing.T) {
	ts, tlsAddr, pool := startTLSServer(t, true)
	c := dial(t, ts.addr)
	c.hello()
	c.expect("STARTTLS foo", "501 5.5.4 Syntax error, STARTTLS takes no parameters")
	c.expect("starttls  =x", "501 5.5.4")
	c.expect("NOOP", "250")
	c.expect("STARTTLS ", "220 2.0.0 SMTP server ready")
	tc := tls.Client(c.c, &tls.Config{RootCAs: pool, ServerName: "mail.example.com"})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	s := &client{t: t, c: tc, br: bufio.NewReader(tc)}
	s.expect("EHLO client.test", "250")
	s.expect("STARTTLS", "503 5.5.1 TLS already active")

	// Implicit TLS: parameters are the first error.
	ic, err := tls.Dial("tcp", tlsAddr, &tls.Config{RootCAs: pool, ServerName: "mail.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ic.Close() })
	i := &client{t: t, c: ic, br: bufio.NewReader(ic)}
	i.hello()
	i.expect("STARTTLS x", "501 5.5.4")

	plain := startServer(t, testConfig())
	p := dial(t, plain.addr)
	p.hello()
	p.expect("STARTTLS foo", "502 5.5.1")
}

func TestPlainTextToTLSPort(t *testing.T) {
	_, tlsAddr, _ := startTLSServer(t, false)
	c := dial(t, tlsAddr)
	c.send("EHLO client.test\r\n")
	if r := c.reply(); !strings.HasPrefix(r, "421 4.7.0 mail.example.com This port requires TLS") {
		t.Fatalf("reply %q", r)
	}
	c.waitClosed()
}

// A client set for implicit TLS on the plain (or STARTTLS) port: one log
// line that says what to change, and the connection closed. Found from
// outside: three "too many bad commands" lines and a write failure.
func TestTLSClientOnPlainPort(t *testing.T) {
	for _, startTLS := range []bool{false, true} {
		ts, tlsAddr, pool := startTLSServer(t, startTLS)
		_, err := tls.Dial("tcp", ts.addr, &tls.Config{RootCAs: pool, ServerName: "mail.example.com"})
		if err == nil {
			t.Fatal("handshake succeeded")
		}
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(ts.logs.String(), "msg=\"connection closed: the client began a TLS handshake") && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		logs := ts.logs.String()
		_, tlsPort, _ := net.SplitHostPort(tlsAddr)
		if strings.Count(logs, "the client began a TLS handshake") != 1 || strings.Contains(logs, "level=WARN") || strings.Contains(logs, "bad commands") || strings.Contains(logs, "could not be written") ||
			!strings.Contains(logs, "point it at port "+tlsPort+", where mailbridge speaks TLS from the first byte") ||
			strings.Contains(logs, "STARTTLS") != startTLS {
			t.Fatalf("starttls %v, log:\n%s", startTLS, logs)
		}
	}
	// A ClientHello whose first segment is one byte (found from outside:
	// two 500 replies and no word), on a port with no TLS at all.
	ts := startServer(t, testConfig())
	c := dial(t, ts.addr)
	c.reply() // the greeting, which a TLS client does not read
	c.send("\x16")
	time.Sleep(50 * time.Millisecond)
	c.send("\x03\x01\x00\x05hello")
	c.waitClosed()
	if logs := ts.logs.String(); !strings.Contains(logs, "set it to use plain SMTP, or give mailbridge a certificate") || strings.Contains(logs, "level=WARN") {
		t.Fatalf("log:\n%s", logs)
	}
}

func TestOldTLSVersionsRefused(t *testing.T) {
	_, tlsAddr, pool := startTLSServer(t, false)
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		tc, err := tls.Dial("tcp", tlsAddr, &tls.Config{RootCAs: pool, ServerName: "mail.example.com", MinVersion: v, MaxVersion: v})
		if err == nil {
			tc.Close()
			t.Errorf("TLS version %x accepted", v)
		}
	}
}

// TestCertificateRenewedUnderRunningServer replaces the PFX file while the
// listener runs: new sessions get the new certificate, without a restart.
func TestCertificateRenewedUnderRunningServer(t *testing.T) {
	dir := testdir.New(t)
	path := filepath.Join(dir, "smtp.pfx")
	writePFX := func(cn string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
			DNSNames: []string{cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		cert, _ := x509.ParseCertificate(der)
		data, err := pkcs12.Modern.Encode(key, cert, nil, "pw")
		if err != nil {
			t.Fatal(err)
		}
		// As an administrator's copy would: a new file renamed over the old.
		tmp := path + ".new"
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			t.Fatal(err)
		}
		// On Windows a file cannot be renamed over while another handle
		// has it open, even one that shares delete access (MoveFileEx;
		// dotnet/runtime#79213): the rename fails with "Access denied"
		// when it meets the watcher's read, every 20 ms here (every 10 s
		// in mailbridge run, and for microseconds). As a person would,
		// try again.
		deadline := time.Now().Add(5 * time.Second)
		for {
			err := os.Rename(tmp, path)
			if err == nil {
				break
			}
			if runtime.GOOS != "windows" || time.Now().After(deadline) {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	writePFX("old.example.com")
	store, err := tlscert.NewStore(path, "pw", "", slog.New(slog.DiscardHandler), tlscert.Options{})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go store.Watch(stop, 20*time.Millisecond)
	cfg := testConfig()
	cfg.TLSConfig = &tls.Config{GetCertificate: store.GetCertificate, MinVersion: tls.VersionTLS12}
	ts := startServer(t, cfg)
	tlsAddr := serveTLSOn(t, ts)
	served := func() string {
		c, err := tls.Dial("tcp", tlsAddr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if cn := served(); cn != "old.example.com" {
		t.Fatalf("serves %q", cn)
	}
	writePFX("new.example.com")
	deadline := time.Now().Add(10 * time.Second)
	for served() != "new.example.com" {
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate is not served")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestImplicitTLSRefusals: on the implicit TLS port everything the server
// says is inside TLS (RFC 8314 section 3), the refusals at connect time
// included: a TLS client must read 421 (too many connections) or 554
// (deny_from), not plain text it takes for a broken handshake.
func TestImplicitTLSRefusals(t *testing.T) {
	srvTLS, pool := testCA(t)
	clientTLS := &tls.Config{RootCAs: pool, ServerName: "mail.example.com"}
	dialTLS := func(t *testing.T, addr string) *client {
		t.Helper()
		tc, err := tls.Dial("tcp", addr, clientTLS)
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		t.Cleanup(func() { tc.Close() })
		_ = tc.SetDeadline(time.Now().Add(30 * time.Second))
		return &client{t: t, c: tc, br: bufio.NewReader(tc)}
	}
	t.Run("too many connections", func(t *testing.T) {
		cfg := testConfig()
		cfg.TLSConfig, cfg.MaxConnections = srvTLS, 1
		ts := startServer(t, cfg)
		tlsAddr := serveTLSOn(t, ts)
		first := dialTLS(t, tlsAddr)
		first.hello()
		over := dialTLS(t, tlsAddr)
		if r := over.reply(); r != "421 4.3.2 mail.example.com Too many connections, try again later" {
			t.Fatalf("second connection: %q", r)
		}
		over.waitClosed()
		// A client that does not speak TLS gets nothing it could misread:
		// the connection is closed.
		plain := dial(t, tlsAddr)
		plain.send("EHLO client.test\r\n")
		plain.waitClosed()
		// The session that holds the slot is not disturbed.
		first.expect("NOOP", "250")
	})
	t.Run("deny_from", func(t *testing.T) {
		cfg := testConfig()
		cfg.TLSConfig = srvTLS
		cfg.DenyFrom = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		ts := startServer(t, cfg)
		c := dialTLS(t, serveTLSOn(t, ts))
		if r := c.reply(); r != "554 5.7.1 mail.example.com Access denied" {
			t.Fatalf("refusal %q", r)
		}
		c.expect("EHLO client.test", "503 5.5.1") // and waits for QUIT (RFC 5321 section 3.1)
		c.expect("QUIT", "221 2.0.0")
		c.waitClosed()
	})
}

// TestImplicitTLSRefusalsBounded: refusals waiting for a handshake are
// bounded (a client over the limit that never handshakes must not cost
// more than a session), and a shutdown ends them at once.
func TestImplicitTLSRefusalsBounded(t *testing.T) {
	srvTLS, pool := testCA(t)
	cfg := testConfig()
	cfg.TLSConfig, cfg.MaxConnections = srvTLS, 1
	ts := startServer(t, cfg)
	tlsAddr := serveTLSOn(t, ts)
	tc, err := tls.Dial("tcp", tlsAddr, &tls.Config{RootCAs: pool, ServerName: "mail.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tc.Close() })
	first := &client{t: t, c: tc, br: bufio.NewReader(tc)}
	first.hello()
	refusing := func() int {
		ts.srv.mu.Lock()
		defer ts.srv.mu.Unlock()
		return len(ts.srv.refusing)
	}
	var stalled []*client
	for range maxTLSRefusals {
		stalled = append(stalled, dial(t, tlsAddr))
	}
	for deadline := time.Now().Add(10 * time.Second); refusing() < maxTLSRefusals; {
		if time.Now().After(deadline) {
			t.Fatalf("%d refusals under way, want %d", refusing(), maxTLSRefusals)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// One more is closed at once, without waiting for a handshake.
	dial(t, tlsAddr).waitClosed()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	ts.srv.Shutdown(ctx)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Shutdown took %v with stalled refusals", d)
	}
	if n := refusing(); n != 0 {
		t.Errorf("%d refusals left after Shutdown", n)
	}
	for _, c := range stalled {
		c.waitClosed()
	}
}
