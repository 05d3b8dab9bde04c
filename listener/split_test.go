package listener

import (
	"bufio"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// splitPause is how long a test waits between the pieces of a line: long
// enough for the server to read each piece apart on loopback.
const splitPause = 15 * time.Millisecond

// sendSplit writes s cut at the offsets in cuts, pausing between the
// pieces, as a slow link or a client flushing mid-line delivers it.
func (c *client) sendSplit(s string, cuts ...int) {
	c.t.Helper()
	c.sendPaused(s, splitPause, cuts...)
}

func (c *client) sendPaused(s string, pause time.Duration, cuts ...int) {
	c.t.Helper()
	prev := 0
	for _, k := range append(cuts, len(s)) {
		if k <= prev || k > len(s) {
			continue
		}
		c.send(s[prev:k])
		prev = k
		if k < len(s) {
			time.Sleep(pause)
		}
	}
}

// typeLine writes line and CRLF one byte at a time, as Windows telnet
// sends what is typed.
func (c *client) typeLine(line string) {
	c.t.Helper()
	s := line + "\r\n"
	cuts := make([]int, len(s))
	for i := range cuts {
		cuts[i] = i + 1
	}
	c.sendPaused(s, 5*time.Millisecond, cuts...)
}

// manyConnections is testConfig for a test that opens a connection per
// case.
func manyConnections() Config {
	cfg := testConfig()
	cfg.MaxConnections = 0
	return cfg
}

// TestSplitGreetingWithControl: a HELO or EHLO whose argument holds a CR
// is refused (RFC 5321 section 4.1.1.1) however the line is cut across
// the client's writes: a client must not get its CR into the Received
// header of the Drop file by sending the line in two pieces.
func TestSplitGreetingWithControl(t *testing.T) {
	ts := startServer(t, manyConnections())
	for _, line := range []string{"EHLO evil\rX-Injected: yes\r\n", "HELO a\rb\r\n"} {
		for cut := 1; cut < len(line); cut++ {
			c := dial(t, ts.addr)
			c.reply()
			c.sendSplit(line, cut)
			if r := c.reply(); !strings.HasPrefix(r, "501 5.5.4") {
				t.Fatalf("%q cut at %d: %q, want 501 5.5.4", line, cut, r)
			}
			c.expect("HELO client.test", "250")
			if r := c.sendMessage("a@x.test", []string{"b@y.test"}, "Subject: split\r\n\r\nbody"); !strings.HasPrefix(r, "250 2.6.0") {
				t.Fatalf("%q cut at %d: message: %q", line, cut, r)
			}
			c.expect("QUIT", "221")
		}
	}
	names := ts.dropFiles(t)
	if want := len("EHLO evil\rX-Injected: yes\r\n") - 1 + len("HELO a\rb\r\n") - 1; len(names) != want {
		t.Fatalf("Drop holds %d files, want %d", len(names), want)
	}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(ts.drop, n))
		if err != nil {
			t.Fatal(err)
		}
		if s := string(b); strings.Count(s, "\r") != strings.Count(s, "\r\n") || strings.Contains(s, "Injected") ||
			!strings.Contains(s, "Received: from client.test ") {
			t.Fatalf("Drop file %s:\n%q", n, s)
		}
	}
}

// TestTypedSession: a client that sends one byte at a time (Windows
// telnet) gets the same answers as one that sends whole lines: STARTTLS,
// once advertised, is carried out (RFC 3207 section 4: 220, then the
// handshake), and RCPT TO:<postmaster> is accepted (RFC 5321 section
// 4.5.1).
func TestTypedSession(t *testing.T) {
	ts, _, pool := startTLSServer(t, true)
	c := dial(t, ts.addr)
	c.reply()
	c.typeLine("EHLO client.test")
	if r := c.reply(); !strings.Contains(r, "250-STARTTLS") {
		t.Fatalf("EHLO: %q", r)
	}
	c.typeLine("STARTTLS")
	if r := c.reply(); r != "220 2.0.0 SMTP server ready" {
		t.Fatalf("STARTTLS: %q", r)
	}
	tc := tls.Client(c.c, &tls.Config{RootCAs: pool, ServerName: "mail.example.com"})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	s := &client{t: t, c: tc, br: bufio.NewReader(tc)}
	for _, tc := range []struct{ line, want string }{
		{"EHLO client.test", "250-mail.example.com Hello [127.0.0.1]"},
		{"MAIL FROM:<a@x.test>", "250 2.1.0"},
		{"RCPT TO:<postmaster>", "250 2.1.5 postmaster@mail.example.com"},
		{"DATA", "354"},
		{"Subject: typed", ""},
		{"", ""},
		{"body", ""},
		{".", "250 2.6.0"},
		{"QUIT", "221"},
	} {
		s.typeLine(tc.line)
		if tc.want == "" {
			continue
		}
		if r := s.reply(); !strings.HasPrefix(r, tc.want) {
			t.Fatalf("%q typed: %q, want %q", tc.line, r, tc.want)
		}
	}
	got := string(ts.onlyDrop(t))
	if !strings.HasPrefix(got, "x-sender: a@x.test\r\nx-receiver: postmaster@mail.example.com\r\n") ||
		!strings.Contains(got, " over TLS secured channel with ") {
		t.Fatalf("Drop file:\n%s", got)
	}
}

// TestPostmasterAcrossReads: RCPT TO:<postmaster> is accepted (RFC 5321
// section 4.5.1) wherever the server's reads cut it: in a pipelined batch
// (RFC 2920) it may straddle the 4096 bytes go-smtp reads at a time, and
// a slow client may send it in pieces.
func TestPostmasterAcrossReads(t *testing.T) {
	ts := startServer(t, manyConnections())
	const rcpt = "RCPT TO:<postmaster>\r\n"
	mail := "MAIL FROM:<a@x.test>\r\n"
	var runs int
	// The batch's first 4096 bytes end j bytes into the RCPT line.
	for j := 1; j < len(rcpt); j++ {
		c := dial(t, ts.addr)
		c.hello()
		noop := "NOOP " + strings.Repeat("x", 4096-j-len(mail)-len("NOOP \r\n")) + "\r\n"
		c.send(mail + noop + rcpt + "DATA\r\n")
		c.replies("250 2.1.0", "250 2.0.0", "250 2.1.5 postmaster@mail.example.com", "354")
		c.send("Subject: batch\r\n\r\nbody\r\n.\r\n")
		c.replies("250 2.6.0")
		c.expect("QUIT", "221")
		runs++
	}
	// In two pieces, cut anywhere.
	for cut := 1; cut < len(rcpt); cut++ {
		c := dial(t, ts.addr)
		c.hello()
		c.expect("MAIL FROM:<a@x.test>", "250")
		c.sendSplit(rcpt, cut)
		c.replies("250 2.1.5 postmaster@mail.example.com")
		c.expect("DATA", "354")
		c.send("Subject: split\r\n\r\nbody\r\n.\r\n")
		c.replies("250 2.6.0")
		c.expect("QUIT", "221")
		runs++
	}
	names := ts.dropFiles(t)
	if len(names) != runs {
		t.Fatalf("Drop holds %d files, want %d", len(names), runs)
	}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(ts.drop, n))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), "x-sender: a@x.test\r\nx-receiver: postmaster@mail.example.com\r\n") {
			t.Fatalf("Drop file %s:\n%s", n, b)
		}
	}
}
