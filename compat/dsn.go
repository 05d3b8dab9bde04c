package compat

import (
	"bytes"
	"fmt"
	"mime/quotedprintable"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// ReportRecipient is one recipient of a delivery status notification.
type ReportRecipient struct {
	Addr string
	// Status is the RFC 3463 enhanced status code, "5.1.1".
	Status string
	// Diagnostic is the smart host's reply ("550 5.1.1 no such user"), or
	// what went wrong when there was no reply.
	Diagnostic string
	// RemoteMTA is the smart host's name, "" when unknown.
	RemoteMTA   string
	LastAttempt time.Time
	// WillRetryUntil is the expiry of a delayed message (delay notices).
	WillRetryUntil time.Time
}

// Report describes a non-delivery report or a delay notice.
type Report struct {
	// Hostname is the reporting MTA (our FQDN); the report comes from
	// postmaster@Hostname.
	Hostname string
	// To is the original envelope sender, who receives the report.
	To string
	// Delay makes a "still trying" notice instead of a failure report.
	Delay bool
	// Arrival is when the original message was queued; Date is the
	// report's date.
	Arrival, Date time.Time
	// MessageID is the report's Message-ID value with brackets; Boundary
	// its MIME boundary. Both are inputs so that reports are reproducible.
	MessageID, Boundary string
	Recipients          []ReportRecipient
	// Original is the original message; its header block is attached.
	Original []byte
}

// DSN returns the report as a message (CRLF lines) for sending from the
// null sender <> (RFC 5321 section 4.5.5): multipart/report with a
// human-readable part in IIS's wording, a message/delivery-status part
// (RFC 3464) and the original header block as text/rfc822-headers.
//
// The report is 7-bit whatever the addresses and the original hold, so
// that it can go through any smart host, with or without 8BITMIME (RFC
// 6152) or SMTPUTF8 (RFC 6531): we write it before we know the route back
// to the sender. Every part is labelled for what it holds:
//
//   - the human-readable part is text/plain; charset=us-ascii when it is
//     ASCII, else charset=utf-8 in quoted-printable (RFC 2045 section
//     6.7), the addresses in it as they are;
//   - the status part stays message/delivery-status, which must be 7-bit
//     (RFC 3464 section 6.1); a non-ASCII address is given the "utf-8"
//     address type in its utf-8-addr-xtext form, each non-ASCII character
//     as \x{HEX}, which RFC 6533 section 3 requires there ("MUST NOT be
//     used ... in a 7-bit transport environment including a
//     message/delivery-status ... Final-Recipient: field"). No information
//     is lost, so message/global-delivery-status, which is 8-bit, is not
//     needed (RFC 6533 section 4.4). Diagnostic-Code text is ASCII too
//     (RFC 3464 section 2.3.6): non-ASCII characters are written the same
//     \x{HEX} way, so an address quoted in it reads as in Final-Recipient;
//   - an original header block in UTF-8 (RFC 6532) is message/global-
//     headers (RFC 6533 section 4.3), in quoted-printable, which section
//     4.4 allows and section 4.5 asks for when the return path may lack
//     SMTPUTF8; other 8-bit headers stay text/rfc822-headers, in
//     quoted-printable.
//
// Bytes that are not UTF-8 (Latin-1 from old writers) are read as Latin-1,
// each byte its own code point, rather than dropped.
func DSN(r Report) []byte {
	var b bytes.Buffer
	w := func(format string, a ...any) {
		fmt.Fprintf(&b, format, a...)
		b.WriteString(CRLF)
	}
	kind, action, intro := "Failure", "failed", "Delivery to the following recipients failed."
	if r.Delay {
		kind, action, intro = "Delay", "delayed", "Delivery to the following recipients has been delayed."
	}
	w("From: postmaster@%s", r.Hostname)
	w("To: %s", headerAddress(r.To))
	w("Date: %s", r.Date.Format(rfc5322Date))
	w("Message-ID: %s", r.MessageID)
	w("Subject: Delivery Status Notification (%s)", kind)
	w("MIME-Version: 1.0")
	w("Content-Type: multipart/report; report-type=delivery-status;")
	w("\tboundary=\"%s\"", r.Boundary)
	// RFC 3834: machines must not answer this message.
	w("Auto-Submitted: auto-replied")
	w("")
	w("This is a MIME-formatted message.")
	w("")
	w("--%s", r.Boundary)
	// The text is written to its own buffer first: its charset and
	// encoding depend on what it holds.
	outer := b
	b = bytes.Buffer{}
	w("This is an automatically generated Delivery Status Notification.")
	w("")
	if r.Delay {
		w("THIS IS A WARNING MESSAGE ONLY.")
		w("")
		w("YOU DO NOT NEED TO RESEND YOUR MESSAGE.")
		w("")
	}
	w("%s", intro)
	w("")
	for _, rc := range r.Recipients {
		w("       %s", latin1UTF8(oneLine(rc.Addr)))
		if rc.Diagnostic != "" {
			w("       %s", latin1UTF8(oneLine(rc.Diagnostic)))
		}
		w("")
	}
	if r.Delay && len(r.Recipients) > 0 && !r.Recipients[0].WillRetryUntil.IsZero() {
		w("Delivery will be retried until %s.", r.Recipients[0].WillRetryUntil.Format(rfc5322Date))
		w("")
	}
	text := b.Bytes()
	b = outer
	writePart(&b, "text/plain; charset=us-ascii", "text/plain; charset=utf-8", text)
	w("--%s", r.Boundary)
	w("Content-Type: message/delivery-status")
	w("")
	w("Reporting-MTA: dns;%s", r.Hostname)
	if !r.Arrival.IsZero() {
		w("Arrival-Date: %s", r.Arrival.Format(rfc5322Date))
	}
	for _, rc := range r.Recipients {
		w("")
		w("Final-Recipient: %s", typedAddress(rc.Addr))
		w("Action: %s", action)
		w("Status: %s", rc.Status)
		if rc.RemoteMTA != "" {
			w("Remote-MTA: dns;%s", rc.RemoteMTA)
		}
		if rc.Diagnostic != "" {
			w("Diagnostic-Code: %s;%s", diagnosticType(rc.Diagnostic), ascii(rc.Diagnostic))
		}
		if !rc.LastAttempt.IsZero() {
			w("Last-Attempt-Date: %s", rc.LastAttempt.Format(rfc5322Date))
		}
		if r.Delay && !rc.WillRetryUntil.IsZero() {
			w("Will-Retry-Until: %s", rc.WillRetryUntil.Format(rfc5322Date))
		}
	}
	w("")
	w("--%s", r.Boundary)
	h := HeaderBlock(r.Original)
	if utf8.Valid(h) {
		writePart(&b, "text/rfc822-headers", "message/global-headers", h)
	} else {
		writePart(&b, "text/rfc822-headers", "text/rfc822-headers", h)
	}
	w("--%s--", r.Boundary)
	return b.Bytes()
}

// writePart writes a body part's header and content (CRLF lines, ending
// with CRLF): as it is under ascii when content is 7-bit, else under
// eight in quoted-printable, which keeps every byte and is 7-bit.
//
// A line longer than RFC 5322's 998 octets (section 2.1.1: a To: field of
// 150 recipients on one line, say) goes quoted-printable too, under ascii:
// a smart host refuses such a line, and the report would never reach the
// sender (found from outside).
func writePart(b *bytes.Buffer, ascii, eight string, content []byte) {
	ctype := eight
	if isASCII(content) {
		if !HasLongLine(content) {
			b.WriteString("Content-Type: " + ascii + CRLF + CRLF)
			b.Write(content)
			return
		}
		ctype = ascii
	}
	b.WriteString("Content-Type: " + ctype + CRLF)
	b.WriteString("Content-Transfer-Encoding: quoted-printable" + CRLF + CRLF)
	qp := quotedprintable.NewWriter(b)
	qp.Write(content) // a bytes.Buffer does not fail
	qp.Close()
	// The encoder ends a last line without its CRLF as it found it; a
	// soft line break keeps the boundary on a line of its own.
	if !bytes.HasSuffix(b.Bytes(), []byte(CRLF)) {
		b.WriteString("=" + CRLF)
	}
}

// HasLongLine reports whether p holds a line of more than 998 octets
// before its line end, which SMTP may not carry (RFC 5321 section
// 4.5.3.1.6).
func HasLongLine(p []byte) bool {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			return len(p) > 998
		}
		if len(bytes.TrimSuffix(p[:i], []byte{'\r'})) > 998 {
			return true
		}
		p = p[i+1:]
	}
	return false
}

func isASCII(p []byte) bool {
	for _, c := range p {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// latin1UTF8 returns s with every byte that is not part of valid UTF-8 read
// as Latin-1 (its code point is its value), so that a text part labelled
// utf-8 is UTF-8 and nothing is dropped.
func latin1UTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			r, n = rune(s[i]), 1
		}
		b.WriteRune(r)
		i += n
	}
	return b.String()
}

// oneLine keeps s on one line: CR, LF and TAB become spaces, and so do
// what some readers take for a line end (NEL, U+2028, U+2029: found from
// outside in a smart host's reply, which the .BDR and Diagnostic-Code had
// cleaned already); other control characters are dropped.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\r' || r == '\n' || r == '\t' || r == 0x85 || r == 0x2028 || r == 0x2029:
			return ' '
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
			return -1
		}
		return r
	}, s)
}

// typedAddress is an address with its RFC 3464 address type for
// Final-Recipient: "rfc822;addr" when it is ASCII, else "utf-8;" and the
// utf-8-addr-xtext form of RFC 6533 section 3, the only form allowed in
// message/delivery-status.
func typedAddress(addr string) string {
	if isASCII([]byte(addr)) {
		return "rfc822;" + addr
	}
	var b strings.Builder
	b.WriteString("utf-8;")
	for _, r := range latin1UTF8(addr) {
		// QCHAR: printable ASCII but for "\\", "+" and "="; everything
		// else is an EmbeddedUnicodeChar.
		if r > 0x20 && r < 0x7f && r != '\\' && r != '+' && r != '=' {
			b.WriteRune(r)
			continue
		}
		fmt.Fprintf(&b, "\\x{%02X}", r)
	}
	return b.String()
}

// headerAddress is addr as a header field of the report may carry it:
// with an ASCII local part, the domain in its A-label form (RFC 5890), so
// that the report stays 7-bit; otherwise as it is (RFC 6532), which the
// envelope needs SMTPUTF8 for anyway (RFC 6531 section 3.5).
func headerAddress(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if isASCII([]byte(addr)) || at < 0 || !isASCII([]byte(addr[:at])) {
		return latin1UTF8(addr)
	}
	d, err := idna.Lookup.ToASCII(addr[at+1:])
	if err != nil {
		return latin1UTF8(addr)
	}
	return addr[:at+1] + d
}

// HeaderBlock returns the header block of msg (up to, not including, the
// empty line), ending with CRLF.
func HeaderBlock(msg []byte) []byte {
	end := len(msg)
	if bytes.HasPrefix(msg, []byte(CRLF)) {
		return nil
	}
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		end = i + 2
	}
	h := msg[:end]
	if !bytes.HasSuffix(h, []byte(CRLF)) {
		h = append(h[:len(h):len(h)], CRLF...)
	}
	return h
}

// StatusFor returns the enhanced status code of a reply, or one derived
// from the reply code class (RFC 3463: X.0.0) when the reply had none.
func StatusFor(code int, enhanced string) string {
	switch {
	case enhanced != "":
		return enhanced
	case code >= 500:
		return "5.0.0"
	case code >= 400:
		return "4.0.0"
	}
	// No reply at all: "4.4.1 no answer from host" (RFC 3463).
	return "4.4.1"
}

// ascii keeps a diagnostic on one printable US-ASCII line, as a header
// value of message/delivery-status must be (RFC 3464 section 2.3.6).
// Characters beyond ASCII are written \x{HEX}, the EmbeddedUnicodeChar of
// RFC 6533 section 3, not replaced: a diagnostic often quotes the address
// (<j\x{FC}rgen@dest.test>), which must not come out mangled.
func ascii(s string) string {
	var b strings.Builder
	for _, r := range latin1UTF8(oneLine(s)) {
		if r > 0x7e {
			fmt.Fprintf(&b, "\\x{%02X}", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// diagnosticType is "smtp" for an SMTP reply and our own type for what
// happened without one (RFC 3464 section 2.3.6: "X-" types are private).
func diagnosticType(d string) string {
	if len(d) >= 3 && d[0] >= '2' && d[0] <= '5' && d[1] >= '0' && d[1] <= '9' && d[2] >= '0' && d[2] <= '9' {
		return "smtp"
	}
	return "X-mailbridge"
}
