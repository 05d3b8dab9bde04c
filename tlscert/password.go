package tlscert

import (
	"strings"

	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// PasswordFromFile is the password a password file holds, as Windows tools
// write such files: a UTF-8 byte order mark (PowerShell 5.1's Set-Content
// -Encoding UTF8) and UTF-16 with its byte order mark (PowerShell 5.1's
// ">" redirection) are read as text, and trailing white space and line
// ends are not part of the password (cmd's "echo secret > file" writes
// "secret \r\n"). A password that ends in white space is given inline or
// in an environment variable instead.
func PasswordFromFile(b []byte) string {
	// golang.org/x/text's BOMOverride, as config reads its file: a byte
	// order mark selects UTF-8 or UTF-16; without one the bytes are taken
	// as they are.
	text, _, err := transform.Bytes(unicode.BOMOverride(transform.Nop), b)
	if err != nil {
		text = b
	}
	return strings.TrimRight(string(text), " \t\r\n")
}
