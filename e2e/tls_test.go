//go:build !windows

package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/testtool"
)

// makePFX writes a self-signed certificate for hostname as a PFX file
// protected by password, with openssl; legacy selects the 3DES/RC2
// encoding that older Windows exports use.
func makePFX(t *testing.T, dir, password string, legacy bool) string {
	t.Helper()
	openssl := testtool.Path(t, "openssl", "openssl")
	key, crt := filepath.Join(dir, "key.pem"), filepath.Join(dir, "crt.pem")
	out, code := runCmd(t, time.Minute, openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes",
		"-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN="+hostname,
		"-addext", "subjectAltName=DNS:"+hostname)
	if code != 0 {
		t.Fatalf("openssl req: %s", out)
	}
	pfx := filepath.Join(dir, "cert.pfx")
	args := []string{"pkcs12", "-export", "-in", crt, "-inkey", key, "-out", pfx, "-passout", "pass:" + password}
	if legacy {
		args = append(args, "-legacy")
	}
	if out, code := runCmd(t, time.Minute, openssl, args...); code != 0 {
		t.Fatalf("openssl pkcs12: %s", out)
	}
	return pfx
}

// waitListening waits until addr accepts connections.
func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTLS runs mailbridge with a PFX made by openssl, STARTTLS on the
// plain port and implicit TLS on tls_port, and sends with swaks both ways
// and in clear: the Received header says "over TLS secured channel" exactly
// when the session was encrypted.
func TestTLS(t *testing.T) {
	swaks := testtool.Path(t, "swaks", "swaks")
	for _, legacy := range []bool{false, true} {
		name := "AES PFX"
		if legacy {
			name = "legacy 3DES PFX"
		}
		t.Run(name, func(t *testing.T) {
			pfx := makePFX(t, t.TempDir(), "s3cret pass", legacy)
			tlsPort := testtool.FreePort(t)
			d := startDaemon(t, options{inbound: fmt.Sprintf("tls = \"starttls\"\npfx_path = %q\npfx_password = \"s3cret pass\"\ntls_port = %d\n", pfx, tlsPort)})
			tlsAddr := fmt.Sprintf("127.0.0.1:%d", tlsPort)
			waitListening(t, tlsAddr)
			cases := []struct {
				name, server string
				args         []string
				tls          bool
			}{
				{"STARTTLS", d.addr, []string{"--tls"}, true},
				{"implicit", tlsAddr, []string{"--tlsc"}, true},
				{"clear", d.addr, nil, false},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					before := map[string]bool{}
					for _, n := range d.dropNames() {
						before[n] = true
					}
					args := append([]string{"-s", c.server, "--helo", "tls.test", "-f", "s@example.com", "-t", "r@example.org", "--timeout", "60"}, c.args...)
					out, code := runCmd(t, 2*time.Minute, swaks, args...)
					if code != 0 || !regexp.MustCompile(`(?m)^<[-~]  250 2\.6\.0 <`).MatchString(out) {
						t.Fatalf("swaks exit %d:\n%s", code, out)
					}
					if c.tls && !strings.Contains(out, "TLS started") {
						t.Errorf("swaks did not start TLS:\n%s", out)
					}
					var f *dropFile
					for _, n := range d.dropNames() {
						if !before[n] {
							f = parseDrop(t, filepath.Join(d.drop, n))
						}
					}
					if f == nil {
						t.Fatal("no new Drop file")
					}
					if got := strings.Contains(f.received, " by "+hostname+" over TLS secured channel with "); got != c.tls {
						t.Errorf("Received %q: over TLS = %v, want %v", f.received, got, c.tls)
					}
				})
			}
		})
	}
}

// TestMinTLSVersion: with min_tls_version = "1.3" a TLS 1.2 client is
// refused at the handshake and a TLS 1.3 client gets the greeting.
func TestMinTLSVersion(t *testing.T) {
	openssl := testtool.Path(t, "openssl", "openssl")
	pfx := makePFX(t, t.TempDir(), "pw", false)
	d := startDaemon(t, options{inbound: fmt.Sprintf("tls = \"implicit\"\npfx_path = %q\npfx_password = \"pw\"\nmin_tls_version = \"1.3\"\n", pfx)})
	for _, c := range []struct {
		flag string
		ok   bool
	}{{"-tls1_2", false}, {"-tls1_3", true}} {
		out, _ := runCmdInput(t, "QUIT\r\n", openssl, "s_client", "-connect", d.addr, c.flag, "-crlf", "-quiet")
		if got := strings.Contains(out, "220 "+hostname); got != c.ok {
			t.Errorf("openssl s_client %s: greeted = %v, want %v:\n%s", c.flag, got, c.ok, out)
		}
	}
}

// TestRelayRules: with local_domains set, mail for other domains is
// refused with IIS's 550 5.7.1 (no open relay) and local mail is stored;
// deny_from closes the door with 554 5.7.1 before any command.
func TestRelayRules(t *testing.T) {
	d := startDaemon(t, options{inbound: `local_domains = ["example.org"]`})
	s := dialSMTP(t, d.addr)
	expect(t, s.last(), "220 ")
	s.send("EHLO relay.test\r\n")
	s.reply()
	expect(t, s.cmd("MAIL FROM:<s@example.com>"), "250 ")
	if got := s.cmd("RCPT TO:<x@elsewhere.test>"); got != "550 5.7.1 Unable to relay for x@elsewhere.test" {
		t.Errorf("RCPT for a foreign domain: %q", got)
	}
	expect(t, s.cmd("RCPT TO:<a@Example.ORG>"), "250 2.1.5 ")
	expect(t, s.cmd("DATA"), "354 ")
	s.send("Subject: local\r\n\r\nx\r\n.\r\n")
	expect(t, s.last(), "250 2.6.0 ")
	f := parseDrop(t, d.waitDrop(1)[0])
	if strings.Join(f.rcpts, ",") != "a@Example.ORG" {
		t.Errorf("recipients %q", f.rcpts)
	}

	denied := startDaemon(t, options{inbound: `deny_from = ["127.0.0.0/8"]`})
	c := dialSMTP(t, denied.addr)
	if got := c.last(); !strings.HasPrefix(got, "554 5.7.1 ") {
		t.Errorf("denied client told %q", got)
	}
}

// TestRelaySplit: a client in relay_from, with intercept off, sends one
// message to a local and a remote recipient: the local one gets a Drop
// file, the remote one a Pickup file for the smart host (dot-stuffed, as
// Pickup files are by default), both with the same Message-ID, and one
// 250.
func TestRelaySplit(t *testing.T) {
	d := startDaemon(t, options{inbound: "local_domains = [\"example.org\"]\nrelay_from = [\"127.0.0.1\"]\nintercept = false\n"})
	s := dialSMTP(t, d.addr)
	expect(t, s.last(), "220 ")
	s.send("EHLO split.test\r\n")
	s.reply()
	expect(t, s.cmd("MAIL FROM:<s@example.com>"), "250 ")
	expect(t, s.cmd("RCPT TO:<near@example.org>"), "250 ")
	expect(t, s.cmd("RCPT TO:<far@remote.test>"), "250 ")
	expect(t, s.cmd("DATA"), "354 ")
	s.send("Subject: split\r\n\r\n..dot line\r\nx\r\n.\r\n")
	reply := s.last()
	expect(t, reply, "250 2.6.0 <")
	drop := parseDrop(t, d.waitDrop(1)[0])
	// The relayed copy goes to Pickup, where the bridge claims it into
	// Queue at once (no Outbound Server here, so it waits there), in the
	// same x-sender/x-receiver form, still dot-stuffed.
	var relayed string
	for deadline := time.Now().Add(10 * time.Second); relayed == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, dir := range []string{"Pickup", "Queue"} {
			for _, n := range listDir(t, filepath.Join(d.root, dir)) {
				if !strings.HasSuffix(n, ".eml") {
					continue
				}
				// Read it whole before the bridge moves it on.
				b, err := os.ReadFile(filepath.Join(d.root, dir, n))
				if err != nil {
					continue
				}
				relayed = filepath.Join(t.TempDir(), n)
				if err := os.WriteFile(relayed, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if relayed == "" {
		t.Fatal("the relayed copy is in neither Pickup nor Queue")
	}
	pickup := parseDrop(t, relayed)
	if strings.Join(drop.rcpts, ",") != "near@example.org" || strings.Join(pickup.rcpts, ",") != "far@remote.test" {
		t.Errorf("Drop for %q, Pickup for %q", drop.rcpts, pickup.rcpts)
	}
	if id := drop.header("Message-ID"); id != pickup.header("Message-ID") || !strings.Contains(reply, id) {
		t.Errorf("Message-IDs: Drop %q, Pickup %q, reply %q", id, pickup.header("Message-ID"), reply)
	}
	if string(drop.body) != ".dot line\r\nx\r\n" || string(pickup.body) != "..dot line\r\nx\r\n" {
		t.Errorf("bodies: Drop %q, Pickup %q", drop.body, pickup.body)
	}
}
