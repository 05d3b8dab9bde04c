package listener

import (
	"io"
	"strings"
	"testing"
	"time"
)

// A message that stops arriving is logged with the reason in words, the
// same for DATA and BDAT: the errors differ ("unexpected EOF", "i/o
// timeout", go-smtp's "message transmission aborted"). Found from outside.
func TestAbortedMessageReason(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start string // after EHLO, MAIL and RCPT
		end   func(c *client)
		want  string
	}{
		{"DATA, client gone", "DATA\r\n", func(c *client) { c.reply(); c.send("Subject: x\r\n\r\npart"); c.c.Close() },
			`reason="the client disconnected before the end of the message"`},
		{"DATA, timeout", "DATA\r\n", func(c *client) { c.reply(); c.send("Subject: x\r\n\r\npart") },
			`reason="the client sent nothing for data_timeout (300ms)"`},
		// Ended by a dot line with a bare LF, which is no end here: said
		// (found from outside: "sent nothing" alone).
		{"DATA, timeout after a bare LF end", "DATA\r\n", func(c *client) { c.reply(); c.send("Subject: x\n\nbody\n.\n") },
			`reason="the client sent nothing for data_timeout (300ms); the last bytes it sent were a line of a lone dot ended by a bare LF, which does not end a message`},
		{"DATA, timeout after CRLF, dot, bare LF", "DATA\r\n", func(c *client) { c.reply(); c.send("Subject: x\r\n\r\nbody\r\n.\n") },
			`reason="the client sent nothing for data_timeout (300ms); the last bytes it sent were a line of a lone dot ended by a bare LF`},
		{"DATA, timeout after a bare LF, dot, CRLF", "DATA\r\n", func(c *client) { c.reply(); c.send("Subject: x\n\nbody\n.\r\n") },
			`reason="the client sent nothing for data_timeout (300ms); the last bytes it sent were a line of a lone dot ended by a bare LF`},
		// A script that wrote its whole session at once: its QUIT came
		// after the bare-LF end, so the last bytes were QUIT's; or it hung
		// up (found from outside: no word of why).
		{"DATA, timeout after a bare LF end and QUIT", "DATA\r\n", func(c *client) { c.reply(); c.send("Subject: x\n\nbody\n.\nQUIT\n") },
			`reason="the client sent nothing for data_timeout (300ms); what it sent held a line of a lone dot ended by a bare LF, taken for message text, which does not end a message`},
		{"DATA, client gone after a bare LF end", "DATA\r\n", func(c *client) { c.reply(); c.send("Subject: x\n\nbody\n.\n"); c.c.Close() },
			`reason="the client disconnected before the end of the message; what it sent held a line of a lone dot ended by a bare LF, taken for message text`},
		{"DATA, client gone after a bare LF end split over writes", "DATA\r\n", func(c *client) {
			c.reply()
			c.send("Subject: x\n\nbody\n")
			time.Sleep(50 * time.Millisecond)
			c.send(".\r\nQUIT\r\n")
			c.c.Close()
		}, `reason="the client disconnected before the end of the message; what it sent held a line of a lone dot ended by a bare LF`},
		{"BDAT, client gone between chunks", "BDAT 12\r\nSubject: x\r\n", func(c *client) { c.reply(); c.c.Close() },
			`reason="the client ended the BDAT transaction before its last chunk (RSET or disconnect)"`},
		// Between chunks the client is read as for a command (found
		// from outside: said to be closed for its errors).
		{"BDAT, idle between chunks", "BDAT 12\r\nSubject: x\r\n", func(c *client) { c.reply() },
			`reason="the client sent nothing for command_timeout (300ms) between BDAT chunks: it was told 421 4.4.2, and sends the message again"`},
		// A lone dot with a bare LF as the message's first line: an
		// empty message from a script (found from outside: no hint).
		{"DATA, client gone after a first line of a lone dot and a bare LF", "DATA\r\n", func(c *client) { c.reply(); c.send(".\nQUIT\n"); c.c.Close() },
			`reason="the client disconnected before the end of the message; what it sent held a line of a lone dot ended by a bare LF`},
		{"DATA, timeout after a first line of a lone dot and a bare LF", "DATA\r\n", func(c *client) { c.reply(); c.send(".\n") },
			`reason="the client sent nothing for data_timeout (300ms); the last bytes it sent were a line of a lone dot ended by a bare LF`},
		{"BDAT, client gone inside a chunk", "BDAT 100\r\nSubject: x\r\n", func(c *client) { c.c.Close() },
			`reason="the client disconnected inside a BDAT chunk"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.DataTimeout = 300 * time.Millisecond
			cfg.CommandTimeout = 300 * time.Millisecond
			ts := startServer(t, cfg)
			c := dial(t, ts.addr)
			c.hello()
			c.expect("MAIL FROM:<a@x.test>", "250")
			c.expect("RCPT TO:<b@y.test>", "250")
			c.send(tc.start)
			tc.end(c)
			for deadline := time.Now().Add(10 * time.Second); !strings.Contains(ts.logs.String(), `msg="message not received"`); {
				if time.Now().After(deadline) {
					t.Fatalf("no line for the message:\n%s", ts.logs.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			// Until the server has closed: its replies are written (and
			// an idle line would be logged) by then.
			_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, _ = io.Copy(io.Discard, c.br)
			if !strings.Contains(ts.logs.String(), tc.want) {
				t.Fatalf("want %s in:\n%s", tc.want, ts.logs.String())
			}
			// One line for a message cut, not a second as for an idle
			// client between commands.
			if strings.Contains(ts.logs.String(), "sent no complete command within command_timeout") {
				t.Fatalf("an idle line for a message cut:\n%s", ts.logs.String())
			}
			if tc.name == "DATA, timeout" && strings.Contains(ts.logs.String(), "bare LF") {
				t.Fatalf("a bare LF said for a message cut mid-line:\n%s", ts.logs.String())
			}
		})
	}
}
