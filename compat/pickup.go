package compat

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"regexp"
	"slices"
	"strings"
)

// Errors of ParsePickup. Each is wrapped with the detail that names the
// problem; errors.Is matches the class.
var (
	// ErrNoRecipients: neither X-Receiver lines nor To/Cc/Bcc addresses.
	ErrNoRecipients = errors.New("no recipients: the file has no X-Receiver line and no address in To, Cc or Bcc")
	// ErrNoSender: neither an X-Sender line nor a Sender or From address.
	ErrNoSender = errors.New("no sender: the file has no X-Sender line and no address in Sender or From")
	// ErrMalformed: the header block or an address list cannot be parsed.
	ErrMalformed = errors.New("malformed message")
	// ErrEmpty: the file holds nothing, or only white space.
	ErrEmpty = errors.New("the file is empty, or holds white space only")
)

// badAddress is an address that cannot be sent to: an ErrMalformed whose
// text is only the detail, since the caller names the field (found from
// outside: "X-Receiver: malformed message: ... is not one address").
type badAddress string

func (e badAddress) Error() string        { return string(e) }
func (e badAddress) Is(target error) bool { return target == ErrMalformed }

func badAddressf(format string, args ...any) error {
	return badAddress(fmt.Sprintf(format, args...))
}

// PickupOptions says how a Pickup file is read.
type PickupOptions struct {
	// DotStuffed reads the file as an SMTP DATA stream, as IIS did with
	// SmtpDotStuffPickupDirFiles (its default): a line starting with ".."
	// loses its first dot and a line holding only "." ends the message.
	DotStuffed bool
	// StripBcc removes every Bcc header field from the message, whether the
	// recipients come from X-Receiver lines or from the headers: a Bcc field
	// relayed to the other recipients would show them who was hidden. IIS
	// kept Bcc fields; we remove them for privacy.
	StripBcc bool
	// DefaultDomain is appended to addresses without a domain.
	DefaultDomain string
}

// PickupMessage is a Pickup (or Queue) file read for sending.
type PickupMessage struct {
	// From is the envelope sender; "" is the null sender <>.
	From string
	// To are the envelope recipients, in file order, without duplicates.
	To []string
	// EnvelopeInFile is true when the envelope came from a leading
	// X-Sender / X-Receiver block (removed from Message).
	EnvelopeInFile bool
	// Message is what goes after DATA: CRLF line ends, not dot-stuffed (the
	// SMTP client stuffs it again), envelope block removed, Bcc removed when
	// asked; every other byte as in the file. From ReadPickup, it is the
	// header block only, and Body has the rest.
	Message []byte
	// Body, when not nil, reads the rest of the message after Message
	// (ReadPickup).
	Body io.Reader
	// Trailing counts the bytes after a lone "." line that ended a
	// dot-stuffed read; they are not sent. A non-zero value usually means the
	// writer does not dot-stuff (.NET Core, MailKit, Mono) and dot_stuffed
	// should be false.
	Trailing int
	// CutLine is the line of the file (from 1) holding that lone ".", and
	// CutText whether any of the Trailing bytes is other than white space
	// (only then is anything of the message lost).
	CutLine int
	CutText bool
}

// ParsePickup reads a Pickup file the way IIS did (see iis-reference.md
// section 3):
//
//   - a leading UTF-8 byte order mark (EF BB BF) is removed: Windows
//     PowerShell 5 (Out-File, Set-Content -Encoding UTF8) and Notepad write
//     one, and it would hide the first line's name (X-Sender) from the
//     parser. It is not part of the message (RFC 3629 section 6);
//   - a bare LF or a bare CR becomes CRLF (see normalize); all other
//     bytes are kept;
//   - with DotStuffed, ".." at a line start becomes "." and a line holding
//     only "." ends the message. Only the doubled dot is removed (RFC 5321
//     section 4.5.2 removes any leading dot, but a stuffing writer never
//     writes a single one, and a non-stuffing writer's ".x" line stays
//     intact this way);
//   - a leading block of X-Sender / X-Receiver lines (names in any case) is
//     the envelope and is removed; an empty X-Sender (or "<>") is the null
//     sender;
//   - without X-Receiver lines the recipients are the To, Cc and Bcc
//     addresses; without X-Sender the sender is Sender, else From;
//   - with StripBcc, Bcc header fields are removed wherever the recipients
//     come from. When the envelope block is complete the header block is
//     not needed otherwise, so a malformed header line does not fail the
//     file: the Bcc fields are still found and removed around it;
//   - addresses without a domain get opt.DefaultDomain.
//
// On error the message is nil, except where its sender is known (with
// ErrNoRecipients, or a bad recipient): then it is returned with its
// sender, for the Badmail reason, and nothing else.
func ParsePickup(data []byte, opt PickupOptions) (*PickupMessage, error) {
	m, err := ReadPickup(bytes.NewReader(data), opt)
	if err != nil {
		return m, err
	}
	rest, err := io.ReadAll(m.Body)
	if err != nil {
		return nil, err // a bytes.Reader does not fail
	}
	m.Message = append(m.Message[:len(m.Message):len(m.Message)], rest...)
	m.Body = nil
	return m, nil
}

// parseHead fills m from head, the start of a Pickup file up to the end of
// its header block (line ends CRLF, unstuffed): the envelope and the
// header block without its Bcc fields (m.Message).
func parseHead(m *PickupMessage, data []byte, opt PickupOptions) error {
	from, to, hasFrom, rest := envelopeBlock(data)
	if hasFrom || len(to) > 0 {
		m.EnvelopeInFile = true
	}
	// Line numbers in errors count from the top of the file: the
	// envelope block's lines come first (the line ends were made CRLF and
	// unstuffing removes no line, so they are the file's). A malformed
	// header matters only where the envelope comes from it.
	hdr, hdrErr := parseHeader(rest, 1+bytes.Count(data[:len(data)-len(rest)], []byte("\r\n")))
	if hdrErr != nil && (!hasFrom || len(to) == 0) {
		return hdrErr
	}
	if hasFrom {
		a, err := envelopeAddr(from, opt.DefaultDomain)
		if err != nil {
			return fmt.Errorf("X-Sender: %w", err)
		}
		m.From = a
	} else {
		var list []string
		var err error
		for _, name := range []string{"sender", "from"} {
			list, err = addresses(hdr, name, opt.DefaultDomain)
			if err != nil {
				return err
			}
			if len(list) > 0 {
				break
			}
		}
		if len(list) == 0 {
			return ErrNoSender
		}
		m.From = list[0]
	}
	fromHeaders := len(to) == 0
	if !fromHeaders {
		for _, r := range to {
			a, err := envelopeAddr(r, opt.DefaultDomain)
			if err != nil {
				return fmt.Errorf("X-Receiver: %w", err)
			}
			if a == "" {
				return badAddressf("X-Receiver: the line is empty: one address per X-Receiver line")
			}
			m.To = appendUnique(m.To, a)
		}
	} else {
		for _, name := range []string{"to", "cc", "bcc"} {
			list, err := addresses(hdr, name, opt.DefaultDomain)
			if err != nil {
				return err
			}
			for _, a := range list {
				m.To = appendUnique(m.To, a)
			}
		}
		if len(m.To) == 0 {
			return ErrNoRecipients // with its sender, for the Badmail reason
		}
	}
	remove := emptyFields(hdr, "date", "message-id")
	if opt.StripBcc {
		// Resent-Bcc is as blind as Bcc (RFC 5322 section 3.6.6): found
		// from outside, a resent message's hidden recipients were sent.
		remove = append(remove, "bcc", "resent-bcc")
	}
	rest = RemoveFields(rest, hdr, remove...)
	m.Message = rest
	return nil
}

// utf8BOM is the byte order mark as UTF-8 writes it (U+FEFF).
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// envelopeBlock splits off the leading X-Sender / X-Receiver lines.
func envelopeBlock(data []byte) (from string, to []string, hasFrom bool, rest []byte) {
	pos := 0
	for pos < len(data) {
		end := bytes.Index(data[pos:], []byte("\r\n"))
		if end < 0 {
			end = len(data) - pos
		}
		line := string(data[pos : pos+end])
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			break
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "x-sender":
			if !hasFrom {
				from, hasFrom = value, true
			}
		case "x-receiver":
			to = append(to, value)
		default:
			return from, to, hasFrom, data[pos:]
		}
		pos += end + 2
	}
	if pos > len(data) {
		pos = len(data)
	}
	return from, to, hasFrom, data[pos:]
}

// envelopeAddr reads one X-Sender / X-Receiver value: a bare address, or
// one in angle brackets, possibly with a display name. Errors quote the
// value as written.
func envelopeAddr(v, domain string) (string, error) {
	v = strings.Trim(v, " \t\r\n") // ASCII: a local part may be U+00A0 alone
	written := v

	if v == "" || v == "<>" {
		return "", nil
	}
	if inner, ok := strings.CutPrefix(v, "<"); ok && strings.HasSuffix(inner, ">") && !strings.ContainsAny(inner[:len(inner)-1], "<>\"(), ") {
		// A bare address in brackets is read as one without them: found
		// from outside, the list parser refused "<a@x.test.>" (a final
		// dot) and "<a@ext.test@local.test>" (quoted when bare), and the
		// whole file went to Badmail.
		v = inner[:len(inner)-1]
	}
	if strings.HasPrefix(v, "@") {
		// A source route ("@relay.test,@b.test:user@x.test") is dropped,
		// as RFC 5321 section 4.1.1.3 lets a server do.
		if i := routeEnd(v); i > 0 {
			v = v[i+1:]
		}
	}
	// A ";" (a list as Windows programs write one) goes through the
	// parser too, which refuses it as not one address: found from
	// outside, "a@y.test;b@y.test" went out as "a@y.test;b"@y.test.
	if !strings.ContainsAny(v, "<>\"(), ;") {
		for _, c := range []byte(v) {
			if c < 0x21 || c == 0x7f {
				return "", badAddressf("%q contains a control character", written)
			}
		}
		return plainEnvelope(v, domain, written)
	}
	list, err := parseList(v, domain)
	if err != nil || len(list) != 1 {
		return "", badAddressf("%q is not one address", written)
	}
	return list[0], checkText(list[0], written)
}

// plainEnvelope reads an X-Sender / X-Receiver value without brackets,
// quotes or spaces in the form the listener gives a path (see
// QuoteLocal): found from outside, "b@local.test@ext.test" went to the
// smart host as RCPT TO:<b@local.test@ext.test>, which hosts read in
// different ways, and into Drop as an x-receiver line the listener would
// have quoted. The domain follows the last "@"; an address with an empty
// local part or domain is refused.
func plainEnvelope(v, domain, written string) (string, error) {
	a := withDomain(v, domain)
	if at := strings.LastIndexByte(a, '@'); at == 0 || at == len(a)-1 {
		return "", badAddressf("%q has an empty local part or domain", written)
	}
	a = QuoteLocal(a)
	return a, checkText(a, written)
}

// routeEnd returns the index of the colon that ends a source route at the
// start of v ("@a.test,@b.test:"), outside address literals, which may
// hold colons ("@[IPv6:::1]:"); -1 if there is none.
func routeEnd(v string) int {
	depth := 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '[':
			depth++
		case ']':
			depth = max(depth-1, 0)
		case ':':
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// checkText refuses an address holding what the listener refuses in one:
// a control character, a Unicode line or paragraph separator (U+2028,
// U+2029, NEL), or bytes that are not UTF-8. Found from outside: net/mail
// takes them in a quoted local part, and "<\"v<U+2028>x-receiver:
// ceo@local.test\"@local.test>" in a web form's From wrote an x-receiver
// line of its own into the Drop file, for readers that split lines there
// (Python's splitlines).
func checkText(a, written string) error {
	if ReplyText(a) != a {
		return badAddressf("%q contains a control character, a line separator or bytes that are not UTF-8", written)
	}
	return nil
}

func withDomain(a, domain string) string {
	if !strings.Contains(a, "@") && domain != "" {
		return a + "@" + domain
	}
	return TrimFinalDot(a)
}

// appendUnique appends a to list unless it holds the same recipient
// (RecipientKey), as the listener merges a recipient given twice.
func appendUnique(list []string, a string) []string {
	key := RecipientKey(a)
	for _, x := range list {
		if RecipientKey(x) == key {
			return list
		}
	}
	return append(list, a)
}

// HeaderField is one field of the raw header block: its name and the byte
// range it occupies, continuation lines included.
type HeaderField struct {
	Name       string // lower case; "" for a malformed line
	Value      string // unfolded
	Start, End int    // the bytes it spans, continuation lines included
}

// parseHeader reads the header block of msg (up to the empty line or the
// end) without copying or changing it. A malformed line does not stop it:
// the line (with its continuation lines) becomes a field without a name,
// which no name matches, and the first such problem is returned with all
// the fields. The problem names the line by its number, line being the
// number of msg's first line, and does not quote it: the reason goes to the
// log and to Badmail, readable by more people than the file's writer
// meant, and the file itself is kept (.BAD) for whoever must look.
func parseHeader(msg []byte, line int) ([]HeaderField, error) {
	var fields []HeaderField
	var bad error
	pos := 0
	for ; pos < len(msg); line++ {
		end := bytes.Index(msg[pos:], []byte("\r\n"))
		lineEnd := pos + end + 2
		if end < 0 {
			end, lineEnd = len(msg)-pos, len(msg)
		}
		text := msg[pos : pos+end]
		if len(text) == 0 {
			break // end of the header block
		}
		if text[0] == ' ' || text[0] == '\t' {
			if len(fields) == 0 {
				bad = fmt.Errorf("%w: line %d, the first header line, starts with white space", ErrMalformed, line)
				fields = append(fields, HeaderField{Start: pos, End: lineEnd})
				pos = lineEnd
				continue
			}
			f := &fields[len(fields)-1]
			if f.Name != "" {
				f.Value += string(text)
			}
			f.End = lineEnd
			pos = lineEnd
			continue
		}
		colon := bytes.IndexByte(text, ':')
		var name []byte
		if colon > 0 {
			// "Subject :" is the obsolete syntax of RFC 5322 section 4.5.
			name = bytes.TrimRight(text[:colon], " \t")
		}
		if len(name) == 0 || bytes.ContainsAny(name, " \t") {
			if bad == nil {
				bad = fmt.Errorf("%w: line %d is not a header field (\"Name: value\")", ErrMalformed, line)
			}
			fields = append(fields, HeaderField{Start: pos, End: lineEnd})
			pos = lineEnd
			continue
		}
		fields = append(fields, HeaderField{
			Name:  strings.ToLower(string(name)),
			Value: string(text[colon+1:]),
			Start: pos,
			End:   lineEnd,
		})
		pos = lineEnd
	}
	return fields, bad
}

// ParseHeader returns the fields of msg's header block (CRLF lines, up to
// the empty line or the end), as ParsePickup reads them: a malformed line
// is a field without a name.
func ParseHeader(msg []byte) []HeaderField {
	fields, _ := parseHeader(msg, 1)
	return fields
}

// emptyFields returns those of names (lower case) that hdr has only
// without a value: an empty Date or Message-ID is as invalid as none (RFC
// 5322 sections 3.6.1 and 3.6.4), and is removed, so that the one added
// where a message has none takes its place (found from outside: a script's
// "Date:" and "Message-ID:" were relayed empty, to smart hosts that refuse
// mail without them).
func emptyFields(hdr []HeaderField, names ...string) []string {
	var empty []string
	for _, name := range names {
		n, valued := 0, false
		for _, f := range hdr {
			if f.Name == name {
				n++
				valued = valued || strings.TrimSpace(f.Value) != ""
			}
		}
		if n > 0 && !valued {
			empty = append(empty, name)
		}
	}
	return empty
}

// RemoveFields returns msg without the header fields of hdr (msg's, from
// ParseHeader) with one of names (lower case).
func RemoveFields(msg []byte, hdr []HeaderField, names ...string) []byte {
	var out []byte
	copied := 0
	for _, f := range hdr {
		if !slices.Contains(names, f.Name) {
			continue
		}
		if out == nil {
			out = make([]byte, 0, len(msg))
		}
		out = append(out, msg[copied:f.Start]...)
		copied = f.End
	}
	if out == nil {
		return msg
	}
	return append(out, msg[copied:]...)
}

// addressParser decodes encoded words in any charset well enough to find
// the addresses: display names are not used, so an unknown charset is read
// as is instead of failing the whole list.
var addressParser = mail.AddressParser{WordDecoder: &mime.WordDecoder{
	CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil },
}}

// addresses returns the addresses of every field named name.
func addresses(hdr []HeaderField, name, domain string) ([]string, error) {
	var out []string
	for _, f := range hdr {
		if f.Name != name {
			continue
		}
		list, err := parseList(f.Value, domain)
		if err != nil {
			return nil, badAddressf("%s header %q: %v", titleCase(name), strings.TrimSpace(f.Value), err)
		}
		for _, a := range list {
			if err := checkText(a, strings.TrimSpace(f.Value)); err != nil {
				return nil, fmt.Errorf("%s header: %w", titleCase(name), err)
			}
		}
		out = append(out, list...)
	}
	return out, nil
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// bareLocal matches an address without a domain, alone or in brackets.
var (
	bareAngle = regexp.MustCompile(`<([^<>@\s"]+)>`)
	bareWord  = regexp.MustCompile(`^\s*([A-Za-z0-9!#$%&'*+/=?^_{|}~.-]+)\s*$`)
	// finalDot matches a domain's final dot, before the end of its
	// address (group 2).
	finalDot = regexp.MustCompile(`(@[^\s<>,;:@"().]+(?:\.[^\s<>,;:@"().]+)*)\.(\s*(?:[,>;()]|$))`)
)

// parseList parses an RFC 5322 address list (display names, groups,
// encoded words, comments). Addresses without a domain, which net/mail
// rejects, get domain.
func parseList(v, domain string) ([]string, error) {
	v = strings.ReplaceAll(strings.ReplaceAll(v, "\r", ""), "\n", "")
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	list, err := addressParser.ParseList(v)
	if err != nil {
		// net/mail rejects a comment before an address: "(x) a@b".
		if l2, err2 := addressParser.ParseList(stripComments(v)); err2 == nil {
			list, err = l2, nil
		}
	}
	if err != nil && domain != "" {
		fixed := bareAngle.ReplaceAllString(stripComments(v), "<$1@"+domain+">")
		parts := strings.Split(fixed, ",")
		for i, p := range parts {
			if m := bareWord.FindStringSubmatch(p); m != nil {
				parts[i] = " " + m[1] + "@" + domain
			}
		}
		if l2, err2 := addressParser.ParseList(strings.Join(parts, ",")); err2 == nil {
			list, err = l2, nil
		}
	}
	if err != nil {
		// A domain written with its final dot (the root's: "fax@corp.
		// example."), which net/mail rejects: without it, as the
		// listener takes RCPT TO:<fax@corp.example.> (found from outside:
		// the file went to Badmail, "mail: missing '@' or angle-addr").
		if v2 := finalDot.ReplaceAllString(v, "$1$2"); v2 != v {
			if l2, err2 := parseList(v2, domain); err2 == nil {
				return l2, nil
			}
		}
		return nil, err
	}
	out := make([]string, 0, len(list))
	for _, a := range list {
		// net/mail removes the quotes of a quoted local part.
		out = append(out, QuoteLocal(a.Address))
	}
	return out, nil
}

// stripComments removes RFC 5322 comments (nested, with quoted pairs)
// outside quoted strings.
func stripComments(v string) string {
	var b strings.Builder
	depth, quoted := 0, false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\' && i+1 < len(v):
			if depth == 0 {
				b.WriteByte(c)
				b.WriteByte(v[i+1])
			}
			i++
			continue
		case quoted:
			if c == '"' {
				quoted = false
			}
		case c == '"' && depth == 0:
			quoted = true
		case c == '(':
			depth++
			continue
		case c == ')' && depth > 0:
			depth--
			b.WriteByte(' ')
			continue
		}
		if depth == 0 {
			b.WriteByte(c)
		}
	}
	return b.String()
}
