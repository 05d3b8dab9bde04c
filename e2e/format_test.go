//go:build !windows

package e2e

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDropFormat checks a Drop file end to end against iis-reference
// section 2, and the wire texts of section 8, over a raw conversation.
func TestDropFormat(t *testing.T) {
	d := startDaemon(t, options{})
	s := dialSMTP(t, d.addr)
	greet := s.last()
	if !regexp.MustCompile(`^220 e2e\.example\.com Microsoft ESMTP MAIL Service, Version: 10\.0\.17763\.1697 ready at  \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4} $`).MatchString(greet) {
		t.Errorf("greeting %q is not IIS's", greet)
	}
	s.send("EHLO client.test\r\n")
	ehlo := s.reply()
	if ehlo[0] != "250-e2e.example.com Hello [127.0.0.1]" {
		t.Errorf("EHLO first line %q", ehlo[0])
	}
	for _, ext := range []string{"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "CHUNKING", "SMTPUTF8", "SIZE 31457280"} {
		if !strings.Contains(strings.Join(ehlo, "\n"), ext) {
			t.Errorf("EHLO does not offer %s: %q", ext, ehlo)
		}
	}
	if strings.Contains(strings.Join(ehlo, "\n"), "AUTH") {
		t.Errorf("EHLO offers AUTH: %q", ehlo)
	}

	sent := time.Now()
	if got := s.cmd("MAIL FROM:<sender@example.com>"); got != "250 2.1.0 sender@example.com....Sender OK" {
		t.Errorf("MAIL reply %q", got)
	}
	for _, r := range []string{"one@example.org", "two@example.net"} {
		if got := s.cmd("RCPT TO:<" + r + ">"); got != "250 2.1.5 "+r {
			t.Errorf("RCPT reply %q", got)
		}
	}
	if got := s.cmd("DATA"); got != "354 Start mail input; end with <CRLF>.<CRLF>" {
		t.Errorf("DATA reply %q", got)
	}
	// No Message-ID: mailbridge adds one and echoes it. A dot-stuffed line
	// and a bare LF test transparency and line-end normalisation.
	s.send("From: a@example.com\r\nSubject: format\r\n\r\nline one\r\n..leading dot\r\nbare\nlf\r\n.\r\n")
	queued := s.last()
	m := regexp.MustCompile(`^250 2\.6\.0 (<[^>]+>) Queued mail for delivery$`).FindStringSubmatch(queued)
	if m == nil {
		t.Fatalf("reply to the message %q", queued)
	}
	if got := s.cmd("RSET"); got != "250 2.0.0 Resetting" {
		t.Errorf("RSET reply %q", got)
	}
	if got := s.cmd("QUIT"); got != "221 2.0.0 e2e.example.com Service closing transmission channel" {
		t.Errorf("QUIT reply %q", got)
	}

	paths := d.waitDrop(1)
	if !strings.HasSuffix(paths[0], ".eml") {
		t.Errorf("Drop file %s is not .eml", paths[0])
	}
	f := parseDrop(t, paths[0])
	if f.sender != "sender@example.com" || strings.Join(f.rcpts, ",") != "one@example.org,two@example.net" {
		t.Errorf("envelope %q %q", f.sender, f.rcpts)
	}
	rm := receivedRE.FindStringSubmatch(f.received)
	if rm[1] != "client.test" || rm[2] != "127.0.0.1" || rm[3] != hostname || rm[4] != "" {
		t.Errorf("Received %q", f.received)
	}
	if got := f.header("Message-ID"); got != m[1] {
		t.Errorf("Message-ID in file %q, echoed %q", got, m[1])
	}
	if !regexp.MustCompile(`^<E2E[0-9A-F]+@e2e\.example\.com>$`).MatchString(m[1]) {
		t.Errorf("added Message-ID %q is not in IIS's form <HOST...@FQDN>", m[1])
	}
	checkOAT(t, f.header("X-OriginalArrivalTime"), sent)
	// The added fields come at the end of the header block, after the
	// client's own.
	if len(f.headers) != 4 || f.headers[0] != "From: a@example.com" || f.headers[1] != "Subject: format" {
		t.Errorf("headers %q", f.headers)
	}
	if want := "line one\r\n.leading dot\r\nbare\r\nlf\r\n"; string(f.body) != want {
		t.Errorf("body %q, want %q", f.body, want)
	}
	// One structured log line per message with the keys.
	id := strings.TrimSuffix(f.name, ".eml")
	var logLine string
	for _, l := range strings.Split(d.waitLog(`msg="message received"`, 1), "\n") {
		if strings.Contains(l, `msg="message received"`) {
			logLine = l
		}
	}
	for _, kv := range []string{"id=" + id, "client=127.0.0.1", "helo=client.test", "from=sender@example.com",
		"to=one@example.org,two@example.net", "size=", "file=" + paths[0], "result=250", "message_id=" + m[1]} {
		if !strings.Contains(logLine, kv) {
			t.Errorf("log line lacks %q: %s", kv, logLine)
		}
	}
}

// TestMessageIDKept checks that a message's own Message-ID is kept, not
// doubled, and echoed; and that an X-OriginalArrivalTime from an earlier
// IIS hop is kept rather than replaced.
func TestMessageIDKept(t *testing.T) {
	d := startDaemon(t, options{})
	s := dialSMTP(t, d.addr)
	s.last()
	s.send("EHLO c\r\n")
	s.reply()
	expect(t, s.cmd("MAIL FROM:<a@b.test>"), "250 ")
	expect(t, s.cmd("RCPT TO:<c@d.test>"), "250 ")
	expect(t, s.cmd("DATA"), "354 ")
	oat := "01 Dec 2008 23:49:35.0618 (UTC) FILETIME=[77199E20:01C9540F]"
	s.send("Message-ID: <own.123@sender.test>\r\nX-OriginalArrivalTime: " + oat + "\r\n\r\nbody\r\n.\r\n")
	if got := s.last(); got != "250 2.6.0 <own.123@sender.test> Queued mail for delivery" {
		t.Errorf("reply %q", got)
	}
	f := parseDrop(t, d.waitDrop(1)[0])
	if f.count("Message-ID") != 1 || f.count("X-OriginalArrivalTime") != 1 {
		t.Errorf("headers %q", f.headers)
	}
	if got := f.header("X-OriginalArrivalTime"); got != oat {
		t.Errorf("X-OriginalArrivalTime %q, want the earlier hop's %q", got, oat)
	}
}

// TestBDAT sends a message in BDAT chunks (RFC 3030) over a raw socket,
// pipelined, with a chunk boundary inside a CRLF and a chunk that holds
// what would be an end-of-data line in DATA.
func TestBDAT(t *testing.T) {
	d := startDaemon(t, options{})
	s := dialSMTP(t, d.addr)
	s.last()
	s.send("EHLO bdat.test\r\n")
	s.reply()
	chunks := []string{
		"From: x@y.test\r\nSubject: bdat\r\n\r\nfirst\r",
		"\n.\r\n..two dots stay two\r\n",
		"binary \x00\xff\x80 bytes\r\nlast line\r\n",
	}
	var b strings.Builder
	b.WriteString("MAIL FROM:<x@y.test> BODY=8BITMIME\r\nRCPT TO:<r@z.test>\r\n")
	for i, c := range chunks {
		last := ""
		if i == len(chunks)-1 {
			last = " LAST"
		}
		fmt.Fprintf(&b, "BDAT %d%s\r\n%s", len(c), last, c)
	}
	s.send(b.String())
	expect(t, s.last(), "250 2.1.0")
	expect(t, s.last(), "250 2.1.5")
	for i := 0; i < len(chunks)-1; i++ {
		expect(t, s.last(), "250 ")
	}
	expect(t, s.last(), "250 2.6.0 <")
	// A second transaction on the same session, with a zero-length LAST.
	s.send("MAIL FROM:<x@y.test>\r\nRCPT TO:<r@z.test>\r\nBDAT 18\r\nSubject: 2\r\n\r\nhi\r\nBDAT 0 LAST\r\n")
	expect(t, s.last(), "250 2.1.0")
	expect(t, s.last(), "250 2.1.5")
	expect(t, s.last(), "250 ")
	expect(t, s.last(), "250 2.6.0 <")
	expect(t, s.cmd("QUIT"), "221 ")

	var bodies [][]byte
	for _, p := range d.waitDrop(2) {
		bodies = append(bodies, parseDrop(t, p).raw)
	}
	joined := bytes.Join(bodies, []byte("\n=====\n"))
	want := "\r\nfirst\r\n.\r\n..two dots stay two\r\nbinary \x00\xff\x80 bytes\r\nlast line\r\n"
	if !bytes.Contains(joined, []byte(want)) {
		t.Errorf("BDAT message not stored as sent (no dot-unstuffing in BDAT); files:\n%q", joined)
	}
	if !bytes.Contains(joined, []byte("Subject: 2")) {
		t.Errorf("second BDAT message missing:\n%q", joined)
	}
}
