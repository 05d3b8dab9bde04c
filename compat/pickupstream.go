package compat

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
)

// MaxHeaderBlock bounds the envelope and header block of a Pickup file
// (2 MB): far beyond any real header (Exchange refuses headers over 256 KB
// by default; 2 MB holds some 50,000 X-Receiver lines). What reading up
// to it costs is a few times the bound (the block grows by doubling, then
// is parsed): with 16 MB a 40 MB file without an empty line took 40 to
// 78 MB at its peak, with 2 MB it takes 6.5 MB.
const MaxHeaderBlock = 2 << 20

// ReadPickup reads a Pickup (or Queue) file from r exactly as ParsePickup
// does, but holds only the envelope and header block in memory: the
// returned message's Message is the header block (with its empty line,
// envelope and Bcc fields removed), and Body reads the rest of the message
// from r, line ends made CRLF and dot-stuffing undone as it goes. A 60 MB
// file is sent in the memory of its header (iis-reference.md section 3
// allows files of any size; .NET writes attachments into them). Trailing
// is set once Body has returned io.EOF.
//
// A file whose header block never ends (no empty line) is read whole, as
// its header, up to MaxHeaderBlock: beyond that it is malformed (a binary
// file dropped into Pickup must not be read into memory whole).
func ReadPickup(r io.Reader, opt PickupOptions) (*PickupMessage, error) {
	t := newPickupText(r, opt.DotStuffed)
	if err := t.notUTF16(); err != nil {
		return nil, err
	}
	var head []byte
	for {
		if len(head) > MaxHeaderBlock {
			return nil, fmt.Errorf("%w: no empty line ends the header block in its first %d MB (a Pickup file is a message: header lines, an empty line, the body)", ErrMalformed, MaxHeaderBlock>>20)
		}
		piece, lineStart, err := t.next()
		if err != nil {
			return nil, err
		}
		if piece == nil {
			break
		}
		head = append(head, piece...)
		if lineStart && len(piece) == 2 && piece[0] == '\r' {
			break // the empty line that ends the header block
		}
	}
	if len(bytes.TrimSpace(head)) == 0 {
		// Nothing before the body: the file is empty, or has no sender
		// (no X-Sender line, no header at all).
		nonSpace := t.nonSpace
		for !t.ended {
			piece, _, err := t.next()
			if err != nil {
				return nil, err
			}
			if len(bytes.TrimSpace(piece)) > 0 {
				nonSpace = true
			}
		}
		if !nonSpace && !t.stopped {
			return nil, ErrEmpty
		}
		return nil, ErrNoSender
	}
	m := &PickupMessage{}
	if err := parseHead(m, head, opt); err != nil {
		if err == ErrNoRecipients || m.From != "" {
			// The sender is known: the Badmail reason names it (found
			// from outside: a bad X-Receiver line after a good X-Sender
			// gave "Sender: unknown").
			return m, err
		}
		return nil, err
	}
	if len(bytes.TrimSpace(m.Message)) == 0 && t.atEnd() {
		// Found from outside: sent as a message of the fields added
		// alone (no From, no text; RFC 5322 section 3.6 requires From),
		// where a file that is empty goes to Badmail. It is what a file
		// whose writer has only begun looks like, too.
		return m, fmt.Errorf("%w: the file holds its envelope (X-Sender, X-Receiver) and no message: no header field, no text", ErrMalformed)
	}
	t.msg = m
	m.Body = t
	return m, nil
}

// EnvelopeOnly reports whether data, the whole of a Pickup file, holds
// envelope lines (X-Sender, X-Receiver) and nothing else but the empty
// line that would end its header block: a file ReadPickup refuses as
// holding no message, and what a file looks like whose writer has written
// its envelope and not yet its message (a watcher that can only wait for
// the file to stay unchanged waits longer for it).
func EnvelopeOnly(data []byte) bool {
	data = lfEnds(bytes.TrimPrefix(data, utf8BOM))
	seen := false
	for len(data) > 0 {
		line, rest, _ := bytes.Cut(data, []byte("\n"))
		data = rest
		if len(line) == 0 {
			// The empty line that ends the header block: a message
			// would follow it.
			return seen && len(data) == 0
		}
		name, _, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return false
		}
		switch strings.ToLower(string(bytes.TrimSpace(name))) {
		case "x-sender", "x-receiver":
			seen = true
		default:
			return false
		}
	}
	return seen
}

// lfEnds returns data with each line end one LF, as normalize reads line
// ends: CRs before an LF are one line end with it, any other CR is one.
func lfEnds(data []byte) []byte {
	out := make([]byte, 0, len(data))
	for i := 0; i < len(data); i++ {
		if data[i] != '\r' {
			out = append(out, data[i])
			continue
		}
		j := i
		for j < len(data) && data[j] == '\r' {
			j++
		}
		if j < len(data) && data[j] == '\n' {
			out = append(out, '\n')
			i = j
			continue
		}
		out = append(out, bytes.Repeat([]byte("\n"), j-i)...)
		i = j - 1
	}
	return out
}

// atEnd reports whether nothing of the file is left to read.
func (t *pickupText) atEnd() bool {
	if len(t.pending) > 0 || t.pendCR > 0 {
		return false
	}
	if t.ended {
		return true
	}
	_, err := t.br.Peek(1)
	return err == io.EOF
}

// pickupText is a Pickup file as ParsePickup reads it, produced a line (or
// a buffer's worth of a long line) at a time: a leading byte order mark
// removed, line ends made CRLF (see normalize), and with stuffed a doubled dot at the start
// of a line made one and a line holding only "." the end, whose following
// bytes are counted (Trailing).
type pickupText struct {
	br       *bufio.Reader
	stuffed  bool
	start    bool // the next byte starts a line
	pendCR   int  // CRs that ended the last piece, not yet written: what follows decides
	ended    bool // nothing more to return
	stopped  bool // ended at a lone "."
	nonSpace bool
	trailing int
	lineNo   int    // the line the last piece is part of, from 1
	cutLine  int    // the line of the lone "."
	cutText  bool   // the bytes after it hold other than white space
	line     []byte // the piece being returned, reused
	pending  []byte // what Read has still to return
	msg      *PickupMessage
}

func newPickupText(r io.Reader, stuffed bool) *pickupText {
	br := bufio.NewReaderSize(r, 64<<10)
	if p, _ := br.Peek(len(utf8BOM)); bytes.Equal(p, utf8BOM) {
		br.Discard(len(utf8BOM))
	}
	return &pickupText{br: br, stuffed: stuffed, start: true}
}

// notUTF16 refuses a file in UTF-16, which IIS could not read either: it
// would otherwise be "malformed" at its first line, with no word of why.
// Windows PowerShell 5.1 writes UTF-16 with ">" and Out-File unless told
// otherwise.
func (t *pickupText) notUTF16() error {
	head, _ := t.br.Peek(64)
	order := utf16NoBOM(head)
	switch {
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}):
		order = "little-endian, with a byte-order mark"
	case bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		order = "big-endian, with a byte-order mark"
	}
	if order == "" {
		return nil
	}
	how := ""
	if strings.HasPrefix(order, "little-endian") {
		how = ", as Windows PowerShell 5.1 writes with \">\" and Out-File"
	}
	return fmt.Errorf("%w: the file is UTF-16 (%s)%s; a Pickup file is ASCII or UTF-8 text: write it so (in PowerShell, Out-File -Encoding ascii or utf8, or Set-Content)", ErrMalformed, order, how)
}

// next returns the next piece of text, whether it starts a line, and nil
// at the end.
func (t *pickupText) next() ([]byte, bool, error) {
	for !t.ended {
		chunk, err := t.br.ReadSlice('\n')
		if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
			return nil, false, err
		}
		if err == io.EOF {
			t.ended = true
		}
		if len(chunk) == 0 && t.ended && t.pendCR > 0 {
			// The file ends in CRs that a full buffer held apart.
			t.line = t.normalize(t.line[:0], nil, true)
			return t.line, false, nil
		}
		if len(chunk) == 0 {
			continue
		}
		lineStart := t.start
		if lineStart {
			t.lineNo++
		}
		t.line = t.normalize(t.line[:0], chunk, t.ended)
		t.start = chunk[len(chunk)-1] == '\n'
		piece := t.line
		if t.stuffed && lineStart {
			switch {
			case bytes.HasSuffix(chunk, []byte("\n")) && string(bytes.TrimRight(chunk[:len(chunk)-1], "\r")) == "." || (t.ended && bytes.Equal(chunk, []byte("."))):
				// (The file's line, not piece: "." and a CR at the end of
				// the file is no end.)
				// The end of the DATA stream (RFC 5321 section 4.5.2):
				// count what follows, and stop.
				t.stopped, t.ended, t.cutLine = true, true, t.lineNo
				if err := t.countRest(); err != nil {
					return nil, false, err
				}
				return nil, false, nil
			case len(piece) >= 2 && piece[0] == '.' && piece[1] == '.':
				piece = piece[1:]
			}
		}
		if !t.nonSpace && len(bytes.TrimSpace(piece)) > 0 {
			t.nonSpace = true
		}
		return piece, lineStart, nil
	}
	return nil, false, nil
}

// normalize appends chunk (a piece of the file up to and with its first
// LF, or what precedes the end or a full buffer) to dst with its line ends
// made CRLF. RFC 5321 section 4.1.1.4: a client MUST NOT send a CR or LF
// alone, only as a CRLF that ends a line. So a bare LF becomes CRLF; CRs
// before a line's LF are one line end with it (CR CR LF is CRLF text that
// went through a text-mode file on Windows, Python's for one: found from
// outside, its added Date was glued to a header line after a bare CR);
// any other CR is a line end of its own. Sent as it was, a bare CR is
// refused by strict smart hosts (sendmail 8.18), and where a host takes
// it for a line end, "CR . CR" in text an application copied into its
// message would end the DATA there and turn the rest into SMTP commands
// (the "SMTP smuggling" of 2023). As CRLF, the dot after it is doubled on
// the wire like any other. eof tells that nothing follows chunk.
func (t *pickupText) normalize(dst, chunk []byte, eof bool) []byte {
	if t.pendCR > 0 {
		i := 0
		for i < len(chunk) && chunk[i] == '\r' {
			i++
		}
		switch {
		case i < len(chunk) && chunk[i] == '\n': // the line's LF, last of chunk
			t.pendCR = 0
			return append(dst, '\r', '\n')
		case i == len(chunk) && !eof:
			t.pendCR += i // CRs still
			return dst
		}
		for ; t.pendCR > 0; t.pendCR-- {
			dst = append(dst, '\r', '\n')
		}
	}
	for {
		i := bytes.IndexByte(chunk, '\r')
		if i < 0 {
			break
		}
		j := i
		for j < len(chunk) && chunk[j] == '\r' {
			j++
		}
		switch {
		case j == len(chunk)-1 && chunk[j] == '\n':
			dst = append(dst, chunk[:i]...)
			return append(dst, '\r', '\n')
		case j == len(chunk) && !eof:
			// CRs that end a full buffer: what follows decides.
			t.pendCR = j - i
			return append(dst, chunk[:i]...)
		}
		dst = append(dst, chunk[:i]...)
		for k := i; k < j; k++ {
			dst = append(dst, '\r', '\n')
		}
		chunk = chunk[j:]
	}
	if n := len(chunk); n > 0 && chunk[n-1] == '\n' {
		dst = append(dst, chunk[:n-1]...)
		return append(dst, '\r', '\n')
	}
	return append(dst, chunk...)
}

// countRest counts the bytes after the lone ".", line ends made CRLF.
func (t *pickupText) countRest() error {
	for {
		chunk, err := t.br.ReadSlice('\n')
		if len(chunk) > 0 {
			t.trailing += len(t.normalize(t.line[:0], chunk, err == io.EOF))
			t.cutText = t.cutText || len(bytes.TrimSpace(chunk)) > 0
		} else if err == io.EOF && t.pendCR > 0 {
			t.trailing += len(t.normalize(t.line[:0], nil, true)) // CRs a full buffer held apart
		}
		switch err {
		case nil, bufio.ErrBufferFull:
		case io.EOF:
			return nil
		default:
			return err
		}
	}
}

// Read reads the message body.
func (t *pickupText) Read(p []byte) (int, error) {
	for len(t.pending) == 0 {
		piece, _, err := t.next()
		if err != nil {
			return 0, err
		}
		if piece == nil {
			if t.msg != nil {
				t.msg.Trailing, t.msg.CutLine, t.msg.CutText = t.trailing, t.cutLine, t.cutText
			}
			return 0, io.EOF
		}
		t.pending = piece
	}
	n := copy(p, t.pending)
	t.pending = t.pending[n:]
	return n, nil
}
