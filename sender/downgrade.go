package sender

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"
)

// downgrade copies the message read from r to w, with every part declared
// "Content-Transfer-Encoding: 8bit" or "binary" re-encoded as
// quoted-printable, for a smart host that does not offer 8BITMIME: RFC
// 6152 section 3 leaves the client the choice of converting the message
// to 7 bits or returning it, and converting is what MTAs do (postfix's
// default). Everything else passes byte for byte: the other parts,
// headers, preambles and epilogues, and a message without MIME-Version,
// whose Content-* fields mean nothing (RFC 2045 section 4). The message
// is streamed a line at a time, never held whole.
func downgrade(w io.Writer, r io.Reader) error {
	d := &downgrader{br: bufio.NewReaderSize(r, 64<<10), w: w, top: true}
	return d.run()
}

type downgrader struct {
	br  *bufio.Reader
	w   io.Writer
	top bool // the header being read is the message's own

	boundaries []string // of the multiparts open, innermost last
	head       []byte   // the header block being read
	inHead     bool
	midLine    bool                    // the last piece ended inside a line
	qp         *quotedprintable.Writer // the part being re-encoded, if any
}

func (d *downgrader) run() error {
	d.inHead = true
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
			_, err := d.w.Write(line)
			return err
		}
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
	head := d.head
	d.head = d.head[:0]
	top := d.top
	d.top = false
	fields := headerFields(head)
	if top && fields["mime-version"] == "" {
		// Not MIME: nothing in it is to be read as MIME, and no
		// boundary is looked for.
		_, err := d.w.Write(head)
		return err
	}
	ctype, params, err := mime.ParseMediaType(fields["content-type"])
	if err == nil && strings.HasPrefix(ctype, "multipart/") && params["boundary"] != "" {
		d.boundaries = append(d.boundaries, params["boundary"])
		_, err := d.w.Write(head)
		return err
	}
	eightBit := false
	switch strings.ToLower(strings.TrimSpace(fields["content-transfer-encoding"])) {
	case "8bit", "binary":
		eightBit = true
	}
	if err == nil && (ctype == "message/rfc822" || ctype == "message/global") {
		// An attached message may only be 7bit, 8bit or binary itself
		// (RFC 2046 section 5.2.1): its own parts are converted, and it
		// is then 7bit.
		if eightBit {
			head = withEncoding(head, "7bit")
		}
		d.inHead = true
		_, err := d.w.Write(head)
		return err
	}
	switch {
	case eightBit:
		if _, err := d.w.Write(withEncoding(head, "quoted-printable")); err != nil {
			return err
		}
		d.qp = quotedprintable.NewWriter(d.w)
		return nil
	}
	_, err = d.w.Write(head)
	return err
}

// endPart ends the part being re-encoded, if any, before a delimiter: the
// line end before the delimiter belongs to it (RFC 2046 section 5.1.1),
// and the encoder has written it as the hard line break it was given.
func (d *downgrader) endPart() error {
	if d.qp == nil {
		return nil
	}
	err := d.qp.Close()
	d.qp = nil
	return err
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

func isBlank(line []byte) bool {
	return len(bytes.TrimRight(line, "\r\n")) == 0
}

// headerFields returns the unfolded values of a header block's fields, by
// lower-case name; the first of a name wins.
func headerFields(head []byte) map[string]string {
	fields := map[string]string{}
	var name string
	for _, l := range strings.SplitAfter(string(head), "\n") {
		t := strings.TrimRight(l, "\r\n")
		if t == "" {
			continue
		}
		if (t[0] == ' ' || t[0] == '\t') && name != "" {
			fields[name] += " " + strings.TrimSpace(t)
			continue
		}
		i := strings.IndexByte(t, ':')
		if i <= 0 {
			name = ""
			continue
		}
		name = strings.ToLower(strings.TrimSpace(t[:i]))
		if _, seen := fields[name]; seen {
			name = "" // the first one counts; skip this one's folds
			continue
		}
		fields[name] = strings.TrimSpace(t[i+1:])
	}
	return fields
}

// withEncoding is head with its Content-Transfer-Encoding field (and the
// lines that fold it) replaced by one naming enc, before the empty line.
func withEncoding(head []byte, enc string) []byte {
	var out []byte
	skip := false
	lines := strings.SplitAfter(string(head), "\n")
	for _, l := range lines {
		if l == "" {
			continue // after the last line end
		}
		t := strings.TrimRight(l, "\r\n")
		switch {
		case t == "":
			out = append(out, "Content-Transfer-Encoding: "+enc+"\r\n"...)
			out = append(out, l...)
			continue
		case skip && (t[0] == ' ' || t[0] == '\t'):
			continue
		}
		skip = false
		if i := strings.IndexByte(t, ':'); i > 0 && strings.EqualFold(strings.TrimSpace(t[:i]), "Content-Transfer-Encoding") {
			skip = true
			continue
		}
		out = append(out, l...)
	}
	return out
}
