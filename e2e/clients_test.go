//go:build !windows

package e2e

import (
	"bytes"
	"encoding/json"

	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/testtool"
)

// TestSwaks drives the listener with swaks, one transaction per case.
func TestSwaks(t *testing.T) {
	swaks := testtool.Path(t, "swaks", "swaks")
	d := startDaemon(t, options{})
	att := filepath.Join(t.TempDir(), "report.bin")
	attData := bytes.Repeat([]byte("\x00\x01binary\xff\xfe attachment "), 4000)
	if err := os.WriteFile(att, attData, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		args    []string
		from    string
		to      []string
		bodyHas string
	}{
		{"multiple recipients", []string{"-f", "s@example.com", "-t", "a@example.org,b@example.net,c@example.com"},
			"s@example.com", []string{"a@example.org", "b@example.net", "c@example.com"}, "This is a test mailing"},
		{"null sender", []string{"-f", "<>", "-t", "a@example.org"}, "", []string{"a@example.org"}, "This is a test mailing"},
		{"pipeline", []string{"--pipeline", "-f", "p@example.com", "-t", "a@example.org,b@example.org"},
			"p@example.com", []string{"a@example.org", "b@example.org"}, "This is a test mailing"},
		{"attach", []string{"-f", "s@example.com", "-t", "a@example.org", "--attach-type", "application/octet-stream", "--attach", att},
			"s@example.com", []string{"a@example.org"}, "Content-Type: application/octet-stream"},
		{"8-bit body", []string{"-f", "s@example.com", "-t", "a@example.org", "--body", "caf\xc3\xa9 \xe9\xe8 8-bit\r\n\x80\xff end"},
			"s@example.com", []string{"a@example.org"}, "caf\xc3\xa9 \xe9\xe8 8-bit\r\n\x80\xff end"},
		// swaks 20201014 cannot send the SMTPUTF8 parameter; the
		// addresses still reach Drop unchanged.
		{"UTF-8 addresses", []string{"-f", "s\u00f8ren@example.com", "-t", "j\u00f8ran@b\u00fccher.example"},
			"s\u00f8ren@example.com", []string{"j\u00f8ran@b\u00fccher.example"}, "This is a test mailing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := map[string]bool{}
			for _, n := range d.dropNames() {
				before[n] = true
			}
			args := append([]string{"-s", d.addr, "--helo", "swaks.test", "--timeout", "60"}, c.args...)
			out, code := runCmd(t, 2*time.Minute, swaks, args...)
			if code != 0 {
				t.Fatalf("swaks exit %d:\n%s", code, out)
			}
			m := regexp.MustCompile(`(?m)^<-  250 2\.6\.0 (<[^>]+>) Queued mail for delivery\r?$`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no 250 2.6.0 reply in swaks output:\n%s", out)
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
			if f.sender != c.from || strings.Join(f.rcpts, ",") != strings.Join(c.to, ",") {
				t.Errorf("envelope %q %q, want %q %q", f.sender, f.rcpts, c.from, c.to)
			}
			if f.header("Message-ID") != m[1] {
				t.Errorf("Message-ID %q, echoed %q", f.header("Message-ID"), m[1])
			}
			if !bytes.Contains(f.raw, []byte(c.bodyHas)) {
				t.Errorf("Drop file lacks %q:\n%q", c.bodyHas, truncate(f.raw, 3000))
			}
		})
	}
}

// pyResult is what testdata/smtplib_client.py prints.
type pyResult struct {
	Code  int    `json:"code"`
	Reply string `json:"reply"`
}

func runPython(t *testing.T, d *daemon, mode, save string) pyResult {
	t.Helper()
	py := testtool.Path(t, testtool.Python, "python3")
	args := []string{"testdata/smtplib_client.py", "127.0.0.1", strconv.Itoa(d.port), mode}
	if save != "" {
		args = append(args, save)
	}
	out, code := runCmd(t, 5*time.Minute, py, args...)
	if code != 0 {
		t.Fatalf("smtplib_client.py %s: exit %d\n%s", mode, code, out)
	}
	var r pyResult
	if err := json.Unmarshal([]byte(lastLine(out)), &r); err != nil {
		t.Fatalf("smtplib_client.py %s: %v\n%s", mode, err, out)
	}
	return r
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestPythonSmtplib drives the listener with Python's smtplib.
func TestPythonSmtplib(t *testing.T) {
	testtool.Path(t, testtool.Python, "python3")
	d := startDaemon(t, options{})
	cases := []struct {
		mode string
		from string
		to   []string
		body string
	}{
		{"multi", "py@example.com", []string{"a@example.org", "b@example.net", "c@example.com"}, "three recipients\r\n"},
		{"null", "", []string{"docs@example.org"}, "null sender\r\n"},
		{"dots", "py@example.com", []string{"docs@example.org"}, ".\r\n..\r\n.leading\r\nend\r\n.\r\n"},
		// Sent as bytes with LF line ends: dot-stuffed after each LF, so
		// unstuffed there (found from outside: stored with the dots
		// doubled); the CRLF smtplib adds before its end is an empty line.
		{"lfbytes", "py@example.com", []string{"docs@example.org"}, ".\r\n..\r\n.leading\r\nend\r\n\r\n"},
		{"utf8", "jos\u00e9@example.com", []string{"\u7528\u6237@\u4f8b\u5b50.example"}, "UTF-8 body \u00e9\u00e8\r\n"},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			before := d.dropSet()
			r := runPython(t, d, c.mode, "")
			if r.Code != 250 {
				t.Fatalf("reply %d %q", r.Code, r.Reply)
			}
			f := d.newDrop(t, before)
			if f.sender != c.from || strings.Join(f.rcpts, ",") != strings.Join(c.to, ",") {
				t.Errorf("envelope %q %q, want %q %q", f.sender, f.rcpts, c.from, c.to)
			}
			if string(f.body) != c.body {
				t.Errorf("body %q, want %q", f.body, c.body)
			}
			if c.mode != "utf8" && !strings.HasPrefix(r.Reply, "2.6.0 "+f.header("Message-ID")+" Queued mail for delivery") {
				t.Errorf("reply %q does not echo Message-ID %q", r.Reply, f.header("Message-ID"))
			}
		})
	}

	// The product's promise: a 19 MB attachment is accepted, byte for
	// byte; a 21 MB one is refused with 552 5.3.4 and nothing is written.
	t.Run("19MB attachment accepted", func(t *testing.T) {
		before := d.dropSet()
		save := filepath.Join(t.TempDir(), "sent.eml")
		r := runPython(t, d, "attach19", save)
		if r.Code != 250 {
			t.Fatalf("reply %d %q", r.Code, r.Reply)
		}
		f := d.newDrop(t, before)
		sent, err := os.ReadFile(save)
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.Index(sent, []byte("\r\n\r\n"))
		if !bytes.Equal(f.body, sent[i+4:]) {
			t.Errorf("stored body (%d bytes) differs from the sent body (%d bytes)", len(f.body), len(sent)-i-4)
		}
	})
	t.Run("21MB attachment refused", func(t *testing.T) {
		before := d.dropSet()
		r := runPython(t, d, "attach21", "")
		if r.Code != 552 || !strings.HasPrefix(r.Reply, "5.3.4 ") {
			t.Fatalf("reply %d %q, want 552 5.3.4", r.Code, r.Reply)
		}
		if after := d.dropSet(); len(after) != len(before) {
			t.Errorf("Drop changed: %d files before, %d after", len(before), len(after))
		}
		if left := waitEmpty(t, d.sortTemp); len(left) != 0 {
			t.Errorf("SortTemp not cleaned: %v", left)
		}
	})
}

// TestAttachmentReplyNamesLimit: issue 2 asks that the refusal of an
// attachment over max_attachment_size names the part and the limit, and a
// real client must see that text.
func TestAttachmentReplyNamesLimit(t *testing.T) {
	d := startDaemon(t, options{})
	r := runPython(t, d, "attach21", "")
	if r.Code != 552 || !strings.Contains(r.Reply, "20 MB") || !strings.Contains(r.Reply, "scan-21mb.pdf") {
		t.Errorf("reply %d %q, want 552 5.3.4 naming scan-21mb.pdf and the 20 MB limit", r.Code, r.Reply)
	}
}

// TestSmtpSourceBurst sends a burst with postfix's smtp-source: 20
// sessions, 400 messages, several recipients, and finds each once in Drop.
func TestSmtpSourceBurst(t *testing.T) {
	src := testtool.Path(t, "/usr/sbin/smtp-source", "postfix")
	d := startDaemon(t, options{})
	const n = 400
	out, code := runCmd(t, 3*time.Minute, src, "-s", "20", "-m", strconv.Itoa(n), "-l", "10240", "-r", "3",
		"-f", "burst@source.test", "-t", "rcpt@sink.test", "-c", d.addr)
	if code != 0 {
		t.Fatalf("smtp-source exit %d:\n%s", code, out)
	}
	paths := d.waitDrop(n)
	for _, p := range paths {
		f := parseDrop(t, p)
		if f.sender != "burst@source.test" || len(f.rcpts) != 3 {
			t.Fatalf("%s: envelope %q %q", f.name, f.sender, f.rcpts)
		}
		// smtp-source -l 10240 sends 10240 bytes of body text.
		if len(f.body) < 10240 {
			t.Fatalf("%s: body of %d bytes, want at least 10240", f.name, len(f.body))
		}
	}
	if n := strings.Count(d.waitLog(`msg="message received"`, 400), `msg="message received"`); n != 400 {
		t.Errorf("log has %d message lines, want %d", n, 400)
	}
}
