package sender

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// International addresses (RFC 6531). When the envelope or the header
// block holds UTF-8 and the smart host offers SMTPUTF8, MAIL FROM carries
// the SMTPUTF8 parameter (section 3.4). When it does not offer it, no raw
// UTF-8 address is sent: a domain in Unicode is sent in its A-label form
// (RFC 5890), which names the same domain, and an address whose local part
// is not ASCII fails for good with 5.6.7 (section 3.5), as only the
// recipient's own server could say what ASCII address, if any, it has. A
// header block in UTF-8 alone does not stop a message: it goes as before
// (IIS sent it so), 8-bit text the smart host may take.

// isASCII reports whether s holds only US-ASCII.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// headerUTF8 reports whether the header block of message holds UTF-8
// beyond ASCII (RFC 6532); other 8-bit text (Latin-1 from old writers) is
// not UTF-8 and does not ask for SMTPUTF8.
func headerUTF8(message []byte) bool {
	h := message
	if i := bytes.Index(message, []byte("\r\n\r\n")); i >= 0 {
		h = message[:i]
	}
	return !isASCII(string(h)) && utf8.Valid(h)
}

// needsUTF8 reports whether the transaction asks for SMTPUTF8.
func needsUTF8(from string, res []Result, message []byte) bool {
	if !isASCII(from) {
		return true
	}
	for _, r := range res {
		if !isASCII(r.Rcpt) {
			return true
		}
	}
	return headerUTF8(message)
}

// asciiAddress is addr as a smart host without SMTPUTF8 may read it: the
// domain in its A-label form. It fails when the local part is not ASCII.
func asciiAddress(addr string) (string, error) {
	if isASCII(addr) {
		return addr, nil
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || !isASCII(addr[:at]) {
		return "", fmt.Errorf("the address <%s> has a local part that is not ASCII, and the smart host does not offer SMTPUTF8 (RFC 6531), which such an address needs: use a smart host that offers SMTPUTF8, or an ASCII address", addr)
	}
	domain, err := idna.Lookup.ToASCII(addr[at+1:])
	if err != nil {
		return "", fmt.Errorf("the domain of <%s> has no ASCII form (%v), and the smart host does not offer SMTPUTF8 (RFC 6531)", addr, err)
	}
	return addr[:at+1] + domain, nil
}

// utf8Failure is the permanent failure of an address that cannot be sent
// without SMTPUTF8 (RFC 6531 section 3.5: 5.6.7).
func (s *Session) utf8Failure(stage string, err error) *Error {
	return &Error{Permanent: true, Enhanced: "5.6.7", Stage: stage, Host: s.cfg.Addr(), Reply: "not sent: " + err.Error(), Err: err}
}
