package listener

import (
	"bytes"
	"io"

	"github.com/emersion/go-smtp"
)

// States of the DATA transparency procedure (RFC 5321 section 4.5.2).
const (
	stateBeginLine = iota // at the start of a line; the initial state
	stateDot              // read "." at the start of a line
	stateDotCR            // read ".\r" at the start of a line
	stateData             // in the middle of a line
	stateEOF              // read the ".\r\n" line that ends the message
)

// dotReader reads a message after the 354 reply straight from the
// connection, in bulk. go-smtp's own reader takes the message one byte at
// a time through a bufio.Reader: on a loaded server that was a third of
// mailbridge's user CPU. A dot that starts a line is removed, line ends
// are kept, and the message ends at CRLF "." CRLF only (RFC 5321 section
// 4.1.1.4), so that no message smuggles a second one past a server that
// ends it elsewhere (see unstuff); the fuzz target FuzzDotReader holds it
// to a line-based reference, however the input is cut into reads.
//
// With lfEnds (Config.BareLFEnd) a line "." ends the message however its
// line ends are made ("\n.\n", "\n.\r\n"). FuzzDotReader holds that mode
// to its own reference too.
//
// Bytes the client sent after the end of the message (pipelined commands)
// go back to the connection for go-smtp, which is handed an empty message
// (".\r\n") to read in place of the one dotReader took.
type dotReader struct {
	c     *conn
	state int
	// held is input not consumed yet: a "." and CR at the start of a line
	// whose next byte has not come, which decides whether they end the
	// message (".\r\n") or the CR is message data (see unstuff).
	held []byte

	lfEnds bool // a line "." ends the message however ended (Config.BareLFEnd)
	// bareLF: the line being read began after a bare LF (not after CRLF,
	// nor first); lastCR: the last byte written was a CR (see unstuff).
	bareLF, lastCR bool
	limited        bool
	n              int64   // bytes left below the size limit
	total          int64   // message bytes read, refused or not
	tail           [5]byte // the last bytes read from the client, as sent (bareLFEnd)
	lfDot          bool    // a line of a lone dot with a bare LF was read as text (lfDotSeen)
}

// startTail returns a dotReader's tail before the message: the CRLF of
// the command line before it, so that a first line "." with a bare LF is
// seen as any other (found from outside: "DATA\n.\n", a script's empty
// message, got no word of why it stalled).
func startTail() [5]byte { return [5]byte{0, 0, 0, '\r', '\n'} }

// noteTail keeps the last bytes of b, as the client sent them.
func (d *dotReader) noteTail(b []byte) {
	n := len(d.tail)
	if len(b) >= n {
		copy(d.tail[:], b[len(b)-n:])
		return
	}
	copy(d.tail[:], d.tail[len(b):])
	copy(d.tail[n-len(b):], b)
}

// bareLFEnd reports whether the last bytes the client sent were a line of
// a lone dot ended by a bare LF ("\n.\n", "\n.\r\n" after a bare LF): the
// end of a message for a client that ends lines with LF alone, which is
// no end here (see dotReader): a message that stalls after it is said so
// in the log. Found from outside: "sent nothing for data_timeout" alone,
// for a client that had sent its end.
func (d *dotReader) bareLFEnd() bool {
	if d.lfEnds {
		return false // an end there
	}
	t := d.tail[:]
	return bytes.HasSuffix(t, []byte("\n.\n")) || bytes.HasSuffix(t, []byte("\n.\r\n")) && t[0] != '\r'
}

// lfDotSeen reports whether the message as read held, anywhere, a line of
// a lone dot with a bare LF before or after it, which unstuff took for
// text (see bareLFEnd): found from outside, a script that wrote its whole
// session at once, QUIT after the message's "\n.\n", stalled or hung up
// with no word of why, since the last bytes it sent were QUIT's.
func (d *dotReader) lfDotSeen() bool { return d.lfDot }

// Read returns message bytes. It fails with smtp.ErrDataTooLarge once the
// message has one byte more than the limit: a message of exactly the
// limit is accepted, as SIZE promises (RFC 1870 section 6). (go-smtp's own
// reader refuses it: it fails as soon as the limit is used up, before it
// sees whether the end-of-data line follows.)
func (d *dotReader) Read(p []byte) (int, error) {
	if d.state == stateEOF {
		return 0, io.EOF
	}
	if d.limited {
		if d.n < 0 {
			return 0, smtp.ErrDataTooLarge
		}
		// The output is never longer than the input: reading one byte
		// more than the limit allows is enough to tell (two: a held CR
		// and the byte after it, see held).
		if int64(len(p)) > d.n+1 {
			p = p[:max(d.n+1, 2)]
		}
	}
	if len(p) < 2 {
		return 0, io.ErrShortBuffer
	}
	for {
		k := copy(p, d.held)
		d.held = d.held[:0]
		m, err := d.c.Read(p[k:])
		d.noteTail(p[k : k+m])
		m += k
		out, used, eof := d.unstuff(p[:m])
		d.total += int64(out)
		if eof {
			d.c.endData(p[used:m])
		} else if used < m {
			d.held = append(d.held, p[used:m]...)
		}
		if d.limited {
			d.n -= int64(out)
			if d.n < 0 {
				// Refused: what was read goes nowhere.
				return 0, smtp.ErrDataTooLarge
			}
		}
		if eof {
			return out, io.EOF
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return out, err
		}
		if out > 0 {
			return out, nil
		}
		// Only a line's leading dot, or nothing: read on.
	}
}

// drain reads the rest of the message, whatever its size, so that the
// connection is back at the next command.
func (d *dotReader) drain() error {
	d.limited = false
	_, err := io.Copy(io.Discard, d)
	return err
}

// unstuff runs the transparency procedure over b in place: it returns the
// number of message bytes now at the start of b, how many bytes of b were
// consumed, and whether the end of the message was reached.
//
// A line starts after any LF, bare or not, and a dot that starts one is
// removed (RFC 5321 section 4.5.2), as postfix does: found from outside,
// Python's smtplib, sending bytes with LF line ends (sendmail with
// Message.as_bytes()), doubles the dots after each LF, and they were
// stored doubled. Only a line "." that CRLF both precedes and ends ends
// the message (lfEnds: any line ".", however ended).
func (d *dotReader) unstuff(b []byte) (out, used int, eof bool) {
	w, i := 0, 0
	for i < len(b) {
		if d.state == stateData {
			// The common case: copy up to the next LF at once.
			k := bytes.IndexByte(b[i:], '\n')
			end := len(b)
			if k >= 0 {
				end = i + k + 1
				d.state = stateBeginLine
				// The line ended in CRLF if a CR came before its LF, in
				// b or as the last byte written before b.
				if k > 0 {
					d.bareLF = b[end-2] != '\r'
				} else {
					d.bareLF = !d.lastCR
				}
			} else {
				d.lastCR = b[end-1] == '\r'
			}
			if w != i {
				copy(b[w:], b[i:end])
			}
			w += end - i
			i = end
			continue
		}
		c := b[i]
		i++
		switch d.state {
		case stateBeginLine:
			switch c {
			case '.':
				d.state = stateDot
				continue
			case '\n':
				// An empty line ended by a bare LF.
				d.bareLF = true
			default:
				d.state = stateData
			}
		case stateDot:
			if c == '\n' && d.lfEnds {
				d.state = stateEOF
				return w, i, true
			}
			if c == '\r' {
				if i == len(b) {
					// Its next byte is not here: the CR is held (not
					// consumed) until it is, so that when it is not an
					// LF there is room to write the CR before it.
					return w, i - 1, false
				}
				d.state = stateDotCR
				continue
			}
			// A line that starts with a dot and goes on: the dot goes.
			d.state = stateData
			if c == '\n' {
				// ".\n": no end (see above), said if the message stalls.
				d.state, d.bareLF, d.lfDot = stateBeginLine, true, true
			}
		case stateDotCR:
			if c == '\n' && (!d.bareLF || d.lfEnds) {
				d.state = stateEOF
				return w, i, true
			}
			// A line that starts with a dot and goes on: the dot goes
			// (RFC 5321 section 4.5.2), the CR stays, and c is read as
			// after any CR. (go-smtp's reader dropped the CR too.)
			b[w] = '\r'
			w++
			d.state = stateData
			if c == '\n' {
				// ".\r\n" after a bare LF: no end (see above), said if
				// the message stalls.
				d.state, d.bareLF, d.lfDot = stateBeginLine, false, true
			}
		}
		b[w] = c
		w++
		d.lastCR = c == '\r'
	}
	return w, i, false
}
