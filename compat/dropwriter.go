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
//     every other byte, 8-bit and NUL included, is written as received (a
//     CR alone too, which ends a header line all the same);
//   - at the end of the header block it adds, as IIS did, a Message-ID when
//     the message has none, and X-OriginalArrivalTime when absent (a message
//     relayed through another IIS keeps its original one). A Message-ID
//     field without a value gets the new one written into it, where it is:
//     found from outside, an empty one was kept, so that a Drop reader
//     keying on it got "" and the 250 reply no ID, where a Pickup file's
//     empty field is replaced (RFC 5322 section 3.6.4: a msg-id is never
//     empty). Nothing of the message is removed;
//   - a line in the header that is not a field stays where it is. When a
//     field follows it (a To: list wrapped without indenting, an mbox
//     "From " line), or it looks like one (a name with a space or an 8-bit
//     byte, then a colon), it is in the header block, which runs on, and
//     the added fields go at its end, as for Pickup mail: found from
//     outside, an empty line added before such a line pushed Subject and
//     Content-Type into the body, and the attachment with them. When no
//     field follows it before the first empty line or the end, it is the
//     first line of the body of a message whose header lacks its empty
//     line ("Subject: x", then the text; or text alone): the added fields
//     end the header, and the empty line follows them, so that the text is
//     read as the body;
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
	// blankID holds the lines of the first Message-ID field while its
	// value is only white space: the next line tells whether it has one.
	blankID []byte
	// blankOAT likewise holds an X-OriginalArrivalTime field without a
	// value: found from outside, an empty one was kept, and no arrival
	// time added, so that a Drop reader parsing it got nothing.
	blankOAT []byte
	found    seen // fields found in the header block
	added    bool // the added fields are written
	// The lines held from the header's first line that is not a field,
	// until it is known whether the header goes on after them.
	holding bool
	held    []byte

	newID  func() string // returns a new Message-ID, with brackets
	oat    string        // the X-OriginalArrivalTime header line, with CRLF
	date   string        // the Date header line to add when missing; "" adds none
	echoID string
	logID  string

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

// seen is which of the fields a DropWriter may add a header block has.
type seen struct{ msgID, oat, date bool }

// maxHeld bounds the lines held after a header line that is not a field;
// past it, they are taken for the body.
const maxHeld = 64 << 10

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
		if k := len(d.line); k > 0 && d.line[k-1] == '\r' && p[0] != '\n' {
			// A CR alone ended the line held: so do readers take it
			// (Python's email, Thunderbird), and so must the header's
			// end be found (found from outside: in a message of CR
			// line ends, the added fields went after its last line).
			d.headerLine(true)
			continue
		}
		i := headerLineEnd(p)
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

// headerLineEnd returns the index of the byte that ends p's first line: an
// LF, or a CR that a byte other than LF follows in p; -1 if p has none (a
// CR last in p waits for the next byte).
func headerLineEnd(p []byte) int {
	// IndexByte, not a loop over every byte: every message's header
	// passes here.
	lf := bytes.IndexByte(p, '\n')
	end := lf
	if end < 0 {
		end = len(p)
	}
	for i := 0; ; i++ {
		j := bytes.IndexByte(p[i:end], '\r')
		if j < 0 {
			return lf
		}
		if i += j; i+1 < len(p) && p[i+1] != '\n' {
			return i
		}
	}
}

// headerLine classifies and writes the held line; complete is false when
// the line goes on beyond what is held.
func (d *DropWriter) headerLine(complete bool) {
	line := d.line
	d.line = d.line[:0]
	first := d.first
	d.first = false
	body := strings.TrimRight(string(line), "\r\n")
	// A field held for want of a value (blankID, blankOAT): a folded
	// line that is blank too is held with it; one with text is its value;
	// any other line ends it without one, and it gets ours.
	if d.blankID != nil || d.blankOAT != nil { // rarely: not on every line's way
		folded := line[0] == ' ' || line[0] == '\t'
		for _, f := range []struct {
			held *[]byte
			end  func(fill bool)
		}{{&d.blankID, d.endBlankID}, {&d.blankOAT, d.endBlankOAT}} {
			switch {
			case *f.held == nil:
			case folded && complete && blank(body) && len(*f.held) < maxBlankID:
				*f.held = append(*f.held, line...) // still no value
				return
			default:
				f.end(!folded)
			}
		}
	}
	if complete && body == "" {
		held := d.holding // then the empty line is the body's
		if d.endHeader() && !held && string(line) == "\r" {
			// The empty line that ends the header, after added fields:
			// a CR alone, it is CRLF, for readers that take only CRLF
			// for a line end and would read on into the body.
			line = []byte("\r\n")
		}
		d.emit(line)
		d.inHeader = false
		return
	}
	if !first && (line[0] == ' ' || line[0] == '\t') {
		if d.capturing && len(d.msgID) < 998 {
			d.msgID = append(d.msgID, body...)
		}
	} else if name, value, ok := fieldName(body); !ok {
		d.capturing = false
		switch {
		case fieldLike(body):
			d.keepHeld() // as a field: the header goes on
		case !d.holding:
			// The body's first line, or a line in the header: held
			// until what follows it tells.
			d.holding = true
		}
	} else {
		d.capturing = false
		d.keepHeld() // a field after them: the header goes on
		switch strings.ToLower(name) {
		case "message-id":
			// The first one is the message's: mail readers take it, and
			// so does the reply that echoes it.
			if !d.found.msgID {
				if complete && blank(body[value:]) {
					d.blankID = append(d.blankID[:0:0], line...)
					return
				}
				d.found.msgID, d.capturing = true, true
				d.msgID = append(d.msgID[:0], body[value:]...)
			}
		case "x-originalarrivaltime":
			if !d.found.oat && complete && d.oat != "" && blank(body[value:]) {
				d.blankOAT = append(d.blankOAT[:0:0], line...)
				return
			}
			d.found.oat = true
		case "date":
			d.found.date = true
		}
	}
	if d.holding {
		if complete && len(d.held)+len(line) <= maxHeld {
			d.held = append(d.held, line...)
			return
		}
		d.endHeader() // too much to hold: the body's
		d.emit(line)  // Write passes the rest of a long line on
		return
	}
	d.emit(line)
	if !complete {
		d.midLine = true
	}
}

// maxBlankID bounds the folded blank lines held for an empty Message-ID.
const maxBlankID = 4 << 10

// endBlankID writes the held lines of an empty Message-ID field, with the
// new Message-ID written at the end of its last line when fill is set;
// otherwise the value follows, on the next line.
func (d *DropWriter) endBlankID(fill bool) {
	held := d.blankID
	d.blankID = nil
	d.found.msgID = true
	d.msgID = d.msgID[:0]
	if !fill {
		d.capturing = true
		d.emit(held)
		return
	}
	id := d.newID()
	d.fill(held, id)
	d.msgID = append(d.msgID, id...)
}

// fill writes held, the lines of a field without a value, with value
// written at the end of its last line, after a space unless the line
// ends in white space already.
func (d *DropWriter) fill(held []byte, value string) {
	text := bytes.TrimRight(held, "\r\n")
	sep := " "
	if c := text[len(text)-1]; c == ' ' || c == '\t' {
		sep = ""
	}
	d.emit(text)
	d.emit([]byte(sep + value))
	d.emit(held[len(text):])
}

// blank reports whether a field's value (or a folded line of it) holds
// nothing but white space as RFC 5322 has it (WSP: space and tab; a form
// feed or a Unicode space is text there).
func blank(s string) bool { return strings.Trim(s, " \t") == "" }

// endBlankOAT writes the held lines of an empty X-OriginalArrivalTime
// field, with the arrival time written at the end of its last line when
// fill is set (as endBlankID).
func (d *DropWriter) endBlankOAT(fill bool) {
	held := d.blankOAT
	d.blankOAT = nil
	d.found.oat = true
	if !fill {
		d.emit(held)
		return
	}
	_, value, _ := strings.Cut(strings.TrimRight(d.oat, "\r\n"), ": ")
	d.fill(held, value)
}

// keepHeld writes the lines held, if any, as lines of the header block.
func (d *DropWriter) keepHeld() {
	if d.holding {
		d.holding = false
		d.emit(d.held)
		d.held = d.held[:0]
	}
}

// fieldLike reports whether a line that is not a header field looks like
// one all the same: a name, with a space or an 8-bit byte in it, then a
// colon ("Not A: field", "Na\xefve: x"); lenient readers keep it as one.
func fieldLike(s string) bool {
	i := strings.IndexByte(s, ':')
	return i > 0 && s[0] != ' ' && s[0] != '\t'
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

// endHeader writes the added fields, once, at the end of the header
// block, and reports whether it wrote any. Lines held then begin the body
// of a message whose header lacks its empty line: it goes after the added
// fields, then they.
func (d *DropWriter) endHeader() bool {
	if d.added {
		return false
	}
	if d.blankID != nil {
		d.endBlankID(true)
	}
	if d.blankOAT != nil {
		d.endBlankOAT(true)
	}
	d.added = true
	var b strings.Builder
	if !d.found.date && d.date != "" {
		b.WriteString(d.date)
	}
	if d.found.msgID {
		// A TAB of a folded field is white space, not a character to
		// drop (found from outside: "fake<TAB>more" logged "fakemore").
		d.logID = ReplyText(strings.ReplaceAll(strings.TrimSpace(string(d.msgID)), "\t", " "))
		d.echoID = cleanID(d.logID)
	} else {
		d.echoID = d.newID()
		d.logID = d.echoID
		b.WriteString("Message-ID: " + d.echoID + "\r\n")
	}
	if !d.found.oat {
		b.WriteString(d.oat)
	}
	if d.holding {
		b.WriteString("\r\n")
		d.inHeader = false
	}
	if b.Len() > 0 && d.prevCR {
		// The line before them ended in a CR alone: it gets its LF, so
		// that the added fields start a line for every reader. Found from
		// outside: after "Subject: b<CR>", a reader that takes only CRLF
		// for a line end read the added Message-ID as part of the
		// Subject.
		d.write([]byte("\n"))
		d.prevCR = false
	}
	d.write([]byte(b.String()))
	if d.holding {
		d.holding = false
		d.emit(d.held)
		d.held = nil
	}
	return b.Len() > 0
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
		d.endHeader()
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
