package listener

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// generatedID matches the Message-ID the listener adds; its unique part
// changes with every run.
var generatedID = regexp.MustCompile(`MAIL[0-9A-F]{28}@mail\.example\.com`)

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	got = generatedID.ReplaceAll(got, []byte("MAIL{ID}@mail.example.com"))
	path := filepath.Join("testdata", "drop", name+".eml")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Drop file differs from %s\n--- got\n%q\n--- want\n%q", path, got, want)
	}
}

// TestDropGolden checks whole Drop files, byte for byte, against files in
// testdata/drop that follow iis-reference section 2.
func TestDropGolden(t *testing.T) {
	tests := []struct {
		name string
		from string
		to   []string
		data string // as sent after DATA, dot-stuffed, without the final CRLF.CRLF
		id   string // the Message-ID the 250 reply must echo; "": the one added
	}{
		{"simple", "sender@example.org", []string{"one@example.com"},
			"From: <sender@example.org>\r\nTo: <one@example.com>\r\nSubject: hello\r\nMessage-ID: <id1@example.org>\r\n\r\nHello world.", "<id1@example.org>"},
		{"multi-recipient", "sender@example.org", []string{"one@example.com", "two@example.net", "three@example.com"},
			"Subject: three\r\nMessage-ID: <id2@example.org>\r\n\r\nbody", "<id2@example.org>"},
		{"null-sender", "", []string{"postmaster@example.com"},
			"Subject: Delivery Status Notification\r\nMessage-ID: <dsn@example.org>\r\n\r\nbounce", "<dsn@example.org>"},
		{"no-message-id", "a@example.org", []string{"b@example.com"},
			"Subject: no id\r\nFrom: a@example.org\r\n\r\nbody line", ""},
		{"dot-stuffed", "a@example.org", []string{"b@example.com"},
			"Subject: dots\r\nMessage-ID: <dots@x>\r\n\r\n..leading dot\r\n...two dots\r\n..\r\nafter a lone dot", "<dots@x>"},
		// CR CR LF: the second CR starts the line end, so the next line's
		// dot goes and "." after it ends the message (found from outside:
		// the dot stayed, and the message never ended).
		{"cr-before-crlf", "a@example.org", []string{"b@example.com"},
			"Subject: CR CR LF\r\nMessage-ID: <crcrlf@x>\r\n\r\nline one\r\r\n..stuffed\r\n.\rnot the end\r\nlast\r", "<crcrlf@x>"},
		{"bare-lf", "a@example.org", []string{"b@example.com"},
			"Subject: bare LF\nMessage-ID: <lf@x>\n\nline one\nline two\r\nline three", "<lf@x>"},
		{"eight-bit-and-nul", "a@example.org", []string{"b@example.com"},
			"Subject: 8bit\r\nMessage-ID: <8bit@x>\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nGr\xfc\xdfe \x00 NUL\r\n\xff\xfe raw", "<8bit@x>"},
		{"headers-only", "a@example.org", []string{"b@example.com"},
			"Subject: headers only\r\nFrom: a@example.org", ""},
		{"no-header-block", "a@example.org", []string{"b@example.com"},
			"just a body line\r\nand another", ""},
		// A line in the header that is not a field, fields after it: it
		// stays, and so do they (found from outside: an empty line added
		// before it pushed Subject and Content-Type into the body).
		{"wrapped-to", "app@example.com", []string{"a@example.com", "b@example.com"},
			"From: app@example.com\r\nTo: a@example.com,\r\nb@example.com\r\nSubject: Invoice 42\r\nMIME-Version: 1.0\r\n" +
				"Content-Type: multipart/mixed; boundary=\"M\"\r\n\r\n--M\r\nContent-Type: text/plain\r\n\r\nhi\r\n--M--", ""},
		// Text right after the header, without the empty line: it gets
		// one, after the added fields.
		{"missing-empty-line", "a@example.org", []string{"b@example.com"},
			"Subject: test\r\nHello from a script\r\n\r\nmore", ""},
		// Lines ended by CR alone, kept as received: the header's end is
		// found all the same (found from outside: the added fields went
		// after the last line).
		{"cr-only", "a@example.org", []string{"b@example.com"},
			"Subject: CR only\rFrom: a@example.org\r\rline one\rline two", ""},
		{"keeps-original-arrival", "a@example.org", []string{"b@example.com"},
			"Subject: relayed\r\nMessage-ID: <r@x>\r\nX-OriginalArrivalTime: 01 Dec 2008 23:49:35.0618 (UTC) FILETIME=[77199E20:01C9540F]\r\n\r\nbody", "<r@x>"},
		{"folded-message-id", "a@example.org", []string{"b@example.com"},
			"Subject: folded\r\nMessage-ID:\r\n <folded@x>\r\n\r\nbody", "<folded@x>"},
		// An empty Message-ID gets the new one where it is, and the
		// reply echoes it (found from outside: it was kept empty, and
		// the reply had none).
		{"empty-message-id", "a@example.org", []string{"b@example.com"},
			"Subject: empty ID\r\nMessage-ID:\r\nFrom: a@example.org\r\n\r\nbody", ""},
		{"smtputf8", "j\xc3\xbcrgen@b\xc3\xbccher.example", []string{"\xc3\xb8le@example.com"},
			"Subject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\nMessage-ID: <u@x>\r\n\r\nUTF-8 body: \xc3\xa4\xc3\xb6\xc3\xbc", "<u@x>"},
		// RFC 5322 section 4.5: white space before the colon is obsolete
		// syntax that receivers must accept; the header block goes on.
		{"obs-space-before-colon", "a@x", []string{"b@y"},
			"From: a@x\r\nSubject : obs syntax\r\nTo: b@y\r\nMessage-ID: <orig@x>\r\n\r\nbody", "<orig@x>"},
		{"obs-space-before-colon-message-id", "a@x", []string{"b@y"},
			"From: a@x\r\nMessage-ID\t : <orig2@x>\r\nSubject\t:\ttabs\r\n\r\nbody", "<orig2@x>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, testConfig())
			c := dial(t, ts.addr)
			c.hello()
			from := tt.from
			mail := "MAIL FROM:<" + from + ">"
			if strings.IndexFunc(from+strings.Join(tt.to, ""), func(r rune) bool { return r >= 0x80 }) >= 0 {
				mail += " SMTPUTF8"
			}
			c.expect(mail, "250 2.1.0 "+from+"....Sender OK")
			for _, r := range tt.to {
				c.expect("RCPT TO:<"+r+">", "250 2.1.5 "+r)
			}
			c.expect("DATA", "354 Start mail input; end with <CRLF>.<CRLF>")
			c.send(tt.data + "\r\n.\r\n")
			reply := c.reply()
			if !strings.HasPrefix(reply, "250 2.6.0 <") || !strings.HasSuffix(reply, "> Queued mail for delivery") {
				t.Fatalf("DATA reply %q", reply)
			}
			got := ts.onlyDrop(t)
			golden(t, tt.name, got)
			// The echoed Message-ID is the one in the file.
			id := strings.TrimSuffix(strings.TrimPrefix(reply, "250 2.6.0 "), " Queued mail for delivery")
			if !bytes.Contains(bytes.ReplaceAll(got, []byte("\r\n "), nil), []byte(id)) {
				t.Errorf("reply's Message-ID %s is not in the Drop file", id)
			}
			if tt.id != "" && id != tt.id {
				t.Errorf("reply echoes %s, want the message's own %s", id, tt.id)
			}
			if n := len(regexp.MustCompile(`(?i)\r\n?message-id`).FindAll(got, -1)); n != 1 { // after CRLF or a CR alone
				t.Errorf("%d Message-ID fields, want 1", n)
			}
			c.expect("QUIT", "221 2.0.0 mail.example.com Service closing transmission channel")
		})
	}
}

// TestDropLongLineAndLargeBody checks that lines of hundreds of KB and
// bodies far larger than any buffer are stored byte for byte.
func TestDropLongLineAndLargeBody(t *testing.T) {
	cfg := testConfig()
	cfg.MaxMessageSize = 8 << 20
	cfg.MaxAttachmentSize = 8 << 20
	ts := startServer(t, cfg)
	c := dial(t, ts.addr)
	c.hello()
	long := strings.Repeat("x", 300<<10)
	var body strings.Builder
	for i := 0; i < 2000; i++ {
		body.WriteString("line of a large body, number ")
		body.WriteString(strings.Repeat("y", i%97))
		body.WriteString("\r\n")
	}
	data := "Subject: long\r\nX-Long: " + long + "\r\nMessage-ID: <long@x>\r\n\r\n" + long + "\r\n" + body.String() + "end"
	if r := c.sendMessage("a@example.org", []string{"b@example.com"}, data); !strings.HasPrefix(r, "250 2.6.0 <long@x>") {
		t.Fatalf("reply %q", r)
	}
	got := string(ts.onlyDrop(t))
	i := strings.Index(got, "Subject: long")
	if i < 0 {
		t.Fatal("message not found in Drop file")
	}
	want := "Subject: long\r\nX-Long: " + long + "\r\nMessage-ID: <long@x>\r\n" +
		"X-OriginalArrivalTime: 03 Nov 2026 14:07:05.0123 (UTC) FILETIME=[" // checked by prefix below
	if !strings.HasPrefix(got[i:], want) {
		t.Fatalf("header block differs")
	}
	if !strings.HasSuffix(got, "\r\n\r\n"+long+"\r\n"+body.String()+"end\r\n") {
		t.Fatalf("body differs")
	}
}

// An internationalized Message-ID (RFC 6532, in an SMTPUTF8 message) is
// not echoed in the reply, whose text is ASCII, but the log names it
// (found from outside: nodemailer's was in no log line).
func TestInternationalMessageIDLogged(t *testing.T) {
	ts := startServer(t, testConfig())
	c := dial(t, ts.addr)
	c.hello()
	c.expect("MAIL FROM:<jürgen@bücher.example> SMTPUTF8", "250 2.1.0")
	c.expect("RCPT TO:<b@y.test>", "250 2.1.5")
	c.expect("DATA", "354")
	c.send("Message-ID: <uuid-1@bücher.example>\r\nSubject: s\r\n\r\nbody\r\n.\r\n")
	if r := c.reply(); r != "250 2.6.0 Queued mail for delivery" {
		t.Fatalf("reply %q", r)
	}
	if logs := ts.logs.String(); !strings.Contains(logs, "message_id=<uuid-1@bücher.example>") {
		t.Fatalf("log:\n%s", logs)
	}
}
