package sender

import (
	"bytes"
	"strings"
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
// precedes. A field of addresses (From, To, Cc and the like) without such
// white space is folded after a comma between addresses (outside quotes,
// comments and angle brackets), where RFC 5322 section 3.4 allows white
// space: a space is inserted there. A line that has neither goes as it
// is. Each folded line is as long as it may be, at most maxLine octets
// where the field allows.
func foldHeader(head []byte) ([]byte, int) {
	if !hasLongLine(head) {
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
		if len(content) > 0 && content[0] != ' ' && content[0] != '\t' {
			// A field's first line names it; its continuation lines
			// are of the same field.
			name, _, _ := bytes.Cut(content, []byte(":"))
			address = addressField(string(bytes.TrimSpace(name)))
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
		out, n = foldLine(out, content, address, brk)
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
	lastText int  // the last octet before pos that is not white space, or -1
}

// foldLine appends line, folded with brk as the line break, to out, and
// says how many breaks it put in. Each line it makes is as long as may be,
// at most maxLine octets where the line has a place to break, else up to
// the first place after.
func foldLine(out, line []byte, address bool, brk []byte) ([]byte, int) {
	var points []foldPoint
	var quoted, escaped bool
	depth, angle, lastText := 0, 0, -1
	for i, c := range line {
		if (c == ' ' || c == '\t') && i > 0 {
			points = append(points, foldPoint{pos: i, lastText: lastText})
		}
		switch {
		case escaped:
			escaped = false
		case !address:
		case c == '\\' && (quoted || depth > 0):
			escaped = true
		case c == '"' && depth == 0:
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0:
		case c == '<':
			angle++
		case c == '>' && angle > 0:
			angle--
		case c == ',' && angle == 0 && i+1 < len(line) && line[i+1] != ' ' && line[i+1] != '\t':
			points = append(points, foldPoint{pos: i + 1, insert: true, lastText: i})
		}
		if c != ' ' && c != '\t' {
			lastText = i
		}
	}
	n, start, extra := 0, 0, 0 // extra: the space inserted at this line's start
	for p := 0; len(line)-start+extra > maxLine; {
		// The last point that keeps this line within maxLine, else the
		// first after it; a point must leave text on this line.
		pick := -1
		for ; p < len(points); p++ {
			pt := points[p]
			if pt.pos <= start || pt.lastText < start {
				continue
			}
			if pt.pos-start+extra > maxLine {
				if pick < 0 {
					pick = p
				}
				break
			}
			pick = p
		}
		if pick < 0 {
			break
		}
		pt := points[pick]
		p = pick + 1
		if extra > 0 {
			out = append(out, ' ')
		}
		out = append(out, line[start:pt.pos]...)
		out = append(out, brk...)
		start, extra = pt.pos, 0
		if pt.insert {
			extra = 1
		}
		n++
	}
	if extra > 0 {
		out = append(out, ' ')
	}
	return append(out, line[start:]...), n
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

// hasLongLine reports whether p has a line longer than maxLine octets,
// its line end not counted.
func hasLongLine(p []byte) bool {
	for len(p) > 0 {
		line := p
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			line = p[:i+1]
		}
		p = p[len(line):]
		if content, _ := splitEOL(line); len(content) > maxLine {
			return true
		}
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
