package sender

import (
	"bytes"
	"strings"

	"github.com/mailbridge/mailbridge/compat"
)

// foldHeader returns a header block with every line longer than maxLine
// octets folded (RFC 5322 section 2.2.3), and how many lines it folded.
// Applications write To and Cc lists of many recipients on one line, and
// smart hosts refuse such a line (exim: "message has lines too long for
// transport") or break it at 998 octets whatever it holds (postfix,
// sendmail), which can split an address.
//
// A line is folded only where unfolding gives the field back as it was:
// before white space it already has, which the fold's line break then
// precedes; in a field of addresses (From, To, Cc and the like) also after
// a comma between addresses (outside quotes, comments and angle
// brackets), where RFC 5322 section 3.4 allows white space: a space is
// inserted there. foldLine says which places come first. A line that
// cannot be brought within maxLine octets so goes as it is.
func foldHeader(head []byte) ([]byte, int) {
	if !compat.HasLongLine(head) {
		return head, 0
	}
	out := make([]byte, 0, len(head)+len(head)/256+16)
	folded := 0
	address := false
	for rest := head; len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line = rest[:i+1]
		}
		rest = rest[len(line):]
		content, eol := splitEOL(line)
		from := 0
		if len(content) > 0 && content[0] != ' ' && content[0] != '\t' {
			// A field's first line names it; its continuation lines
			// are of the same field.
			name, _, _ := bytes.Cut(content, []byte(":"))
			address = addressField(string(bytes.TrimSpace(name)))
			from = len(name) + 1
			for from < len(content) && (content[from] == ' ' || content[from] == '\t') {
				from++
			}
			from++ // past the value's first octet
		}
		if len(content) <= maxLine {
			out = append(out, line...)
			continue
		}
		brk := eol
		if len(brk) == 0 {
			brk = []byte("\r\n") // the last line, without a line end
		}
		var n int
		out, n = foldLine(out, content, address, from, brk)
		out = append(out, eol...)
		if n > 0 {
			folded++
		}
	}
	return out, folded
}

// foldPoint is a place where a line may be broken: before white space it
// has, or (insert) after a comma between addresses, with a space added.
type foldPoint struct {
	pos      int  // the break goes before content[pos]
	insert   bool // a space is added after the break
	grade    int  // in a field of addresses: 0 between addresses, 1 elsewhere, 2 inside a quoted string or a comment
	lastText int  // the last octet before pos that is not white space, or -1
}

// foldLine appends line, folded with brk as the line break, to out, and
// says how many breaks it put in. Each line it makes is as long as may be
// within maxLine octets, broken preferably where a reader expects it: in
// a field of addresses, between addresses rather than inside an address
// (found from outside: Python's compat32 parser keeps a line break inside
// a quoted display name, and drops a comment that follows one). A line that cannot be brought
// within maxLine so is appended as it is: a fold that leaves it too long
// helps no smart host. Places before from (the field's name and the white
// space after its colon) are not used: "Subject:" alone on a line reads
// as an empty subject to some parsers. The places are found as the line
// is read, not all held: a header of a megabyte of spaces would have a
// million.
func foldLine(out, line []byte, address bool, from int, brk []byte) ([]byte, int) {
	mark := len(out)
	ps := &pointScanner{line: line, address: address, lastText: -1}
	n, start, extra := 0, 0, 0 // extra: the space inserted at this line's start
	for len(line)-start+extra > maxLine {
		// The last place of the best grade within maxLine; a place must
		// leave text on this line.
		var best [3]foldPoint
		for {
			pt, ok := ps.peek()
			if !ok || pt.pos-start+extra > maxLine {
				break
			}
			ps.take()
			if pt.pos <= start || pt.pos < from || pt.lastText < start {
				continue
			}
			best[pt.grade] = pt
		}
		var pick foldPoint
		for _, pt := range best {
			if pt.pos > 0 {
				pick = pt
				break
			}
		}
		if pick.pos == 0 {
			return append(out[:mark], line...), 0 // no place within maxLine
		}
		if extra > 0 {
			out = append(out, ' ')
		}
		out = append(out, line[start:pick.pos]...)
		out = append(out, brk...)
		start, extra = pick.pos, 0
		if pick.insert {
			extra = 1
		}
		n++
	}
	if extra > 0 {
		out = append(out, ' ')
	}
	return append(out, line[start:]...), n
}

// pointScanner finds the places to break a line, in order: before white
// space, and, in a field of addresses, after a comma outside quotes,
// comments and angle brackets that white space does not follow.
type pointScanner struct {
	line    []byte
	address bool
	i       int
	pending [2]foldPoint // found, not yet taken: np of them
	np      int

	quoted, escaped bool
	depth, angle    int
	lastText        int  // the last octet read that is not white space
	afterComma      bool // that octet is a comma between addresses
}

// peek returns the next place without taking it.
func (s *pointScanner) peek() (foldPoint, bool) {
	for s.np == 0 && s.i < len(s.line) {
		s.read()
	}
	if s.np == 0 {
		return foldPoint{}, false
	}
	return s.pending[0], true
}

func (s *pointScanner) take() {
	s.pending[0] = s.pending[1]
	s.np--
}

func (s *pointScanner) add(p foldPoint) {
	s.pending[s.np] = p
	s.np++
}

// read reads one octet of the line.
func (s *pointScanner) read() {
	i, c, line := s.i, s.line[s.i], s.line
	s.i++
	wasEscaped := s.escaped
	if (c == ' ' || c == '\t') && i > 0 {
		grade := 0
		switch {
		case !s.address, s.afterComma:
		case s.quoted || s.depth > 0:
			grade = 2
		default:
			grade = 1
		}
		s.add(foldPoint{pos: i, lastText: s.lastText, grade: grade})
	}
	switch {
	case s.escaped:
		s.escaped = false
	case !s.address:
	case c == '\\' && (s.quoted || s.depth > 0):
		s.escaped = true
	case c == '"' && s.depth == 0:
		s.quoted = !s.quoted
	case s.quoted:
	case c == '(':
		s.depth++
	case c == ')' && s.depth > 0:
		s.depth--
	case s.depth > 0:
	case c == '<':
		s.angle++
	case c == '>' && s.angle > 0:
		s.angle--
	case c == ',' && s.angle == 0 && i+1 < len(line) && line[i+1] != ' ' && line[i+1] != '\t':
		s.add(foldPoint{pos: i + 1, insert: true, lastText: i})
	}
	if c != ' ' && c != '\t' {
		s.lastText = i
		s.afterComma = s.address && c == ',' && !s.quoted && s.depth == 0 && s.angle == 0 && !wasEscaped
	}
}

// addressField reports whether a header field holds addresses (RFC 5322
// sections 3.6.2, 3.6.3 and 3.6.6), where white space may go after each
// comma between them.
func addressField(name string) bool {
	switch strings.ToLower(name) {
	case "from", "sender", "reply-to", "to", "cc", "bcc",
		"resent-from", "resent-sender", "resent-to", "resent-cc", "resent-bcc":
		return true
	}
	return false
}

// splitEOL splits a line into its content and its line end (CRLF, LF, or
// none).
func splitEOL(line []byte) (content, eol []byte) {
	e := eolOf(line)
	return line[:len(line)-len(e)], e
}

func eolOf(line []byte) []byte {
	switch {
	case bytes.HasSuffix(line, []byte("\r\n")):
		return line[len(line)-2:]
	case bytes.HasSuffix(line, []byte("\n")):
		return line[len(line)-1:]
	}
	return nil
}
