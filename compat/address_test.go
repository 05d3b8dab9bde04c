package compat

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
		if got := QuoteLocal(tc.in); got != tc.want {
			t.Errorf("QuoteLocal(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzQuoteLocal(f *testing.F) {
	for _, s := range []string{"a@b", "a b@c", `"@x`, "..@y", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		q := QuoteLocal(addr)
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

// FuzzQuotedReadBack: an address the listener accepts (no control
// character, valid UTF-8), quoted by QuoteLocal as it is written into an x-receiver
// line, is read back as that same address by the Pickup reader: one it
// could not read was accepted with 250 and then lost (found from outside).
func FuzzQuotedReadBack(f *testing.F) {
	for _, s := range []string{"a", "a b", `a"b`, `a\b`, "a,b", "a@b", "(x)", "jürgen", "a..b", "."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, local string) {
		if local == "" || ReplyText(local) != local { // as the listener's hasControl
			return
		}
		q := QuoteLocal(local + "@x.test")
		got, err := envelopeAddr(q, "")
		if err != nil || got != q {
			t.Fatalf("%q written as %q is read back as %q, %v", local, q, got, err)
		}
	})
}
