package smtp

import (
	"bufio"
	"bytes"
)

// mailbridge patch: the DATA writer of the client (see PATCHES.md).
//
// dotWriter is net/textproto's DotWriter but for one byte: a CR after a
// CR. textproto's writer leaves its "after a CR" state on any byte but
// LF, so that in CR CR LF the LF is taken for a bare one and given a CR of
// its own: the smart host received CR CR CR LF, one CR more than the
// message has. Here a CR keeps the writer after a CR. As textproto's: a
// dot that starts a line is doubled (RFC 5321 section 4.5.2), a bare LF
// is sent as CRLF, and Close ends an unfinished line and writes the
// end-of-data line.
type dotWriter struct {
	w     *bufio.Writer
	state int
}

const (
	dwBeginLine = iota // at the start of a line; the initial state
	dwCR               // wrote a CR
	dwData             // in the middle of a line
)

func (d *dotWriter) Write(b []byte) (n int, err error) {
	for n < len(b) {
		c := b[n]
		switch d.state {
		case dwBeginLine:
			d.state = dwData
			if c == '.' {
				if err = d.w.WriteByte('.'); err != nil {
					return n, err
				}
			}
			switch c {
			case '\r':
				d.state = dwCR
			case '\n':
				if err = d.w.WriteByte('\r'); err != nil {
					return n, err
				}
				d.state = dwBeginLine
			}
		case dwCR:
			switch c {
			case '\n':
				d.state = dwBeginLine
			case '\r':
				// Still after a CR: it may start the line end.
			default:
				d.state = dwData
			}
		case dwData:
			// The common case: up to the next CR or LF at once.
			k := bytes.IndexAny(b[n:], "\r\n")
			if k != 0 {
				end := len(b)
				if k > 0 {
					end = n + k
				}
				m, werr := d.w.Write(b[n:end])
				n += m
				if werr != nil {
					return n, werr
				}
				continue
			}
			if c == '\r' {
				d.state = dwCR
			} else {
				if err = d.w.WriteByte('\r'); err != nil {
					return n, err
				}
				d.state = dwBeginLine
			}
		}
		if err = d.w.WriteByte(c); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (d *dotWriter) Close() error {
	switch d.state {
	case dwData:
		d.w.WriteString("\r\n")
	case dwCR:
		d.w.WriteByte('\n')
	}
	d.w.WriteString(".\r\n")
	return d.w.Flush()
}
