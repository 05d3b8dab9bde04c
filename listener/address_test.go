package listener

import (
	"strings"
	"testing"
)

func TestQuoteLocal(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"john@example.com", "john@example.com"},
		{"john.q.public+tag@example.com", "john.q.public+tag@example.com"},
		{"!#$%&'*+-/=?^_`{|}~@example.com", "!#$%&'*+-/=?^_`{|}~@example.com"},
		{"jöhn@exämple.com", "jöhn@exämple.com"}, // RFC 6531
		{"john smith@example.com", `"john smith"@example.com`},
		{"a@b@example.org", `"a@b"@example.org`},
		{`q"x@example.org`, `"q\"x"@example.org`},
		{`back\slash@example.org`, `"back\\slash"@example.org`},
		{".dot@example.org", `".dot"@example.org`},
		{"dot.@example.org", `"dot."@example.org`},
		{"two..dots@example.org", `"two..dots"@example.org`},
		{"@example.org", `""@example.org`},
		{"user@[192.0.2.1]", "user@[192.0.2.1]"},
	} {
		if got := quoteLocal(tc.in); got != tc.want {
			t.Errorf("quoteLocal(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// A quoted local part reaches Drop, and the replies, as the client sent it:
// go-smtp removes the quotes, and `a@b@example.org` is another address.
func TestQuotedLocalPartsKept(t *testing.T) {
	ts := startServer(t, testConfig())
	c := dial(t, ts.addr)
	c.hello()
	c.expect(`MAIL FROM:<"john smith"@x.test>`, `250 2.1.0 "john smith"@x.test....Sender OK`)
	c.expect(`RCPT TO:<"a@b"@example.org>`, `250 2.1.5 "a@b"@example.org`)
	c.expect(`RCPT TO:<"q\"x"@example.org>`, `250 2.1.5 "q\"x"@example.org`)
	c.expect("RCPT TO:<plain@example.org>", "250 2.1.5 plain@example.org")
	c.expect("DATA", "354")
	c.send("Subject: quoted\r\n\r\nbody\r\n.\r\n")
	if r := c.reply(); !strings.HasPrefix(r, "250 2.6.0 ") {
		t.Fatalf("after the data: %q", r)
	}
	want := "x-sender: \"john smith\"@x.test\r\n" +
		"x-receiver: \"a@b\"@example.org\r\n" +
		"x-receiver: \"q\\\"x\"@example.org\r\n" +
		"x-receiver: plain@example.org\r\n"
	if b := string(ts.onlyDrop(t)); !strings.HasPrefix(b, want) {
		t.Fatalf("Drop file starts\n%s\nwant\n%s", b[:min(len(b), len(want)+40)], want)
	}
}

func FuzzQuoteLocal(f *testing.F) {
	for _, s := range []string{"a@b", "a b@c", `"@x`, "..@y", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		q := quoteLocal(addr)
		at := strings.LastIndexByte(addr, '@')
		if at < 0 || isDotString(addr[:at]) {
			if q != addr {
				t.Fatalf("%q changed to %q", addr, q)
			}
			return
		}
		// Unquoting gives the address back, and the result's domain is
		// the original's.
		qat := strings.LastIndexByte(q, '@')
		local := q[:qat]
		if len(local) < 2 || local[0] != '"' || local[len(local)-1] != '"' {
			t.Fatalf("%q: local part %q not quoted", addr, local)
		}
		var un strings.Builder
		for i := 1; i < len(local)-1; i++ {
			if local[i] == '\\' {
				i++
			}
			un.WriteByte(local[i])
		}
		if un.String()+q[qat:] != addr {
			t.Fatalf("%q quoted as %q unquotes to %q", addr, q, un.String()+q[qat:])
		}
	})
}
