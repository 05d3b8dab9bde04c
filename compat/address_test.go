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
