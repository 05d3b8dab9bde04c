package compat

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
)

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestDSNGolden(t *testing.T) {
	zone := time.FixedZone("", 3600)
	arrival := time.Date(2026, 11, 27, 9, 5, 0, 0, zone)
	last := time.Date(2026, 11, 29, 9, 5, 1, 0, zone)
	orig := []byte("From: \"The App\" <app@corp.test>\r\nTo: one@dest.test, two@dest.test\r\nSubject: Invoice\r\n\r\nbody\r\n")
	tests := []struct {
		name string
		r    Report
	}{
		{"dsn-failure.eml", Report{
			Hostname: "bridge.corp.test", To: "app@corp.test", Arrival: arrival, Date: last,
			MessageID: "<NDR1@bridge.corp.test>", Boundary: "=_mailbridge_1",
			Recipients: []ReportRecipient{
				{Addr: "one@dest.test", Status: "5.1.1", Diagnostic: "550 5.1.1 <one@dest.test>: Recipient address rejected: User unknown", RemoteMTA: "relay.corp.test", LastAttempt: last},
				{Addr: "two@dest.test", Status: StatusFor(0, ""), Diagnostic: "dial tcp 10.0.0.5:25: connect: connection refused; gave up after 48h0m0s", RemoteMTA: "relay.corp.test", LastAttempt: last},
			},
			Original: orig,
		}},
		{"dsn-delay.eml", Report{
			Hostname: "bridge.corp.test", To: "app@corp.test", Delay: true, Arrival: arrival, Date: last,
			MessageID: "<DLY1@bridge.corp.test>", Boundary: "=_mailbridge_2",
			Recipients: []ReportRecipient{
				{Addr: "one@dest.test", Status: "4.3.0", Diagnostic: "451 4.3.0 Temporary failure", RemoteMTA: "relay.corp.test", LastAttempt: last, WillRetryUntil: arrival.Add(48 * time.Hour)},
			},
			Original: orig,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DSN(tt.r)
			golden(t, tt.name, got)
			// It is a well-formed multipart/report a MIME reader takes apart.
			e, err := message.Read(bytes.NewReader(got))
			if err != nil {
				t.Fatal(err)
			}
			ct, params, _ := e.Header.ContentType()
			if ct != "multipart/report" || params["report-type"] != "delivery-status" {
				t.Fatalf("content type %s %v", ct, params)
			}
			mr := e.MultipartReader()
			var types []string
			for {
				p, err := mr.NextPart()
				if err != nil {
					break
				}
				pt, _, _ := p.Header.ContentType()
				types = append(types, pt)
			}
			if len(types) != 3 || types[1] != "message/delivery-status" || types[2] != "text/rfc822-headers" {
				t.Fatalf("parts %v", types)
			}
		})
	}
}

func TestHeaderBlock(t *testing.T) {
	for in, want := range map[string]string{
		"A: 1\r\nB: 2\r\n\r\nbody": "A: 1\r\nB: 2\r\n",
		"A: 1":                     "A: 1\r\n",
		"\r\nbody":                 "",
	} {
		if got := string(HeaderBlock([]byte(in))); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

// TestDSNInternational: a recipient with a UTF-8 local part, refused
// because the smart host lacks SMTPUTF8, and an original with UTF-8
// headers. The report must be 7-bit (it may go back through a smart host
// without 8BITMIME), every part labelled for what it holds, and the
// address kept whole: RFC 6533 section 3's utf-8-addr-xtext in
// Final-Recipient, \x{HEX} in Diagnostic-Code, UTF-8 in the text part.
func TestDSNInternational(t *testing.T) {
	zone := time.FixedZone("", 3600)
	last := time.Date(2026, 11, 29, 9, 5, 1, 0, zone)
	diag := "5.6.7 not sent: the address <jürgen@dest.test> has a local part that is not ASCII"
	orig := []byte("From: s@corp.test\r\nTo: jürgen@dest.test\r\nSubject: Grüße\r\n\r\nGrüße\r\n")
	r := Report{
		Hostname: "bridge.corp.test", To: "s@cörp.test", Arrival: last, Date: last,
		MessageID: "<NDR8@bridge.corp.test>", Boundary: "=_mailbridge_8",
		Recipients: []ReportRecipient{
			{Addr: "jürgen@dest.test", Status: "5.6.7", Diagnostic: diag, RemoteMTA: "relay.corp.test", LastAttempt: last},
			{Addr: "a+b=c@dest.test", Status: "5.1.1", Diagnostic: "550 5.1.1 unknown", LastAttempt: last},
		},
		Original: orig,
	}
	got := DSN(r)
	golden(t, "dsn-utf8.eml", got)
	for i, c := range got {
		if c >= 0x80 {
			t.Fatalf("byte %d of the report is 8-bit (%#x): it could not go to a smart host without 8BITMIME", i, c)
		}
	}
	e, err := message.Read(bytes.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	if to := e.Header.Get("To"); to != "s@xn--crp-sna.test" {
		t.Errorf("To: %q, want the A-label domain", to)
	}
	mr := e.MultipartReader()
	want := []struct{ typ, charset, has string }{
		{"text/plain", "utf-8", "       jürgen@dest.test\r\n       " + diag + "\r\n"},
		{"message/delivery-status", "", "Final-Recipient: utf-8;j\\x{FC}rgen@dest.test\r\n"},
		// The CRLF before a boundary belongs to the boundary (RFC 2046
		// section 5.1.1).
		{"message/global-headers", "", strings.TrimSuffix(string(HeaderBlock(orig)), "\r\n")},
	}
	for i, w := range want {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		typ, params, _ := p.Header.ContentType()
		if typ != w.typ || params["charset"] != w.charset {
			t.Errorf("part %d: %s %v, want %s charset %q", i, typ, params, w.typ, w.charset)
		}
		var body bytes.Buffer
		body.ReadFrom(p.Body) // decoded from quoted-printable by go-message
		if !bytes.Contains(body.Bytes(), []byte(w.has)) {
			t.Errorf("part %d lacks %q:\n%s", i, w.has, body.Bytes())
		}
		if i == 1 {
			for _, s := range []string{
				"Diagnostic-Code: X-mailbridge;5.6.7 not sent: the address <j\\x{FC}rgen@dest.test>",
				// An ASCII address keeps the rfc822 type, '+' and '='
				// as they are (RFC 3464 section 2.1.1).
				"Final-Recipient: rfc822;a+b=c@dest.test\r\n",
			} {
				if !bytes.Contains(body.Bytes(), []byte(s)) {
					t.Errorf("status part lacks %q:\n%s", s, body.Bytes())
				}
			}
		}
	}
}

func TestTypedAddress(t *testing.T) {
	for in, want := range map[string]string{
		"a@b.test":         "rfc822;a@b.test",
		"jürgen@dest.test": `utf-8;j\x{FC}rgen@dest.test`,
		"a+ü=@d.test":      `utf-8;a\x{2B}\x{FC}\x{3D}@d.test`,
		"用户@例子.广告":         `utf-8;\x{7528}\x{6237}@\x{4F8B}\x{5B50}.\x{5E7F}\x{544A}`,
		"\xfcber@d.test":   `utf-8;\x{FC}ber@d.test`, // Latin-1, read as such
	} {
		if got := typedAddress(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

// An original header line over RFC 5322's 998 octets (a To: field of 150
// recipients on one line) is quoted-printable in the report, so that no
// line of the report is longer: a smart host refuses such lines, and the
// report would never reach the sender. Found from outside. The header
// block decodes to the original.
func TestDSNLongHeaderLine(t *testing.T) {
	var to []string
	for i := 0; i < 150; i++ {
		to = append(to, "recipient"+strings.Repeat("x", 5)+string(rune('a'+i%26))+"@dest.test")
	}
	orig := []byte("From: s@corp.test\r\nTo: " + strings.Join(to, ", ") + "\r\nSubject: many\r\n\r\nbody\r\n")
	now := time.Date(2026, 11, 29, 9, 5, 1, 0, time.UTC)
	got := DSN(Report{Hostname: "bridge.corp.test", To: "s@corp.test", Arrival: now, Date: now, MessageID: "<NDR9@bridge.corp.test>", Boundary: "=_mailbridge_9",
		Recipients: []ReportRecipient{{Addr: to[0], Status: "5.0.0", Diagnostic: "500 Line too long", LastAttempt: now}}, Original: orig})
	for i, line := range strings.Split(string(got), "\r\n") {
		if len(line) > 998 {
			t.Fatalf("line %d of the report is %d octets", i+1, len(line))
		}
	}
	e, err := message.Read(bytes.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	mr := e.MultipartReader()
	var body []byte
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		if typ, _, _ := p.Header.ContentType(); typ == "text/rfc822-headers" {
			body, _ = io.ReadAll(p.Body) // go-message decodes quoted-printable
		}
	}
	// The CRLF before the closing boundary belongs to it (RFC 2046
	// section 5.1.1).
	if !bytes.Equal(body, bytes.TrimSuffix(HeaderBlock(orig), []byte("\r\n"))) {
		t.Fatalf("the header block decodes to\n%q", body)
	}
}

// The report's text keeps each recipient's reply on its line: what some
// readers take for a line end in a smart host's reply (NEL, U+2028,
// U+2029) is a space there, as in Diagnostic-Code (found from outside).
func TestDSNTextOneLine(t *testing.T) {
	when := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	got := DSN(Report{Hostname: "h.test", To: "s@x.test", Date: when, MessageID: "<r@h.test>", Boundary: "b",
		Recipients: []ReportRecipient{{Addr: "r@y.test", Status: "5.1.1", Diagnostic: "550 5.1.1 a\u2028X-LS: b\u2029c\u0085d\x00e", LastAttempt: when}}})
	e, err := message.Read(bytes.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	mr := e.MultipartReader()
	p, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(p.Body)
	if !strings.Contains(string(text), "       550 5.1.1 a X-LS: b c de\r\n") {
		t.Errorf("the reply is not on one line:\n%q", text)
	}
}
