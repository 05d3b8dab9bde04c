package listener

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/compat"
)

// attachmentMessage returns a MIME message with one base64 attachment of
// n decoded bytes.
func attachmentMessage(n int) string {
	raw := make([]byte, n)
	for i := range raw {
		raw[i] = byte(i * 7)
	}
	enc := base64.StdEncoding.EncodeToString(raw)
	var b strings.Builder
	b.WriteString("Subject: attachment\r\nMessage-ID: <att@x>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n" +
		"--b1\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\nContent-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=\"report.pdf\"\r\n\r\n")
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--b1--")
	return b.String()
}

func TestLimits(t *testing.T) {
	cfg := testConfig()
	cfg.MaxMessageSize = 64 << 10
	cfg.MaxAttachmentSize = 16 << 10
	cfg.MaxRecipients = 3

	t.Run("SIZE parameter over the limit", func(t *testing.T) {
		ts := startServer(t, cfg)
		c := dial(t, ts.addr)
		c.hello()
		c.expect(fmt.Sprintf("MAIL FROM:<a@x.test> SIZE=%d", 64<<10+1), "552 5.3.4 Message size exceeds fixed maximum message size")
		c.expect("MAIL FROM:<a@x.test> SIZE=100", "250 2.1.0")
		c.expect("RSET", "250 2.0.0")
		// Above 2^32, which go-smtp cannot parse: still the size reply
		// (RFC 1870 section 6.1), in pipelined and in split reads.
		c.expect("MAIL FROM:<\"a >b\"@x.test> BODY=8BITMIME SIZE=99999999999999999999999", "552 5.3.4 Message size exceeds fixed maximum message size")
		c.send("NOOP\r\nMAIL FROM:<a@x.test> size=4294967296\r\n")
		c.replies("250 2.0.0", "552 5.3.4 Message size exceeds fixed maximum message size")
		c.expect("MAIL FROM:<a@x.test> SIZE=4294967296x", "501 5.5.4")
		c.expect("MAIL FROM:<a@x.test> SIZE=0004294967295", "552 5.3.4 Message size exceeds fixed maximum message size")
		c.expect("MAIL  FROM: <a@x.test> SIZE=4294967296", "552 5.3.4 Message size exceeds fixed maximum message size")
	})
	t.Run("message over the limit", func(t *testing.T) {
		ts := startServer(t, cfg)
		c := dial(t, ts.addr)
		c.hello()
		r := c.sendMessage("a@x.test", []string{"b@y.test"}, "Subject: big\r\n\r\n"+strings.Repeat("0123456789abcdef\r\n", 4000))
		if r != "552 5.3.4 Message size exceeds fixed maximum message size" {
			t.Fatalf("reply %q", r)
		}
		if n := ts.dropFiles(t); len(n) != 0 {
			t.Fatalf("Drop holds %v after a refused message", n)
		}
		// The log gives its size (found from outside: "read before
		// refusal", 0 for a message read at once).
		if want := fmt.Sprintf("max_message_size=65536 size=%d\n", len("Subject: big\r\n\r\n")+18*4000+2); !strings.Contains(ts.logs.String(), want) {
			t.Fatalf("log lacks %q:\n%s", want, ts.logs.String())
		}
		// The session goes on.
		if r := c.sendMessage("a@x.test", []string{"b@y.test"}, "Subject: small\r\n\r\nok"); !strings.HasPrefix(r, "250 2.6.0") {
			t.Fatalf("next message: %q", r)
		}
	})
	t.Run("attachment over the limit", func(t *testing.T) {
		ts := startServer(t, cfg)
		c := dial(t, ts.addr)
		c.hello()
		r := c.sendMessage("a@x.test", []string{"b@y.test"}, attachmentMessage(16<<10+1))
		if r != "552 5.3.4 Attachment report.pdf exceeds the maximum attachment size of 16 KB" {
			t.Fatalf("reply %q", r)
		}
		if n := ts.dropFiles(t); len(n) != 0 {
			t.Fatalf("Drop holds %v after a refused message", n)
		}
	})
	t.Run("attachment at the limit", func(t *testing.T) {
		ts := startServer(t, cfg)
		c := dial(t, ts.addr)
		c.hello()
		if r := c.sendMessage("a@x.test", []string{"b@y.test"}, attachmentMessage(16<<10)); !strings.HasPrefix(r, "250 2.6.0 <att@x>") {
			t.Fatalf("reply %q", r)
		}
		ts.onlyDrop(t)
	})
	t.Run("what counts as an attachment", func(t *testing.T) {
		big := strings.Repeat("0123456789abcde\r\n", 1100) // 18.7 KB, over the 16 KB limit
		b64 := base64.StdEncoding.EncodeToString([]byte(big))
		b64 = regexp.MustCompile(`.{1,76}`).ReplaceAllString(b64, "$0\r\n")
		half := strings.Repeat("0123456789abcde\r\n", 600) // 9.6 KB
		multi := func(parts ...string) string {
			return "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\n" +
				strings.Join(parts, "\r\n--b1\r\n") + "\r\n--b1--\r\n"
		}
		nested := func(levels int, part string) string {
			for i := range levels {
				part = fmt.Sprintf("Content-Type: multipart/mixed; boundary=n%d\r\n\r\n--n%d\r\n%s\r\n--n%d--\r\n", i, i, part, i)
			}
			return "MIME-Version: 1.0\r\n" + part
		}
		forwarded := func(parts ...string) string {
			return "Content-Type: message/rfc822\r\nContent-Disposition: attachment; filename=fwd.eml\r\n\r\n" +
				"Subject: original\r\n" + strings.ReplaceAll(multi(parts...), "b1", "b2")
		}
		for _, tc := range []struct{ name, msg, want string }{
			{"a plain body is the message's text", "Subject: long\r\n\r\n" + big, "250 2.6.0"},
			{"an HTML body part", multi("Content-Type: text/plain\r\n\r\nhi", "Content-Type: text/html\r\n\r\n"+big), "250 2.6.0"},
			{"a named text part", multi("Content-Type: text/plain\r\n\r\nhi", "Content-Type: text/plain; name=log.txt\r\n\r\n"+big),
				"552 5.3.4 Attachment log.txt exceeds the maximum attachment size of 16 KB"},
			{"a text part marked attachment", multi("Content-Disposition: attachment\r\n\r\n" + big),
				"552 5.3.4 Attachment (text/plain) exceeds the maximum attachment size of 16 KB"},
			{"a name that would split the reply", multi("Content-Type: application/pdf; name=\"=?utf-8?Q?x=0D=0A250_2.6.0_fake=0D=0A?=\"\r\n\r\n" + big),
				"552 5.3.4 Attachment x250 2.6.0 fake exceeds the maximum attachment size of 16 KB"},
			{"a name of invalid UTF-8 alone", multi("Content-Type: application/pdf; name=\"\xa9\xff\"\r\n\r\n" + big),
				"552 5.3.4 Attachment (application/pdf) exceeds the maximum attachment size of 16 KB"},
			{"an attachment nested too deep to be measured alone",
				nested(60, "Content-Type: application/pdf; name=deep.pdf\r\n\r\n"+big),
				"552 5.3.4 Attachment (nested more than 50 levels deep) exceeds the maximum attachment size of 16 KB"},
			{"a whole-message PDF without a name", "MIME-Version: 1.0\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64,
				"552 5.3.4 Attachment (application/pdf) exceeds the maximum attachment size of 16 KB"},
			{"a forwarded message's attachments one by one",
				multi("Content-Type: text/plain\r\n\r\nfyi", forwarded("Content-Type: application/octet-stream; name=a.bin\r\n\r\n"+half,
					"Content-Type: application/octet-stream; name=b.bin\r\n\r\n"+half)), "250 2.6.0"},
			{"an attachment inside a forwarded message",
				multi("Content-Type: text/plain\r\n\r\nfyi", forwarded("Content-Type: text/plain\r\n\r\nhi",
					"Content-Type: application/zip\r\nContent-Disposition: attachment; filename=\"big.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"+b64)),
				"552 5.3.4 Attachment big.zip exceeds the maximum attachment size of 16 KB"},
			// RFC 5322 section 4.5: white space before the colon is obsolete
			// syntax that receivers must accept, in the message's header
			// block and in its parts' (RFC 2045 section 3 uses its syntax).
			{"fields with white space before the colon",
				"MIME-Version : 1.0\r\nContent-Type : multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n" +
					"--b1\r\nContent-Type\t: text/plain\r\nContent-Disposition : attachment; filename=obs.txt\r\n\r\n" + big + "\r\n--b1--\r\n",
				"552 5.3.4 Attachment obs.txt exceeds the maximum attachment size of 16 KB"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				sendExpect(t, cfg, tc.msg, tc.want)
			})
		}
	})
	t.Run("a non-ASCII attachment name", func(t *testing.T) {
		// Reply text is printable US-ASCII (RFC 5321 section 4.2), in an
		// SMTPUTF8 transaction too (see replyName); the log has the real
		// name.
		big := strings.Repeat("0123456789abcde\r\n", 1100)
		msg := func(header string) string {
			return "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\n" +
				"Content-Type: text/plain\r\n\r\nhi\r\n--b1\r\n" + header + "\r\n\r\n" + big + "\r\n--b1--\r\n"
		}
		const tail = " exceeds the maximum attachment size of 16 KB"
		for _, tc := range []struct{ name, mail, header, reply, logged string }{
			{"RFC 2047 encoded word", "MAIL FROM:<a@x.test>",
				"Content-Type: application/pdf; name=\"=?utf-8?q?R=C3=A9sum=C3=A9.pdf?=\"",
				"552 5.3.4 Attachment R?sum?.pdf" + tail, "R\u00e9sum\u00e9.pdf"},
			{"RFC 2231 parameter", "MAIL FROM:<a@x.test>",
				"Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename*=utf-8''%E5%A0%B1%E5%91%8A.zip",
				"552 5.3.4 Attachment ??.zip" + tail, "\u5831\u544a.zip"},
			{"raw UTF-8 in an SMTPUTF8 transaction", "MAIL FROM:<a@x.test> SMTPUTF8",
				"Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"R\u00e9sum\u00e9.pdf\"",
				"552 5.3.4 Attachment R?sum?.pdf" + tail, "R\u00e9sum\u00e9.pdf"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ts := startServer(t, cfg)
				c := dial(t, ts.addr)
				c.hello()
				c.expect(tc.mail, "250")
				c.expect("RCPT TO:<b@y.test>", "250")
				c.expect("DATA", "354")
				c.send(msg(tc.header) + "\r\n.\r\n")
				if r := c.reply(); r != tc.reply {
					t.Fatalf("reply %q, want %q", r, tc.reply)
				}
				if logs := ts.logs.String(); !strings.Contains(logs, "attachment "+tc.logged+" decodes to more than") {
					t.Errorf("the log lacks the name %q:\n%s", tc.logged, logs)
				}
			})
		}
	})
	t.Run("recipients", func(t *testing.T) {
		ts := startServer(t, cfg)
		c := dial(t, ts.addr)
		c.hello()
		c.expect("MAIL FROM:<a@x.test>", "250")
		for i := 0; i < 3; i++ {
			c.expect(fmt.Sprintf("RCPT TO:<r%d@y.test>", i), "250 2.1.5")
		}
		c.expect("RCPT TO:<r4@y.test>", "452 4.5.3")
		c.expect("DATA", "354")
		c.send("Subject: x\r\n\r\nbody\r\n.\r\n")
		if r := c.reply(); !strings.HasPrefix(r, "250 2.6.0") {
			t.Fatalf("reply %q", r)
		}
		if got := strings.Count(string(ts.onlyDrop(t)), "x-receiver: "); got != 3 {
			t.Fatalf("%d x-receiver lines, want 3", got)
		}
	})
	t.Run("connections", func(t *testing.T) {
		cfg := cfg
		cfg.MaxConnections = 2
		ts := startServer(t, cfg)
		a, b := dial(t, ts.addr), dial(t, ts.addr)
		a.hello()
		b.hello()
		c := dial(t, ts.addr)
		if r := c.reply(); r != "421 4.3.2 mail.example.com Too many connections, try again later" {
			t.Fatalf("third connection: %q", r)
		}
		c.waitClosed()
		// Logged, for the administrator whose clients are turned away
		// (found from outside: there was no trace of it).
		if !strings.Contains(ts.logs.String(), "max_connections sessions are open") || !strings.Contains(ts.logs.String(), "client=127.0.0.1 max_connections=2 refused=1") {
			t.Fatalf("log:\n%s", ts.logs.String())
		}
		a.expect("QUIT", "221")
		a.waitClosed()
		// The slot is free again.
		waitGreeted(t, ts.addr)
	})
	t.Run("connections per address", func(t *testing.T) {
		// Found from outside: one client could hold every session, and
		// every other was told 421.
		cfg := cfg
		cfg.MaxConnections, cfg.MaxConnectionsPerIP = 10, 2
		ts := startServer(t, cfg)
		a, b := dial(t, ts.addr), dial(t, ts.addr)
		a.hello()
		b.hello()
		c := dial(t, ts.addr)
		if r := c.reply(); r != "421 4.7.0 mail.example.com Too many connections from your address, try again later" {
			t.Fatalf("third connection from one address: %q", r)
		}
		c.waitClosed()
		if !strings.Contains(ts.logs.String(), "the client holds max_connections_per_ip sessions already") || !strings.Contains(ts.logs.String(), "client=127.0.0.1 max_connections_per_ip=2 refused=1") {
			t.Fatalf("log:\n%s", ts.logs.String())
		}
		// Another address is let in.
		oc, err := dialFrom(t, "127.0.0.2", ts.addr)
		if err != nil {
			t.Skipf("no second loopback address here: %v", err)
		}
		if r := oc.reply(); !strings.HasPrefix(r, "220 ") {
			t.Fatalf("another address: %q", r)
		}
		a.expect("QUIT", "221")
		a.waitClosed()
		waitGreeted(t, ts.addr) // the first address's session is counted off
	})
	t.Run("three bad commands", func(t *testing.T) {
		ts := startServer(t, cfg)
		for range 2 {
			c := dial(t, ts.addr)
			c.hello()
			c.expect("FOO", "50")
			c.expect("BAR baz", "50")
			r := c.cmd("MAIL TO:<x>")
			if !strings.HasPrefix(r, "501 5.5.2") {
				t.Fatalf("third bad command: %q", r)
			}
			if got := c.reply(); got != "421 4.7.0 mail.example.com Too many errors on this connection, closing transmission channel" {
				t.Fatalf("after the third bad command: %q", got)
			}
			c.waitClosed()
		}
		// Within the client's budget of refusal lines, with the last
		// command (found from outside, QA100: a line once a minute for
		// all clients named one of them, and no command).
		// Each session's (found from outside, QA100: the second within a
		// minute was not said).
		if want := `msg="connection closed: too many bad commands" client=127.0.0.1 reply="421 4.7.0 mail.example.com Too many errors on this connection, closing transmission channel" last_command="MAIL TO:<x>"`; strings.Count(ts.logs.String(), want) != 2 {
			t.Errorf("not twice %s in the log:\n%s", want, ts.logs.String())
		}
	})
	t.Run("command timeout", func(t *testing.T) {
		cfg := cfg
		cfg.CommandTimeout = 300 * time.Millisecond
		ts := startServer(t, cfg)
		c := dial(t, ts.addr)
		c.hello()
		if r := c.reply(); r != "421 4.4.2 mail.example.com Timeout waiting for client input, closing transmission channel" {
			t.Fatalf("reply %q", r)
		}
		c.waitClosed()
		// Said in the log, once (found from outside: in the W3C log
		// alone).
		want := `level=INFO msg="connection closed: the client sent no complete command within command_timeout" client=127.0.0.1 command_timeout=300ms reply="421 4.4.2"`
		for deadline := time.Now().Add(5 * time.Second); !strings.Contains(ts.logs.String(), want) && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		if strings.Count(ts.logs.String(), want) != 1 {
			t.Fatalf("log:\n%s", ts.logs.String())
		}
	})
	t.Run("data timeout restarts with every read", func(t *testing.T) {
		cfg := cfg
		cfg.DataTimeout = 400 * time.Millisecond
		ts := startServer(t, cfg)
		c := dial(t, ts.addr)
		c.hello()
		c.beginData()
		c.send("Subject: slow\r\n\r\n")
		// Far longer in all than the data timeout, never idle for long.
		for i := 0; i < 15; i++ {
			c.send(fmt.Sprintf("line %d\r\n", i))
			time.Sleep(100 * time.Millisecond)
		}
		c.send(".\r\n")
		if r := c.reply(); !strings.HasPrefix(r, "250 2.6.0") {
			t.Fatalf("slow upload: %q", r)
		}
		// An upload that stalls is cut off and nothing is stored.
		c.beginData()
		c.send("Subject: stalled\r\n\r\npartial")
		if r := c.reply(); r != "421 4.4.2 mail.example.com Timeout waiting for client input, closing transmission channel" {
			t.Fatalf("stalled upload: %q", r)
		}
		c.waitClosed()
		// The message's line says it; not a second line as if idle.
		if strings.Contains(ts.logs.String(), "sent no complete command within command_timeout") {
			t.Fatalf("log:\n%s", ts.logs.String())
		}
		if n := ts.dropFiles(t); len(n) != 1 {
			t.Fatalf("Drop holds %v, want only the first message", n)
		}
	})
	t.Run("command line too long", func(t *testing.T) {
		ts := startServer(t, cfg)
		c := dial(t, ts.addr)
		c.hello()
		// Far more than the server reads before it refuses the line: what
		// is left unread must not turn the close into a reset, which
		// would throw the reply away before the client reads it.
		sent := make(chan error, 1)
		go func() {
			_, err := c.c.Write([]byte("MAIL FROM:<" + strings.Repeat("a", 8<<20) + "@x.test>\r\n"))
			sent <- err
		}()
		if r := c.reply(); !strings.HasPrefix(r, "500 5.5.2 Line too long") {
			t.Fatalf("reply %q", r)
		}
		if err := <-sent; err != nil {
			t.Fatalf("the client could not finish sending its line: %v", err)
		}
		c.waitClosed()
	})
}

// TestRecipientLimitCountsDistinct: max_recipients bounds the distinct
// recipients of a transaction. A recipient given twice is written once, so
// it takes one place: refusing the next distinct one with 452 would have
// the client send the message again in a transaction of its own (RFC 5321
// section 4.5.3.1.10), and refusing the duplicate would have the client
// deliver that recipient's copy twice. LIMITS RCPTMAX (RFC 9422) is still
// advertised.
func TestRecipientLimitCountsDistinct(t *testing.T) {
	const full = "452 4.5.3 Maximum limit of 2 recipients reached"
	type step struct{ line, want string }
	for _, tc := range []struct {
		name  string
		steps []step
		drop  []string // x-receiver lines of the stored message
	}{
		{"a duplicate takes no place", []step{
			{"RCPT TO:<a@x.test>", "250 2.1.5 a@x.test"},
			{"RCPT TO:<a@x.test>", "250 2.1.5 a@x.test"},
			{"RCPT TO:<b@x.test>", "250 2.1.5 b@x.test"},
			{"RCPT TO:<c@x.test>", full},
		}, []string{"a@x.test", "b@x.test"}},
		{"a duplicate once the limit is reached", []step{
			{"RCPT TO:<a@x.test>", "250 2.1.5 a@x.test"},
			{"RCPT TO:<b@x.test>", "250 2.1.5 b@x.test"},
			{"RCPT TO:<a@X.TEST>", "250 2.1.5 a@X.TEST"},
			{"RCPT TO:<c@x.test>", full},
			{"RCPT TO:<b@x.test>", "250 2.1.5 b@x.test"},
		}, []string{"a@x.test", "b@x.test"}},
		{"refused recipients take no place", []step{
			{"RCPT TO:<a@x.test>", "250 2.1.5 a@x.test"},
			{"RCPT TO:<c@x.test> FOO=bar", "555 5.5.4"},
			{"RCPT TO:<a\x7fb@x.test>", "501 5.1.3"},
			{"RCPT TO:<b@x.test>", "250 2.1.5 b@x.test"},
			{"RCPT TO:<c@x.test>", full},
			{"RCPT TO:<d@x.test>", full},
		}, []string{"a@x.test", "b@x.test"}},
		{"RSET starts the count again", []step{
			{"RCPT TO:<a@x.test>", "250 2.1.5 a@x.test"},
			{"RCPT TO:<b@x.test>", "250 2.1.5 b@x.test"},
			{"NOOP", "250 2.0.0 OK"},
			{"RSET", "250 2.0.0 Resetting"},
			{"MAIL FROM:<a@x.test>", "250 2.1.0"},
			{"RCPT TO:<c@x.test>", "250 2.1.5 c@x.test"},
			{"RCPT TO:<d@x.test>", "250 2.1.5 d@x.test"},
		}, []string{"c@x.test", "d@x.test"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.MaxRecipients = 2
			ts := startServer(t, cfg)
			c := dial(t, ts.addr)
			c.reply()
			if ehlo := c.cmd("EHLO client.test"); !regexp.MustCompile(`(?m)^250[- ]LIMITS RCPTMAX=2$`).MatchString(ehlo) {
				t.Fatalf("EHLO reply lacks LIMITS RCPTMAX=2:\n%s", ehlo)
			}
			c.expect("MAIL FROM:<a@x.test>", "250 2.1.0")
			for _, s := range tc.steps {
				if r := c.cmd(s.line); !strings.HasPrefix(r, s.want) {
					t.Fatalf("%q: got %q, want %q", s.line, r, s.want)
				}
			}
			c.expect("DATA", "354")
			c.send("Subject: limit\r\n\r\nbody\r\n.\r\n")
			if r := c.reply(); !strings.HasPrefix(r, "250 2.6.0") {
				t.Fatalf("DATA: %q", r)
			}
			var got []string
			for _, l := range strings.Split(string(ts.onlyDrop(t)), "\r\n") {
				if a, ok := strings.CutPrefix(l, "x-receiver: "); ok {
					got = append(got, a)
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.drop, " ") {
				t.Fatalf("x-receiver lines %q, want %q", got, tc.drop)
			}
			// Said in the log once a transaction that reached it.
			want := 0
			for _, st := range tc.steps {
				if st.want == full {
					want = 1
				}
			}
			if n := strings.Count(ts.logs.String(), "recipient limit reached"); n != want {
				t.Errorf("%d log lines of the limit, want %d:\n%s", n, want, ts.logs.String())
			}
		})
	}
}

func TestBDAT(t *testing.T) {
	ts := startServer(t, testConfig())
	c := dial(t, ts.addr)
	c.hello()
	c.expect("MAIL FROM:<a@x.test>", "250")
	c.expect("RCPT TO:<b@y.test>", "250")
	part1 := "Subject: chunks\r\nMessage-ID: <bdat@x>\r\n\r\n"
	// A BDAT chunk is data, not commands: a line far longer than any
	// command line, and a line with a lone dot, pass untouched.
	part2 := strings.Repeat("z", 100<<10) + "\r\n.\r\n..not stuffed\r\n"
	c.send(fmt.Sprintf("BDAT %d\r\n%s", len(part1), part1))
	if r := c.reply(); !strings.HasPrefix(r, "250 2.0.0") {
		t.Fatalf("first chunk: %q", r)
	}
	c.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(part2), part2))
	if r := c.reply(); r != "250 2.6.0 <bdat@x> Queued mail for delivery" {
		t.Fatalf("last chunk: %q", r)
	}
	got := string(ts.onlyDrop(t))
	if !strings.HasSuffix(got, "\r\n\r\n"+part2) {
		t.Fatalf("BDAT body differs: ...%q", got[len(got)-40:])
	}
}

func TestPipelining(t *testing.T) {
	ts := startServer(t, testConfig())
	c := dial(t, ts.addr)
	c.hello()
	// RFC 2920: the whole transaction up to DATA in one write.
	c.send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nRCPT TO:<c@y.test>\r\nDATA\r\n")
	c.replies("250 2.1.0 a@x.test....Sender OK", "250 2.1.5 b@y.test", "250 2.1.5 c@y.test", "354 ")
	c.send("Subject: piped\r\n\r\nbody\r\n.\r\nRSET\r\nQUIT\r\n")
	c.replies("250 2.6.0", "250 2.0.0 Resetting", "221 2.0.0")
	ts.onlyDrop(t)
}

// RFC 5321 section 4.5.1: RCPT TO:<postmaster> without a domain is
// accepted, in any case, alone or pipelined between other commands; it is
// the postmaster of this server (its hostname, a local domain).
func TestPostmasterWithoutDomain(t *testing.T) {
	cfg := testConfig()
	cfg.LocalDomains = []string{"example.com"} // relaying restricted: postmaster is still local
	ts, ml := startLogged(t, cfg)
	c := dial(t, ts.addr)
	c.hello()
	c.expect("MAIL FROM:<a@x.test>", "250")
	for _, tc := range []struct{ line, want string }{
		{"RCPT TO:<postmaster>", "250 2.1.5 postmaster@mail.example.com"},
		{"rcpt to: <PostMaster>", "250 2.1.5 PostMaster@mail.example.com"},
		{"RCPT  TO:<postmaster>", "250 2.1.5 postmaster@mail.example.com"}, // go-smtp skips the blanks
		{"RCPT TO:<postmaster", "501 5.1.3 Bad recipient address syntax"},
		{"RCPT TO:<post master>", "501 5.1.3 Bad recipient address syntax"},
	} {
		if got := c.cmd(tc.line); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%q: %q, want %q", tc.line, got, tc.want)
		}
	}
	// Pipelined, so that the line is not at the start of a read.
	c.send("RCPT TO:<b@example.com>\r\nRCPT TO:<postmaster>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n")
	c.replies("250 2.1.5 b@example.com", "250 2.1.5 postmaster@mail.example.com", "250 2.1.5 c@example.com", "354 ")
	c.send("Subject: to the postmaster\r\n\r\nbody\r\n.\r\n")
	if r := c.reply(); !strings.HasPrefix(r, "250 2.6.0") {
		t.Fatalf("after the data: %q", r)
	}
	b := string(ts.onlyDrop(t))
	want := "x-sender: a@x.test\r\n" +
		"x-receiver: postmaster@mail.example.com\r\n" + // PostMaster, and postmaster again: the same
		"x-receiver: b@example.com\r\n" +
		"x-receiver: c@example.com\r\n"
	if !strings.HasPrefix(b, want) {
		t.Fatalf("Drop file starts\n%s\nwant\n%s", b[:min(len(b), len(want)+40)], want)
	}
	// The W3C log has each RCPT once, as the client sent it, with its
	// own byte count.
	c.expect("QUIT", "221")
	c.waitClosed()
	var rcpts []string
	ml.mu.Lock()
	for _, e := range ml.entries {
		if f := strings.Split(compat.FormatW3C(e, "SMTPSVC1"), " "); f[8] == "RCPT" {
			rcpts = append(rcpts, f[10]+" "+f[11]+" "+f[14])
		}
	}
	ml.mu.Unlock()
	sort.Strings(rcpts)
	wantLog := []string{"++TO:<postmaster> 250 23", "+TO:<b@example.com> 250 25", "+TO:<c@example.com> 250 25", "+TO:<post+master> 501 23", "+TO:<postmaster 501 21", "+TO:<postmaster> 250 22", "+TO:<postmaster> 250 22", "+to:+<PostMaster> 250 23"}
	if strings.Join(rcpts, "\n") != strings.Join(wantLog, "\n") {
		t.Errorf("W3C RCPT lines:\n%s\nwant\n%s", strings.Join(rcpts, "\n"), strings.Join(wantLog, "\n"))
	}
}

// An address without a domain gets the default domain, as IIS stamped
// such addresses with its default domain; the server's hostname when none
// is set. Found from outside: a scanner's "MAIL FROM:<scanner>" got 501,
// and its pipelined transaction was refused whole.
func TestAddressWithoutDomain(t *testing.T) {
	cfg := testConfig()
	cfg.LocalDomains = []string{"corp.example"}
	cfg.DefaultDomain = "corp.example"
	ts := startServer(t, cfg)
	c := dial(t, ts.addr)
	c.reply()
	// A device that sends its whole transaction at once, HELO only.
	c.send("HELO RNP002673\r\nMAIL FROM:<scanner>\r\nRCPT TO:<admin>\r\nRCPT TO:ops.desk SIZE=1\r\nRCPT TO:<admin@corp.example>\r\nDATA\r\n")
	c.replies("250 ", "250 2.1.0 scanner@corp.example....Sender OK", "250 2.1.5 admin@corp.example", "555 5.5.4", "250 2.1.5 admin@corp.example", "354 ")
	c.send("Subject: scan\r\n\r\npages\r\n.\r\n")
	if r := c.reply(); !strings.HasPrefix(r, "250 2.6.0") {
		t.Fatalf("after the data: %q", r)
	}
	if b := ts.onlyDrop(t); !bytes.HasPrefix(b, []byte("x-sender: scanner@corp.example\r\nx-receiver: admin@corp.example\r\nReceived: from RNP002673 ")) {
		t.Fatalf("Drop file:\n%s", b)
	}
	for _, tc := range []struct{ line, want string }{
		{"MAIL FROM:scanner.2", "250 2.1.0 scanner.2@corp.example....Sender OK"},
		{"RCPT TO:ops.desk", "250 2.1.5 ops.desk@corp.example"},
		{"RCPT TO: <o'brien+fax>", "250 2.1.5 o'brien+fax@corp.example"},
		{"RCPT TO:postmaster", "250 2.1.5 postmaster@mail.example.com"}, // this server's, as <postmaster>
		// Not a dot-atom: go-smtp's refusal, as before.
		{"RCPT TO:<.x>", "501 5.1.3"},
		{"RCPT TO:<x.>", "501 5.1.3"},
		{"RCPT TO:<a..b>", "501 5.1.3"},
		{"RCPT TO:<a b>", "501 5.1.3"},
		{"RCPT TO:<\"a b\">", "501 5.1.3"},
		{"RCPT TO:<@relay.test:x>", "501 5.1.3"},
		{"RCPT TO:<>", "501 5.1.3"},
	} {
		if got := c.cmd(tc.line); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%q: %q, want %q", tc.line, got, tc.want)
		}
	}
	// No default domain set: the hostname, which is local.
	ts = startServer(t, testConfig())
	c = dial(t, ts.addr)
	c.hello()
	c.expect("MAIL FROM:<scanner>", "250 2.1.0 scanner@mail.example.com....Sender OK")
	c.expect("RCPT TO:<admin>", "250 2.1.5 admin@mail.example.com")
	// A default domain that local_domains does not list is local all
	// the same, as IIS's default domain always was: a scanner's mail to
	// "admin" goes to Drop, not refused as relaying (550 5.7.1).
	cfg = testConfig()
	cfg.LocalDomains = []string{"example.org"}
	cfg.DefaultDomain = "corp.example"
	ts = startServer(t, cfg)
	c = dial(t, ts.addr)
	c.hello()
	c.expect("MAIL FROM:<scanner>", "250 2.1.0 scanner@corp.example....Sender OK")
	c.expect("RCPT TO:<admin>", "250 2.1.5 admin@corp.example")
	c.expect("RCPT TO:<ops@corp.example>", "250 2.1.5 ops@corp.example")
	c.expect("RCPT TO:<ops@elsewhere.example>", "550 5.7.1 Unable to relay for ops@elsewhere.example")
}

func TestGreetingAndEHLO(t *testing.T) {
	ts := startServer(t, testConfig())
	c := dial(t, ts.addr)
	if g := c.reply(); g != "220 mail.example.com Microsoft ESMTP MAIL Service, Version: 10.0.17763.1697 ready at  Tue, 3 Nov 2026 09:07:05 -0500 " {
		t.Fatalf("greeting %q", g)
	}
	ehlo := c.cmd("EHLO client.test")
	for _, want := range []string{"250-mail.example.com Hello [127.0.0.1]", "PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "CHUNKING", "SIZE 1048576"} {
		if !strings.Contains(ehlo, want) {
			t.Errorf("EHLO reply lacks %q:\n%s", want, ehlo)
		}
	}
	if !strings.HasSuffix(ehlo, "\n250 OK") && !strings.HasSuffix(ehlo, "\n250 OK\r\n") {
		t.Errorf("EHLO reply does not end with IIS's 250 OK:\n%q", ehlo)
	}
	if strings.Contains(ehlo, "AUTH") {
		t.Errorf("EHLO offers AUTH:\n%s", ehlo)
	}
	c.expect("HELO client.test", "250 mail.example.com Hello [127.0.0.1]")
	c.expect("RSET", "250 2.0.0 Resetting")
}

// TestStoreFailure: when Drop cannot take the file the client gets a
// transient 451 4.3.0 with no detail, nothing is left behind, the cause is
// logged, and the listener keeps serving.
func TestStoreFailure(t *testing.T) {
	ts := startServer(t, testConfig())
	c := dial(t, ts.addr)
	c.hello()
	// The folder is gone (an administrator deleted it, a share dropped).
	if err := os.RemoveAll(ts.drop); err != nil {
		t.Fatal(err)
	}
	r := c.sendMessage("a@x.test", []string{"b@y.test"}, "Subject: lost?\r\n\r\nbody")
	if r != "451 4.3.0 Requested action aborted: local error in processing, try again later" {
		t.Fatalf("reply %q", r)
	}
	// The real cause (the OS's words differ: "no such file or directory",
	// "Path not found") is in the log, naming the folder.
	if logs := ts.logs.String(); !strings.Contains(logs, `msg="message not stored"`) || !strings.Contains(logs, "Drop") {
		t.Errorf("the cause is not in the log:\n%s", ts.logs.String())
	}
	if entries, _ := filepath.Glob(filepath.Join(ts.root.Layout().SortTemp, "mbtmp-*")); len(entries) != 0 {
		t.Errorf("SortTemp keeps %d temporary files after the failure", len(entries))
	}
	if err := os.Mkdir(ts.drop, 0o755); err != nil {
		t.Fatal(err)
	}
	if r := c.sendMessage("a@x.test", []string{"b@y.test"}, "Subject: retry\r\n\r\nbody"); !strings.HasPrefix(r, "250 2.6.0") {
		t.Fatalf("after the folder is back: %q", r)
	}
	ts.onlyDrop(t)
}

// TestGoClient drives the listener with Go's own SMTP client.
func TestGoClient(t *testing.T) {
	ts := startServer(t, testConfig())
	msg := "From: a@x.test\r\nTo: b@y.test\r\nSubject: net/smtp\r\n\r\n.leading dot survives\r\n"
	if err := smtp.SendMail(ts.addr, nil, "a@x.test", []string{"b@y.test", "c@y.test"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	got := string(ts.onlyDrop(t))
	if !strings.HasPrefix(got, "x-sender: a@x.test\r\nx-receiver: b@y.test\r\nx-receiver: c@y.test\r\nReceived: from localhost ([127.0.0.1])") {
		t.Fatalf("Drop file starts %q", got[:120])
	}
	if !strings.HasSuffix(got, "\r\n\r\n.leading dot survives\r\n") {
		t.Fatalf("body differs: %q", got)
	}
}

// TestShutdown: a message being received when Shutdown starts is finished
// and acknowledged; an idle session is told 421.
func TestShutdown(t *testing.T) {
	ts := startServer(t, testConfig())
	busy, idle := dial(t, ts.addr), dial(t, ts.addr)
	busy.hello()
	idle.hello()
	busy.beginData()
	busy.send("Subject: in flight\r\n\r\nfirst half\r\n")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- ts.srv.Shutdown(ctx)
	}()
	if r := idle.reply(); !strings.HasPrefix(r, "421 4.3.2 mail.example.com Service shutting down") {
		t.Fatalf("idle session: %q", r)
	}
	busy.send("second half\r\n.\r\n")
	if r := busy.reply(); !strings.HasPrefix(r, "250 2.6.0") {
		t.Fatalf("message in flight: %q", r)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	ts.onlyDrop(t)
}

// TestShutdownBDAT: a message sent with BDAT is finished during a
// shutdown, as a DATA upload is: a chunk half sent, and the chunks still
// to come after one without LAST.
func TestShutdownBDAT(t *testing.T) {
	ts := startServer(t, testConfig())
	half, open := dial(t, ts.addr), dial(t, ts.addr)
	msg := "Subject: bdat-shutdown\r\n\r\nbody12345678\r\n"
	for _, c := range []*client{half, open} {
		c.hello()
		c.expect("MAIL FROM:<a@x.test>", "250")
		c.expect("RCPT TO:<b@y.test>", "250")
	}
	half.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(msg), msg[:20]))
	open.send("BDAT 20\r\n" + msg[:20])
	open.replies("250 2.0.0")
	time.Sleep(100 * time.Millisecond) // the chunk's command has been read
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- ts.srv.Shutdown(ctx)
	}()
	time.Sleep(200 * time.Millisecond)
	half.send(msg[20:])
	if r := half.reply(); !strings.HasPrefix(r, "250 2.6.0") {
		t.Fatalf("a chunk half sent: %q", r)
	}
	open.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(msg)-20, msg[20:]))
	if r := open.reply(); !strings.HasPrefix(r, "250 2.6.0") {
		t.Fatalf("the last chunk after the shutdown began: %q", r)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n := ts.dropFiles(t); len(n) != 2 {
		t.Fatalf("Drop holds %v, want 2 messages", n)
	}
}

// TestShutdownTimeout: a message still arriving when the shutdown's time
// is up is cut off with 421 (the client retries it later), and nothing of
// it is stored.
func TestShutdownTimeout(t *testing.T) {
	ts := startServer(t, testConfig())
	busy := dial(t, ts.addr)
	busy.hello()
	busy.beginData()
	busy.send("Subject: slow\r\n\r\nfirst half\r\n")
	// More sessions cut at once: found from outside, some of their lines
	// came after the stop's.
	cfg := testConfig()
	cfg.MaxConnections, cfg.MaxConnectionsPerIP = 100, 100
	many := startServer(t, cfg)
	for range 40 {
		c := dial(t, many.addr)
		c.hello()
		c.beginData()
		c.send("Subject: slow\r\n\r\nfirst half\r\n")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := many.srv.Shutdown(ctx); !strings.HasPrefix(fmt.Sprint(err), "40 session(s) still open") {
		t.Fatalf("Shutdown of 40 sessions: %v", err)
	}
	if n := strings.Count(many.logs.String(), "message not received"); n != 40 {
		t.Fatalf("when Shutdown returned, %d of 40 cut messages were logged", n)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "1 session(s) still open when shutdown_timeout ran out were ended with 421") || strings.Contains(err.Error(), "deadline") {
		t.Fatalf("Shutdown: %v", err)
	}
	// The log says the stop cut it, not the client (found from outside),
	// and says it before Shutdown returns, so that the line comes before
	// the caller's "mailbridge stopped" (found from outside: after it).
	if l := ts.logs.String(); !strings.Contains(l, "message not received") || !strings.Contains(l, "mailbridge stopped and shutdown_timeout ran out") || strings.Contains(l, "the client disconnected") || strings.Contains(l, "use of closed network connection") {
		t.Fatalf("log when Shutdown returned:\n%s", l)
	}
	if r := busy.reply(); r != "421 4.3.2 mail.example.com Service shutting down, closing transmission channel" {
		t.Fatalf("session cut off by the shutdown: %q", r)
	}
	busy.waitClosed()
	if n := ts.dropFiles(t); len(n) != 0 {
		t.Fatalf("Drop holds %v", n)
	}
}

// A stop with no time (shutdown_timeout = "0s") and no session open cuts
// nothing, and says nothing was cut. Found from outside: every such stop
// logged "stopped before every session finished".
func TestShutdownNoTimeNoSessions(t *testing.T) {
	ts := startServer(t, testConfig())
	c := dial(t, ts.addr)
	c.hello()
	c.expect("QUIT", "221")
	c.waitClosed()
	time.Sleep(50 * time.Millisecond) // the server has seen the close
	ctx, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// TestPanicEndsOnlyTheSession: a panic while storing a message, or inside
// the connection layer, ends that session; the server keeps serving.
func TestPanicEndsOnlyTheSession(t *testing.T) {
	var mu sync.Mutex
	panicAt := ""
	cfg := testConfig()
	cfg.Now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		if panicAt != "" {
			where := panicAt
			panicAt = ""
			panic("test panic in " + where)
		}
		return fixedNow
	}
	ts := startServer(t, cfg)
	set := func(s string) { mu.Lock(); panicAt = s; mu.Unlock() }

	c := dial(t, ts.addr)
	c.hello()
	c.expect("MAIL FROM:<a@x.test>", "250")
	c.expect("RCPT TO:<b@y.test>", "250")
	set("Data") // Data starts at once, before the message is read
	c.expect("DATA", "354")
	c.send("Subject: boom\r\n\r\nbody\r\n.\r\n")
	if r := c.reply(); !strings.HasPrefix(r, "421 ") {
		t.Fatalf("reply after a panic in Data: %q", r)
	}
	c.waitClosed()

	set("greeting") // the greeting is written by conn, outside go-smtp's recovery
	d := dial(t, ts.addr)
	d.waitClosed()

	e := dial(t, ts.addr)
	e.hello()
	if r := e.sendMessage("a@x.test", []string{"b@y.test"}, "Subject: after\r\n\r\nok"); !strings.HasPrefix(r, "250 2.6.0") {
		t.Fatalf("server after panics: %q", r)
	}
	if n := ts.dropFiles(t); len(n) != 1 {
		t.Fatalf("Drop holds %v", n)
	}
	if !strings.Contains(ts.logs.String(), "test panic in greeting") {
		t.Errorf("the panic is not logged:\n%s", ts.logs.String())
	}
}

// Codes follow RFC 5321 where go-smtp's differ and IIS's texts are not
// known: sequence errors are 503 and do not count toward the three bad
// commands, unknown commands 500, unknown parameters 555; AUTH, never
// offered, is refused the same way with or without TLS.
func TestRFCReplyCodes(t *testing.T) {
	ts := startServer(t, testConfig())
	c := dial(t, ts.addr)
	c.reply() // the greeting
	c.expect("MAIL FROM:<a@x.test>", "503 5.5.1 ")
	c.expect("EHLO client.test", "250")
	for _, tc := range []struct{ line, want string }{
		{"RCPT TO:<b@y.test>", "503 5.5.1 "},
		{"DATA", "503 5.5.1 "},
		{"AUTH LOGIN", "502 5.7.0 Authentication not supported"},
		{"MAIL FROM:<a@x.test> FOO=bar", "555 5.5.4 "},
		{"MAIL FROM:<a@x.test>", "250 2.1.0 "},
		{"RCPT TO:<b@y.test>", "250 2.1.5 "},
		{"RSET", "250 2.0.0 Resetting"},
		{"RCPT TO:<b@y.test>", "503 5.5.1 "},
		{"RCPT TO:<b@y.test>", "503 5.5.1 "},
		{"FOO", "500 5.5.1 Unrecognized command"},
	} {
		c.expect(tc.line, tc.want)
	}
	// FOO is the third counted error (AUTH, the parameter): the
	// connection closes; the four 503s did not count.
	if got := c.reply(); !strings.HasPrefix(got, "421 4.7.0 ") {
		t.Fatalf("after the third bad command: %q", got)
	}
	c.waitClosed()

	c = dial(t, ts.addr)
	c.hello()
	c.expect("XYZZY now", "500 5.5.1 Unrecognized command")
	c.expect("MAIL FROM:<a@x.test>", "250 2.1.0 ")
	c.expect("RCPT TO:<b@y.test> FOO=bar", "555 5.5.4 ")
	c.expect("QUIT", "221")
}

// Errors count toward the three bad commands while a client delivers no
// mail (as postfix's smtpd_hard_error_limit), and a recipient whose
// address does not parse is refused on its own, as one not relayed for.
// Found from outside: three mistyped addresses among five closed the
// session before the message reached the other two, at every try; a
// client that sent an empty line after each message's dot was cut off
// after its third message; the empty line was answered in other words.
func TestBadCommandCount(t *testing.T) {
	ts := startServer(t, testConfig())
	c := dial(t, ts.addr)
	c.hello()
	c.expect("MAIL FROM:<a@x.test>", "250 2.1.0 ")
	for _, tc := range []struct{ rcpt, want string }{
		{"ok1@y.test", "250 2.1.5 "},
		{"bad one@y.test", "501 5.1.3 "},
		{"bad two@y.test", "501 5.1.3 "},
		{"bad@@y.test", "501 5.1.3 "},
		{"ok2@y.test", "250 2.1.5 "},
	} {
		c.expect("RCPT TO:<"+tc.rcpt+">", tc.want)
	}
	c.expect("DATA", "354")
	c.send("Subject: typos\r\n\r\nbody\r\n.\r\n")
	if r := c.reply(); !strings.HasPrefix(r, "250 2.6.0 ") {
		t.Fatalf("message to the recipients accepted: %q", r)
	}
	if b := ts.onlyDrop(t); !bytes.HasPrefix(b, []byte("x-sender: a@x.test\r\nx-receiver: ok1@y.test\r\nx-receiver: ok2@y.test\r\nReceived: ")) {
		t.Fatalf("Drop file:\n%s", b)
	}
	// An empty line after each message's dot: answered as any line that
	// is no command, and never three in a row without a message.
	for i := range 4 {
		msg := fmt.Sprintf("Subject: %d\r\n\r\nbody", i)
		var r string
		if i%2 == 0 {
			r = c.sendMessage("a@x.test", []string{"b@y.test"}, msg)
		} else { // BDAT
			c.expect("MAIL FROM:<a@x.test>", "250")
			c.expect("RCPT TO:<b@y.test>", "250")
			c.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(msg), msg))
			r = c.reply()
		}
		if !strings.HasPrefix(r, "250 2.6.0 ") {
			t.Fatalf("message %d: %q", i, r)
		}
		c.expect("", "500 5.5.1 Unrecognized command")
	}
	c.expect("FOO", "500 5.5.1 Unrecognized command")
	if r := c.cmd(""); r != "500 5.5.1 Unrecognized command" {
		t.Fatalf("third error since the last message: %q", r)
	}
	if r := c.reply(); !strings.HasPrefix(r, "421 4.7.0 ") {
		t.Fatalf("after the third error since the last message: %q", r)
	}
	c.waitClosed()
	if n := ts.dropFiles(t); len(n) != 5 {
		t.Fatalf("Drop holds %d messages, want 5", len(n))
	}
}

// Refusals of a greeting, a sender or a recipient for their form, and of
// a sender for its SIZE, are logged, within the client's budget: found
// from outside, they left no line, and an administrator whose scanner
// could not send saw only "too many bad commands".
func TestCommandRefusalsLogged(t *testing.T) {
	cfg := testConfig()
	cfg.MaxMessageSize = 1 << 10
	ts := startServer(t, cfg)
	c := dial(t, ts.addr)
	c.reply()
	c.expect("HELO", "501 5.5.4")
	c.expect("EHLO client.test", "250")
	c.expect("MAIL FROM:<a b@x.test>", "501 5.1.7")
	c.expect("MAIL FROM:<a@x.test> SIZE=5000", "552 5.3.4")
	c.expect("MAIL FROM:<a@x.test>", "250")
	c.expect("RCPT TO:<b@@y.test>", "501 5.1.3")
	c.expect("RCPT TO:<b@y.test>", "250")
	// A BDAT chunk over the limit is the session's to log, as a message.
	c.send("BDAT 2000 LAST\r\n" + strings.Repeat("z", 2000))
	c.replies("552 5.3.4")
	c.expect("QUIT", "221")
	c.waitClosed()
	l := ts.logs.String()
	// Each names its command, with the W3C log off too (found from
	// outside, QA97: which of a client's recipients was refused?).
	for _, want := range []string{
		`msg="command refused" client=127.0.0.1 reply="501 5.5.4 EHLO and HELO need the client's domain name or address literal, in printable characters" command=HELO`,
		`msg="command refused" client=127.0.0.1 reply="501 5.1.7 Bad sender address syntax" command="MAIL FROM:<a b@x.test>"`,
		`msg="command refused" client=127.0.0.1 reply="552 5.3.4 Message size exceeds fixed maximum message size" command="MAIL FROM:<a@x.test> SIZE=5000"`,
		`msg="command refused" client=127.0.0.1 reply="501 5.1.3 Bad recipient address syntax" command="RCPT TO:<b@@y.test>"`,
		`msg="message refused" client=127.0.0.1`,
	} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %s", want)
		}
	}
	if n := strings.Count(l, `msg="command refused"`); n != 4 {
		t.Errorf("%d command refusals logged, want 4:\n%s", n, l)
	}
	// With the W3C log on too.
	ts, _ = startLogged(t, cfg)
	c = dial(t, ts.addr)
	c.hello()
	c.expect("MAIL FROM:<scanner 1>", "501 5.1.7")
	c.expect("QUIT", "221")
	c.waitClosed()
	if l := ts.logs.String(); !strings.Contains(l, `reply="501 5.1.7 Bad sender address syntax" command="MAIL FROM:<scanner 1>"`) {
		t.Errorf("log:\n%s", l)
	}
}

// A NOOP or RSET after a quiet period is a keep-alive, which the junk
// command limit does not count; a loop of them still does. Found from
// outside: a connection pool's NOOP every 30 seconds was cut off with 421
// after 100 of them.
func TestKeepAliveNOOP(t *testing.T) {
	ts := startServer(t, testConfig())
	ts.srv.keepAliveGap = 50 * time.Millisecond
	// EHLO and n NOOPs in one write, so that none comes after a quiet
	// period however slowly the test runs.
	start := func(n int) *client {
		c := dial(t, ts.addr)
		c.reply()
		c.send("EHLO client.test\r\n" + strings.Repeat("NOOP\r\n", n))
		c.reply()
		for i := range n {
			if r := c.reply(); !strings.HasPrefix(r, "250 ") {
				t.Fatalf("NOOP %d: %q", i+1, r)
			}
		}
		return c
	}
	c := start(99) // with the EHLO, as many as a client may send between messages
	for _, cmd := range []string{"NOOP", "RSET", "NOOP", "NOOP", "RSET"} {
		time.Sleep(80 * time.Millisecond)
		c.expect(cmd, "250 ")
	}
	c.send("NOOP\r\nNOOP\r\n") // the 101st and 102nd junk commands at most
	c.replies("250 ", "250 ")
	c.expect("QUIT", "221")
	c.waitClosed()

	c = start(102)
	if r := c.reply(); !strings.HasPrefix(r, "421 4.7.0 ") {
		t.Fatalf("after the 102nd NOOP in a row (and the EHLO): %q", r)
	}
}

// TestVRFY: VRFY takes an argument (RFC 5321 section 4.1.1.6); without
// one it is a syntax error (501), counted toward the three bad commands
// as other 501s are. With one, the server cannot verify but will accept
// mail (252, section 3.5.3), as before.
func TestVRFY(t *testing.T) {
	const syntax = "501 5.5.4 Syntax: VRFY <address>"
	for _, tc := range []struct {
		name   string
		writes []string // each written on its own, a moment apart
		want   []string // the replies, in order
	}{
		{"no argument", []string{"VRFY\r\n"}, []string{syntax}},
		{"lower case", []string{"vrfy\r\n"}, []string{syntax}},
		{"only blanks after it", []string{"VRFY  \t \r\n"}, []string{syntax}},
		{"an address", []string{"VRFY <a@x.test>\r\n"}, []string{"252 2.5.0 "}},
		{"a user name", []string{"VRFY smith\r\n"}, []string{"252 2.5.0 "}},
		{"split across reads", []string{"VR", "FY\r\n", "VRFY sm", "ith\r\n"}, []string{syntax, "252 2.5.0 "}},
		{"pipelined", []string{"VRFY\r\nVRFY smith\r\nNOOP\r\nVRFY\r\nVRFY <a@x.test>\r\n"},
			[]string{syntax, "252 2.5.0 ", "250 2.0.0", syntax, "252 2.5.0 "}},
		{"the third bad command", []string{"FOO\r\n", "VRFY\r\n", "VRFY smith\r\n", "VRFY\r\n"},
			[]string{"500 5.5.1", syntax, "252 2.5.0 ", syntax, "421 4.7.0 mail.example.com Too many errors"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, testConfig())
			c := dial(t, ts.addr)
			c.hello()
			for i, w := range tc.writes {
				if i > 0 {
					time.Sleep(20 * time.Millisecond)
				}
				c.send(w)
			}
			c.replies(tc.want...)
			if strings.HasPrefix(tc.want[len(tc.want)-1], "421") {
				c.waitClosed()
				return
			}
			c.expect("QUIT", "221")
		})
	}
}

// An empty Message-ID gets a new one written into it, which the 250
// echoes: found from outside, it was kept empty and the reply named none,
// where a Pickup file's empty field is replaced. One field, not two.
func TestEmptyMessageID(t *testing.T) {
	ts := startServer(t, testConfig())
	c := dial(t, ts.addr)
	c.hello()
	r := c.sendMessage("a@x.test", []string{"b@y.test"}, "Message-ID: \r\nSubject: s\r\n\r\nbody")
	id, ok := strings.CutSuffix(strings.TrimPrefix(r, "250 2.6.0 "), " Queued mail for delivery")
	if !ok || !strings.HasPrefix(id, "<MAIL") {
		t.Fatalf("reply %q", r)
	}
	if b := string(ts.onlyDrop(t)); strings.Count(b, "Message-ID:") != 1 || !strings.Contains(b, "\r\nMessage-ID: "+id+"\r\nSubject: s\r\n") {
		t.Fatalf("Drop file:\n%s", b)
	}
}

// Of two Message-ID fields the first is the message's (mail readers take
// it): the reply echoes it, and nothing is added.
func TestTwoMessageIDsEchoFirst(t *testing.T) {
	ts := startServer(t, testConfig())
	c := dial(t, ts.addr)
	c.hello()
	msg := "Message-ID: <first@x.test>\r\nSubject: s\r\nMessage-ID:\r\n <second@x.test>\r\n\r\nbody"
	if r := c.sendMessage("a@x.test", []string{"b@y.test"}, msg); r != "250 2.6.0 <first@x.test> Queued mail for delivery" {
		t.Fatalf("reply %q", r)
	}
	if b := string(ts.onlyDrop(t)); strings.Count(b, "Message-ID:") != 2 {
		t.Fatalf("Drop file:\n%s", b)
	}
}

// A quoted local part reaches Drop, and the replies, as the client sent it:
// go-smtp removes the quotes, and `a@b@example.org` is another address.
func TestQuotedLocalPartsKept(t *testing.T) {
	ts := startServer(t, testConfig())
	c := dial(t, ts.addr)
	c.hello()
	c.expect(`MAIL FROM:<"john smith"@x.test>`, `250 2.1.0 "john smith"@x.test....Sender OK`)
	c.expect(`RCPT TO:<"a@b"@example.org>`, `250 2.1.5 "a@b"@example.org`)
	c.expect(`RCPT TO:<"q\"x"@example.org>`, `250 2.1.5 "q\"x"@example.org`)
	c.expect("RCPT TO:<plain@example.org>", "250 2.1.5 plain@example.org")
	c.expect("DATA", "354")
	c.send("Subject: quoted\r\n\r\nbody\r\n.\r\n")
	if r := c.reply(); !strings.HasPrefix(r, "250 2.6.0 ") {
		t.Fatalf("after the data: %q", r)
	}
	want := "x-sender: \"john smith\"@x.test\r\n" +
		"x-receiver: \"a@b\"@example.org\r\n" +
		"x-receiver: \"q\\\"x\"@example.org\r\n" +
		"x-receiver: plain@example.org\r\n"
	if b := string(ts.onlyDrop(t)); !strings.HasPrefix(b, want) {
		t.Fatalf("Drop file starts\n%s\nwant\n%s", b[:min(len(b), len(want)+40)], want)
	}
}

// FuzzLargestPart: any input, MIME or not, is either accepted or refused
// with an *errPartTooBig that names something; nothing panics; and what
// passes a limit passes any higher one (nothing the walk reads depends on
// the limit, so no input steers it past the check).
func FuzzLargestPart(f *testing.F) {
	for _, first := range []string{"Bad Key: x\r\n", "no colon\r\n", " folded\r\n", "\xe9: x\r\n", "A: b\r\nA: b\r\n"} {
		f.Add([]byte("Content-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\n"+first+"\r\nhi\r\n--BB\r\n"+
			"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAAAAAAAAAA\r\n--BB--\r\n"), int64(8))
	}
	f.Add([]byte("Content-Type: multipart/mixed; boundary=BB\n\n--BB \t\nContent-Type: a/b\nContent-Transfer-Encoding: quoted-printable\n\n=41=\n=4x\n--BB--"), int64(3))
	f.Add([]byte("Content-Type: text/plain\r\nContent-Type: multipart/mixed;\r\n boundary=BB\r\n\r\n--BBx\r\n0123456789\r\n"), int64(4))
	f.Add([]byte(attachmentMessage(40)), int64(32))
	f.Add([]byte("Content-Type: message/rfc822\r\n\r\nContent-Type: application/pdf\r\n\r\n0123456789"), int64(4))
	f.Add([]byte("Subject: x\r\n\r\nbody"), int64(1))
	f.Add([]byte("Subject: x\r\n\r\nbegin 644 a.bin\r\nM86)C\r\n`\r\nend\r\nbegin-base64 600 b\r\nQUJD\r\n====\r\n"), int64(2))
	f.Add([]byte("Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nbegin 644 a.bin\r\nM86)C=\r\n=3D=\n\r\n`\r\nend\r\n"), int64(2))
	f.Add([]byte("Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\nYmVnaW4gNjQ0IGEuYmluDQpNODYpQw0KYA0KZW5kDQo=\r\n"), int64(2))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\rContent-Type: a/b\r\r0123456789\r\r\n--B--\r"), int64(4))
	f.Add([]byte("Subject: x\r\n\r\n=ybegin line=128 size=3 name=a b\r\nk=}l\r\n=yend\r\n(This file must be converted with BinHex 4.0)\r\n:ABCD\r\nEF:\r\n"), int64(2))
	f.Add([]byte("Content-Type: multipart/digest; boundary=D\r\n\r\n--D\r\n\r\nContent-Type: application/pdf\r\n\r\n0123456789\r\n--D--\r\n"), int64(4))
	f.Add([]byte("Content-Type: text/plain; charset=3D\"utf-8\"\r\nContent-Disposition: inline; x=3D\"y\"\r\n\r\n0123456789"), int64(4))
	f.Add([]byte("Content-Type: application/pdf; name=\"R\xc3\xa9sum\xc3\xa9.pdf\"\r\n\r\n0123456789"), int64(4))
	f.Add([]byte("Content-Type : multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Disposition\t: attachment; filename=a\r\n\r\n0123456789\r\n--b--\r\n"), int64(4))
	f.Fuzz(func(t *testing.T, msg []byte, limit int64) {
		if limit < 0 {
			limit = -limit
		}
		limit %= 1024
		err := largestPart(bytes.NewReader(msg), limit)
		if err == nil {
			if e := largestPart(bytes.NewReader(msg), limit+1); e != nil {
				t.Fatalf("passes at %d, refused at %d: %v", limit, limit+1, e)
			}
		}
		var tb *errPartTooBig
		if err != nil && (!errors.As(err, &tb) || tb.name == "") {
			t.Fatalf("largestPart: %v", err)
		}
		if tb != nil && (tb.name != compat.ReplyText(tb.name) || len([]rune(tb.name)) > 103) {
			t.Fatalf("the name %q is not fit for a log line", tb.name)
		}
		if tb != nil {
			r := tb.replyName()
			if len(r) > 103 || strings.IndexFunc(r, func(c rune) bool { return c < 32 || c > 126 }) >= 0 {
				t.Fatalf("the name %q is not fit for a reply line (RFC 5321 section 4.2)", r)
			}
		}
	})
}

// TestCommandChecks: what a client sends that would otherwise reach the
// Drop file wrongly, and commands that are no error.
func TestCommandChecks(t *testing.T) {
	ts := startServer(t, testConfig())
	c := dial(t, ts.addr)
	c.reply()
	// A CR alone, or another control character, in the client's name or
	// an address would split the Drop file's lines for readers that take
	// a CR as a line end (RFC 5321 sections 2.3.8, 4.1.1.1, 4.1.2).
	// (Each is a bad command: three end a session, hence the new ones.)
	c.expect("EHLO evil\rX-Injected: yes", "501 5.5.4 EHLO and HELO need the client's domain name")
	c.expect("HELO a\x00b", "501 5.5.4")
	c = dial(t, ts.addr)
	c.reply()
	c.expect("EHLO bad\xffutf8", "501 5.5.4")
	c.expect("EHLO \u00e9cole.test", "250") // UTF-8 is a name, not a control
	c = dial(t, ts.addr)
	c.reply()
	c.expect("EHLO "+strings.Repeat("h", 256), "501 5.5.4 EHLO and HELO take a domain name of at most 255 characters")
	c.expect("EHLO "+strings.Repeat("h", 255), "250")
	c.expect("MAIL FROM:<a@x.test> REQUIRETLS", "555 5.5.4")
	c.expect("MAIL FROM:<a@x.test>", "250")
	c.expect("RCPT TO:<b@y.test> NOTIFY=NEVER,SUCCESS", "501 5.5.4 Malformed NOTIFY parameter value")
	c = dial(t, ts.addr)
	c.reply()
	// Pipelined, each 501 gets its own reason; a bare HELO is the default.
	c.send("EHLO a\x00" + strings.Repeat("b", 300) + "\r\nHELO " + strings.Repeat("h.", 150) + "\r\n")
	c.replies("501 5.5.4 EHLO and HELO need the client's domain name", "501 5.5.4 EHLO and HELO take a domain name of at most 255 characters")
	c = dial(t, ts.addr)
	c.reply()
	c.send("HELO\r\nHELO " + strings.Repeat("h.", 150) + "\r\n")
	c.replies("501 5.5.4 EHLO and HELO need the client's domain name", "501 5.5.4 EHLO and HELO take a domain name of at most 255 characters")
	c = dial(t, ts.addr)
	c.reply()
	c.send("HELO \r\nEHLO \t \r\n")
	c.replies("501 5.5.4 EHLO and HELO need the client's domain name", "501 5.5.4 EHLO and HELO need the client's domain name")
	c = dial(t, ts.addr)
	c.reply()
	c.expect("EHLO client.test", "250")
	c.expect("MAIL FROM:<\"s\rX-Evil: 1\"@x.test>", "501 5.1.7")
	c = dial(t, ts.addr)
	c.hello()
	c.expect("MAIL FROM:<a@x.test>", "250 2.1.0")
	c.expect("RCPT TO:<\"v\rx-receiver: victim@other.test\r\"@y.test>", "501 5.1.3")
	c.expect("RCPT TO:<a\x7fb@y.test>", "501 5.1.3")
	c = dial(t, ts.addr)
	c.hello()
	c.expect("MAIL FROM:<a@x.test> SMTPUTF8", "250 2.1.0")
	c.expect("RCPT TO:<\"a\u2028x-receiver: z@z.test\"@y.test>", "501 5.1.3") // Python's splitlines ends a line there
	c.expect("RCPT TO:<a\u0085b@y.test>", "501 5.1.3")                        // NEL, a C1 control
	c.expect("RCPT TO:<jörg@bücher.test>", "250 2.1.5")
	c.expect("RCPT TO:<b@y.test>", "250 2.1.5")
	// A second MAIL inside the transaction would drop b@y.test (RFC 5321
	// section 4.1.4).
	c.expect("MAIL FROM:<other@x.test>", "503 5.5.1 Sender already specified")
	// The same recipient twice: accepted, written once, whatever the
	// domain's case (RFC 5321 section 2.4) or the postmaster's.
	c.expect("RCPT TO:<b@y.test>", "250 2.1.5")
	c.expect("RCPT TO:<b@Y.TEST>", "250 2.1.5")
	c.expect("RCPT TO:<c@y.test>", "250 2.1.5")
	c.expect("RCPT TO:<Postmaster>", "250 2.1.5")
	c.expect("RCPT TO:<POSTMASTER@MAIL.example.com>", "250 2.1.5")
	// HELP is answered (RFC 5321 section 4.1.1.8); commands the server
	// does not carry out are no error: the session is still open after
	// more than three of them, STARTTLS where TLS is not configured too.
	c.send("HELP\r\n")
	if r := c.reply(); !strings.HasPrefix(r, "214-2.0.0 This server supports the following commands:\n214 2.0.0 HELO EHLO") {
		t.Fatalf("HELP: %q", r)
	}
	for _, cmd := range []string{"EXPN list", "TURN", "STARTTLS", "EXPN x", "STARTTLS", "SAML FROM:<a@x.test>", "STARTTLS", "ETRN example.com"} {
		c.expect(cmd, "502 5.5.1")
	}
	c.expect("DATA", "354")
	c.send("Subject: checked\r\n\r\nbody\r\n.\r\n")
	if r := c.reply(); !strings.HasPrefix(r, "250 2.6.0") {
		t.Fatalf("DATA: %q", r)
	}
	b := string(ts.onlyDrop(t))
	if !strings.HasPrefix(b, "x-sender: a@x.test\r\nx-receiver: jörg@bücher.test\r\nx-receiver: b@y.test\r\nx-receiver: c@y.test\r\nx-receiver: Postmaster@mail.example.com\r\nReceived: from client.test ") ||
		strings.ContainsAny(b[:strings.Index(b, "Subject:")], "\x00\x7f") || strings.Count(b, "\r") != strings.Count(b, "\r\n") {
		t.Fatalf("Drop file:\n%q", b)
	}
}

// TestBDATCut: a BDAT chunk cut short (the client closed, or stalled past
// the data timeout) leaves nothing in Drop (RFC 3030 section 2: a chunk is
// exactly the octets declared); a stalled chunk times out after the data
// timeout, as a DATA upload does, not the command timeout.
func TestBDATCut(t *testing.T) {
	cfg := testConfig()
	cfg.CommandTimeout = time.Minute
	cfg.DataTimeout = 300 * time.Millisecond
	ts := startServer(t, cfg)
	for _, how := range []string{"close", "half-close", "stall"} {
		c := dial(t, ts.addr)
		c.hello()
		c.expect("MAIL FROM:<a@x.test>", "250")
		c.expect("RCPT TO:<b@y.test>", "250")
		c.send("BDAT 5000 LAST\r\nSubject: invoice batch\r\n\r\n" + strings.Repeat("line of invoice data\r\n", 20))
		switch how {
		case "close":
			time.Sleep(50 * time.Millisecond)
			c.c.Close()
		case "half-close":
			c.c.(*net.TCPConn).CloseWrite()
			c.waitClosed()
		case "stall":
			start := time.Now()
			if r := c.reply(); !strings.HasPrefix(r, "421 4.4.2") || time.Since(start) > 20*time.Second {
				t.Fatalf("stalled chunk: %q after %v", r, time.Since(start))
			}
		}
	}
	for deadline := time.Now().Add(5 * time.Second); strings.Count(ts.logs.String(), "inside a BDAT chunk") < 3 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if n := ts.dropFiles(t); len(n) != 0 {
		t.Fatalf("Drop holds %v after chunks cut short:\n%s", n, ts.logs.String())
	}
	// Each said as what it was: found from outside, the stall was said
	// to be a disconnect.
	l := ts.logs.String()
	if strings.Count(l, `reason="the client disconnected inside a BDAT chunk"`) != 2 || strings.Count(l, `reason="the client sent nothing for data_timeout (300ms) inside a BDAT chunk: it was told 421 4.4.2"`) != 1 {
		t.Fatalf("log:\n%s", l)
	}
}

// TestRefusedBDAT: a BDAT command go-smtp refuses as malformed (501) is
// followed by no chunk, so what follows it is commands, checked and
// answered as such, and the next message is stored as sent; a BDAT
// refused for the session's state or its size is followed by its chunk
// (RFC 3030 section 2), which is skipped, not taken for commands.
func TestRefusedBDAT(t *testing.T) {
	cfg := testConfig()
	cfg.MaxMessageSize = 1 << 10
	for _, tc := range []struct {
		name  string
		inTx  bool   // MAIL and RCPT before the BDAT
		bdat  string // the command and the chunk the client sends
		reply string
	}{
		{"unknown second argument", true, "BDAT 6 FOO\r\n", "501 5.5.4"},
		{"no size", true, "BDAT\r\n", "501 5.5.4"},
		{"three arguments", true, "BDAT 1 2 3\r\n", "501 5.5.4"},
		{"negative size", true, "BDAT -5\r\n", "501 5.5.4"},
		{"signed size", true, "BDAT +5 LAST\r\n", "501 5.5.4"},
		{"no transaction", false, "BDAT 22 LAST\r\nRCPT TO:<postmaster>\r\n", "503 5.5.1 Missing MAIL FROM command."},
		{"over max_message_size", true, "BDAT 2000 LAST\r\n" + strings.Repeat("RCPT TO:<postmaster>\r\n", 100)[:2000], "552 5.3.4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, cfg)
			c := dial(t, ts.addr)
			c.hello()
			if tc.inTx {
				c.expect("MAIL FROM:<a@x.test>", "250")
				c.expect("RCPT TO:<b@y.test>", "250")
			}
			c.send(tc.bdat)
			c.replies(tc.reply)
			// All in one write, the message too: the commands must be
			// seen as commands (the postmaster rewrite, DATA's end). A
			// malformed BDAT leaves the transaction as it was (go-smtp);
			// one refused for its size ends it.
			open := tc.inTx && strings.HasPrefix(tc.reply, "501")
			next, want := "", []string{}
			if !open {
				next = "RCPT TO:<postmaster>\r\nMAIL FROM:<a@x.test>\r\n"
				want = []string{"503 5.5.1", "250 2.1.0"}
			}
			c.send(next + "RCPT TO:<postmaster>\r\nDATA\r\n" +
				"Subject: after a refused BDAT\r\n\r\nthe right body\r\n.\r\nNOOP\r\n")
			c.replies(append(want, "250 2.1.5 postmaster@mail.example.com", "354", "250 2.6.0", "250 2.0.0")...)
			got := string(ts.onlyDrop(t))
			if !strings.Contains(got, "x-receiver: postmaster@mail.example.com\r\n") ||
				!strings.Contains(got, "\r\nSubject: after a refused BDAT\r\n") || !strings.HasSuffix(got, "\r\n\r\nthe right body\r\n") {
				t.Fatalf("Drop file:\n%s", got)
			}
		})
	}
}

// TestHugeBDAT: a BDAT whose chunk is 4 GiB or more is well formed, only
// too big: 552, and the connection ends, since its chunk follows and
// cannot be skipped (found from outside: go-smtp answered 501 "Malformed
// size argument" and read the chunk's bytes as commands). Nothing is
// stored.
func TestHugeBDAT(t *testing.T) {
	for _, tc := range []struct {
		name string
		inTx bool
		bdat string
	}{
		{"outside a transaction", false, "BDAT 99999999999\r\n"},
		{"in a transaction", true, "BDAT 4294967296 LAST\r\n"},
		{"in any case, with zeros", true, "bdat 0004294967301 last\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, testConfig())
			c := dial(t, ts.addr)
			c.hello()
			if tc.inTx {
				c.expect("MAIL FROM:<a@x.test>", "250")
				c.expect("RCPT TO:<b@y.test>", "250")
			}
			c.send(tc.bdat + "RCPT TO:<postmaster>\r\nQUIT\r\n")
			c.replies("552 5.3.4 Message size exceeds fixed maximum message size, closing transmission channel")
			c.waitClosed()
			if n := ts.dropFiles(t); len(n) != 0 {
				t.Fatalf("Drop holds %v", n)
			}
			if tc.inTx {
				return
			}
			// Said as a refusal, with its reply, when the connection
			// ends (found from outside: a warning of go-smtp's error
			// alone).
			want := `level=INFO msg="connection closed: a BDAT chunk of 4 GiB or more, larger than any max_message_size (552 5.3.4)" client=127.0.0.1`
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(ts.logs.String(), want) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if logs := ts.logs.String(); !strings.Contains(logs, want) || strings.Contains(logs, "level=WARN") {
				t.Fatalf("log:\n%s", logs)
			}
		})
	}
}

// TestShutdownTimeoutWhileStoring: when the shutdown's time runs out while
// a message received whole is being stored, the client gets the reply that
// says it was stored, and only then the 421; a message whose client was
// already told 421 is not stored. Either way no message is both stored and
// refused, which made the client send it again and Drop hold it twice
// (found with postfix as the client and shutdown_timeout = "0s").
func TestShutdownTimeoutWhileStoring(t *testing.T) {
	for _, stage := range []string{"after", "before"} {
		t.Run("held "+stage+" the commit began", func(t *testing.T) {
			held, release := make(chan struct{}), make(chan struct{})
			cfg := testConfig()
			cfg.atCommit = func(s string) {
				if s == stage {
					close(held)
					<-release
				}
			}
			ts := startServer(t, cfg)
			c := dial(t, ts.addr)
			c.hello()
			c.beginData()
			c.send("Subject: storing\r\n\r\nbody\r\n.\r\n")
			<-held
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // shutdown_timeout = "0s"
			done := make(chan error, 1)
			go func() { done <- ts.srv.Shutdown(ctx) }()
			if stage == "before" {
				// Not yet storing: cut at once, and then nothing stored.
				if r := c.reply(); !strings.HasPrefix(r, "421 4.3.2") {
					t.Fatalf("reply %q, want 421", r)
				}
				close(release)
				if err := <-done; !errors.Is(err, context.Canceled) {
					t.Fatalf("Shutdown: %v", err)
				}
				if n := ts.dropFiles(t); len(n) != 0 {
					t.Fatalf("Drop holds %v after the client was told 421", n)
				}
				return
			}
			select {
			case err := <-done:
				t.Fatalf("Shutdown returned (%v) while a message was being stored", err)
			case <-time.After(300 * time.Millisecond):
			}
			close(release)
			if r := c.reply(); !strings.HasPrefix(r, "250 2.6.0") {
				t.Fatalf("reply %q, want 250 first", r)
			}
			if r := c.reply(); !strings.HasPrefix(r, "421 4.3.2") {
				t.Fatalf("then %q, want 421", r)
			}
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("Shutdown: %v", err)
			}
			if n := ts.dropFiles(t); len(n) != 1 {
				t.Fatalf("Drop holds %v, want the message once", n)
			}
		})
	}
}

// An address that does not parse gets the address's enhanced code (RFC
// 3463: 5.1.7 sender, 5.1.3 recipient), a command without FROM: or TO:
// the syntax one (found from outside: "Was expecting RCPT arg syntax" for
// RCPT TO:<>).
func TestAddressSyntaxReplies(t *testing.T) {
	for _, tc := range []struct{ mail, line, want string }{
		{"", "MAIL FROM:<post master>", "501 5.1.7 Bad sender address syntax"},
		{"", "MAIL <a@x.test>", "501 5.5.2"},
		{"MAIL FROM:<a@x.test>", "RCPT TO:<>", "501 5.1.3 Bad recipient address syntax"},
		{"MAIL FROM:<a@x.test>", "RCPT TO:<fo o>", "501 5.1.3 Bad recipient address syntax"},
		{"MAIL FROM:<a@x.test>", "RCPT <b@y.test>", "501 5.5.2"},
		// A domain that is no domain (found from outside: a comma, an
		// '@', a double dot, a bracket were taken, and the address split
		// at its last '@' was another one, in another domain; accepted
		// with 250, such a relayed recipient was lost).
		{"", "MAIL FROM:<a@x.test@y.test>", "501 5.1.7 Bad sender address syntax"},
		{"MAIL FROM:<a@x.test>", "RCPT TO:<user@other.test,evil@other2.test>", "501 5.1.3 Bad recipient address syntax"},
		{"MAIL FROM:<a@x.test>", "RCPT TO:<user@other.test@local.test>", "501 5.1.3"},
		{"MAIL FROM:<a@x.test>", "RCPT TO:<user@local..test>", "501 5.1.3"},
		{"MAIL FROM:<a@x.test>", "RCPT TO:<user@local.test..>", "501 5.1.3"},
		{"MAIL FROM:<a@x.test>", "RCPT TO:<user@other.test)>", "501 5.1.3"},
		{"MAIL FROM:<a@x.test>", "RCPT TO:<user@oth\"er.test>", "501 5.1.3"},
		{"MAIL FROM:<a@x.test>", "RCPT TO:<user@local.test]>", "501 5.1.3"},
		{"MAIL FROM:<a@x.test>", "RCPT TO:<user@[1.2.3.4>", "501 5.1.3"},
		{"MAIL FROM:<a@x.test>", "RCPT TO:<user@local.test.>", "250 2.1.5"},
		{"MAIL FROM:<a@x.test>", "RCPT TO:<user@[127.0.0.1]>", "250 2.1.5"},
		{"MAIL FROM:<a@x.test>", "RCPT TO:<user@[IPv6:::1]>", "250 2.1.5"},
		{"MAIL FROM:<a@x.test>", "RCPT TO:<\"user@other.test\"@local.test>", "250 2.1.5"},
		{"MAIL FROM:<a@x.test>", "RCPT TO:<scan_01@fax_server.corp>", "250 2.1.5"},
		{"MAIL FROM:<a@x.test> SMTPUTF8", "RCPT TO:<user@müller.test>", "250 2.1.5"},
	} {
		ts := startServer(t, testConfig())
		c := dial(t, ts.addr)
		c.hello()
		if tc.mail != "" {
			c.expect(tc.mail, "250")
		}
		if got := c.cmd(tc.line); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%q: %q, want %q", tc.line, got, tc.want)
		}
	}
}

// DSN parameters (RFC 3461), which IIS took as it offered DSN, are taken
// and checked for form, not acted on: DSN is not offered, and the log
// says what was asked. Found from outside: each got 555, and three of them
// (a message to three recipients with NOTIFY) closed the session.
func TestDSNParametersTaken(t *testing.T) {
	ts := startServer(t, testConfig())
	c := dial(t, ts.addr)
	c.reply()
	if ehlo := c.cmd("EHLO client.test"); strings.Contains(ehlo, "DSN") {
		t.Fatalf("DSN offered:\n%s", ehlo)
	}
	c.expect("MAIL FROM:<a@x.test> RET=HDRS ENVID=abc123", "250 2.1.0")
	for _, r := range []string{"b@y.test", "c@y.test", "d@y.test", "e@y.test"} {
		c.expect("RCPT TO:<"+r+"> NOTIFY=FAILURE,DELAY ORCPT=rfc822;"+r, "250 2.1.5")
	}
	c.expect("RCPT TO:<f@y.test> NOTIFY=SUCCESS", "250 2.1.5")
	c.expect("DATA", "354")
	c.send("Subject: dsn\r\n\r\nbody\r\n.\r\n")
	if r := c.reply(); !strings.HasPrefix(r, "250 2.6.0") {
		t.Fatalf("%q", r)
	}
	b := ts.onlyDrop(t)
	if !bytes.HasPrefix(b, []byte("x-sender: a@x.test\r\nx-receiver: b@y.test\r\nx-receiver: c@y.test\r\nx-receiver: d@y.test\r\nx-receiver: e@y.test\r\nx-receiver: f@y.test\r\nReceived: ")) {
		t.Fatalf("Drop file:\n%s", b)
	}
	if logs := ts.logs.String(); !strings.Contains(logs, `dsn_not_acted_on="RET=HDRS ENVID NOTIFY=FAILURE,DELAY ORCPT NOTIFY=SUCCESS"`) {
		t.Fatalf("log:\n%s", logs)
	}
	// Malformed, they are refused as such.
	c.expect("MAIL FROM:<a@x.test> RET=ALL", "501 5.5.4 Unknown RET value")
}

// Replies echo an address in printable ASCII, save in a transaction begun
// with SMTPUTF8 (RFC 5321 section 4.2, RFC 6531 section 3.7.4.1); the
// Drop file has it as sent either way.
func TestReplyEchoASCII(t *testing.T) {
	ts := startServer(t, testConfig())
	c := dial(t, ts.addr)
	c.hello()
	c.expect("MAIL FROM:<sénder@x.test>", "250 2.1.0 s?nder@x.test....Sender OK")
	c.expect("RCPT TO:<jörg@bücher.test>", "250 2.1.5 j?rg@b?cher.test")
	c.expect("RSET", "250")
	c.expect("MAIL FROM:<sénder@x.test> SMTPUTF8", "250 2.1.0 sénder@x.test....Sender OK")
	c.expect("RCPT TO:<jörg@bücher.test>", "250 2.1.5 jörg@bücher.test")
	c.expect("DATA", "354")
	c.send("Subject: u\r\n\r\nbody\r\n.\r\n")
	c.replies("250 2.6.0")
	if b := ts.onlyDrop(t); !bytes.HasPrefix(b, []byte("x-sender: sénder@x.test\r\nx-receiver: jörg@bücher.test\r\n")) {
		t.Fatalf("%s", b)
	}
}

// waitGreeted connects to addr until a connection is greeted (220): a
// session that ended frees its slot once the server has seen the close,
// which is retried for briefly rather than assumed.
func waitGreeted(t *testing.T, addr string) {
	t.Helper()
	for i := 0; ; i++ {
		c := dial(t, addr)
		r := c.reply()
		c.c.Close()
		if strings.HasPrefix(r, "220 ") {
			return
		}
		if i > 50 {
			t.Fatalf("no slot freed: %q", r)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
