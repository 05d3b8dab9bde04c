package sender

import (
	"context"
	"strings"
	"testing"
)

func linesWith(lines []string, prefix string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(strings.ToUpper(l), prefix) {
			out = append(out, l)
		}
	}
	return out
}

// A smart host that offers SMTPUTF8 gets it in MAIL FROM when the envelope
// or the header block needs it (RFC 6531 section 3.4), and only then.
func TestSMTPUTF8Offered(t *testing.T) {
	for _, tt := range []struct {
		name, from, to, message string
		want                    bool
	}{
		{"recipient", "a@x.test", "jürgen@dést.test", msg, true},
		{"sender", "jürgen@dést.test", "b@y.test", msg, true},
		{"header", "a@x.test", "b@y.test", "Subject: Grüße\r\n\r\nbody\r\n", true},
		{"Latin-1 header", "a@x.test", "b@y.test", "Subject: Gr\xfc\xdfe\r\n\r\nbody\r\n", false},
		{"ASCII", "a@x.test", "b@y.test", msg, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := (&scriptHost{EHLO: []string{"8BITMIME", "SMTPUTF8"}}).start(t)
			s := NewSession(scriptCfg(h))
			defer s.Close()
			res := s.Send(context.Background(), tt.from, []string{tt.to}, []byte(tt.message))
			if res[0].Err != nil {
				t.Fatal(res[0].Err)
			}
			lines := h.Lines()
			mail := linesWith(lines, "MAIL")
			rcpt := linesWith(lines, "RCPT")
			if len(mail) != 1 || strings.HasSuffix(mail[0], " SMTPUTF8") != tt.want || !strings.Contains(mail[0], "<"+tt.from+">") || rcpt[0] != "RCPT TO:<"+tt.to+">" {
				t.Fatalf("%q", lines)
			}
		})
	}
}

// Without SMTPUTF8 no raw UTF-8 address is sent: a Unicode domain goes in
// its A-label form, and an address whose local part is not ASCII fails for
// good with 5.6.7 (RFC 6531 section 3.5), the other recipients unharmed.
func TestSMTPUTF8NotOffered(t *testing.T) {
	h := (&scriptHost{EHLO: []string{"8BITMIME"}}).start(t)
	s := NewSession(scriptCfg(h))
	defer s.Close()
	res := s.Send(context.Background(), "a@bücher.test", []string{"jürgen@dést.test", "juergen@dést.test", "b@y.test"}, []byte(msg))
	if e := res[0].Err; e == nil || !e.Permanent || e.Enhanced != "5.6.7" || !strings.Contains(e.Reply, "<jürgen@dést.test> has a local part that is not ASCII, and the smart host does not offer SMTPUTF8") {
		t.Fatalf("jürgen: %+v", e)
	}
	if res[1].Err != nil || res[2].Err != nil {
		t.Fatalf("%+v %+v", res[1].Err, res[2].Err)
	}
	lines := h.Lines()
	want := []string{"MAIL FROM:<a@xn--bcher-kva.test> BODY=8BITMIME", "RCPT TO:<juergen@xn--dst-bma.test>", "RCPT TO:<b@y.test>"}
	got := append(linesWith(lines, "MAIL"), linesWith(lines, "RCPT")...)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	for _, l := range lines {
		if !isASCII(l) {
			t.Fatalf("raw UTF-8 sent: %q", l)
		}
	}

	// A sender whose local part is not ASCII: nothing can be sent.
	res = s.Send(context.Background(), "jürgen@x.test", []string{"b@y.test"}, []byte(msg))
	if e := res[0].Err; e == nil || !e.Permanent || e.Enhanced != "5.6.7" || e.Stage != "MAIL FROM" {
		t.Fatalf("%+v", e)
	}
	if n := len(linesWith(h.Lines(), "MAIL")); n != 1 {
		t.Fatalf("%d MAIL FROM", n)
	}
}
