package listener

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// TestRelayMatrix: local, alias and other domains, from a listed and an
// unlisted client, with the Email Interceptor on and off.
func TestRelayMatrix(t *testing.T) {
	listed := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	unlisted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	type want struct{ reply, folder string }
	tests := []struct {
		rcpt      string
		relay     []netip.Prefix
		intercept bool
		want      want
	}{
		{"u@local.test", unlisted, false, want{"250 2.1.5", "Drop"}},
		{"u@alias.test", unlisted, false, want{"250 2.1.5", "Drop"}},
		{"u@mail.example.com", unlisted, false, want{"250 2.1.5", "Drop"}},
		{"u@other.test", unlisted, false, want{"550 5.7.1 Unable to relay for u@other.test", ""}},
		{"u@other.test", unlisted, true, want{"550 5.7.1 Unable to relay for u@other.test", ""}},
		{"u@other.test", listed, false, want{"250 2.1.5", "Pickup"}},
		{"u@other.test", listed, true, want{"250 2.1.5", "Drop"}},
		{"u@local.test", listed, false, want{"250 2.1.5", "Drop"}},
	}
	for _, tt := range tests {
		name := tt.rcpt + map[bool]string{true: "/listed", false: "/unlisted"}[tt.relay[0].Bits() == 8 && tt.relay[0].Addr().Is4() && tt.relay[0].Addr().As4()[0] == 127]
		if tt.intercept {
			name += "/intercept"
		}
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			cfg.LocalDomains = []string{"local.test", "Alias.Test"}
			cfg.RelayFrom, cfg.Intercept = tt.relay, tt.intercept
			ts := startServer(t, cfg)
			c := dial(t, ts.addr)
			c.hello()
			c.expect("MAIL FROM:<a@x.test>", "250")
			if r := c.cmd("RCPT TO:<" + tt.rcpt + ">"); !strings.HasPrefix(r, tt.want.reply) {
				t.Fatalf("RCPT: %q, want %q", r, tt.want.reply)
			}
			if tt.want.folder == "" {
				return
			}
			c.expect("DATA", "354")
			c.send("Subject: relay\r\n\r\n..dot line\r\n.\r\n")
			if r := c.reply(); !strings.HasPrefix(r, "250 2.6.0") {
				t.Fatalf("DATA: %q", r)
			}
			for _, f := range ts.root.Layout().Folders() {
				entries, _ := filepath.Glob(filepath.Join(f.Path, "*.eml"))
				n := len(entries)
				if (f.Name == tt.want.folder) != (n == 1) || n > 1 {
					t.Errorf("%s holds %d files; want the message in %s", f.Name, n, tt.want.folder)
				}
				if f.Name == "Pickup" && n == 1 {
					b, _ := os.ReadFile(entries[0])
					// The Pickup reader treats the file as a DATA stream.
					if !strings.HasPrefix(string(b), "x-sender: a@x.test\r\nx-receiver: u@other.test\r\nReceived: ") || !strings.HasSuffix(string(b), "\r\n\r\n..dot line\r\n") {
						t.Errorf("Pickup file %q", b)
					}
					// mailbridge's alone until claimed (found from
					// outside: Pickup writers could read and change it).
					if fi, err := os.Stat(entries[0]); runtime.GOOS != "windows" && (err != nil || fi.Mode().Perm() != 0o600) {
						t.Errorf("Pickup file mode %v %v, want 0600", fi.Mode(), err)
					}
				}
			}
		})
	}
}

// TestNoOpenRelay: whatever an address looks like, an unlisted client gets
// no mail out; what is accepted goes to Drop.
func TestNoOpenRelay(t *testing.T) {
	ts := startServer(t, noRelayConfig())
	c := dial(t, ts.addr)
	c.hello()
	c.expect("MAIL FROM:<a@x.test>", "250")
	for _, rcpt := range []string{
		"<victim@other.test>", "<VICTIM@OTHER.TEST>", "<victim@other.test.>",
		"<@local.test:victim@other.test>", "<@local.test,@relay.test:victim@other.test>",
		"<victim@[10.9.8.7]>", "<victim@[IPv6:2001:db8::1]>", "<victim@local.test@other.test>",
		"<\"victim@local.test\"@other.test>", "<victim%local.test@other.test>",
	} {
		r := c.cmd("RCPT TO:" + rcpt)
		if !strings.HasPrefix(r, "550 5.7.1") && !strings.HasPrefix(r, "501 ") {
			t.Errorf("RCPT TO:%s accepted from an unlisted client: %q", rcpt, r)
		}
	}
	// Tricks that name a local domain are accepted, and land in Drop only.
	for _, rcpt := range []string{"<victim%other.test@local.test>", "<\"victim@other.test\"@local.test>", "<u@[127.0.0.1]>", "<U@LOCAL.TEST>"} {
		c.expect("RCPT TO:"+rcpt, "250 2.1.5")
	}
	c.expect("DATA", "354")
	c.send("Subject: x\r\n\r\nbody\r\n.\r\n")
	if r := c.reply(); !strings.HasPrefix(r, "250 2.6.0") {
		t.Fatal(r)
	}
	if n, _ := os.ReadDir(ts.root.Layout().Pickup); len(n) != 0 {
		t.Fatalf("Pickup holds %d files", len(n))
	}
	ts.onlyDrop(t)
}

func TestConnectionControl(t *testing.T) {
	for _, tt := range []struct {
		allow, deny []netip.Prefix
		ok          bool
		by          string // the list the log names
	}{
		{nil, nil, true, ""},
		{[]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, nil, true, ""},
		{[]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, nil, false, "allow_from"},
		{nil, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, false, "deny_from"},
		{[]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, false, "deny_from"},
	} {
		cfg := testConfig()
		cfg.AllowFrom, cfg.DenyFrom = tt.allow, tt.deny
		ts := startServer(t, cfg)
		c := dial(t, ts.addr)
		r := c.reply()
		if tt.ok != strings.HasPrefix(r, "220 ") {
			t.Errorf("allow %v deny %v: %q", tt.allow, tt.deny, r)
		}
		if !tt.ok && r != "554 5.7.1 mail.example.com Access denied" {
			t.Errorf("refusal %q", r)
		}
		if !tt.ok {
			// RFC 5321 section 3.1: after a 554 the server waits for
			// QUIT, and answers other commands 503.
			c.expect("EHLO client.test", "503 5.5.1")
			c.expect("MAIL FROM:<a@x.test>", "503 5.5.1")
			c.expect("QUIT", "221 2.0.0 mail.example.com")
			c.waitClosed()
			// The list that refused, and the address as other lines give
			// it (found from outside: "allow_from/deny_from", IP:port).
			if logs := ts.logs.String(); !strings.Contains(logs, `msg="connection refused by `+tt.by+`" client=127.0.0.1`+"\n") {
				t.Errorf("allow %v deny %v: log:\n%s", tt.allow, tt.deny, logs)
			}
		}
	}
}

// A link-local IPv6 client's address carries its zone ("fe80::1%eth0"):
// it is matched without it, so that allow_from, deny_from and relay_from
// ranges apply. (A client with a link-local address cannot be made on
// loopback: the address is the one accept gives.) Found from outside: a
// deny_from of fe80::/10 let such clients in.
func TestLinkLocalClientMatched(t *testing.T) {
	client := &net.TCPAddr{IP: net.ParseIP("fe80::1234"), Zone: "eth0", Port: 50000}
	linkLocal := []netip.Prefix{netip.MustParsePrefix("fe80::/10")}
	s := &Server{cfg: Config{DenyFrom: linkLocal}}
	if s.refusedBy(addrIP(client)) == "" {
		t.Error("deny_from fe80::/10 admitted fe80::1234 on eth0")
	}
	s = &Server{cfg: Config{AllowFrom: linkLocal}}
	if s.refusedBy(addrIP(client)) != "" {
		t.Error("allow_from fe80::/10 refused fe80::1234 on eth0")
	}
	if ip := addrIP(client); ip != netip.MustParseAddr("fe80::1234") || !inPrefixes(ip, linkLocal) {
		t.Errorf("addrIP = %v", ip)
	}
}

// TestInternationalizedLocalDomains: a recipient's domain is compared with
// the local domains in its ASCII form, case-insensitively (RFC 5890, RFC
// 6531; RFC 5321 section 2.4), whichever form the client writes it in and
// whichever form the configuration holds; the Drop file keeps each address
// exactly as the client sent it. The client is go-smtp's, with SMTPUTF8.
func TestInternationalizedLocalDomains(t *testing.T) {
	cfg := testConfig()
	// config.Load gives A-labels; a Unicode name given directly is
	// compared the same way.
	cfg.LocalDomains = []string{"xn--mller-kva.test", "Bücher.test"}
	cfg.RelayFrom = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	ts := startServer(t, cfg)
	c, err := smtp.Dial(ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("a@x.test", &smtp.MailOptions{UTF8: true}); err != nil {
		t.Fatal(err)
	}
	var accepted []string
	for _, tt := range []struct {
		rcpt string
		code int // 0: accepted
	}{
		{"u@müller.test", 0},
		{"u@MÜLLER.TEST", 0},
		{"u@XN--MLLER-KVA.TEST", 0},
		{"u@xn--mller-kva.test", 0},
		{"v@bücher.test", 0},
		{"v@xn--bcher-kva.test", 0},
		{"v@BÜCHER.Test", 0},
		{"u@mueller.test", 550},
		{"u@müller.test.example", 550},
		{"u@mü ller.test", 501},
	} {
		err := c.Rcpt(tt.rcpt, nil)
		var se *smtp.SMTPError
		switch {
		case tt.code == 0 && err != nil:
			t.Errorf("RCPT TO:<%s>: %v, want 250", tt.rcpt, err)
		case tt.code == 0:
			accepted = append(accepted, tt.rcpt)
		case !errors.As(err, &se) || se.Code != tt.code:
			t.Errorf("RCPT TO:<%s>: %v, want %d", tt.rcpt, err, tt.code)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "Subject: idn\r\n\r\nbody\r\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	// Each spelling names one recipient: the first is written, once.
	var want strings.Builder
	want.WriteString("x-sender: a@x.test\r\n")
	seen := map[string]bool{}
	for _, r := range accepted {
		if !seen[r[:1]] {
			seen[r[:1]] = true
			want.WriteString("x-receiver: " + r + "\r\n")
		}
	}
	if got := ts.onlyDrop(t); !strings.HasPrefix(string(got), want.String()+"Received: ") {
		t.Errorf("Drop file begins\n%q\nwant\n%q", got[:min(len(got), want.Len()+10)], want.String())
	}
}

// TestRelayCopyFailsAfterDropCopy: a message for a local and a relayed
// recipient whose relay copy cannot be stored after its Drop copy was gets
// 451, and its Drop copy goes again: the client sends the whole message
// once more, and Drop must not hold it twice (found from outside).
func TestRelayCopyFailsAfterDropCopy(t *testing.T) {
	cfg := testConfig()
	cfg.LocalDomains = []string{"local.test"}
	cfg.RelayFrom = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	var pickup string
	cfg.atCommit = func(s string) {
		if s == "after" {
			os.RemoveAll(pickup) // the relay copy's folder gone
		}
	}
	ts := startServer(t, cfg)
	pickup = ts.root.Layout().Pickup
	c := dial(t, ts.addr)
	c.hello()
	c.expect("MAIL FROM:<a@x.test>", "250")
	c.expect("RCPT TO:<u@local.test>", "250")
	c.expect("RCPT TO:<far@remote.test>", "250")
	c.expect("DATA", "354")
	c.send("Subject: mixed\r\n\r\nhello\r\n.\r\n")
	if r := c.reply(); !strings.HasPrefix(r, "451 4.3.0") {
		t.Fatalf("reply %q, want 451", r)
	}
	if n := ts.dropFiles(t); len(n) != 0 {
		t.Fatalf("Drop holds %v after the 451", n)
	}
}

// A client on ::1 refused relay, where relay_from lets in 127.0.0.1, gets
// a log line that says to add ::1: a program sending to "localhost"
// reaches ::1 first, and IIS's lists knew IPv4 only (found from outside).
func TestRelayRefusedOnIPv6LoopbackHint(t *testing.T) {
	cfg := testConfig()
	cfg.LocalDomains = []string{"local.test"}
	cfg.RelayFrom = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	ts := startServer(t, cfg)
	c := dialIPv6(t, ts)
	c.hello()
	c.expect("MAIL FROM:<a@x.test>", "250")
	c.expect("RCPT TO:<u@other.test>", "550 5.7.1 Unable to relay for u@other.test")
	if logs := ts.logs.String(); !strings.Contains(logs, `hint="relay_from lets in 127.0.0.1 but not ::1`) {
		t.Fatalf("log:\n%s", logs)
	}
}

// A domain's final dot (a DNS-style fully qualified name) is dropped from
// the envelope: RFC 5321's Domain has none, and a smart host refuses it
// (found from outside: relayed as written, refused, reported to the same
// refused address).
func TestFinalDotDropped(t *testing.T) {
	ts := startServer(t, testConfig())
	c := dial(t, ts.addr)
	c.hello()
	c.expect("MAIL FROM:<a@x.test.>", "250")
	c.expect("RCPT TO:<b@y.test.>", "250")
	c.expect("RCPT TO:<c@[127.0.0.1]>", "250")
	c.expect("DATA", "354")
	c.send("Subject: dot\r\n\r\nbody\r\n.\r\n")
	if r := c.reply(); !strings.HasPrefix(r, "250 2.6.0") {
		t.Fatal(r)
	}
	if got := string(ts.onlyDrop(t)); !strings.HasPrefix(got, "x-sender: a@x.test\r\nx-receiver: b@y.test\r\nx-receiver: c@[127.0.0.1]\r\n") {
		t.Fatalf("Drop file:\n%s", got)
	}
}

// The same for allow_from: a client on ::1 refused at connect, where
// allow_from lets in 127.0.0.1, gets a log line that says to add ::1.
func TestAllowFromIPv6LoopbackHint(t *testing.T) {
	cfg := testConfig()
	cfg.AllowFrom = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	ts := startServer(t, cfg)
	c := dialIPv6(t, ts)
	if r := c.reply(); !strings.HasPrefix(r, "554 5.7.1") {
		t.Fatalf("greeting %q", r)
	}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(ts.logs.String(), `hint="allow_from lets in 127.0.0.1 but not ::1`); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("log:\n%s", ts.logs.String())
		}
	}
}

// dialIPv6 connects to ts over ::1, serving it there too; the test is
// skipped where there is no IPv6 loopback.
func dialIPv6(t *testing.T, ts *testServer) *client {
	t.Helper()
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	go ts.srv.Serve(ln)
	return dial(t, ln.Addr().String())
}

// The relay refusal echoes the address in printable ASCII, save in a
// transaction begun with SMTPUTF8 (as the 250 replies do).
func TestRelayRefusalASCII(t *testing.T) {
	cfg := testConfig()
	cfg.LocalDomains = []string{"local.test"}
	ts := startServer(t, cfg)
	c := dial(t, ts.addr)
	c.hello()
	c.expect("MAIL FROM:<a@x.test>", "250")
	c.expect("RCPT TO:<jörg@other.test>", "550 5.7.1 Unable to relay for j?rg@other.test")
	c.expect("RSET", "250")
	c.expect("MAIL FROM:<a@x.test> SMTPUTF8", "250")
	c.expect("RCPT TO:<jörg@other.test>", "550 5.7.1 Unable to relay for jörg@other.test")
}

// Refused recipients are logged one by one up to a burst, then one a
// second, the next line saying how many were not (found from outside: a
// client reconnecting in a loop with a thousand refused recipients each
// time had the log's rotation take away its whole history within a
// minute).
func TestRelayRefusedLinesBounded(t *testing.T) {
	ts := startServer(t, noRelayConfig())
	c := dial(t, ts.addr)
	c.hello()
	c.expect("MAIL FROM:<a@x.test>", "250")
	for i := 0; i < refusalBurst+10; i++ {
		c.expect(fmt.Sprintf("RCPT TO:<u%d@other.test>", i), "550 5.7.1")
	}
	if n := strings.Count(ts.logs.String(), "relay refused"); n != refusalBurst {
		t.Fatalf("%d relay refused lines for %d recipients, want %d", n, refusalBurst+10, refusalBurst)
	}
	// Another client's refusal is logged still (found from outside: with
	// one budget for all, a client in a loop hid every other's).
	if other, err := dialFrom(t, "127.0.0.2", ts.addr); err != nil {
		t.Logf("no second loopback address here (%v): another client's line not tried", err)
	} else {
		other.hello()
		other.expect("MAIL FROM:<app@x.test>", "250")
		other.expect("RCPT TO:<someone@other.test>", "550 5.7.1")
		if logs := ts.logs.String(); !strings.Contains(logs, "client=127.0.0.2 from=app@x.test to=someone@other.test") {
			t.Fatalf("another client's refusal not logged:\n%s", logs)
		}
	}
	time.Sleep(1100 * time.Millisecond)
	c.expect("RCPT TO:<last@other.test>", "550 5.7.1")
	if logs := ts.logs.String(); !strings.Contains(logs, "to=last@other.test not_logged=10") {
		t.Fatalf("the line after the pause does not count those not logged:\n%s", logs)
	}
}

func TestRefusalLog(t *testing.T) {
	var r refusalLog
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < refusalBurst; i++ {
		if ok, _ := r.take("192.0.2.1", t0); !ok {
			t.Fatalf("line %d of the burst refused", i+1)
		}
	}
	for i := 0; i < 5; i++ {
		if ok, _ := r.take("192.0.2.1", t0.Add(500*time.Millisecond)); ok {
			t.Fatalf("line %d past the burst let through", i+1)
		}
	}
	// Another client's lines are its own (found from outside: one client
	// in a loop left no line for an application's refused recipient).
	if ok, skipped := r.take("192.0.2.2", t0.Add(600*time.Millisecond)); !ok || skipped != 0 {
		t.Fatalf("another client: %v, %d skipped", ok, skipped)
	}
	if ok, skipped := r.take("192.0.2.1", t0.Add(1100*time.Millisecond)); !ok || skipped != 5 {
		t.Fatalf("a second later: %v, %d skipped", ok, skipped)
	}
	if ok, _ := r.take("192.0.2.1", t0.Add(time.Hour)); !ok {
		t.Fatal("an hour later: refused")
	}
	// A client that stops: its count is said once it is quiet, once.
	t1 := t0.Add(2 * time.Hour)
	for i := 0; i < refusalBurst+3; i++ {
		r.take("192.0.2.3", t1)
	}
	// Before: none said, and the wait is until it has been quiet for
	// the whole period (found from outside: a whole period more).
	if counts, wait := r.unreported(t1.Add(time.Second), 10*time.Second); len(counts) != 0 || wait != 9*time.Second {
		t.Fatalf("before it is quiet: %v, wait %v", counts, wait)
	}
	if counts, wait := r.unreported(t1.Add(10*time.Second), 10*time.Second); len(counts) != 1 || counts[0] != (notLogged{"192.0.2.3", 3}) || wait != 0 {
		t.Fatalf("once it is quiet: %v, wait %v", counts, wait)
	}
	if counts, _ := r.unreported(t1.Add(time.Minute), 0); len(counts) != 0 {
		t.Fatalf("said twice: %v", counts)
	}

	// Many clients at once: allBurst lines, then allRate a second.
	var many refusalLog
	n := 0
	for i := 0; i < 2*allBurst; i++ {
		if ok, _ := many.take(fmt.Sprintf("198.51.100.%d", i%250), t0); ok {
			n++
		}
	}
	if n != allBurst {
		t.Fatalf("%d lines of many clients at once, want %d", n, allBurst)
	}
	n = 0
	for i := 0; i < 100; i++ {
		if ok, _ := many.take(fmt.Sprintf("203.0.113.%d", i), t0.Add(time.Second)); ok {
			n++
		}
	}
	if n != allRate {
		t.Fatalf("%d lines a second later, want %d", n, allRate)
	}

	// Budgets are kept for refusalClients clients: the idle ones are
	// forgotten to make room, the others share one.
	var bounded refusalLog
	for i := 0; i < refusalClients; i++ {
		bounded.take(fmt.Sprintf("c%d", i), t0)
	}
	bounded.take("late", t0)
	if len(bounded.clients) != refusalClients {
		t.Fatalf("%d budgets kept, want %d", len(bounded.clients), refusalClients)
	}
	// Those over the budget for all are kept until their counts are
	// said, as reportRefusals does once they are quiet.
	if counts, _ := bounded.unreported(t0.Add(2*time.Minute), quietRefusals); len(counts) != refusalClients+1-allBurst {
		t.Fatalf("%d counts said, want %d", len(counts), refusalClients+1-allBurst)
	}
	bounded.take("later", t0.Add(2*time.Minute))
	if len(bounded.clients) != 1 {
		t.Fatalf("%d budgets kept after two idle minutes, want the new client's alone", len(bounded.clients))
	}
}

// noRelayConfig is a listener for local.test alone, relaying for
// 192.0.2.0/24 only: loopback clients are refused any other domain.
func noRelayConfig() Config {
	cfg := testConfig()
	cfg.LocalDomains = []string{"local.test"}
	cfg.RelayFrom = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	return cfg
}

// A client that stops has the count of its lines not logged said once it
// is quiet, or at the stop (found from outside: a flood's count was never
// logged when the client did not come back).
func TestRefusalCountSaidWhenQuiet(t *testing.T) {
	flood := func(ts *testServer, quiet time.Duration) {
		ts.srv.mu.Lock()
		ts.srv.refusalQuiet = quiet
		ts.srv.mu.Unlock()
		c := dial(t, ts.addr)
		c.hello()
		c.expect("MAIL FROM:<a@x.test>", "250")
		for i := 0; i < refusalBurst+7; i++ {
			c.expect(fmt.Sprintf("RCPT TO:<u%d@other.test>", i), "550 5.7.1")
		}
	}
	const line = "refusals of a client not logged: over its line budget\" client=127.0.0.1 not_logged=7"
	ts := startServer(t, noRelayConfig())
	flood(ts, 200*time.Millisecond)
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(ts.logs.String(), line); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no count once the client is quiet:\n%s", ts.logs.String())
		}
	}
	if n := strings.Count(ts.logs.String(), "not_logged="); n != 1 {
		t.Fatalf("%d counts, want 1:\n%s", n, ts.logs.String())
	}

	var stopped *testServer
	t.Run("at the stop", func(t *testing.T) {
		stopped = startServer(t, noRelayConfig())
		flood(stopped, time.Hour)
		if strings.Contains(stopped.logs.String(), "not_logged=") {
			t.Fatalf("count said before the client is quiet:\n%s", stopped.logs.String())
		}
	}) // its server is shut down here
	if !strings.Contains(stopped.logs.String(), line) {
		t.Fatalf("no count at the stop:\n%s", stopped.logs.String())
	}
}
