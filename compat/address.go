package compat

import (
	"strings"
)

// QuoteLocal gives back an address as it was written when its local part
// had to be quoted. Parsers hand over addresses with the quotes of a
// quoted local part removed (go-smtp for MAIL and RCPT, net/mail for
// headers): <"john smith"@example.com> arrives as `john smith@example.com`,
// and <"a@b"@example.org> as `a@b@example.org`, which are other addresses
// or none. Written so into x-sender/x-receiver lines, or sent so in MAIL
// and RCPT, they would be split wrongly, refused, or reply to nobody.
//
// A local part that is not a Dot-string (RFC 5321 section 4.1.2: atoms of
// atext, RFC 6531's UTF-8 included, joined by single dots) is put back in
// quotes, with `"` and `\` escaped; any other address is returned as is.
// The domain follows the last "@", since a domain never holds one.
func QuoteLocal(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr // the null sender
	}
	local := addr[:at]
	if isDotString(local) {
		return addr
	}
	var b strings.Builder
	b.Grow(len(addr) + 4)
	b.WriteByte('"')
	for i := 0; i < len(local); i++ {
		if c := local[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(local[i])
	}
	b.WriteByte('"')
	b.WriteString(addr[at:])
	return b.String()
}

// isDotString reports whether s is an RFC 5321 Dot-string.
func isDotString(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x80: // RFC 6531 UTF8-non-ascii
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// TrimFinalDot removes the final dot of an address's domain ("a@x.test."):
// DNS writes a fully qualified name so, but RFC 5321's Domain has no final
// dot, and smart hosts refuse it (postfix: "553 5.1.3 malformed address").
// Found from outside: such a recipient was accepted with 250, relayed as
// written, refused, and its report sent to the same address, refused too.
func TrimFinalDot(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || len(addr) < at+3 || addr[len(addr)-1] != '.' {
		return addr
	}
	return addr[:len(addr)-1]
}
