package sender

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
)

// leaves returns the decoded bodies of a message's leaf parts, in order
// (quoted-printable decoded; 8bit as it is), descending into multiparts
// and attached messages.
func leaves(t *testing.T, raw []byte) []string {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not a message: %v\n%s", err, raw)
	}
	return entityLeaves(t, textprotoHeader(m.Header), m.Body)
}

type header map[string]string

func textprotoHeader(h mail.Header) header {
	out := header{}
	for k, v := range h {
		out[strings.ToLower(k)] = v[0]
	}
	return out
}

func entityLeaves(t *testing.T, h header, body io.Reader) []string {
	// contentType reads unquoted boundaries with "=" as mail readers do
	// (mime.ParseMediaType refuses them).
	ctype, boundary := contentType(h["content-type"])
	switch {
	case strings.HasPrefix(ctype, "multipart/"):
		var out []string
		mr := multipart.NewReader(body, boundary)
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return out
			}
			if err != nil {
				t.Fatalf("multipart: %v", err)
			}
			ph := header{}
			for k, v := range p.Header {
				ph[strings.ToLower(k)] = v[0]
			}
			out = append(out, entityLeaves(t, ph, p)...)
		}
	case ctype == "message/rfc822":
		raw, _ := io.ReadAll(body)
		return leaves(t, raw)
	}
	if strings.EqualFold(h["content-transfer-encoding"], "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatalf("reading a part: %v", err)
	}
	return []string{string(b)}
}

const (
	utf8Text = "Grüße aus Köln, line one\r\nan = sign, and a long line " + "ääääääääääääääääääääääääääääääääääääääääääääääää" + "\r\n.leading dot\r\n"
	b64Att   = "SGVsbG8gd29ybGQ=\r\n"
)

// downgradeAll runs both passes over in, as the sender does.
func downgradeAll(w io.Writer, in string) error {
	return downgradeFor(w, in, false)
}

// downgradeFor is downgradeAll for a smart host with 8BITMIME
// (eightBitOK) or without.
func downgradeFor(w io.Writer, in string, eightBitOK bool) error {
	plan, err := scanParts(strings.NewReader(in))
	if err != nil {
		return err
	}
	return downgrade(w, strings.NewReader(in), plan, eightBitOK, nil)
}

func TestDowngrade(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
		same bool // passes unchanged
	}{
		{"not MIME: unchanged", "Subject: x\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + utf8Text, true},
		{"7bit MIME: unchanged", "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nplain\r\n", true},
		{"single 8bit part", "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\nSubject: s\r\n\r\n" + utf8Text, false},
		{"folded encoding field", "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding:\r\n 8BIT\r\n\r\n" + utf8Text, false},
		{"alternative", "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n\r\npreamble\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + utf8Text +
			"--b1\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64Att + "--b1--\r\nepilogue\r\n", false},
		{"nested, with padding after a delimiter", "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n--inner  \r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + utf8Text +
			"--inner--\r\n\r\n--outer\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64Att + "--outer--\r\n", false},
		{"attached message", "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n\r\nSubject: inner\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + utf8Text + "--m--\r\n", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := downgradeAll(&out, tt.in); err != nil {
				t.Fatal(err)
			}
			if tt.same {
				if out.String() != tt.in {
					t.Fatalf("changed:\n%s", out.String())
				}
				return
			}
			for i, c := range out.Bytes() {
				if c >= 0x80 {
					t.Fatalf("8-bit byte at %d:\n%s", i, out.String())
				}
			}
			got, want := leaves(t, out.Bytes()), leaves(t, []byte(tt.in))
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Fatalf("parts decode to\n%q\nwant\n%q\nmessage:\n%s", got, want, out.String())
			}
			for _, kept := range []string{"\r\npreamble\r\n", "--b1--\r\nepilogue\r\n", "--inner  \r\n"} {
				if strings.Contains(tt.in, kept) && !strings.Contains(out.String(), kept) {
					t.Errorf("%q lost:\n%s", kept, out.String())
				}
			}
			if n := strings.Count(strings.ToLower(out.String()), "content-transfer-encoding: quoted-printable"); n != 1 {
				t.Errorf("%d quoted-printable parts, want 1:\n%s", n, out.String())
			}
		})
	}
}

// The end of a line longer than the reader's buffer is not taken for a
// line of its own: a delimiter or an empty line inside it is content.
func TestDowngradeLongLine(t *testing.T) {
	long := strings.Repeat("x", 64<<10) + "--b\r\n" // "--b" starts the piece after a full buffer
	in := "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
		long + "ä\r\n--b--\r\n"
	var out bytes.Buffer
	if err := downgradeAll(&out, in); err != nil {
		t.Fatal(err)
	}
	if i := bytes.IndexFunc(out.Bytes(), func(r rune) bool { return r >= 0x80 }); i >= 0 {
		t.Fatalf("8-bit text left at %d: the rest of the long line was taken for a delimiter", i)
	}
	got, want := leaves(t, out.Bytes()), leaves(t, []byte(in))
	if len(got) != 1 || got[0] != want[0] {
		t.Fatalf("the long line's part decodes to %d parts (%d bytes), want 1 of %d bytes", len(got), len(strings.Join(got, "")), len(want[0]))
	}
}

// A smart host without 8BITMIME gets 8bit parts as quoted-printable; one
// with it gets the message unchanged.
func TestSendDowngradesWithout8BITMIME(t *testing.T) {
	in := "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\nSubject: s\r\n\r\n" + utf8Text
	for _, offers := range []bool{false, true} {
		var ehlo []string
		if offers {
			ehlo = []string{"8BITMIME"}
		}
		h := (&scriptHost{EHLO: ehlo}).start(t)
		cfg := scriptCfg(h)
		s := NewSession(cfg)
		res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(in))
		s.Close()
		if res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
		if conv, kept, _ := s.Downgraded(); conv != map[bool]int{false: 1, true: 0}[offers] || kept != 0 {
			t.Errorf("8BITMIME %v: Downgraded %d, %d", offers, conv, kept)
		}
		data := strings.ReplaceAll("\r\n"+h.Data(), "\r\n..", "\r\n.")[2:]
		if offers {
			if data != in {
				t.Errorf("with 8BITMIME the message changed:\n%s", data)
			}
			continue
		}
		if !strings.Contains(data, "Content-Transfer-Encoding: quoted-printable\r\n") || strings.ContainsAny(data, "üßäö") {
			t.Errorf("without 8BITMIME:\n%s", data)
		}
	}
}

func FuzzDowngrade(f *testing.F) {
	f.Add([]byte("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Transfer-Encoding: 8bit\r\n\r\nä\r\n--b--\r\n"))
	f.Add([]byte("Subject: plain\r\n\r\nbody\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		if err := downgradeAll(&out, string(in)); err != nil {
			t.Fatal(err)
		}
		// Whatever declares no 8bit or binary part, and holds no 8-bit
		// byte and no line over 998 octets, passes unchanged.
		short := true
		for _, l := range bytes.Split(in, []byte("\n")) {
			short = short && len(l) <= maxLine
		}
		if short && !bytes.Contains(bytes.ToLower(in), []byte("8bit")) && !bytes.Contains(bytes.ToLower(in), []byte("binary")) && !hasEightBit(in) && !bytes.Equal(out.Bytes(), in) {
			t.Fatalf("changed without an 8bit part:\n%q\n%q", in, out.Bytes())
		}
		// For a smart host with 8BITMIME, whatever has no line over 998
		// octets passes unchanged.
		out.Reset()
		if err := downgradeFor(&out, string(in), true); err != nil {
			t.Fatal(err)
		}
		if short && !bytes.Equal(out.Bytes(), in) {
			t.Fatalf("changed for 8BITMIME without a long line:\n%q\n%q", in, out.Bytes())
		}
	})
}

// Found from outside: each of these left 8-bit text, changed bytes, or
// split a part.
func TestDowngradeEdges(t *testing.T) {
	const mv = "MIME-Version: 1.0\r\n"
	for _, tt := range []struct{ name, in string }{
		// A soft line break must not put a boundary at the start of a
		// line: the part would end there.
		{"boundary after a soft break", mv + "Content-Type: multipart/mixed; boundary=b0undary\r\n\r\n--b0undary\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\ncafé " +
			strings.Repeat("a", 65) + "--b0undary\r\n--b0undary\r\nContent-Type: text/plain\r\n\r\nsecond\r\n--b0undary--\r\n"},
		// A forwarded pre-MIME message: no encoding declared inside, 8-bit
		// (ISO-8859-1) body.
		{"attached message without an encoding", mv + "Content-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n\r\nSubject: old\r\n\r\nK\xe4se \xf6l \xfcber\r\n--m--\r\n"},
		// "=" in an unquoted boundary, as hand-written headers have it.
		{"unquoted boundary with =", mv + "Content-Type: multipart/alternative; boundary=----=_Part_0_12.34\r\n\r\n------=_Part_0_12.34\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße\r\n------=_Part_0_12.34--\r\n"},
		{"encoding with a comment", mv + "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit (utf8)\r\n\r\nGrüße\r\n"},
		// A binary part decodes to its own bytes, bare CR included.
		{"binary part with a bare CR", mv + "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\nbare\rcr \x00\xff\r\n--x--\r\n"},
		// 8-bit under a 7bit label (or none): converted too.
		{"7bit label, 8-bit text", mv + "Content-Type: text/plain; charset=utf-8\r\n\r\nGrüße\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := downgradeAll(&out, tt.in); err != nil {
				t.Fatal(err)
			}
			if i := bytes.IndexFunc(out.Bytes(), func(r rune) bool { return r >= 0x80 }); i >= 0 {
				t.Fatalf("8-bit left at %d:\n%q", i, out.String())
			}
			got, want := leaves(t, out.Bytes()), leaves(t, []byte(tt.in))
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Fatalf("parts decode to\n%q\nwant\n%q\nmessage:\n%s", got, want, out.String())
			}
		})
	}
}

// quoted-printable as written decodes to the bytes given, in lines of at
// most 76 characters, 7-bit, none starting with "-".
func FuzzQPEncoder(f *testing.F) {
	f.Add([]byte("caf\xc3\xa9 " + strings.Repeat("a", 65) + "--boundary\r\n-x \r\n\ttab\t\r\n"))
	f.Add([]byte("bare\rcr\nlf \x00\xff="))
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		e := newQPEncoder(&out)
		// In two writes, split anywhere: CRLF and white space across them.
		cut := len(in) / 2
		e.Write(in[:cut])
		e.Write(in[cut:])
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(out.String(), "\r\n") {
			if len(l) > 76 || strings.HasPrefix(l, "-") {
				t.Fatalf("line %q", l)
			}
			for _, c := range []byte(l) {
				if c < ' ' && c != '\t' || c > '~' {
					t.Fatalf("byte %#x in %q", c, l)
				}
			}
		}
		dec, err := io.ReadAll(quotedprintable.NewReader(&out))
		if err != nil {
			t.Fatalf("does not decode: %v\n%q", err, out.String())
		}
		if !bytes.Equal(dec, in) {
			t.Fatalf("decodes to %q, want %q", dec, in)
		}
	})
}

// A part labelled 7bit whose first 8-bit byte comes late (after the first
// megabyte, where an earlier version stopped looking and sent the part as
// it was) is re-encoded too, and its neighbours declared 7bit that are
// 7-bit pass unchanged.
func TestDowngradeLateEightBit(t *testing.T) {
	const mv = "MIME-Version: 1.0\r\n"
	ascii := strings.Repeat("plain seven-bit text, line after line\r\n", 3<<20/40)
	clean := "--b\r\nContent-Type: text/plain\r\n\r\n" + ascii
	in := mv + "Content-Type: multipart/mixed; boundary=b\r\n\r\n" + clean +
		"--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 7bit\r\n\r\n" + ascii + "K\xe4se\r\n" +
		clean + "--b--\r\n"
	var out bytes.Buffer
	if err := downgradeAll(&out, in); err != nil {
		t.Fatal(err)
	}
	if i := bytes.IndexFunc(out.Bytes(), func(r rune) bool { return r >= 0x80 }); i >= 0 {
		t.Fatalf("8-bit left at %d of %d", i, out.Len())
	}
	got, want := leaves(t, out.Bytes()), leaves(t, []byte(in))
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatal("the parts decode to other text")
	}
	if n := strings.Count(out.String(), clean); n != 2 {
		t.Errorf("%d of the 2 seven-bit parts passed unchanged", n)
	}
}

// The parts of a multipart/signed pass unchanged, 8-bit or not (RFC 1847
// section 2.1): a converted part no longer matches its signature. Parts
// outside it are converted as usual, and stats counts both.
func TestDowngradeLeavesSignedContent(t *testing.T) {
	signed := "--s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + utf8Text +
		"--s\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64Att + "--s--\r\n"
	for _, tt := range []struct {
		name            string
		in              string
		converted, kept int
	}{
		{"signed message", "MIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=s\r\n\r\n" + signed, 0, 1},
		{"signed part beside an 8bit part", "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=s\r\n\r\n" + signed +
			"--m\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + utf8Text + "--m--\r\n", 1, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := scanParts(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			var st downgradeStats
			if err := downgrade(&out, strings.NewReader(tt.in), plan, false, &st); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), signed) {
				t.Fatalf("signed content changed:\n%s", out.String())
			}
			if st.converted != tt.converted || st.keptSigned != tt.kept {
				t.Fatalf("stats %+v, want converted %d, kept %d", st, tt.converted, tt.kept)
			}
		})
	}
}

// Lines longer than SMTP allows (998 octets without CRLF: RFC 5321
// section 4.5.3.1.6) are re-encoded as quoted-printable, for a smart host
// with 8BITMIME too, so that it does not refuse the message ("500 5.0.0
// Line too long"); the parts decode to what they were, and the rest is
// unchanged.
func TestDowngradeLongLines(t *testing.T) {
	const mv = "MIME-Version: 1.0\r\n"
	line := func(n int) string { return strings.Repeat("a", n) + "\r\n" }
	html := "<html><body>" + strings.Repeat("<p>one long line of HTML</p>", 200) + "</body></html>\r\n"
	other := "--b\r\nContent-Type: text/plain\r\n\r\nshort\r\n"
	for _, tt := range []struct {
		name       string
		in         string
		eightBitOK bool
		converted  int
	}{
		{"998 octets: unchanged", mv + "Content-Type: text/plain\r\n\r\n" + line(998), true, 0},
		{"998 octets and a bare LF: unchanged", mv + "Content-Type: text/plain\r\n\r\n" + strings.Repeat("a", 998) + "\n", true, 0},
		{"999 octets", mv + "Content-Type: text/plain\r\n\r\n" + line(999), true, 1},
		{"999 octets, last line without a line end", mv + "Content-Type: text/plain\r\n\r\n" + strings.Repeat("a", 999), true, 1},
		{"a one-line HTML body beside a short part", mv + "Content-Type: multipart/alternative; boundary=b\r\n\r\n" + other +
			"--b\r\nContent-Type: text/html; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n" + html + "--b--\r\n", true, 1},
		{"a line longer than the reader's buffer", mv + "Content-Type: text/plain\r\n\r\n" + line(70<<10), true, 1},
		{"an 8bit part with a long line, 8BITMIME", mv + "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + strings.Repeat("ä", 600) + "\r\n", true, 1},
		{"an 8bit part with short lines, 8BITMIME: unchanged", mv + "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + utf8Text, true, 0},
		{"a 7bit part with a long line, no 8BITMIME", mv + "Content-Type: text/plain\r\n\r\n" + line(2000), false, 1},
		{"not MIME: unchanged", "Subject: x\r\n\r\n" + line(2000), true, 0},
		{"an encoding with a stray semicolon", mv + "Content-Type: text/plain\r\nContent-Transfer-Encoding: 7bit;\r\n\r\n" + line(1500), true, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := scanParts(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := needsDowngrade(plan, tt.eightBitOK); got != (tt.converted > 0 || !tt.eightBitOK) {
				t.Errorf("needsDowngrade %v", got)
			}
			var out bytes.Buffer
			var st downgradeStats
			if err := downgrade(&out, strings.NewReader(tt.in), plan, tt.eightBitOK, &st); err != nil {
				t.Fatal(err)
			}
			if st.converted != tt.converted {
				t.Fatalf("converted %d parts, want %d:\n%s", st.converted, tt.converted, out.String())
			}
			if tt.converted == 0 {
				if out.String() != tt.in {
					t.Fatalf("changed:\n%s", out.String())
				}
				return
			}
			for _, l := range strings.Split(out.String(), "\n") {
				if len(strings.TrimSuffix(l, "\r")) > maxLine {
					t.Fatalf("a line of %d octets left", len(l))
				}
			}
			got, want := leaves(t, out.Bytes()), leaves(t, []byte(tt.in))
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Fatalf("parts decode to other text:\n%s", out.String())
			}
			if strings.Contains(tt.in, other) && !strings.Contains(out.String(), other) {
				t.Errorf("the short part changed:\n%s", out.String())
			}
		})
	}
}

// A smart host with 8BITMIME gets a part with a line too long for SMTP as
// quoted-printable, without SIZE= (the message grew), and Downgraded says
// so for the delivery's log line.
func TestSendReencodesLongLines(t *testing.T) {
	in := "MIME-Version: 1.0\r\nContent-Type: text/html\r\nSubject: s\r\n\r\n<p>" + strings.Repeat("x", 3000) + "</p>\r\n"
	h := (&scriptHost{EHLO: []string{"8BITMIME", "SIZE 100000"}}).start(t)
	s := NewSession(scriptCfg(h))
	res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(in))
	s.Close()
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	if conv, kept, _ := s.Downgraded(); conv != 1 || kept != 0 {
		t.Errorf("Downgraded %d, %d", conv, kept)
	}
	for _, l := range h.Lines() {
		if strings.HasPrefix(l, "MAIL") && strings.Contains(l, "SIZE=") {
			t.Errorf("%q: the size announced is not what is sent", l)
		}
	}
	data := strings.ReplaceAll("\r\n"+h.Data(), "\r\n..", "\r\n.")[2:]
	if !strings.Contains(data, "Content-Transfer-Encoding: quoted-printable\r\n") {
		t.Fatalf("not re-encoded:\n%s", data)
	}
	for _, l := range strings.Split(data, "\r\n") {
		if len(l) > maxLine {
			t.Fatalf("a line of %d octets went out", len(l))
		}
	}
	if got, want := leaves(t, []byte(data)), leaves(t, []byte(in)); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatal("the body decodes to other text")
	}
}
