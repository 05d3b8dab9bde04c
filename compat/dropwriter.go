package compat

import (
	"bytes"
	"io"
	"strings"
	"unicode/utf8"
)

// maxHeaderLine is how much of one header line is held in memory to
// classify it; longer lines pass through once classified.
const maxHeaderLine = 64 << 10

// DropWriter turns a message (dot-unstuffed: as go-smtp hands it to the
// listener, or as the Pickup reader returns it) into the message part of a
// Drop file, streaming:
//
//   - bare LF becomes CRLF (RFC 5321 section 2.3.8: lines end in CRLF);
//     every other byte, 8-bit and NUL included, is written as received;
//   - at the end of the header block it adds, as IIS did, a Message-ID when
//     the message has none, and X-OriginalArrivalTime when absent (a message
//     relayed through another IIS keeps its original one);
//   - a message whose header block ends without the empty line (a line that
//     is not a header field) gets the empty line, so that consumers parse its
//     headers and body as the sender meant;
//   - a last line without a line end gets one.
//
// It records the Message-ID found or added (MessageID), for the 250 reply.
type DropWriter struct {
	w   io.Writer
	err error

	inHeader bool
	first    bool
	midLine  bool // inside a header line too long to hold
	line     []byte
	prevCR   bool

	capturing bool
	msgID     []byte
	hasMsgID  bool
	hasOAT    bool
	hasDate   bool

	newID func() string // returns a new Message-ID, with brackets
	oat   string        // the X-OriginalArrivalTime header line, with CRLF
	date  string        // the Date header line to add when missing; "" adds none
	// toEmptyLine: the header block runs to the first empty line (see
	// ToEmptyLine).
	toEmptyLine bool
	echoID      string
	logID       string

	stuff   bool // see NewDropWriter
	atStart bool
}

// NewDropWriter returns a DropWriter writing to w. newID returns the
// Message-ID to add, with its brackets, if the message has none; oat is
// the X-OriginalArrivalTime header line with its CRLF; stuff doubles a
// dot at the start of a line (RFC 5321 section 4.5.2), for a file that is
// read as an SMTP DATA stream (a Pickup file).
func NewDropWriter(w io.Writer, newID func() string, oat string, stuff bool) *DropWriter {
	return &DropWriter{w: w, inHeader: true, first: true, newID: newID, oat: oat, atStart: true, stuff: stuff}
}

// AddDate makes d add the Date header line date (with its CRLF) at the
// end of the header block when the message has no Date field, as the
// server a message is first submitted to may (RFC 5321 section 6.3, RFC
// 6409 section 8.2): for mail taken from Pickup, not for mail received
// over SMTP, which IIS wrote to Drop as received. It returns d.
func (d *DropWriter) AddDate(date string) *DropWriter {
	d.date = date
	return d
}

// ToEmptyLine makes the header block run to the first empty line, a line
// that is not a header field included, instead of ending before such a
// line with an empty line added: for mail taken from Pickup, whose header
// block the Pickup reader reads so (a malformed line is kept where it is,
// and the fields after it are still the message's; a script's To: list
// wrapped without indenting would otherwise push Subject and
// Content-Type into the body). It returns d.
func (d *DropWriter) ToEmptyLine() *DropWriter {
	d.toEmptyLine = true
	return d
}

// MessageID returns, once Close has returned, the message's Message-ID,
// the one added or its first own, fit for a reply line; "" when its own
// is not (see cleanID).
func (d *DropWriter) MessageID() string { return d.echoID }

// LogID is MessageID for the logs, where an internationalized one (RFC
// 6532 section 3.2: UTF-8 in an SMTPUTF8 message) is kept: found from
// outside, nodemailer's <uuid@bücher.example> was in no log line.
func (d *DropWriter) LogID() string { return d.logID }

func (d *DropWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && d.err == nil {
		if !d.inHeader || d.midLine {
			seg := p
			if d.inHeader {
				if i := bytes.IndexByte(p, '\n'); i >= 0 {
					seg = p[:i+1]
					d.midLine = false
				}
			}
			d.emit(seg)
			p = p[len(seg):]
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			d.line = append(d.line, p...)
			p = nil
			if len(d.line) > maxHeaderLine {
				d.headerLine(false)
			}
			break
		}
		d.line = append(d.line, p[:i+1]...)
		p = p[i+1:]
		d.headerLine(true)
	}
	if d.err != nil {
		return 0, d.err
	}
	return n, nil
}

// headerLine classifies and writes the held line; complete is false when
// the line goes on beyond what is held.
func (d *DropWriter) headerLine(complete bool) {
	line := d.line
	d.line = d.line[:0]
	first := d.first
	d.first = false
	body := strings.TrimRight(string(line), "\r\n")
	switch {
	case complete && body == "":
		d.endHeader(false)
		d.emit(line)
		d.inHeader = false
		return
	case !first && (line[0] == ' ' || line[0] == '\t'):
		if d.capturing && len(d.msgID) < 998 {
			d.msgID = append(d.msgID, body...)
		}
	default:
		name, value, ok := fieldName(body)
		if !ok && d.toEmptyLine {
			// Kept in the header block, as the Pickup reader found it.
			d.capturing = false
			break
		}
		if !ok {
			d.endHeader(true)
			d.emit(line)
			d.inHeader = false
			return
		}
		d.capturing = false
		switch strings.ToLower(name) {
		case "message-id":
			// The first one is the message's: mail readers take it, and
			// so does the reply that echoes it.
			if !d.hasMsgID {
				d.hasMsgID, d.capturing = true, true
				d.msgID = append(d.msgID[:0], body[value:]...)
			}
		case "x-originalarrivaltime":
			d.hasOAT = true
		case "date":
			d.hasDate = true
		}
	}
	d.emit(line)
	if !complete {
		d.midLine = true
	}
}

// fieldName returns the name of a header field line and where its value
// begins, after the colon. A name is printable US-ASCII except colon (RFC
// 5322 section 2.2); white space between it and the colon is the obsolete
// syntax of section 4.5 (obs-optional: field-name *WSP ":"), which section
// 4 has receivers accept: "Subject : x" is a field, and taking it for the
// body would push it and every field after it (Message-ID included) out of
// the header block.
func fieldName(s string) (name string, value int, ok bool) {
	i := strings.IndexByte(s, ':')
	if i <= 0 {
		return "", 0, false
	}
	name = strings.TrimRight(s[:i], " \t")
	if name == "" {
		return "", 0, false
	}
	for j := 0; j < len(name); j++ {
		if name[j] < 33 || name[j] > 126 {
			return "", 0, false
		}
	}
	return name, i + 1, true
}

func (d *DropWriter) endHeader(blank bool) {
	var b strings.Builder
	if !d.hasDate && d.date != "" {
		b.WriteString(d.date)
	}
	if d.hasMsgID {
		d.logID = ReplyText(strings.TrimSpace(string(d.msgID)))
		d.echoID = cleanID(d.logID)
	} else {
		d.echoID = d.newID()
		d.logID = d.echoID
		b.WriteString("Message-ID: " + d.echoID + "\r\n")
	}
	if !d.hasOAT {
		b.WriteString(d.oat)
	}
	if blank {
		b.WriteString("\r\n")
	}
	d.write([]byte(b.String()))
}

// cleanID makes a Message-ID fit for a one-line reply. One too long for a
// reply line (RFC 5321 section 4.5.3.1.5: 512 octets) is not echoed, nor
// one with characters other than printable ASCII (an internationalised
// Message-ID, RFC 6532): reply text is ASCII (RFC 5321 section 4.2,
// textstring), and a client reading it as such would garble it.
func cleanID(s string) string {
	s = ReplyText(strings.TrimSpace(s))
	if len(s) > 250 {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if s[i] > 126 {
			return ""
		}
	}
	return s
}

// ReplyText is s without the characters that must not be in a reply line
// (RFC 5321 sections 2.3.8 and 4.2): ASCII and C1 controls, the Unicode
// line and paragraph separators, and invalid UTF-8, which some readers
// take for line ends or cannot show.
func ReplyText(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 32 || r == 127 || (r >= 0x80 && r <= 0x9f) || r == 0x2028 || r == 0x2029 || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
}

// Close ends the message: a message that is all headers gets the added
// headers at its end.
func (d *DropWriter) Close() error {
	if d.err != nil {
		return d.err
	}
	// A last line without a line end (a Pickup file's, a BDAT message's)
	// gets one, as the end of DATA ends every message received so (RFC
	// 5321 section 4.1.1.4: the CRLF before the final "." ends the last
	// line), so that a reader finds every line whole; a CR alone gets its
	// LF.
	if d.inHeader && len(d.line) > 0 {
		if d.line[len(d.line)-1] == '\r' {
			d.line = append(d.line, '\n')
		} else {
			d.line = append(d.line, '\r', '\n')
		}
		d.headerLine(true)
	}
	if d.inHeader {
		if d.midLine {
			d.endLine()
		}
		d.endHeader(false)
		d.inHeader = false
	}
	if !d.atStart {
		d.endLine()
	}
	return d.err
}

// endLine ends a line that has no line end yet.
func (d *DropWriter) endLine() {
	if d.prevCR {
		d.write([]byte("\n"))
	} else {
		d.write([]byte("\r\n"))
	}
	d.prevCR, d.atStart = false, true
}

// emit writes p with bare LF turned into CRLF.
func (d *DropWriter) emit(p []byte) {
	for len(p) > 0 && d.err == nil {
		if d.stuff && d.atStart && p[0] == '.' {
			d.write([]byte{'.'})
		}
		d.atStart = false
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			d.write(p)
			d.prevCR = p[len(p)-1] == '\r'
			return
		}
		if (i > 0 && p[i-1] == '\r') || (i == 0 && d.prevCR) {
			d.write(p[:i+1])
		} else {
			d.write(p[:i])
			d.write([]byte("\r\n"))
		}
		d.prevCR = false
		d.atStart = true
		p = p[i+1:]
	}
}

func (d *DropWriter) write(p []byte) {
	if d.err != nil || len(p) == 0 {
		return
	}
	_, d.err = d.w.Write(p)
}
