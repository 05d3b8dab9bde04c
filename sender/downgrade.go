package sender

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"regexp"
	"strings"

	"github.com/mailbridge/mailbridge/compat"
)

// downgrade copies the message read from r to w, re-encoding as
// quoted-printable the parts that the smart host could not take as they
// are:
//
//   - without 8BITMIME (eightBitOK false), every part of a MIME message
//     that is declared "Content-Transfer-Encoding: 8bit" or "binary", or
//     that holds 8-bit bytes while declared 7bit (or not at all: attached
//     messages forwarded from before MIME): RFC 6152 section 3 leaves the
//     client the choice of converting the message to 7 bits or returning
//     it, and converting is what MTAs do (postfix's default); an attached
//     message or multipart declared 8bit is then labelled 7bit;
//   - with 8BITMIME or without, every part declared 7bit or 8bit (or not
//     at all) that has a line longer than 998 octets: RFC 5321 section
//     4.5.3.1.6 and RFC 5322 section 2.1.1 forbid sending one, and smart
//     hosts refuse them ("500 5.0.0 Line too long" from OpenSMTPD, exim
//     since 4.95), where applications writing Pickup files often put a
//     whole HTML body on one line. Quoted-printable decodes to the same
//     lines. A "binary" part goes as it is to a smart host with 8BITMIME.
//
// Everything else passes byte for byte: the other parts, headers,
// preambles and epilogues, and a message without MIME-Version, whose
// Content-* fields mean nothing (RFC 2045 section 4).
//
// What each part declared 7bit or 8bit (or not at all) holds is plan, from
// scanParts run over the same message: a part's header goes out before
// its body, so the body must have been read once already. Both passes
// stream the message a line at a time and never hold it, or a part, whole.
//
// The parts of a multipart/signed pass unchanged, 8-bit or not: RFC 1847
// section 2.1 forbids altering signed content, and a signature over a
// converted part no longer verifies (found from outside: an S/MIME part
// went out re-encoded, signature broken, and nothing said so). The smart
// host gets those bytes as they are; stats counts them, and the parts
// converted, for the delivery's log line.
func downgrade(w io.Writer, r io.Reader, plan scanPlan, eightBitOK bool, stats *downgradeStats) error {
	d := &downgrader{br: bufio.NewReaderSize(r, 64<<10), w: w, top: true, inHead: true, plan: plan.parts, eightBitOK: eightBitOK, signedAt: -1}
	err := d.run()
	if stats != nil {
		stats.converted, stats.keptSigned, stats.folded = d.converted, d.keptSigned, d.folded
	}
	return err
}

// downgradeStats is what downgrade did to a message: parts converted to
// quoted-printable, and 8bit parts of a multipart/signed sent unchanged.
type downgradeStats struct {
	converted, keptSigned, folded int
}

// maxLine is the longest line, in octets without its CRLF, that may be
// sent (RFC 5321 section 4.5.3.1.6, RFC 5322 section 2.1.1).
const maxLine = 998

// partFacts is what a part declared 7bit or 8bit (or not at all) holds.
type partFacts struct {
	eightBit bool // an 8-bit byte
	longLine bool // a line longer than maxLine
}

// scanPlan is what scanParts found in a message.
type scanPlan struct {
	parts      []partFacts
	longHeader bool // a header line (outside multipart/signed) over maxLine
}

// needsDowngrade reports whether downgrade changes a message whose parts
// hold plan, for a smart host with 8BITMIME (eightBitOK) or without.
func needsDowngrade(plan scanPlan, eightBitOK bool) bool {
	if !eightBitOK || plan.longHeader {
		return true // without 8BITMIME: 8bit and binary parts are not in the plan
	}
	for _, p := range plan.parts {
		if p.longLine {
			return true
		}
	}
	return false
}

// scanParts reads the message from r and reports, for each part declared
// 7bit or 8bit or not declared (in the order downgrade meets them), what
// it holds.
func scanParts(r io.Reader) (scanPlan, error) {
	d := &downgrader{br: bufio.NewReaderSize(r, 64<<10), w: io.Discard, top: true, inHead: true, scan: true, signedAt: -1}
	if err := d.run(); err != nil && err != errNotMIME {
		return scanPlan{}, err
	}
	return scanPlan{parts: d.found, longHeader: d.longHead}, nil
}

// errNotMIME ends a scan at the header of a message without MIME-Version:
// none of its parts is converted, so the rest need not be read.
var errNotMIME = errors.New("not MIME")

type downgrader struct {
	br  *bufio.Reader
	w   io.Writer
	top bool // the header block being read is the message's own

	boundaries []string // of the multiparts open, innermost last
	head       []byte   // the header block being read
	inHead     bool
	midLine    bool       // the last piece ended inside a line
	qp         *qpEncoder // the part being re-encoded, if any

	// The parts declared 7bit or 8bit (or not at all), counted from 0 in
	// order: scan looks at each body (probing) and appends to found what
	// it held (saw; lineLen is the length so far of the line being read,
	// lastCR whether its last piece ended in CR); otherwise plan says so
	// for part next.
	scan       bool
	probing    bool
	saw        partFacts
	lineLen    int
	lastCR     bool
	found      []partFacts
	plan       []partFacts
	next       int
	eightBitOK bool // the smart host offers 8BITMIME
	longHead   bool // scan: a header line to fold (writeHead)

	// signedAt is the depth (in boundaries) of the multipart/signed the
	// parts being read are in, -1 when none: they pass unchanged.
	signedAt   int
	converted  int // parts re-encoded
	folded     int // header lines folded
	keptSigned int // 8bit or binary parts of a multipart/signed, sent as they are
}

func (d *downgrader) run() error {
	for {
		line, whole, err := d.line()
		if len(line) > 0 {
			if werr := d.handle(line, whole); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return d.finish()
		}
		if err != nil {
			return err
		}
	}
}

// line returns the next line with its line end, or a piece of a line
// longer than the buffer (whole false).
func (d *downgrader) line() ([]byte, bool, error) {
	line, err := d.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return line, false, nil
	}
	return line, err == nil, err
}

func (d *downgrader) handle(line []byte, whole bool) error {
	// The rest of a line longer than the buffer is no line of its own: it
	// can be neither the empty line nor a delimiter.
	atStart := !d.midLine
	d.midLine = !whole
	whole = whole && atStart
	if d.inHead {
		d.head = append(d.head, line...)
		if whole && isBlank(line) {
			d.inHead = false
			return d.endHead()
		}
		if len(d.head) > 1<<20 {
			// No header block is this long: pass it on as it is.
			d.inHead = false
			_, err := d.w.Write(d.head)
			d.head = d.head[:0]
			return err
		}
		return nil
	}
	if whole {
		if i, closing := d.delimiter(line); i >= 0 {
			if err := d.endPart(); err != nil {
				return err
			}
			d.boundaries = d.boundaries[:i+1]
			if closing {
				d.boundaries = d.boundaries[:i]
			} else {
				d.inHead = true
			}
			if d.signedAt >= len(d.boundaries) {
				d.signedAt = -1 // the multipart/signed is closed
			}
			_, err := d.w.Write(line)
			return err
		}
	}
	return d.body(line)
}

// body writes a piece of a part's content as the part's state says.
func (d *downgrader) body(line []byte) error {
	if d.probing {
		d.saw.eightBit = d.saw.eightBit || hasEightBit(line)
		d.measure(line)
		return nil // scan: nothing is written
	}
	if d.qp != nil {
		_, err := d.qp.Write(line)
		return err
	}
	_, err := d.w.Write(line)
	return err
}

// endHead decides what the header block just read announces, and writes
// it (with the transfer encoding changed for a part re-encoded).
func (d *downgrader) endHead() error {
	head := bytes.Clone(d.head)
	d.head = d.head[:0]
	top := d.top
	d.top = false
	hdr := compat.ParseHeader(head)
	fields := headerFields(hdr)
	if d.scan && d.signedAt < 0 {
		// Every header outside a multipart/signed goes through
		// writeHead, also those that the scan passes by.
		d.longHead = d.longHead || compat.HasLongLine(head)
	}
	if top && fields["mime-version"] == "" {
		// Not MIME: nothing in it is to be read as MIME, and no
		// boundary is looked for.
		if d.scan {
			return errNotMIME
		}
		return d.writeHead(head)
	}
	ctype, boundary := contentType(fields["content-type"])
	cte := transferEncoding(fields["content-transfer-encoding"])
	eightBit := cte == "8bit" || cte == "binary"
	if d.signedAt >= 0 {
		// Inside a multipart/signed: followed, never changed (neither
		// probed, so that both passes count the same parts).
		switch {
		case strings.HasPrefix(ctype, "multipart/") && boundary != "":
			d.boundaries = append(d.boundaries, boundary)
		case ctype == "message/rfc822" || ctype == "message/global":
			d.inHead = true
		case eightBit && !d.scan && !d.eightBitOK:
			d.keptSigned++
		}
		_, err := d.w.Write(head)
		return err
	}
	if ctype == "multipart/signed" && boundary != "" {
		d.signedAt = len(d.boundaries)
		d.boundaries = append(d.boundaries, boundary)
		return d.writeHead(head) // its own label too, whatever it says
	}
	switch {
	case strings.HasPrefix(ctype, "multipart/") && boundary != "":
		d.boundaries = append(d.boundaries, boundary)
	case ctype == "message/rfc822" || ctype == "message/global":
		// An attached message may only be 7bit, 8bit or binary itself
		// (RFC 2046 section 5.2.1): its own header and parts follow.
		d.inHead = true
	case cte == "binary" && !d.eightBitOK:
		return d.reencode(head, hdr)
	case cte == "7bit" || cte == "8bit" || fields["content-transfer-encoding"] == "":
		if d.scan {
			d.probing, d.saw, d.lineLen, d.lastCR = true, partFacts{}, 0, false
			return nil
		}
		k := d.next
		d.next++
		var p partFacts
		if k < len(d.plan) {
			p = d.plan[k]
		}
		// 8bit, or 8-bit under a 7bit label, for a smart host without
		// 8BITMIME; a line too long for SMTP for any.
		if (eightBit || p.eightBit) && !d.eightBitOK || p.longLine {
			return d.reencode(head, hdr)
		}
		return d.writeHead(head)
	default: // base64, quoted-printable: 7-bit already; binary with 8BITMIME
		return d.writeHead(head)
	}
	if eightBit && !d.eightBitOK {
		// A multipart or an attached message whose parts are converted.
		head = withEncoding(head, hdr, "7bit")
	}
	return d.writeHead(head)
}

// writeHead writes a header block outside a multipart/signed, its lines
// over 998 octets folded (foldHeader); the scan notes whether there are
// any.
func (d *downgrader) writeHead(head []byte) error {
	if d.scan {
		d.longHead = d.longHead || compat.HasLongLine(head)
		return nil
	}
	head, n := foldHeader(head)
	d.folded += n
	_, err := d.w.Write(head)
	return err
}

// reencode writes a part's header with quoted-printable as its transfer
// encoding, and has its body encoded so.
func (d *downgrader) reencode(head []byte, hdr []compat.HeaderField) error {
	if d.scan {
		return nil // nothing is written: no encoder either
	}
	if err := d.writeHead(withEncoding(head, hdr, "quoted-printable")); err != nil {
		return err
	}
	d.converted++
	d.qp = newQPEncoder(d.w)
	return nil
}

// endPart ends the part being re-encoded or probed, if any, before a
// delimiter or at the end: the line end before a delimiter belongs to it
// (RFC 2046 section 5.1.1), and the encoder has written it as the hard
// line break it was given.
func (d *downgrader) endPart() error {
	if d.probing {
		d.probing = false
		if d.lineLen > maxLine {
			d.saw.longLine = true // the last line, without a line end
		}
		d.found = append(d.found, d.saw)
		return nil
	}
	if d.qp == nil {
		return nil
	}
	err := d.qp.Close()
	d.qp = nil
	return err
}

// measure follows the length of the line being probed over the pieces
// that make it: without its CRLF (or bare LF), is it longer than SMTP
// allows?
func (d *downgrader) measure(piece []byte) {
	if len(piece) == 0 {
		return
	}
	if piece[len(piece)-1] != '\n' {
		d.lineLen += len(piece)
		d.lastCR = piece[len(piece)-1] == '\r'
		return
	}
	n := d.lineLen + len(piece) - 1
	if len(piece) >= 2 && piece[len(piece)-2] == '\r' || len(piece) == 1 && d.lastCR {
		n--
	}
	if n > maxLine {
		d.saw.longLine = true
	}
	d.lineLen, d.lastCR = 0, false
}

func (d *downgrader) finish() error {
	if d.inHead && len(d.head) > 0 {
		_, err := d.w.Write(d.head)
		return err
	}
	return d.endPart()
}

// delimiter reports whether line is a boundary delimiter of an open
// multipart, which one (its index), and whether it closes it ("--b--").
func (d *downgrader) delimiter(line []byte) (int, bool) {
	if len(d.boundaries) == 0 || !bytes.HasPrefix(line, []byte("--")) {
		return -1, false
	}
	rest := bytes.TrimRight(line[2:], " \t\r\n") // RFC 2046: transport padding
	for i := len(d.boundaries) - 1; i >= 0; i-- {
		b := []byte(d.boundaries[i])
		if bytes.Equal(rest, b) {
			return i, false
		}
		if len(rest) == len(b)+2 && bytes.HasPrefix(rest, b) && bytes.HasSuffix(rest, []byte("--")) {
			return i, true
		}
	}
	return -1, false
}

// boundaryParam finds the boundary in a Content-Type that mime cannot
// parse: hand-written headers leave "boundary=----=_Part_0_12.34"
// unquoted, which RFC 2045 forbids ("=" is a tspecial) and readers accept.
var boundaryParam = regexp.MustCompile(`(?i);\s*boundary\s*=\s*(?:"([^"]*)"|([^;\s]+))`)

// contentType returns the media type of a Content-Type value, lower case,
// and its boundary parameter.
func contentType(v string) (string, string) {
	ctype, params, err := mime.ParseMediaType(v)
	if err == nil {
		return ctype, params["boundary"]
	}
	ctype = strings.ToLower(strings.TrimSpace(strings.SplitN(v, ";", 2)[0]))
	if m := boundaryParam.FindStringSubmatch(v); m != nil {
		return ctype, m[1] + m[2]
	}
	return ctype, ""
}

// transferEncoding is a Content-Transfer-Encoding value, lower case,
// without comments ("8bit (utf8)": RFC 2045 allows them) or anything after
// a ';' ("7bit;", which some writers add, as readers accept: found from
// outside, a long line under it went out unchanged).
func transferEncoding(v string) string {
	if i := strings.IndexAny(v, "(;"); i >= 0 {
		v = v[:i]
	}
	return strings.ToLower(strings.TrimSpace(v))
}

func isBlank(line []byte) bool {
	return len(bytes.TrimRight(line, "\r\n")) == 0
}

func hasEightBit(p []byte) bool {
	for _, c := range p {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// headerFields returns the values of a header block's fields (compat's
// parse, as for Pickup files), by name; the first of a name wins.
func headerFields(hdr []compat.HeaderField) map[string]string {
	fields := map[string]string{}
	for _, f := range hdr {
		if _, seen := fields[f.Name]; !seen && f.Name != "" {
			fields[f.Name] = strings.TrimSpace(f.Value)
		}
	}
	return fields
}

// withEncoding is head (whose fields are hdr) with its
// Content-Transfer-Encoding fields replaced by one naming enc, after the
// last field.
func withEncoding(head []byte, hdr []compat.HeaderField, enc string) []byte {
	end := 0
	if len(hdr) > 0 {
		end = hdr[len(hdr)-1].End
	}
	out := compat.RemoveFields(head[:end:end], hdr, "content-transfer-encoding")
	out = append(out[:len(out):len(out)], "Content-Transfer-Encoding: "+enc+"\r\n"...)
	return append(out, head[end:]...)
}

// qpEncoder writes quoted-printable (RFC 2045 section 6.7): CRLF is a hard
// line break, every other byte outside printable ASCII (a bare CR or LF
// too, so that a binary part decodes to its own bytes) is =XX, white space
// before a line end is encoded, and lines are broken softly before 76
// characters. A line never starts with "-", which is written =2D: after a
// soft break a boundary could otherwise begin a line and end the part
// (RFC 2046 section 5.1.1). mime/quotedprintable's writer does neither.
type qpEncoder struct {
	w    io.Writer
	buf  []byte
	col  int  // characters on the output line so far
	cr   bool // a CR is held: CRLF or a bare CR
	ws   byte // a space or tab held: literal, or encoded before a line end
	werr error
}

func newQPEncoder(w io.Writer) *qpEncoder { return &qpEncoder{w: w} }

const qpMaxLine = 76

func (e *qpEncoder) Write(p []byte) (int, error) {
	for _, c := range p {
		if e.cr {
			e.cr = false
			if c == '\n' {
				e.hardBreak()
				continue
			}
			e.flushWS(false)
			e.token('\r', true) // a bare CR
		}
		switch {
		case c == '\r':
			e.cr = true
		case c == ' ' || c == '\t':
			e.flushWS(false)
			e.ws = c
		default:
			e.flushWS(false)
			e.token(c, !(c >= '!' && c <= '~') || c == '=' || c == '-' && e.col == 0)
		}
	}
	return len(p), e.flush()
}

// Close ends the encoded text: what is held is written, encoded as the
// end of a line.
func (e *qpEncoder) Close() error {
	if e.cr {
		e.cr = false
		e.flushWS(true)
		e.token('\r', true)
	}
	e.flushWS(true)
	return e.flush()
}

func (e *qpEncoder) hardBreak() {
	e.flushWS(true)
	e.buf = append(e.buf, '\r', '\n')
	e.col = 0
}

// flushWS writes a held space or tab: encoded at a line's end.
func (e *qpEncoder) flushWS(atEnd bool) {
	if e.ws == 0 {
		return
	}
	c := e.ws
	e.ws = 0
	e.token(c, atEnd)
}

// token writes c, as =XX when encoded, after a soft line break when the
// line would grow past qpMaxLine (with room for the break's "=").
func (e *qpEncoder) token(c byte, encoded bool) {
	n := 1
	if encoded {
		n = 3
	}
	if e.col+n > qpMaxLine-1 {
		e.buf = append(e.buf, '=', '\r', '\n')
		e.col = 0
		if c == '-' {
			encoded, n = true, 3
		}
	}
	if encoded {
		const hex = "0123456789ABCDEF"
		e.buf = append(e.buf, '=', hex[c>>4], hex[c&0x0f])
	} else {
		e.buf = append(e.buf, c)
	}
	e.col += n
}

func (e *qpEncoder) flush() error {
	if e.werr == nil && len(e.buf) > 0 {
		_, e.werr = e.w.Write(e.buf)
	}
	e.buf = e.buf[:0]
	return e.werr
}
