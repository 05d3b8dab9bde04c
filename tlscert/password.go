package tlscert

import (
	"bytes"
	"strings"
	"unicode/utf16"
)

// PasswordFromFile is the password a password file holds, as Windows tools
// write such files: a UTF-8 byte order mark (PowerShell 5.1's Set-Content
// -Encoding UTF8) and UTF-16 with its byte order mark (PowerShell 5.1's
// ">" redirection) are read as text, and trailing white space and line
// ends are not part of the password (cmd's "echo secret > file" writes
// "secret \r\n"). A password that ends in white space is given inline or
// in an environment variable instead.
func PasswordFromFile(b []byte) string {
	var s string
	switch {
	case bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}):
		s = string(b[3:])
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE}):
		s = decodeUTF16(b[2:], func(p []byte) uint16 { return uint16(p[0]) | uint16(p[1])<<8 })
	case bytes.HasPrefix(b, []byte{0xFE, 0xFF}):
		s = decodeUTF16(b[2:], func(p []byte) uint16 { return uint16(p[1]) | uint16(p[0])<<8 })
	default:
		s = string(b)
	}
	return strings.TrimRight(s, " \t\r\n")
}

func decodeUTF16(b []byte, unit func([]byte) uint16) string {
	u := make([]uint16, 0, len(b)/2)
	for ; len(b) >= 2; b = b[2:] {
		u = append(u, unit(b))
	}
	return string(utf16.Decode(u))
}
