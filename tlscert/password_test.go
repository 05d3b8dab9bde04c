package tlscert

import (
	"strings"
	"testing"
	"unicode/utf16"
)

func utf16LE(s string, bom bool) []byte {
	var b []byte
	if bom {
		b = []byte{0xFF, 0xFE}
	}
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return b
}

func utf16BE(s string) []byte {
	b := []byte{0xFE, 0xFF}
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u>>8), byte(u))
	}
	return b
}

// Password files as Windows tools write them: each must give the password
// itself, not "wrong password".
func TestPasswordFromFile(t *testing.T) {
	for _, tt := range []struct {
		name string
		file []byte
		want string
	}{
		{"plain", []byte("s3cret"), "s3cret"},
		{"LF", []byte("s3cret\n"), "s3cret"},
		{"CRLF and blank lines", []byte("s3cret\r\n\r\n"), "s3cret"},
		{"cmd echo: a space before the line end", []byte("s3cret \r\n"), "s3cret"},
		{"UTF-8 BOM (PowerShell 5.1 Set-Content -Encoding UTF8)", []byte("\xEF\xBB\xBFs3cret\r\n"), "s3cret"},
		{"UTF-16LE with BOM (PowerShell 5.1 >)", utf16LE("pässwörd\r\n", true), "pässwörd"},
		{"UTF-16BE with BOM", utf16BE("pässwörd\r\n"), "pässwörd"},
		{"UTF-8 non-ASCII", []byte("pässwörd\n"), "pässwörd"},
		{"inner spaces kept", []byte(" two words\n"), " two words"},
	} {
		if got := PasswordFromFile(tt.file); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func FuzzPasswordFromFile(f *testing.F) {
	f.Add([]byte("s3cret \r\n"))
	f.Add(utf16LE("pässwörd\r\n", true))
	f.Add([]byte{0xFE, 0xFF, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		pw := PasswordFromFile(b)
		if pw != "" && strings.ContainsAny(pw[len(pw)-1:], " \t\r\n") {
			t.Fatalf("%q keeps trailing white space", pw)
		}
	})
}
