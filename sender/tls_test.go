package sender

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/smtpsink"
	"github.com/mailbridge/mailbridge/internal/testdir"
	"github.com/mailbridge/mailbridge/internal/testpki"
)

func serverTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

// Each TLS mode against each kind of smart host.
func TestTLSModes(t *testing.T) {
	pki := testpki.New(t, "mailbridge test CA")
	cert := pki.Server(t, "relay.example", "127.0.0.1")
	for _, tt := range []struct {
		name    string
		mode    string
		server  string // "plain", "starttls", "implicit"
		wantTLS bool
		wantErr error // nil: delivered
	}{
		{"opportunistic uses STARTTLS", TLSOpportunistic, "starttls", true, nil},
		{"default is opportunistic", "", "starttls", true, nil},
		{"opportunistic without STARTTLS is plain", TLSOpportunistic, "plain", false, nil},
		{"starttls", TLSStartTLS, "starttls", true, nil},
		{"starttls without STARTTLS is transient", TLSStartTLS, "plain", false, ErrNoSTARTTLS},
		{"implicit", TLSImplicit, "implicit", true, nil},
		{"none ignores STARTTLS", TLSNone, "starttls", false, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var sink *smtpsink.Sink
			switch tt.server {
			case "plain":
				sink = smtpsink.Start(t, smtpsink.Hooks{})
			default:
				sink = smtpsink.StartTLS(t, smtpsink.Hooks{}, smtpsink.TLSOptions{Config: serverTLS(cert), Implicit: tt.server == "implicit"})
			}
			cfg := cfgFor(sink)
			cfg.TLS, cfg.RootCAs = tt.mode, pki.Pool
			s := NewSession(cfg)
			defer s.Close()
			res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
			if tt.wantErr != nil {
				e := res[0].Err
				if e == nil || e.Permanent || !errors.Is(e, tt.wantErr) || e.Stage != "STARTTLS" {
					t.Fatalf("got %+v, want transient %v", e, tt.wantErr)
				}
				if len(sink.Messages()) != 0 {
					t.Fatal("delivered anyway")
				}
				return
			}
			if res[0].Err != nil {
				t.Fatal(res[0].Err)
			}
			m := sink.Messages()
			if len(m) != 1 || m[0].TLS != tt.wantTLS || m[0].Helo != "bridge.test" || string(m[0].Data) != msg {
				t.Fatalf("got %+v, want TLS %v, EHLO bridge.test", m, tt.wantTLS)
			}
			// The connection is reused for a second message. (The sink
			// counts a session per connection, and one more after STARTTLS.)
			conns := sink.Conns()
			if res := s.Send(context.Background(), "a@x.test", []string{"c@y.test"}, []byte(msg)); res[0].Err != nil || sink.Conns() != conns {
				t.Fatalf("%+v, %d sessions, want %d", res[0].Err, sink.Conns(), conns)
			}
		})
	}
}

// A certificate that does not verify is a transient failure whose reason
// names the name expected and the certificate presented; opportunistic
// mode does not fall back to plain text after it.
func TestCertificateFailures(t *testing.T) {
	pki := testpki.New(t, "mailbridge test CA")
	other := testpki.New(t, "Untrusted Internal CA")
	for _, tt := range []struct {
		name   string
		cert   tls.Certificate
		cfg    func(*Config)
		want   []string
		wantOK bool
	}{
		{"other name", pki.Server(t, "other.example"), func(c *Config) { c.ServerName = "relay.example" },
			[]string{`certificate verification for "relay.example" failed`, `not valid for "relay.example"`, `subject "CN=other.example"`, "names [other.example]", `issuer "CN=mailbridge test CA,O=mailbridge tests"`}, false},
		{"IP not in certificate", pki.Server(t, "relay.example"), func(c *Config) {},
			[]string{`certificate verification for "127.0.0.1" failed`, "names [relay.example]", "server_name"}, false},
		// Without ca_file (the system's CAs).
		{"untrusted CA", other.Server(t, "relay.example"), func(c *Config) { c.ServerName, c.RootCAs = "relay.example", nil },
			[]string{`certificate verification for "relay.example" failed`, "unknown authority", "set [outbound] ca_file to the PEM file of the CA", `subject "CN=relay.example"`, `issuer "CN=Untrusted Internal CA,O=mailbridge tests"`}, false},
		// Found from outside: "signed by an unknown authority" did not
		// say that the certificate itself is to be trusted.
		{"self-signed", testpki.SelfSigned(t, "relay.example"), func(c *Config) { c.ServerName, c.RootCAs = "relay.example", nil },
			[]string{`certificate verification for "relay.example" failed`, "the certificate is self-signed", "set [outbound] ca_file to that certificate itself"}, false},
		// With ca_file, holding another CA or certificate: found from
		// outside, the advice was to set it (the smart host's certificate
		// had been replaced).
		{"untrusted CA, ca_file set", other.Server(t, "relay.example"), func(c *Config) { c.ServerName = "relay.example" },
			[]string{"not signed by any certificate in [outbound] ca_file", "set ca_file to the CA that signed the new one"}, false},
		{"self-signed, ca_file set", testpki.SelfSigned(t, "relay.example"), func(c *Config) { c.ServerName = "relay.example" },
			[]string{"self-signed, and not the one in [outbound] ca_file", "set ca_file to the new certificate itself"}, false},
		// Found from outside: the name in the CN alone was said not to
		// match the CN shown, and server_name, set already, was the advice.
		{"name in CN only", pki.CommonNameOnly(t, "relay.example"), func(c *Config) { c.ServerName = "relay.example" },
			[]string{"names the host only in its subject's CN", "issue it again with a subjectAltName (DNS:relay.example)", "names []"}, false},
		{"other name in CN only", pki.CommonNameOnly(t, "other.example"), func(c *Config) { c.ServerName = "relay.example" },
			[]string{`not valid for "relay.example", and it has no subjectAltName`, "check [outbound] server and server_name; if they are right, the smart host's administrator must issue the certificate again with a subjectAltName (DNS:relay.example)"}, false},
		{"server_name matches", pki.Server(t, "relay.example"), func(c *Config) { c.ServerName = "relay.example" }, nil, true},
		{"verification off", other.Server(t, "relay.example"), func(c *Config) { c.InsecureSkipVerify = true }, nil, true},
	} {
		for _, mode := range []string{TLSOpportunistic, TLSStartTLS, TLSImplicit} {
			t.Run(tt.name+"/"+mode, func(t *testing.T) {
				sink := smtpsink.StartTLS(t, smtpsink.Hooks{}, smtpsink.TLSOptions{Config: serverTLS(tt.cert), Implicit: mode == TLSImplicit})
				cfg := cfgFor(sink)
				cfg.TLS, cfg.RootCAs, cfg.InsecureSkipVerify = mode, pki.Pool, false
				tt.cfg(&cfg)
				s := NewSession(cfg)
				defer s.Close()
				res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
				if tt.wantOK {
					if res[0].Err != nil || len(sink.Messages()) != 1 || !sink.Messages()[0].TLS {
						t.Fatalf("%+v", res[0].Err)
					}
					return
				}
				e := res[0].Err
				if e == nil || e.Permanent || e.Stage != "TLS handshake" {
					t.Fatalf("got %+v, want a transient TLS handshake failure", e)
				}
				var te *TLSError
				if !errors.As(e, &te) {
					t.Fatalf("%v is not a *TLSError", e)
				}
				for _, w := range tt.want {
					if !strings.Contains(e.Error(), w) {
						t.Errorf("reason lacks %q:\n%s", w, e)
					}
				}
				if len(sink.Messages()) != 0 {
					t.Fatal("delivered after a failed handshake")
				}
			})
		}
	}
}

// A user name is never sent over a plain connection unless tls = "none":
// opportunistic TLS with a username waits when the smart host offers no
// STARTTLS (TestNoSTARTTLSOffered), and AUTH itself refuses a plain
// connection besides.
func TestNoAuthOverPlainText(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	cfg := cfgFor(sink)
	cfg.Username, cfg.Password = "app", "hunter2-secret"
	s := NewSession(cfg) // opportunistic; the sink offers no STARTTLS
	defer s.Close()
	res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
	e := res[0].Err
	if e == nil || e.Permanent || !errors.Is(e, errNotOffered) || e.Stage != "STARTTLS" {
		t.Fatalf("got %+v", e)
	}
	if strings.Contains(e.Error(), "hunter2") || len(sink.Messages()) != 0 {
		t.Fatalf("%v, %d messages", e, len(sink.Messages()))
	}
}

func TestCAFromPEM(t *testing.T) {
	// ca_file is loaded by config; here: a pool with only the internal CA.
	pki := testpki.New(t, "Internal CA")
	dir := testdir.New(t)
	caFile, _, _ := pki.Files(t, dir, "relay.example")
	pemData, _ := os.ReadFile(caFile)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		t.Fatal("CA file not PEM")
	}
	sink := smtpsink.StartTLS(t, smtpsink.Hooks{}, smtpsink.TLSOptions{Config: serverTLS(pki.Server(t, "relay.example"))})
	cfg := cfgFor(sink)
	cfg.TLS, cfg.ServerName, cfg.RootCAs = TLSStartTLS, "relay.example", pool
	s := NewSession(cfg)
	defer s.Close()
	if res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg)); res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
}

// scriptedHost is a smart host on 127.0.0.1 that offers STARTTLS and
// answers it with starttlsReply; after "220" it does the TLS handshake and
// reads one more EHLO. It records every EHLO line.
func scriptedHost(t *testing.T, cert tls.Certificate, starttlsReply string) (port int, ehlos chan string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ehlos = make(chan string, 10)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				r := bufio.NewReader(c)
				fmt.Fprintf(c, "220 scripted.test ESMTP\r\n")
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					switch cmd := strings.ToUpper(strings.Fields(line + " x")[0]); cmd {
					case "EHLO":
						ehlos <- strings.TrimSpace(line)
						fmt.Fprintf(c, "250-scripted.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n")
					case "STARTTLS":
						fmt.Fprint(c, starttlsReply)
						if !strings.HasPrefix(starttlsReply, "220") {
							continue
						}
						tc := tls.Server(c, serverTLS(cert))
						if tc.Handshake() != nil {
							return
						}
						r2 := bufio.NewReader(tc)
						if line, err := r2.ReadString('\n'); err == nil {
							ehlos <- "TLS " + strings.TrimSpace(line)
							fmt.Fprintf(tc, "421 4.3.2 enough\r\n")
						}
						return
					default:
						fmt.Fprintf(c, "250 ok\r\n")
					}
				}
			}(c)
		}
	}()
	return l.Addr().(*net.TCPAddr).Port, ehlos
}

func TestSTARTTLSExchange(t *testing.T) {
	pki := testpki.New(t, "mailbridge test CA")
	cert := pki.Server(t, "127.0.0.1")
	cfg := func(port int) Config {
		return Config{Host: "127.0.0.1", Port: port, Hostname: "bridge.test", RootCAs: pki.Pool, CommandTimeout: 5 * time.Second}
	}

	// Our name in both EHLOs, before and after STARTTLS (RFC 3207 4.2).
	port, ehlos := scriptedHost(t, cert, "220 2.0.0 ready\r\n")
	s := NewSession(cfg(port))
	res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
	if e := res[0].Err; e == nil || e.Code != 421 {
		t.Fatalf("got %+v", e)
	}
	if a, b := <-ehlos, <-ehlos; a != "EHLO bridge.test" || b != "TLS EHLO bridge.test" {
		t.Fatalf("EHLOs %q, %q", a, b)
	}

	for _, tt := range []struct{ name, reply, want string }{
		// Offered, then refused: transient, and no plain text afterwards.
		{"refused", "454 4.7.0 TLS not available\r\n", "454 4.7.0 TLS not available"},
		{"refused for good", "554 5.7.3 no TLS today\r\n", "554 5.7.3 no TLS today"},
		// RFC 3207 6: anything after the 220 may be injected by a man in
		// the middle.
		{"injected", "220 ready\r\n250 injected\r\n", "sent data after its STARTTLS reply"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			port, _ := scriptedHost(t, cert, tt.reply)
			s := NewSession(cfg(port)) // opportunistic
			res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
			e := res[0].Err
			if e == nil || e.Permanent || e.Stage != "STARTTLS" || !strings.Contains(e.Error(), tt.want) {
				t.Fatalf("got %+v", e)
			}
		})
	}
}

// The W3C transcript over STARTTLS: the greeting once, EHLO before and
// after STARTTLS, then the transaction.
func TestOutboundW3CSTARTTLS(t *testing.T) {
	pki := testpki.New(t, "mailbridge test CA")
	sink := smtpsink.StartTLS(t, smtpsink.Hooks{}, smtpsink.TLSOptions{Config: serverTLS(pki.Server(t, "127.0.0.1"))})
	cfg := cfgFor(sink)
	cfg.TLS, cfg.RootCAs = TLSStartTLS, pki.Pool
	want := "220 EHLO 250 STARTTLS 220 EHLO 250 MAIL 250 RCPT 250 DATA 354 250 QUIT 221"
	if got, all := sendLogged(t, cfg); got != want {
		t.Fatalf("transcript %s, want %s:\n%s", got, want, all)
	}
}

// A certificate out of its validity: expired is the smart host's to fix;
// not valid yet is more often this machine's clock.
func TestTLSErrorValidityAdvice(t *testing.T) {
	now := time.Now()
	for _, tt := range []struct {
		name    string
		nb, na  time.Time
		want    string
		mustNot string
	}{
		{"expired", now.Add(-48 * time.Hour), now.Add(-24 * time.Hour), "must renew or fix its certificate", "clock"},
		{"not valid yet", now.Add(24 * time.Hour), now.Add(48 * time.Hour), "check this machine's clock", "renew"},
	} {
		cert := &x509.Certificate{Subject: pkix.Name{CommonName: "relay.example"}, DNSNames: []string{"relay.example"},
			Issuer: pkix.Name{CommonName: "CA"}, NotBefore: tt.nb, NotAfter: tt.na}
		err := (&TLSError{Name: "relay.example", Err: &tls.CertificateVerificationError{
			UnverifiedCertificates: []*x509.Certificate{cert},
			Err:                    x509.CertificateInvalidError{Cert: cert, Reason: x509.Expired},
		}}).Error()
		if !strings.Contains(err, tt.want) || strings.Contains(err, tt.mustNot) {
			t.Errorf("%s: %s", tt.name, err)
		}
	}
}

// A smart host that stalls in the TLS handshake (after its "220 Ready to
// start TLS") is given the connect timeout, not the command timeout of ten
// minutes (found from outside: the attempt hung with nothing logged).
func TestStalledHandshakeTimesOut(t *testing.T) {
	port := fakeSMTPWith(t, "STARTTLS", map[string]func(net.Conn, *bufio.Reader) bool{"STARTTLS": func(c net.Conn, r *bufio.Reader) bool {
		fmt.Fprintf(c, "220 2.0.0 Ready to start TLS\r\n")
		io.Copy(io.Discard, r) // and never answers the ClientHello
		return false
	}})
	cfg := Config{Host: "127.0.0.1", Port: port, Hostname: "client.test", TLS: TLSStartTLS,
		ConnectTimeout: 300 * time.Millisecond, CommandTimeout: time.Minute, InsecureSkipVerify: true}
	s := NewSession(cfg)
	defer s.Close()
	start := time.Now()
	res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
	if e := res[0].Err; e == nil || e.Permanent || e.Stage != "TLS handshake" || !strings.Contains(e.Error(), "did not complete the handshake within connect_timeout (300ms)") {
		t.Fatalf("got %+v, want a transient TLS handshake failure naming connect_timeout", e)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("the attempt took %s: the command timeout, not the connect timeout", d)
	}
}

// A smart host that takes only RSA key exchange suites (TLS 1.2, older
// Exchange servers and appliances) is reached with RSAKeyExchange, as
// Schannel reached it; without, the reason names the setting (found from
// outside: it said to enable TLS 1.2, which the host had).
func TestRSAKeyExchangeOnlyHost(t *testing.T) {
	pki := testpki.New(t, "mailbridge test CA")
	conf := serverTLS(pki.ServerRSA(t, "relay.example", "127.0.0.1"))
	conf.MaxVersion = tls.VersionTLS12
	conf.CipherSuites = []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}
	for _, rsaKex := range []bool{true, false} {
		t.Run(fmt.Sprint(rsaKex), func(t *testing.T) {
			sink := smtpsink.StartTLS(t, smtpsink.Hooks{}, smtpsink.TLSOptions{Config: conf})
			cfg := cfgFor(sink)
			cfg.TLS, cfg.RootCAs, cfg.RSAKeyExchange = TLSStartTLS, pki.Pool, rsaKex
			s := NewSession(cfg)
			defer s.Close()
			res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
			if rsaKex {
				if res[0].Err != nil || len(sink.Messages()) != 1 || !sink.Messages()[0].TLS {
					t.Fatalf("%+v", res[0].Err)
				}
				return
			}
			e := res[0].Err
			if e == nil || e.Permanent || e.Stage != "TLS handshake" || !strings.Contains(e.Error(), "set [outbound] tls_rsa_key_exchange = true") || strings.Contains(e.Error(), "enable TLS 1.2") {
				t.Fatalf("got %v", e)
			}
		})
	}
}

// A 530 asking for TLS, on a connection in plain text because opportunistic
// TLS failed, is not met with the advice to set tls = "starttls", which
// would not help (found from outside): the smart host's TLS is what fails.
func TestRequiresTLSAfterFallback(t *testing.T) {
	h := (&scriptHost{StartTLS: "454 4.7.0 TLS not available due to local problem", Mail: func(int) string {
		return "530 5.7.0 Must issue a STARTTLS command first"
	}}).start(t)
	cfg := scriptCfg(h)
	cfg.TLS, cfg.InsecureSkipVerify = TLSOpportunistic, true
	s := NewSession(cfg)
	defer s.Close()
	res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
	e := res[0].Err
	if e == nil || e.Permanent || !strings.Contains(e.ReplyLine(), "mailbridge sent in plain text because TLS with it failed (454 4.7.0 TLS not available") || strings.Contains(e.ReplyLine(), `set [outbound] tls = "starttls"`) {
		t.Fatalf("got %v", e)
	}
}

// A 530 asking for TLS from a host that offers no STARTTLS is told of its
// TLS port, not to set tls = "starttls", which fails as not offered (found
// from outside).
func TestRequiresTLSNotOffered(t *testing.T) {
	h := (&scriptHost{Mail: func(int) string { return "530 5.7.0 Must issue a STARTTLS command first" }}).start(t)
	cfg := scriptCfg(h)
	cfg.TLS, cfg.InsecureSkipVerify = TLSOpportunistic, true
	s := NewSession(cfg)
	defer s.Close()
	e := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))[0].Err
	if e == nil || e.Permanent || !strings.Contains(e.ReplyLine(), `offers no STARTTLS on this port: set [outbound] port to its TLS port with tls = "implicit"`) {
		t.Fatalf("got %v", e)
	}
}

// A host that closes the connection in the handshake, as one that finds no
// common suite may, is said to perhaps need the RSA key exchange suites
// when tls_rsa_key_exchange = false (found from outside).
func TestClosedInHandshakeRSAKeyExchangeOff(t *testing.T) {
	for _, rsaKex := range []bool{false, true} {
		h := (&scriptHost{StartTLS: "220 2.0.0 go ahead"}).start(t)
		cfg := scriptCfg(h)
		cfg.TLS, cfg.RSAKeyExchange = TLSStartTLS, rsaKex
		s := NewSession(cfg)
		e := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))[0].Err
		s.Close()
		if e == nil || e.Stage != "TLS handshake" || strings.Contains(e.ReplyLine(), "tls_rsa_key_exchange = false leaves out") == rsaKex {
			t.Fatalf("tls_rsa_key_exchange = %v: %v", rsaKex, e)
		}
	}
}
