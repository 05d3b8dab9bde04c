package compat

import "testing"

// A field holds nothing a log reader could take for a line end: ASCII and
// C1 controls, the Unicode line and paragraph separators, invalid UTF-8.
// Spaces become "+", as IIS wrote them, Unicode white space too, and
// UTF-8 stays.
func TestW3CField(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", "-"},
		{"MAIL", "MAIL"},
		{"+FROM:<a@b.com> SIZE=5", "+FROM:<a@b.com>+SIZE=5"},
		{"a\u20282026-11-30 00:00:00 6.6.6.6 forged", "a2026-11-30+00:00:00+6.6.6.6+forged"},
		{"a\u2029b", "ab"},
		{"a\u0085b", "ab"},
		{"a\r\nb\tc\x00d\x7fe", "ab+cde"},
		{"two  spaces\ttab", "two++spaces+tab"},
		{"a\xffb", "ab"},
		{"w3c\u3000forged\u00a0x\u2003y", "w3c+forged+x+y"},
		{"jürgen@bücher.example", "jürgen@bücher.example"},
	} {
		if got := w3cField(tt.in); got != tt.want {
			t.Errorf("w3cField(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
