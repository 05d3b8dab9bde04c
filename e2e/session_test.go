//go:build !windows

package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestTwoMessagesOneSession: each message of a session gets its own
// envelope, and RSET forgets a transaction.
func TestTwoMessagesOneSession(t *testing.T) {
	d := startDaemon(t, options{})
	s := dialSMTP(t, d.addr)
	expect(t, s.last(), "220 ")
	s.send("EHLO two.test\r\n")
	s.reply()
	expect(t, s.cmd("MAIL FROM:<first@e2e.test>"), "250 ")
	expect(t, s.cmd("RCPT TO:<a@e2e.test>"), "250 ")
	expect(t, s.cmd("RSET"), "250 2.0.0 Resetting")
	expect(t, s.cmd("MAIL FROM:<first@e2e.test>"), "250 ")
	expect(t, s.cmd("RCPT TO:<b@e2e.test>"), "250 ")
	expect(t, s.cmd("DATA"), "354 ")
	s.send("Message-ID: <one@e2e.test>\r\n\r\n1\r\n.\r\n")
	expect(t, s.last(), "250 2.6.0 <one@e2e.test>")
	expect(t, s.cmd("MAIL FROM:<>"), "250 ")
	expect(t, s.cmd("RCPT TO:<c@e2e.test>"), "250 ")
	expect(t, s.cmd("RCPT TO:<d@e2e.test>"), "250 ")
	expect(t, s.cmd("DATA"), "354 ")
	s.send("Message-ID: <two@e2e.test>\r\n\r\n2\r\n.\r\n")
	expect(t, s.last(), "250 2.6.0 <two@e2e.test>")
	expect(t, s.cmd("QUIT"), "221 ")
	got := map[string]string{}
	for _, p := range d.waitDrop(2) {
		f := parseDrop(t, p)
		got[f.header("Message-ID")] = f.sender + " -> " + strings.Join(f.rcpts, ",")
	}
	if got["<one@e2e.test>"] != "first@e2e.test -> b@e2e.test" || got["<two@e2e.test>"] != " -> c@e2e.test,d@e2e.test" {
		t.Errorf("envelopes %q", got)
	}
}

// TestClientVanishesMidMessage: a client that disconnects in the middle
// of DATA leaves nothing in Drop or SortTemp, and the server goes on.
func TestClientVanishesMidMessage(t *testing.T) {
	d := startDaemon(t, options{})
	s := startData(t, d)
	s.send(string(burstMessage(1, 100<<10)[:70<<10]))
	s.c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(d.log.String(), "message not received") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if names := d.dropNames(); len(names) != 0 {
		t.Errorf("Drop holds %v", names)
	}
	if left := waitEmpty(t, d.sortTemp); len(left) != 0 {
		t.Errorf("SortTemp holds %v", left)
	}
	expect(t, sendRaw(t, d.addr, burstMessage(2, 1000)), "250 2.6.0 <m-2@e2e.test>")
}

// TestMessageSizeLimit: a message over max_message_size (set in the file
// with a unit) is refused with 552 5.3.4 and nothing is written; SIZE
// advertises the limit and a MAIL FROM SIZE= over it is refused at once.
func TestMessageSizeLimit(t *testing.T) {
	d := startDaemon(t, options{inbound: `max_message_size = "100KB"` + "\n" + `max_attachment_size = "50KB"`})
	s := dialSMTP(t, d.addr)
	expect(t, s.last(), "220 ")
	s.send("EHLO size.test\r\n")
	if ehlo := strings.Join(s.reply(), "\n"); !strings.Contains(ehlo, "SIZE 102400") {
		t.Errorf("EHLO does not advertise SIZE 102400:\n%s", ehlo)
	}
	expect(t, s.cmd("MAIL FROM:<big@e2e.test> SIZE=200000"), "552 5.3.4 ")
	expect(t, s.cmd("MAIL FROM:<big@e2e.test>"), "250 ")
	expect(t, s.cmd("RCPT TO:<drop@e2e.test>"), "250 ")
	expect(t, s.cmd("DATA"), "354 ")
	s.send(string(burstMessage(1, 200<<10)) + ".\r\n")
	if got := s.last(); got != "552 5.3.4 Message size exceeds fixed maximum message size" {
		t.Errorf("reply %q", got)
	}
	// The session goes on.
	expect(t, s.cmd("MAIL FROM:<small@e2e.test>"), "250 ")
	expect(t, s.cmd("RCPT TO:<drop@e2e.test>"), "250 ")
	expect(t, s.cmd("DATA"), "354 ")
	s.send(string(burstMessage(2, 10<<10)) + ".\r\n")
	expect(t, s.last(), "250 2.6.0 <m-2@e2e.test>")
	if n := len(d.waitDrop(1)); n != 1 {
		t.Errorf("Drop holds %d files", n)
	}
	if left := waitEmpty(t, d.sortTemp); len(left) != 0 {
		t.Errorf("SortTemp holds %v", left)
	}
}
