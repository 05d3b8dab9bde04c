//go:build !windows

package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/testtool"
)

// dropSet returns the names in Drop now, to find the files a client adds.
func (d *daemon) dropSet() map[string]bool {
	d.t.Helper()
	m := map[string]bool{}
	for _, n := range d.dropNames() {
		m[n] = true
	}
	return m
}

// newDrop returns the one Drop file not in before, failing the test
// unless there is exactly one.
func (d *daemon) newDrop(t *testing.T, before map[string]bool) *dropFile {
	t.Helper()
	var f *dropFile
	for _, n := range d.dropNames() {
		if !before[n] {
			if f != nil {
				t.Fatal("more than one new Drop file")
			}
			f = parseDrop(t, filepath.Join(d.drop, n))
		}
	}
	if f == nil {
		t.Fatal("no new Drop file")
	}
	return f
}

// checkNothingNew fails the test if Drop holds a file not in before, or
// SortTemp a file left behind.
func (d *daemon) checkNothingNew(t *testing.T, before map[string]bool) {
	t.Helper()
	for _, n := range d.dropNames() {
		if !before[n] {
			t.Errorf("new Drop file %s, want none", n)
		}
	}
	if left := waitEmpty(t, d.sortTemp); len(left) != 0 {
		t.Errorf("SortTemp not cleaned: %v", left)
	}
}

// toCRLF makes every line end CRLF, as a Drop file has them.
func toCRLF(b []byte) []byte {
	return bytes.ReplaceAll(bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
}

// checkStored checks a Drop file against what the client was given: the
// envelope, the Received header naming the client's HELO name and
// address, and the message after the Received header byte for byte: msg
// (with CRLF line ends) with only Message-ID and X-OriginalArrivalTime
// added at the end of its header block.
func checkStored(t *testing.T, f *dropFile, from string, to []string, helo string, msg []byte) {
	t.Helper()
	if f.sender != from || strings.Join(f.rcpts, ",") != strings.Join(to, ",") {
		t.Errorf("envelope %q %q, want %q %q", f.sender, f.rcpts, from, to)
	}
	if m := receivedRE.FindStringSubmatch(f.received); m[1] != helo || m[2] != "127.0.0.1" {
		t.Errorf("Received %q, want from %s ([127.0.0.1])", f.received, helo)
	}
	i := bytes.Index(msg, []byte("\r\n\r\n"))
	if i < 0 {
		t.Fatalf("test message without a header block: %q", msg)
	}
	header, body := msg[:i+2], msg[i+4:]
	n := 0
	for _, l := range strings.Split(strings.TrimSuffix(string(header), "\r\n"), "\r\n") {
		if l != "" && l[0] != ' ' && l[0] != '\t' {
			n++
		}
	}
	if len(f.headers) < n {
		t.Fatalf("Drop file has %d header fields, the message %d:\n%q", len(f.headers), n, f.raw)
	}
	added := f.headers[n:]
	for _, h := range added {
		name, _, _ := strings.Cut(h, ":")
		if !strings.EqualFold(name, "Message-ID") && !strings.EqualFold(name, "X-OriginalArrivalTime") {
			t.Errorf("added field %q: only Message-ID and X-OriginalArrivalTime may be added", h)
		}
	}
	want := append([]byte(nil), header...)
	for _, h := range added {
		want = append(want, h+"\r\n"...)
	}
	want = append(append(want, "\r\n"...), body...)
	got := f.raw[bytes.Index(f.raw, []byte(f.received))+len(f.received):]
	if !bytes.Equal(got, want) {
		t.Errorf("stored message differs from the one sent:\ngot  %q\nwant %q", truncate(got, 3000), truncate(want, 3000))
	}
}

// TestCurl drives the listener with curl's SMTP client, one transaction
// per case. curl dot-stuffs only after CRLF, and sends a message whose
// last line ends in a bare LF as "...\n\r\n.\r\n": the stored message then
// ends in an empty line of curl's making.
func TestCurl(t *testing.T) {
	curl := testtool.Path(t, "curl", "curl")
	d := startDaemon(t, options{})
	cases := []struct {
		name  string
		msg   string
		from  string
		to    []string // recipients given to curl
		extra []string // more arguments
		code  int      // curl's exit status
		rcpts []string // the x-receiver lines; none: nothing stored
	}{
		{name: "two recipients", msg: "Subject: curl\r\n\r\ntwo recipients\r\n",
			from: "c@example.com", to: []string{"a@example.org", "b@example.net"},
			rcpts: []string{"a@example.org", "b@example.net"}},
		// No line here begins with a dot: curl does not stuff one after
		// a bare LF, and mailbridge unstuffs after any LF, as postfix
		// does (README, "The Drop file"), so ".x" would be stored "x".
		{name: "bare LF line ends", msg: "Subject: lf\nX-Test: bare LF\n\nline one\nline two\n",
			from: "c@example.com", to: []string{"a@example.org"}, rcpts: []string{"a@example.org"}},
		{name: "dot lines", msg: "Subject: dots\r\n\r\n.leading\r\n.\r\n..two\r\n...\r\nend\r\n.\r\n",
			from: "c@example.com", to: []string{"a@example.org"}, rcpts: []string{"a@example.org"}},
		{name: "8-bit body", msg: "Subject: caf\u00e9\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
			"caf\u00e9 \u00e9\u00e8 \u7528\u6237 \u20ac\r\n\u00fcber\r\n",
			from: "c@example.com", to: []string{"a@example.org"}, rcpts: []string{"a@example.org"}},
		// A non-ASCII address makes curl send SMTPUTF8. The domains are
		// ASCII: curl built with libidn2 sends an IDN domain as its
		// A-label, which would be what Drop holds.
		{name: "UTF-8 addresses", msg: "Subject: utf8\r\n\r\nUTF-8 addresses\r\n",
			from: "jos\u00e9@example.com", to: []string{"j\u00f8ran@example.org", "\u7528\u6237@example.net"},
			rcpts: []string{"j\u00f8ran@example.org", "\u7528\u6237@example.net"}},
		{name: "refused recipient allowed to fail", msg: "Subject: allowfails\r\n\r\none good recipient\r\n",
			from: "c@example.com", to: []string{"bad@@x", "a@example.org"}, extra: []string{"--mail-rcpt-allowfails"},
			rcpts: []string{"a@example.org"}},
		// curl gives up at the first refused recipient: 55, "RCPT failed".
		{name: "refused recipient", msg: "Subject: refused\r\n\r\nnot sent\r\n",
			from: "c@example.com", to: []string{"bad@@x", "a@example.org"}, code: 55},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "message.eml")
			if err := os.WriteFile(file, []byte(c.msg), 0o644); err != nil {
				t.Fatal(err)
			}
			// The URL's path is the EHLO name.
			args := []string{"-sS", "smtp://" + d.addr + "/curl.test", "--mail-from", c.from}
			for _, r := range c.to {
				args = append(args, "--mail-rcpt", r)
			}
			args = append(append(args, c.extra...), "--upload-file", file)
			before := d.dropSet()
			out, code := runCmd(t, time.Minute, curl, args...)
			if code != c.code {
				t.Fatalf("curl exit %d, want %d:\n%s", code, c.code, out)
			}
			if c.rcpts == nil {
				if !strings.Contains(out, "RCPT failed: 501") {
					t.Errorf("curl's message does not name the 501 refusal:\n%s", out)
				}
				d.checkNothingNew(t, before)
				return
			}
			want := toCRLF([]byte(c.msg))
			if !strings.HasSuffix(c.msg, "\r\n") {
				want = append(want, "\r\n"...)
			}
			checkStored(t, d.newDrop(t, before), c.from, c.rcpts, "curl.test", want)
		})
	}
}

// TestCurlRequiresTLS: curl --ssl-reqd against a port without STARTTLS
// reads the EHLO reply and leaves (exit 64, "STARTTLS not supported"),
// sending nothing to refuse; mailbridge's log says what to set (found
// from outside, QA97: it said nothing).
func TestCurlRequiresTLS(t *testing.T) {
	curl := testtool.Path(t, "curl", "curl")
	d := startDaemon(t, options{})
	file := filepath.Join(t.TempDir(), "message.eml")
	if err := os.WriteFile(file, []byte("Subject: tls\r\n\r\nneeds TLS\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := d.dropSet()
	out, code := runCmd(t, time.Minute, curl, "-sS", "--ssl-reqd", "smtp://"+d.addr+"/curl.test",
		"--mail-from", "c@example.com", "--mail-rcpt", "a@example.org", "--upload-file", file)
	if code != 64 || !strings.Contains(out, "STARTTLS not supported") {
		t.Fatalf("curl exit %d, want 64 and \"STARTTLS not supported\":\n%s", code, out)
	}
	want := `a client greeted with EHLO and left without sending a message, where STARTTLS is not offered`
	if l := d.waitLog(want, 1); !strings.Contains(l, want) || !strings.Contains(l, `set [inbound] tls = \"starttls\"`) {
		t.Fatalf("log lacks %q with its advice:\n%s", want, l)
	}
	d.checkNothingNew(t, before)
}

// TestMsmtp drives the listener with msmtp, which pipelines MAIL, RCPT and
// DATA. Its messages have From, Date and Message-ID, which msmtp would add
// otherwise.
func TestMsmtp(t *testing.T) {
	msmtp := testtool.Path(t, "msmtp", "msmtp")
	d := startDaemon(t, options{})
	// With --host, msmtp reads no configuration file.
	run := func(t *testing.T, msg []byte, from string, to ...string) (string, int) {
		t.Helper()
		args := append([]string{"--host=127.0.0.1", "--port=" + strconv.Itoa(d.port), "--domain=msmtp.test",
			"--from=" + from}, to...)
		return runCmdInput(t, string(msg), msmtp, args...)
	}
	const head = "From: m@example.com\r\nDate: Wed, 02 Dec 2026 10:00:00 +0000\r\n"
	cases := []struct {
		name string
		msg  string
		to   []string
	}{
		{"two recipients", head + "Message-ID: <two@msmtp.test>\r\nSubject: msmtp\r\n\r\ntwo recipients\r\n",
			[]string{"a@example.org", "b@example.net"}},
		{"dot lines", head + "Message-ID: <dots@msmtp.test>\r\nSubject: dots\r\n\r\n.leading\r\n.\r\n..two\r\nend\r\n",
			[]string{"a@example.org"}},
		// msmtp reads lines: it stuffs the dots of a file with LF line
		// ends too, and sends its lines with CRLF.
		{"dot lines, LF line ends", "From: m@example.com\nDate: Wed, 02 Dec 2026 10:00:00 +0000\nMessage-ID: <lf@msmtp.test>\nSubject: lf\n\n.leading\n.\n..two\nend\n",
			[]string{"a@example.org"}},
		{"8-bit body", head + "Message-ID: <8bit@msmtp.test>\r\nSubject: caf\u00e9\r\nContent-Type: text/plain; charset=utf-8\r\n" +
			"Content-Transfer-Encoding: 8bit\r\n\r\ncaf\u00e9 \u00e9\u00e8 \u7528\u6237 \u20ac\r\n\u00fcber\r\n",
			[]string{"a@example.org"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := d.dropSet()
			out, code := run(t, []byte(c.msg), "m@example.com", c.to...)
			if code != 0 {
				t.Fatalf("msmtp exit %d:\n%s", code, out)
			}
			checkStored(t, d.newDrop(t, before), "m@example.com", c.to, "msmtp.test", toCRLF([]byte(c.msg)))
		})
	}

	// max_attachment_size is 20MB by default: a 21 MiB file is refused
	// once DATA ends, and msmtp shows the reply that says why.
	t.Run("21MB attachment refused", func(t *testing.T) {
		data := make([]byte, 21<<20)
		rand.NewChaCha8([32]byte{}).Read(data)
		b64 := make([]byte, base64.StdEncoding.EncodedLen(len(data)))
		base64.StdEncoding.Encode(b64, data)
		msg := make([]byte, 0, len(b64)+len(b64)/38+1024)
		msg = fmt.Appendf(msg, "%sMessage-ID: <big@msmtp.test>\r\nSubject: big\r\nMIME-Version: 1.0\r\n"+
			"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"+
			"--b1\r\nContent-Type: application/pdf; name=\"scan-21mb.pdf\"\r\nContent-Disposition: attachment; filename=\"scan-21mb.pdf\"\r\n"+
			"Content-Transfer-Encoding: base64\r\n\r\n", head)
		// 76 characters a line (RFC 2045 section 6.8); appended, not
		// written to a bytes.Buffer, which is slow under -race.
		for len(b64) > 0 {
			n := min(76, len(b64))
			msg = append(append(msg, b64[:n]...), '\r', '\n')
			b64 = b64[n:]
		}
		msg = append(msg, "--b1--\r\n"...)
		before := d.dropSet()
		out, code := run(t, msg, "m@example.com", "a@example.org")
		if code == 0 {
			t.Fatalf("msmtp exit 0, want a failure:\n%s", out)
		}
		if !regexp.MustCompile(`552 5\.3\.4 Attachment scan-21mb\.pdf exceeds the maximum attachment size of 20 MB`).MatchString(out) {
			t.Errorf("msmtp's output does not show the attachment limit:\n%s", out)
		}
		d.checkNothingNew(t, before)
	})
}

// TestPerlNetSMTP drives the listener with Perl's Net::SMTP
// (testdata/netsmtp_client.pl), which dot-stuffs the text given to
// datasend and ends an unfinished last line with CRLF.
func TestPerlNetSMTP(t *testing.T) {
	perl := testtool.Path(t, "perl", "perl")
	if out, err := exec.Command(perl, "-MNet::SMTP", "-e", "1").CombinedOutput(); err != nil {
		testtool.Missing(t, "Perl's Net::SMTP not found (apt-get install perl): "+strings.TrimSpace(string(out)))
	}
	d := startDaemon(t, options{})
	before := d.dropSet()
	out, code := runCmd(t, time.Minute, perl, "testdata/netsmtp_client.pl", "127.0.0.1", strconv.Itoa(d.port))
	if code != 0 {
		t.Fatalf("netsmtp_client.pl exit %d:\n%s", code, out)
	}
	m := regexp.MustCompile(`^reply 250 2\.6\.0 (<[^>]+>) Queued mail for delivery$`).FindStringSubmatch(lastLine(out))
	if m == nil {
		t.Fatalf("reply not 250 2.6.0 <id> Queued mail for delivery:\n%s", out)
	}
	f := d.newDrop(t, before)
	checkStored(t, f, "perl@example.com", []string{"a@example.org", "b@example.net"}, "perl.test",
		[]byte("Subject: Net::SMTP\r\n\r\n.leading\r\n.\r\n..two\r\nlast line without a newline\r\n"))
	if f.header("Message-ID") != m[1] {
		t.Errorf("Message-ID %q, echoed %q", f.header("Message-ID"), m[1])
	}
}
