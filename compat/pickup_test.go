package compat

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"unicode/utf16"
)

func readFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile("testdata/pickup/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// The .NET Framework file: envelope block with the Bcc recipient, stuffed.
func TestParsePickupDotNetStuffed(t *testing.T) {
	data := readFixture(t, "dotnet-framework-style-stuffed.eml")
	m, err := ParsePickup(data, PickupOptions{DotStuffed: true, StripBcc: true, DefaultDomain: "corp.test"})
	if err != nil {
		t.Fatal(err)
	}
	if m.From != "app@corp.test" || !reflect.DeepEqual(m.To, []string{"one@dest.test", "two@dest.test", "hidden@dest.test"}) || !m.EnvelopeInFile {
		t.Fatalf("envelope: %q %q %v", m.From, m.To, m.EnvelopeInFile)
	}
	if bytes.Contains(bytes.ToLower(m.Message), []byte("x-receiver")) {
		t.Fatal("envelope block was sent")
	}
	wantBody := "line one\r\n.leading dot\r\n..two dots\r\n.\r\nafter a lone dot\r\n"
	if !bytes.HasPrefix(m.Message, []byte("MIME-Version: 1.0\r\n")) || !bytes.HasSuffix(m.Message, []byte("\r\n\r\n"+wantBody)) {
		t.Fatalf("message:\n%q", m.Message)
	}
	if m.Trailing != 0 {
		t.Fatalf("trailing %d", m.Trailing)
	}
}

// The Mono file is not stuffed. Read as IIS would (dot_stuffed = true) it
// ends at the lone "." and Trailing reports what was cut; read with
// dot_stuffed = false it is sent whole.
func TestParsePickupMonoUnstuffed(t *testing.T) {
	data := readFixture(t, "mono-6.8-systemnetmail-unstuffed.eml")
	opt := PickupOptions{DotStuffed: true, StripBcc: true, DefaultDomain: "corp.test"}
	m, err := ParsePickup(data, opt)
	if err != nil {
		t.Fatal(err)
	}
	if m.From != "app@corp.test" || !reflect.DeepEqual(m.To, []string{"one@dest.test", "two@dest.test"}) || m.EnvelopeInFile {
		t.Fatalf("envelope: %q %q", m.From, m.To)
	}
	cut := bytes.Index(data, []byte("\r\n.\r\n")) + 2
	if !bytes.Equal(m.Message, bytes.Replace(data[:cut], []byte("\r\n..two"), []byte("\r\n.two"), 1)) {
		t.Fatalf("stuffed read:\n%q", m.Message)
	}
	if m.Trailing != len(data)-cut-3 {
		t.Fatalf("trailing %d, want %d", m.Trailing, len(data)-cut-3)
	}
	if line := bytes.Count(data[:cut], []byte("\n")) + 1; m.CutLine != line || !m.CutText {
		t.Fatalf("cut at line %d (text after it: %v), want line %d and text", m.CutLine, m.CutText, line)
	}
	// Only white space after the lone ".": nothing of the message is lost.
	m, err = ParsePickup([]byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nbody\r\n.\r\n\r\n \r\n"), opt)
	if err != nil {
		t.Fatal(err)
	}
	if m.Trailing != 5 || m.CutLine != 5 || m.CutText {
		t.Fatalf("trailing %d, cut at line %d, text %v; want 5, 5, false", m.Trailing, m.CutLine, m.CutText)
	}

	opt.DotStuffed = false
	m, err = ParsePickup(data, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Message, data) || m.Trailing != 0 {
		t.Fatalf("unstuffed read changed the message")
	}
}

func TestParsePickup(t *testing.T) {
	opt := PickupOptions{DotStuffed: true, StripBcc: true, DefaultDomain: "dom.test"}
	tests := []struct {
		name     string
		in       string
		opt      *PickupOptions
		from     string
		to       []string
		msg      string
		trailing int
		err      error
	}{
		{name: "header only, bare LF",
			in:   "From: a@x.test\nTo: b@y.test\nSubject: hi\n",
			from: "a@x.test", to: []string{"b@y.test"},
			msg: "From: a@x.test\r\nTo: b@y.test\r\nSubject: hi\r\n"},
		{name: "header only, no final line end",
			in:   "From: a@x.test\r\nTo: b@y.test",
			from: "a@x.test", to: []string{"b@y.test"}, msg: "From: a@x.test\r\nTo: b@y.test"},
		{name: "quoted local parts keep their quotes (envelope)",
			in:   "x-sender: \"john smith\"@x.test\r\nx-receiver: \"a@b\"@y.test\r\nx-receiver: \"q\\\"x\"@y.test\r\n\r\nbody\r\n",
			from: `"john smith"@x.test`, to: []string{`"a@b"@y.test`, `"q\"x"@y.test`}, msg: "\r\nbody\r\n"},
		// A domain's final dot is dropped, in angle brackets too (found
		// from outside: "<c@x.test.>" sent the whole file to Badmail).
		{name: "final dot in the envelope",
			in:   "X-Sender: <a@x.test.>\r\nX-Receiver: b@y.test.\r\nX-Receiver: <c@y.test.>\r\nX-Receiver: <d@y.test>\r\n\r\nbody\r\n",
			from: "a@x.test", to: []string{"b@y.test", "c@y.test", "d@y.test"}, msg: "\r\nbody\r\n"},
		{name: "quoted local parts keep their quotes (headers)",
			in:   "From: John <\"john smith\"@x.test>\r\nTo: \"a@b\"@y.test, plain@y.test\r\n\r\nbody\r\n",
			from: `"john smith"@x.test`, to: []string{`"a@b"@y.test`, "plain@y.test"},
			msg: "From: John <\"john smith\"@x.test>\r\nTo: \"a@b\"@y.test, plain@y.test\r\n\r\nbody\r\n"},
		{name: "lowercase envelope, null sender",
			in:   "x-sender: \r\nx-receiver: <b@y.test>\r\nSubject: x\r\n\r\nbody\r\n",
			from: "", to: []string{"b@y.test"}, msg: "Subject: x\r\n\r\nbody\r\n"},
		{name: "envelope <> sender",
			in:   "X-SENDER: <>\r\nX-RECEIVER: b@y.test\r\n\r\nbody\r\n",
			from: "", to: []string{"b@y.test"}, msg: "\r\nbody\r\n"},
		{name: "an empty Date or Message-ID is removed, for the one added",
			in:   "X-Sender: a@x.test\r\nX-Receiver: b@y.test\r\nDate:\r\nMessage-ID: \r\nSubject: s\r\n\r\nb\r\n",
			from: "a@x.test", to: []string{"b@y.test"}, msg: "Subject: s\r\n\r\nb\r\n"},
		{name: "an empty Date beside one with a value is kept",
			in:   "X-Sender: a@x.test\r\nX-Receiver: b@y.test\r\nDate:\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\n\r\nb\r\n",
			from: "a@x.test", to: []string{"b@y.test"}, msg: "Date:\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\n\r\nb\r\n"},
		{name: "Resent-Bcc is removed as Bcc is (RFC 5322 section 3.6.6)",
			in:   "X-Sender: a@x.test\r\nX-Receiver: b@y.test\r\nResent-From: a@x.test\r\nResent-Bcc: hidden@y.test\r\nRESENT-BCC:\r\n more@y.test\r\nTo: b@y.test\r\n\r\nb\r\n",
			from: "a@x.test", to: []string{"b@y.test"}, msg: "Resent-From: a@x.test\r\nTo: b@y.test\r\n\r\nb\r\n"},
		{name: "X-Sender only: recipients from headers",
			in:   "X-Sender: env@x.test\r\nFrom: hdr@x.test\r\nTo: b@y.test\r\nBcc: c@y.test\r\n\r\nb\r\n",
			from: "env@x.test", to: []string{"b@y.test", "c@y.test"}, msg: "From: hdr@x.test\r\nTo: b@y.test\r\n\r\nb\r\n"},
		{name: "X-Receiver only: sender from Sender",
			in:   "X-Receiver: b@y.test\r\nFrom: f@x.test\r\nSender: s@x.test\r\n\r\nb\r\n",
			from: "s@x.test", to: []string{"b@y.test"}, msg: "From: f@x.test\r\nSender: s@x.test\r\n\r\nb\r\n"},
		{name: "envelope block: Bcc removed too",
			in:   "X-Sender: a@x.test\r\nX-Receiver: b@y.test\r\nBcc: c@y.test\r\n\r\nb\r\n",
			from: "a@x.test", to: []string{"b@y.test"}, msg: "\r\nb\r\n"},
		{name: "envelope block with From, To, Bcc: Bcc removed, recipients from X-Receiver",
			in:   "x-sender: env@corp.test\r\nx-receiver: r1@dest.test\r\nFrom: hdr@corp.test\r\nTo: t1@dest.test\r\nBcc: b9@dest.test\r\nSubject: a2\r\n\r\nbody\r\n",
			from: "env@corp.test", to: []string{"r1@dest.test"}, msg: "From: hdr@corp.test\r\nTo: t1@dest.test\r\nSubject: a2\r\n\r\nbody\r\n"},
		{name: "envelope block with From, To, two Bcc, one folded: both removed, not the body line",
			in: "x-sender: env@corp.test\r\nx-receiver: r1@dest.test\r\nFrom: hdr@corp.test\r\nTo: t1@dest.test\r\n" +
				"Bcc: b9@dest.test,\r\n\tb10@dest.test\r\nSubject: a2\r\nbcc: b11@dest.test\r\n\r\nbody\r\nBcc: in the body\r\n",
			from: "env@corp.test", to: []string{"r1@dest.test"},
			msg: "From: hdr@corp.test\r\nTo: t1@dest.test\r\nSubject: a2\r\n\r\nbody\r\nBcc: in the body\r\n"},
		{name: "envelope block, malformed header line: relayed, Bcc removed around it",
			in:   "X-Sender: a@x.test\r\nX-Receiver: b@y.test\r\nBcc: c@y.test\r\nnot a header\r\n cont\r\nBcc: d@y.test\r\n\r\nb\r\n",
			from: "a@x.test", to: []string{"b@y.test"}, msg: "not a header\r\n cont\r\n\r\nb\r\n"},
		{name: "envelope block, strip_bcc off keeps Bcc",
			in:  "X-Sender: a@x.test\r\nX-Receiver: b@y.test\r\nBcc: c@y.test\r\n\r\nb\r\n",
			opt: &PickupOptions{DotStuffed: true}, from: "a@x.test", to: []string{"b@y.test"}, msg: "Bcc: c@y.test\r\n\r\nb\r\n"},
		{name: "address lists: names, groups, encoded words, comments, folding, duplicates",
			in: "From: \"Ann, A.\" <ann@x.test> (the boss)\r\nTo: =?windows-1252?Q?J=FCrgen?= <j@y.test>,\r\n  friends: k@y.test, \"L\" <l@y.test>;\r\n" +
				"Cc: undisclosed-recipients:;, j@y.test\r\nBcc: (hidden) m@y.test,\r\n\tn@y.test\r\nSubject: s\r\n\r\nbody\r\n",
			from: "ann@x.test", to: []string{"j@y.test", "k@y.test", "l@y.test", "m@y.test", "n@y.test"},
			msg: "From: \"Ann, A.\" <ann@x.test> (the boss)\r\nTo: =?windows-1252?Q?J=FCrgen?= <j@y.test>,\r\n  friends: k@y.test, \"L\" <l@y.test>;\r\n" +
				"Cc: undisclosed-recipients:;, j@y.test\r\nSubject: s\r\n\r\nbody\r\n"},
		{name: "duplicates as the listener merges them: domains in any form, local parts as written",
			in:   "X-Sender: a@x.test\r\nX-Receiver: u@bücher.example\r\nX-Receiver: u@XN--BCHER-KVA.example.\r\nX-Receiver: Bob@y.test\r\nX-Receiver: bob@Y.TEST\r\nX-Receiver: Postmaster@y.test\r\nX-Receiver: postmaster@y.test\r\n\r\nb\r\n",
			from: "a@x.test", to: []string{"u@bücher.example", "Bob@y.test", "bob@Y.TEST", "Postmaster@y.test"}, msg: "\r\nb\r\n"},
		{name: "bare local parts get the default domain",
			in:   "X-Sender: app\r\nTo: bob, \"Carl\" <carl>, d@y.test\r\n\r\nb\r\n",
			from: "app@dom.test", to: []string{"bob@dom.test", "carl@dom.test", "d@y.test"}, msg: "To: bob, \"Carl\" <carl>, d@y.test\r\n\r\nb\r\n"},
		{name: "a domain with its final dot, as the listener takes it (found from outside: Badmail)",
			in:   "From: a@x.test\r\nTo: Fax <fax@corp.example.>, b@y.test.\r\nCc: c@z.test. (copy)\r\n\r\nb\r\n",
			from: "a@x.test", to: []string{"fax@corp.example", "b@y.test", "c@z.test"}, msg: "From: a@x.test\r\nTo: Fax <fax@corp.example.>, b@y.test.\r\nCc: c@z.test. (copy)\r\n\r\nb\r\n"},
		{name: "strip_bcc off keeps Bcc",
			in:  "From: a@x.test\r\nBcc: c@y.test\r\n\r\nb\r\n",
			opt: &PickupOptions{DotStuffed: true}, from: "a@x.test", to: []string{"c@y.test"}, msg: "From: a@x.test\r\nBcc: c@y.test\r\n\r\nb\r\n"},
		{name: "dot-stuffed with lone dot",
			in:   "X-Sender: a@x.test\r\nX-Receiver: b@y.test\r\n\r\n..one\r\n.two\r\n.\r\nlost\r\n",
			from: "a@x.test", to: []string{"b@y.test"}, msg: "\r\n.one\r\n.two\r\n", trailing: 6},
		{name: "lone dot at end without line end",
			in:   "X-Sender: a@x.test\r\nX-Receiver: b@y.test\r\n\r\nx\r\n.",
			from: "a@x.test", to: []string{"b@y.test"}, msg: "\r\nx\r\n"},
		{name: "bare CR made CRLF (RFC 5321 section 4.1.1.4)",
			in:   "X-Sender: a@x.test\r\nX-Receiver: b@y.test\r\n\r\na\rb\n",
			from: "a@x.test", to: []string{"b@y.test"}, msg: "\r\na\r\nb\r\n"},
		{name: "CR CR LF line ends (CRLF text through a Windows text-mode file) are CRLF",
			in:   "X-Sender: app@corp.test\r\r\nX-Receiver: r@dest.test\r\r\nFrom: app@corp.test\r\r\nSubject: s\r\r\n\r\r\nline1\r\r\n",
			from: "app@corp.test", to: []string{"r@dest.test"}, msg: "From: app@corp.test\r\nSubject: s\r\n\r\nline1\r\n"},
		{name: "a Bcc field after a bare CR is removed",
			in:   "From: a@x.test\r\nTo: b@y.test\rBcc: c@z.test\r\nSubject: s\r\n\r\nbody\r\n",
			from: "a@x.test", to: []string{"b@y.test", "c@z.test"}, msg: "From: a@x.test\r\nTo: b@y.test\r\nSubject: s\r\n\r\nbody\r\n"},
		{name: "a dot after a bare CR is text, not the end",
			in:   "X-Sender: a@x.test\r\nX-Receiver: b@y.test\r\n\r\na\r.\rMAIL FROM:<x@y>\r\n",
			from: "a@x.test", to: []string{"b@y.test"}, msg: "\r\na\r\n.\r\nMAIL FROM:<x@y>\r\n"},
		{name: "UTF-8 byte order mark before X-Sender (PowerShell 5, Notepad): removed",
			in:   "\xEF\xBB\xBFX-Sender: a@x.test\r\nX-Receiver: b@y.test\r\nSubject: s\r\n\r\nb\r\n",
			from: "a@x.test", to: []string{"b@y.test"}, msg: "Subject: s\r\n\r\nb\r\n"},
		{name: "UTF-8 byte order mark before headers only: removed",
			in:   "\xEF\xBB\xBFFrom: a@x.test\r\nTo: b@y.test\r\n\r\nb\r\n",
			from: "a@x.test", to: []string{"b@y.test"}, msg: "From: a@x.test\r\nTo: b@y.test\r\n\r\nb\r\n"},
		{name: "a byte order mark alone is an empty file", in: "\xEF\xBB\xBF\r\n", err: ErrEmpty},
		{name: "no recipients", in: "From: a@x.test\r\nTo: undisclosed-recipients:;\r\n\r\nb\r\n", err: ErrNoRecipients},
		{name: "no sender", in: "To: b@y.test\r\n\r\nb\r\n", err: ErrNoSender},
		{name: "bad header line", in: "this is not a header\r\n\r\nb\r\n", err: ErrMalformed},
		{name: "bad address list", in: "From: a@x.test\r\nTo: <<<@@@\r\n\r\nb\r\n", err: ErrMalformed},
		{name: "bad X-Receiver", in: "X-Sender: a@x.test\r\nX-Receiver: a b c <d\r\n\r\nb\r\n", err: ErrMalformed},
		// Found from outside: these went out as written, where the
		// listener quotes a local part holding "@" and ignores a route.
		{name: "X-Receiver with more than one @, or a source route",
			in:   "X-Sender: a@x.test\r\nX-Receiver: a@ext.test@local.test\r\nX-Receiver: @relay.test,@[IPv6:::1]:c@ext.test\r\nX-Receiver: <@relay.test:d@ext.test>\r\nX-Receiver: <e@ext.test@local.test>\r\n\r\nb\r\n",
			from: "a@x.test", to: []string{`"a@ext.test"@local.test`, "c@ext.test", "d@ext.test", `"e@ext.test"@local.test`}, msg: "\r\nb\r\n"},
		{name: "X-Receiver with an empty domain", in: "X-Sender: a@x.test\r\nX-Receiver: j@local.test@\r\n\r\nb\r\n", err: ErrMalformed},
		{name: "X-Receiver with an empty local part", in: "X-Sender: a@x.test\r\nX-Receiver: @local.test\r\n\r\nb\r\n", err: ErrMalformed},
		// Found from outside: each wrote an x-receiver line of its own
		// into Drop for readers that split lines at U+2028 or NEL.
		{name: "a line separator in a quoted From",
			in:  "From: \"Web form\" <\"v\u2028x-receiver: ceo@local.test\"@local.test>\r\nTo: sales@local.test\r\n\r\nhi\r\n",
			err: ErrMalformed},
		{name: "NEL in a quoted X-Receiver",
			in:  "X-Sender: a@x.test\r\nX-Receiver: \"loc\u0085x-receiver: forged2\"@local.test\r\n\r\nb\r\n",
			err: ErrMalformed},
		{name: "a line separator in a plain X-Sender",
			in:  "X-Sender: snd\u2028x-receiver:forged0@local.test\r\nX-Receiver: b@y.test\r\n\r\nb\r\n",
			err: ErrMalformed},
		{name: "a line separator in a To address",
			in:  "From: a@x.test\r\nTo: \"b\u2029c\"@y.test\r\n\r\nb\r\n",
			err: ErrMalformed},
		{name: "empty file", in: "", err: ErrEmpty},
		{name: "blank file", in: "\r\n \t\r\n", err: ErrEmpty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := opt
			if tt.opt != nil {
				o = *tt.opt
			}
			m, err := ParsePickup([]byte(tt.in), o)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.From != tt.from || !reflect.DeepEqual(m.To, tt.to) {
				t.Errorf("envelope %q %q, want %q %q", m.From, m.To, tt.from, tt.to)
			}
			if string(m.Message) != tt.msg {
				t.Errorf("message\n got %q\nwant %q", m.Message, tt.msg)
			}
			if m.Trailing != tt.trailing {
				t.Errorf("trailing %d, want %d", m.Trailing, tt.trailing)
			}
		})
	}
}

// A header line that cannot be read is named by its line number in the
// file, envelope lines counted, and not quoted: the reason goes to the log
// and to Badmail, which more people read than the file's writer meant.
func TestParsePickupErrorNamesLineNotContent(t *testing.T) {
	tests := []struct{ in, want string }{
		{"TOPSECRET\r\n", "line 1 is not a header field"},
		{"X-Sender: a@x.test\r\nFrom: a@x.test\r\nTOPSECRET value\r\n\r\nb\r\n", "line 3 is not a header field"},
		{"\xEF\xBB\xBF\tTOPSECRET\nTo: b@y.test\n\nb\n", "line 1, the first header line, starts with white space"},
		{"From: a@x.test\r\nTo: b@y.test\r\n..TOPSECRET\r\n\r\nb\r\n", "line 3 is not a header field"},
	}
	for _, tt := range tests {
		_, err := ParsePickup([]byte(tt.in), PickupOptions{DotStuffed: true})
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "TOPSECRET") {
			t.Errorf("%q: err = %v, want %q and no content", tt.in, err, tt.want)
		}
	}
}

// A Queue file (Envelope + message) reads back as the same envelope and
// message: that is what lets an administrator move it back to Pickup.
func TestQueueFileRoundTrip(t *testing.T) {
	msg := "Subject: x\r\n\r\nbody\r\n"
	in := Envelope("a@x.test", []string{"b@y.test", "c@y.test"}) + msg
	m, err := ParsePickup([]byte(in), PickupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.From != "a@x.test" || len(m.To) != 2 || string(m.Message) != msg {
		t.Fatalf("%+v", m)
	}
}

func FuzzParsePickup(f *testing.F) {
	for _, name := range []string{"dotnet-framework-style-stuffed.eml", "mono-6.8-systemnetmail-unstuffed.eml"} {
		f.Add(readFixture(f, name), true)
	}
	f.Add([]byte("X-Sender: a\nX-Receiver: b\n\n..x\n.\n"), true)
	f.Add([]byte("From: a@b\r\nTo: g: c, d;\r\n\r\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, stuffed bool) {
		m, err := ParsePickup(data, PickupOptions{DotStuffed: stuffed, StripBcc: true, DefaultDomain: "d.test"})
		if err != nil {
			return
		}
		if len(m.To) == 0 {
			t.Fatal("accepted without recipients")
		}
		if len(m.Message) > len(data)*2 {
			t.Fatal("message grew beyond CRLF conversion")
		}
		if rest := bytes.ReplaceAll(m.Message, []byte("\r\n"), nil); bytes.ContainsAny(rest, "\r\n") {
			t.Fatal("bare LF or CR left in message")
		}
		for _, a := range append([]string{m.From}, m.To...) {
			if strings.ContainsAny(a, "\r\n") {
				t.Fatalf("line break in address %q", a)
			}
		}
	})
}

// A file written in UTF-16 (Windows PowerShell 5.1's ">" and Out-File) is
// refused as such, with the fix, rather than as a bad first line.
func TestParsePickupUTF16(t *testing.T) {
	text := "From: a@x.test\r\nTo: b@y.test\r\nSubject: s\r\n\r\nbody\r\n"
	le, be := []byte{}, []byte{}
	for _, u := range utf16.Encode([]rune(text)) {
		le = append(le, byte(u), byte(u>>8))
		be = append(be, byte(u>>8), byte(u))
	}
	for name, data := range map[string][]byte{
		"little-endian with a byte-order mark": append([]byte{0xFF, 0xFE}, le...),
		"big-endian with a byte-order mark":    append([]byte{0xFE, 0xFF}, be...),
		"little-endian":                        le,
		"big-endian":                           be,
	} {
		_, err := ParsePickup(data, PickupOptions{DotStuffed: true})
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "UTF-16 ("+strings.TrimSuffix(name, " with a byte-order mark")) || !strings.Contains(err.Error(), "-Encoding") {
			t.Errorf("%s: %v", name, err)
		}
		// PowerShell writes little-endian: only that one is said to be
		// its doing.
		if strings.HasPrefix(name, "big") == strings.Contains(err.Error(), "PowerShell 5.1 writes") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// A file refused for a bad recipient, its sender known, comes back with
// that sender alone, for the Badmail reason (found from outside: "Sender:
// unknown").
func TestParsePickupBadRecipientKeepsSender(t *testing.T) {
	m, err := ParsePickup([]byte("X-Sender: app@corp.test\r\nX-Receiver: <bad@dest@>\r\nSubject: s\r\n\r\nb\r\n"), PickupOptions{DotStuffed: true})
	if err == nil || m == nil || m.From != "app@corp.test" || len(m.To) != 0 {
		t.Fatalf("%+v, %v; want the sender, no recipient, and the error", m, err)
	}
	if m, err := ParsePickup([]byte("X-Sender: <bad@x@>\r\nX-Receiver: b@y.test\r\n\r\nb\r\n"), PickupOptions{}); err == nil || m != nil {
		t.Fatalf("%+v, %v; want no message for a bad sender", m, err)
	}
}

// A refused envelope address is quoted in the reason as written (found
// from outside: "\"a\u2029b\"@ext.test" was given as "\"a\u2029b@ext.test\"",
// and "<@a:>" as "").
func TestPickupAddressErrorQuotesTheValue(t *testing.T) {
	for _, v := range []string{`"a` + "\u2029" + `b"@ext.test`, "<@a:>", "j@local.test@"} {
		_, err := ParsePickup([]byte("X-Sender: s@x.test\r\nX-Receiver: "+v+"\r\n\r\nb\r\n"), PickupOptions{})
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), fmt.Sprintf("%q", v)) {
			t.Errorf("%q: got %v, want ErrMalformed quoting the value", v, err)
		}
	}
}

// A bad address's reason names the field and the value, once: found from
// outside, "X-Receiver: malformed message: ..." in Badmail's reason.
func TestPickupBadAddressText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"X-Sender: a@x.test\r\nX-Receiver: @local.test\r\n\r\nb\r\n", `X-Receiver: "@local.test" has an empty local part or domain`},
		{"X-Sender: a@x.test\r\nX-Receiver: <a@x.test>, <b@x.test>\r\n\r\nb\r\n", `X-Receiver: "<a@x.test>, <b@x.test>" is not one address`},
		{"X-Sender: <a b@x.test\r\nX-Receiver: b@x.test\r\n\r\nb\r\n", `X-Sender: "<a b@x.test" is not one address`},
		{"From: a@x.test\r\nTo: <b@x.test\r\n\r\nb\r\n", `To header "<b@x.test": `},
		{"X-Sender: a@x.test\r\nX-Receiver: a@y.test;b@y.test\r\n\r\nb\r\n", `X-Receiver: "a@y.test;b@y.test" is not one address`},
		{"X-Sender: a@x.test\r\nX-Receiver:\r\n\r\nb\r\n", `X-Receiver: the line is empty`},
	} {
		_, err := ParsePickup([]byte(tc.in), PickupOptions{DefaultDomain: "local.test"})
		if !errors.Is(err, ErrMalformed) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %s...", tc.in, err, tc.want)
		}
	}
}
