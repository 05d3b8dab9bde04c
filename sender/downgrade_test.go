package sender

import (
	"bytes"
	"context"
	"io"
	"mime"
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
	ctype, params, _ := mime.ParseMediaType(h["content-type"])
	switch {
	case strings.HasPrefix(ctype, "multipart/"):
		var out []string
		mr := multipart.NewReader(body, params["boundary"])
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
			if err := downgrade(&out, strings.NewReader(tt.in)); err != nil {
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
	if err := downgrade(&out, strings.NewReader(in)); err != nil {
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
		if err := downgrade(&out, bytes.NewReader(in)); err != nil {
			t.Fatal(err)
		}
		// Whatever declares no 8bit or binary part passes unchanged.
		if !bytes.Contains(bytes.ToLower(in), []byte("8bit")) && !bytes.Contains(bytes.ToLower(in), []byte("binary")) && !bytes.Equal(out.Bytes(), in) {
			t.Fatalf("changed without an 8bit part:\n%q\n%q", in, out.Bytes())
		}
	})
}
