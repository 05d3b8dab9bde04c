package compat

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// runDropWriter writes in, cut at splits, through a DropWriter that adds
// "<new@id>" and "X-OriginalArrivalTime: T", set up further by opts, and
// returns the output and the Message-ID.
func runDropWriter(t testing.TB, in []byte, splits []int, opts ...func(*DropWriter)) ([]byte, string) {
	var out bytes.Buffer
	d := NewDropWriter(&out, func() string { return "<new@id>" }, "X-OriginalArrivalTime: T\r\n", false)
	for _, o := range opts {
		o(d)
	}
	for _, n := range splits {
		if n > len(in) {
			n = len(in)
		}
		if _, err := d.Write(in[:n]); err != nil {
			t.Fatal(err)
		}
		in = in[n:]
	}
	if _, err := d.Write(in); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), d.MessageID()
}

func TestDropWriterCases(t *testing.T) {
	tests := []struct{ name, in, want, id string }{
		{"empty", "", "Message-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n", "<new@id>"},
		{"header without line end", "Subject: x", "Subject: x\r\nMessage-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n", "<new@id>"},
		{"message-id any case", "message-ID:  <a@b> \r\n\r\nb", "message-ID:  <a@b> \r\nX-OriginalArrivalTime: T\r\n\r\nb\r\n", "<a@b>"},
		// An empty Message-ID gets the new one where it is (found from
		// outside: it was kept empty, and the reply had no ID).
		{"empty message-id", "Message-ID:\r\nSubject: s\r\n\r\nb", "Message-ID: <new@id>\r\nSubject: s\r\nX-OriginalArrivalTime: T\r\n\r\nb\r\n", "<new@id>"},
		{"blank message-id", "Subject: s\nmessage-id: \t\n\nb\n", "Subject: s\r\nmessage-id: \t<new@id>\r\nX-OriginalArrivalTime: T\r\n\r\nb\r\n", "<new@id>"},
		{"empty message-id last", "Subject: s\r\nMessage-ID:", "Subject: s\r\nMessage-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n", "<new@id>"},
		{"empty message-id folded blank", "Message-ID:\r\n \r\nX: y\r\n\r\nb", "Message-ID:\r\n <new@id>\r\nX: y\r\nX-OriginalArrivalTime: T\r\n\r\nb\r\n", "<new@id>"},
		// Likewise an empty X-OriginalArrivalTime (found from outside: kept
		// empty, and none added).
		{"empty arrival time", "X-OriginalArrivalTime:\r\nSubject: s\r\n\r\nb", "X-OriginalArrivalTime: T\r\nSubject: s\r\nMessage-ID: <new@id>\r\n\r\nb\r\n", "<new@id>"},
		{"blank arrival time folded", "x-originalarrivaltime: \r\n \r\nX: y\r\n\r\nb", "x-originalarrivaltime: \r\n T\r\nX: y\r\nMessage-ID: <new@id>\r\n\r\nb\r\n", "<new@id>"},
		{"arrival time on the next line", "X-OriginalArrivalTime:\r\n old\r\n\r\nb", "X-OriginalArrivalTime:\r\n old\r\nMessage-ID: <new@id>\r\n\r\nb\r\n", "<new@id>"},
		{"empty arrival time last", "Subject: s\r\nX-OriginalArrivalTime:", "Subject: s\r\nX-OriginalArrivalTime: T\r\nMessage-ID: <new@id>\r\n", "<new@id>"},
		{"empty message-id and arrival time", "Message-ID:\r\nX-OriginalArrivalTime:\r\n\r\nb", "Message-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n\r\nb\r\n", "<new@id>"},
		{"message-id on the next line", "Message-ID:\r\n <a@b>\r\n\r\nb", "Message-ID:\r\n <a@b>\r\nX-OriginalArrivalTime: T\r\n\r\nb\r\n", "<a@b>"},
		{"second message-id kept", "Message-ID: <a@b>\r\nMessage-ID:\r\n\r\nb", "Message-ID: <a@b>\r\nMessage-ID:\r\nX-OriginalArrivalTime: T\r\n\r\nb\r\n", "<a@b>"},
		{"continuation first is not a header", " x\r\n", "Message-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n\r\n x\r\n", "<new@id>"},
		{"mbox From line", "From a@b Mon\r\nSubject: x\r\n\r\nb", "From a@b Mon\r\nSubject: x\r\nMessage-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n\r\nb\r\n", "<new@id>"},
		{"text after a header with a line that is not a field, without the empty line", "To: a@x,\r\nb@x\r\nSubject: s\r\nHello\r\nsecond",
			"To: a@x,\r\nb@x\r\nSubject: s\r\nMessage-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n\r\nHello\r\nsecond\r\n", "<new@id>"},
		{"a Message-ID after a line that is not a field", "To: a@x,\r\nb@x\r\nMessage-ID: <m@x>\r\n\r\nb",
			"To: a@x,\r\nb@x\r\nMessage-ID: <m@x>\r\nX-OriginalArrivalTime: T\r\n\r\nb\r\n", "<m@x>"},
		{"a Message-ID in the body of a message without a header", "Hello\r\n\r\nMessage-ID: <m@x>\r\n",
			"Message-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n\r\nHello\r\n\r\nMessage-ID: <m@x>\r\n", "<new@id>"},
		{"bare CR kept", "A: 1\r\n\r\na\rb\n", "A: 1\r\nMessage-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n\r\na\rb\r\n", "<new@id>"},
		{"CR alone ends header lines", "A: 1\rB: 2\r\rbody\rmore\r", "A: 1\rB: 2\r\nMessage-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n\r\nbody\rmore\r\n", "<new@id>"},
		// Found from outside: a reader that takes only CRLF for a line end
		// read the added fields into the Subject, and the forged field
		// after the CR alone as one of the header.
		{"added fields after a line ended by a CR alone", "Subject: b\r\rX-OriginalArrivalTime: forged\r\n\r\nbody\r\n", "Subject: b\r\nMessage-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n\r\nX-OriginalArrivalTime: forged\r\n\r\nbody\r\n", "<new@id>"},
		{"header ended by a CR alone after CRLF lines", "A: 1\r\n\rbody\r\n", "A: 1\r\nMessage-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n\r\nbody\r\n", "<new@id>"},
		{"nothing added: the CRs stay", "Message-ID: <a@b>\rX-OriginalArrivalTime: x\r\rbody\r\n", "Message-ID: <a@b>\rX-OriginalArrivalTime: x\r\rbody\r\n", "<a@b>"},
		{"LF-only blank line", "A: 1\n\nbody\n", "A: 1\r\nMessage-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n\r\nbody\r\n", "<new@id>"},
		// RFC 5322 section 4.5: field-name *WSP ":" is still a field.
		{"space before colon", "From: a@x\r\nSubject : obs\r\nTo: b@y\r\nMessage-ID: <o@x>\r\n\r\nb",
			"From: a@x\r\nSubject : obs\r\nTo: b@y\r\nMessage-ID: <o@x>\r\nX-OriginalArrivalTime: T\r\n\r\nb\r\n", "<o@x>"},
		{"message-id with tab and space before colon", "Message-ID\t :<o@x>\r\n\r\nb",
			"Message-ID\t :<o@x>\r\nX-OriginalArrivalTime: T\r\n\r\nb\r\n", "<o@x>"},
		{"original arrival time with space before colon", "X-OriginalArrivalTime : old\r\n\r\nb",
			"X-OriginalArrivalTime : old\r\nMessage-ID: <new@id>\r\n\r\nb\r\n", "<new@id>"},
		{"white space alone before colon is no name", " : x\r\n\r\nb",
			"Message-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n\r\n : x\r\n\r\nb\r\n", "<new@id>"},
		{"last line without its end", "A: 1\r\n\r\nlast", "A: 1\r\nMessage-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n\r\nlast\r\n", "<new@id>"},
		{"last line ending in CR alone", "A: 1\r\n\r\nb\r", "A: 1\r\nMessage-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n\r\nb\r\n", "<new@id>"},
		{"a line that looks like a field stays in the header", "A: 1\r\nNot A: field\r\n",
			"A: 1\r\nNot A: field\r\nMessage-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n", "<new@id>"},
		{"text after the header without its empty line", "A: 1\r\nHello\r\n",
			"A: 1\r\nMessage-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n\r\nHello\r\n", "<new@id>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, id := runDropWriter(t, []byte(tt.in), nil)
			if string(got) != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
			if id != tt.id {
				t.Errorf("id %q, want %q", id, tt.id)
			}
		})
	}
}

// FuzzDropWriterInsertsOnly: the output is the input with line ends
// normalised and, at one line boundary, the added fields, followed by an
// empty line only for a message without a header; however the input is
// cut into writes.
func FuzzDropWriterInsertsOnly(f *testing.F) {
	f.Add([]byte("To: a@x,\r\nb@x\r\nSubject: s\r\n\r\nbody"), uint16(4))
	f.Add([]byte("no colon\nMessage-ID: <m@x>\n\n.\n"), uint16(1))
	f.Add([]byte(" first\r\nX-OriginalArrivalTime: t\r\n"), uint16(0))
	f.Add([]byte("Subject: x\r\nHello\r\n\r\nmore"), uint16(9))
	f.Add([]byte("X-OriginalArrivalTime:\r\nSubject: s\r\n\r\nb"), uint16(3))
	f.Fuzz(func(t *testing.T, in []byte, cut uint16) {
		run := func(splits []int) string {
			out, _ := runDropWriter(t, in, splits)
			return string(out)
		}
		whole := run(nil)
		if split := run([]int{int(cut) % (len(in) + 1)}); split != whole {
			t.Fatalf("output depends on writes:\n%q\n%q", whole, split)
		}
		norm := string(normalized(in))
		if strings.Contains(norm, "\r\r") || len(norm) > maxHeld/2 {
			return // a CR before a line end: a line of its own kind (see headerLine)
		}
		// The new ID written into an empty Message-ID field, and the
		// arrival time into an empty X-OriginalArrivalTime, are the other
		// insertions: where the output is not the input with the added
		// fields, it must be that with them taken out.
		err := insertedOnly(norm, whole)
		for _, a := range unfilled(whole, filledID) {
			for _, b := range append([]string{a}, unfilled(a, filledOAT)...) {
				if err != nil {
					err = insertedOnly(norm, b)
				}
			}
		}
		if err != nil {
			t.Fatalf("%v:\nin  %q\nout %q", err, in, whole)
		}
	})
}

var (
	filledID  = regexp.MustCompile(`(?i)(?:^|[\r\n])message-id[ \t]*:[ \t\r\n]*(<new@id>)`)
	filledOAT = regexp.MustCompile(`(?i)(?:^|[\r\n])x-originalarrivaltime[ \t]*:[ \t\r\n]*(T)\r\n`)
)

// unfilled returns out, and out with the value written into an empty
// field (re's group) taken out, with the space before it and without (it
// is written after the field's own white space).
func unfilled(out string, re *regexp.Regexp) []string {
	m := re.FindStringSubmatchIndex(out)
	if m == nil {
		return []string{out}
	}
	list := []string{out, out[:m[2]] + out[m[3]:]}
	if out[m[2]-1] == ' ' {
		list = append(list, out[:m[2]-1]+out[m[3]:])
	}
	return list
}

// insertedOnly checks that out is norm with, at one line boundary, the
// added fields, and an empty line after them only where norm has no
// header.
func insertedOnly(norm, out string) error {
	// Where the output first differs from the input is where the added
	// fields went: at a line boundary, and then the rest of the input
	// follows them whole.
	k := 0
	for k < len(norm) && k < len(out) && norm[k] == out[k] {
		k++
	}
	k = strings.LastIndexAny(norm[:k], "\r\n") + 1 // a CR alone ends a line too
	if k > 0 && k < len(norm) && norm[k-1] == '\r' && norm[k] == '\n' {
		k++
	}
	// A CR alone that ends the line before the added fields gets its LF,
	// and so does a CR alone that is the empty line after them.
	lead, tail := "", norm[k:]
	if k > 0 && norm[k-1] == '\r' && k < len(out) && out[k] == '\n' {
		lead = "\n"
	}
	if strings.HasPrefix(tail, "\r") && !strings.HasPrefix(tail, "\r\n") && !strings.HasSuffix(out, tail) {
		tail = "\r\n" + tail[1:]
	}
	added := strings.TrimSuffix(out, tail)
	if len(added) == len(out) && k < len(norm) {
		return errors.New("input not kept after the added fields")
	}
	added = strings.TrimPrefix(added[k:], lead)
	if !regexp.MustCompile(`^(Message-ID: <new@id>\r\n)?(X-OriginalArrivalTime: T\r\n)?(\r\n)?$`).MatchString(added) {
		return fmt.Errorf("inserted %q, not the added fields", added)
	}
	return nil
}

// TestDropWriterOptions: AddDate adds a Date only where the message has
// none. A line that is not a field stays in the header block when a field
// follows it, and the fields after it too, the added ones before it
// (found from outside: an empty line added there pushed Subject and
// Content-Type into the body), as does one that looks like a field; the
// added fields go at the end of the block. Text after a header without
// its empty line, or alone, gets it, after the added fields.
func TestDropWriterOptions(t *testing.T) {
	for _, c := range []struct {
		date     bool
		in, want string
	}{
		{true, "Subject: x\r\n\r\nb", "Subject: x\r\nDate: D\r\nMessage-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n\r\nb\r\n"},
		{true, "date : own\r\nSubject: x\r\n\r\nb", "date : own\r\nSubject: x\r\nMessage-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n\r\nb\r\n"},
		{true, "", "Date: D\r\nMessage-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n"},
		{false, "To: a@x,\r\nb@x\r\nSubject: s\r\nMessage-ID: <m@x>\r\n\r\nbody\r\n",
			"To: a@x,\r\nb@x\r\nSubject: s\r\nMessage-ID: <m@x>\r\nX-OriginalArrivalTime: T\r\n\r\nbody\r\n"},
		{true, "To: a@x,\r\nb@x\r\nSubject: s\r\n\r\nbody\r\n",
			"To: a@x,\r\nb@x\r\nSubject: s\r\nDate: D\r\nMessage-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n\r\nbody\r\n"},
		{false, "Subject: s\r\nno colon\r\n", "Subject: s\r\nMessage-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n\r\nno colon\r\n"},
		{false, "Subject: s\r\nHello\r\n\r\nmore\r\n", "Subject: s\r\nMessage-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n\r\nHello\r\n\r\nmore\r\n"},
		{false, "Na\xefve: x\r\n\r\nb\r\n", "Na\xefve: x\r\nMessage-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n\r\nb\r\n"},
		{false, "From: f\r\nNa\xefve: x\r\n\r\nb\r\n", "From: f\r\nNa\xefve: x\r\nMessage-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n\r\nb\r\n"},
		{false, "Hello\r\nworld\r\n", "Message-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n\r\nHello\r\nworld\r\n"},
		{false, " x\r\nSubject: s\r\n\r\nb\r\n", " x\r\nSubject: s\r\nMessage-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n\r\nb\r\n"},
	} {
		out, _ := runDropWriter(t, []byte(c.in), nil, func(d *DropWriter) {
			if c.date {
				d.AddDate("Date: D\r\n")
			}
		})
		if string(out) != c.want {
			t.Errorf("%q:\ngot  %q\nwant %q", c.in, out, c.want)
		}
	}
}

// FuzzDropWriter checks the streaming writer's invariants: no bare LF ever
// reaches a Drop file, the result does not depend on how the stream was cut
// into reads, and the body after the header block is the input's, with only
// line ends normalised.
func FuzzDropWriter(f *testing.F) {
	f.Add([]byte("Subject: a\r\nMessage-ID: <x@y>\r\n\r\nbody\r\n"), uint16(3), uint16(17))
	f.Add([]byte("no header\nat all\n"), uint16(1), uint16(2))
	f.Add([]byte("A: 1\n B\nC: 2\r\n\r\n\n\n\r\r\n"), uint16(5), uint16(0))
	f.Add([]byte("From: a@x\r\nSubject : obs syntax\r\nTo: b@y\r\nMessage-ID: <orig@x>\r\n\r\nbody"), uint16(12), uint16(30))
	f.Add([]byte("Message-ID\t \t: <o@x>\r\nX-OriginalArrivalTime  : t\r\n\r\n"), uint16(11), uint16(0))
	f.Add([]byte("Message-ID:\r\n\r\nb"), uint16(5), uint16(12))
	f.Add([]byte("Subject: s\r\nmessage-id \t: \r\n \r\nX: y\r\n\r\n"), uint16(20), uint16(30))
	f.Fuzz(func(t *testing.T, in []byte, a, b uint16) {
		whole, id1 := runDropWriter(t, in, nil)
		split, id2 := runDropWriter(t, in, []int{int(a) % (len(in) + 1), int(b) % (len(in) + 1)})
		if !bytes.Equal(whole, split) || id1 != id2 {
			t.Fatalf("output depends on read sizes:\n%q\n%q", whole, split)
		}
		for i, c := range whole {
			if c == '\n' && (i == 0 || whole[i-1] != '\r') {
				t.Fatalf("bare LF at %d in %q", i, whole)
			}
		}
		if strings.ContainsAny(id1, "\r\n") {
			t.Fatalf("Message-ID for the reply spans lines: %q", id1)
		}
		norm := normalized(in)
		// Whatever follows the first blank line of the input is kept.
		if i := bytes.Index(norm, []byte("\r\n\r\n")); i >= 0 && !bytes.Contains(norm[:i], []byte("\r\n ")) {
			rest := norm[i+4:]
			if !bytes.HasSuffix(whole, rest) {
				t.Fatalf("body changed:\nin  %q\nout %q", in, whole)
			}
		}
		// A header block of fields, white space before the colon included,
		// and folded lines, ended by a blank line, is kept whole: the
		// added fields go at its end.
		if hdr, rest, ok := fieldBlock(norm); ok {
			want := withAdded(hdr) + "\r\n" + string(rest)
			if string(whole) != want {
				t.Fatalf("header block not kept:\nin   %q\nout  %q\nwant %q", in, whole, want)
			}
		}
	})
}

// normalized is in with every line end CRLF (a bare LF made CRLF, a lone
// CR kept), and its last line ended (a lone CR gets its LF): what a
// DropWriter writes of it, the added fields aside.
func normalized(in []byte) []byte {
	norm := bytes.ReplaceAll(bytes.ReplaceAll(in, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
	if len(norm) > 0 && norm[len(norm)-1] != '\n' {
		if norm[len(norm)-1] == '\r' {
			norm = append(norm, '\n')
		} else {
			norm = append(norm, '\r', '\n')
		}
	}
	return norm
}

// withAdded is a header block hdr with the fields runDropWriter's writer
// adds where hdr has none.
func withAdded(hdr []byte) string {
	lower := "\r\n" + asciiLower(string(hdr))
	want := string(hdr)
	if m := blankIDField.FindStringSubmatchIndex(lower); m != nil && m[0] == headerNamed.FindStringIndex(lower)[0] {
		// The first Message-ID is empty: the new one is written into
		// it, after its last line's white space (2 for the "\r\n" added
		// in front).
		end, sep := m[3]-2, " "
		if c := want[end-1]; c == ' ' || c == '\t' {
			sep = ""
		}
		want = want[:end] + sep + "<new@id>" + want[end:]
	} else if !headerNamed.MatchString(lower) {
		want += "Message-ID: <new@id>\r\n"
	}
	wl := "\r\n" + asciiLower(want)
	if m := blankOATField.FindStringSubmatchIndex(wl); m != nil && m[0] == arrivalNamed.FindStringIndex(wl)[0] {
		// Likewise an empty first X-OriginalArrivalTime.
		end, sep := m[3]-2, " "
		if c := want[end-1]; c == ' ' || c == '\t' {
			sep = ""
		}
		want = want[:end] + sep + "T" + want[end:]
	} else if !arrivalNamed.MatchString(lower) {
		want += "X-OriginalArrivalTime: T\r\n"
	}
	return want
}

// asciiLower lowers ASCII letters only, byte for byte: the indexes found in
// its result are the input's (strings.ToLower makes an invalid byte three).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// blankValue is a field's value with nothing but white space (RFC 5322's
// WSP) in it, folded or not, up to the next field or the end; its group
// is the folded lines.
const blankValue = `[ \t]*((?:\r\n[ \t]+)*)\r\n(?:[^ \t]|$)`

var (
	fieldLine     = regexp.MustCompile(`^[!-9;-~]+[ \t]*:`) // RFC 5322 sections 2.2 and 4.5
	headerNamed   = regexp.MustCompile(`\r\nmessage-id[ \t]*:`)
	blankIDField  = regexp.MustCompile(`\r\nmessage-id[ \t]*:` + blankValue)
	arrivalNamed  = regexp.MustCompile(`\r\nx-originalarrivaltime[ \t]*:`)
	blankOATField = regexp.MustCompile(`\r\nx-originalarrivaltime[ \t]*:` + blankValue)
)

// fieldBlock splits a CRLF message whose lines up to the first empty one
// are all header fields or their folded continuations; ok is false for any
// other message.
func fieldBlock(msg []byte) (hdr, rest []byte, ok bool) {
	for pos := 0; ; {
		i := bytes.Index(msg[pos:], []byte("\r\n"))
		if i < 0 {
			return nil, nil, false
		}
		line := msg[pos : pos+i]
		switch {
		case len(line) == 0:
			return msg[:pos], msg[pos+2:], true
		case len(line) > maxHeaderLine/2, bytes.Contains(line, []byte("\r")): // a CR alone ends a line too
			return nil, nil, false
		case pos > 0 && (line[0] == ' ' || line[0] == '\t'):
		case !fieldLine.Match(line):
			return nil, nil, false
		}
		pos += i + 2
	}
}

// TestCleanID: the 250 reply echoes a message's own Message-ID only where
// it fits a reply line: printable ASCII, at most 250 octets.
func TestCleanID(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"<a@b>", "<a@b>"},
		{"  <a@b>\t", "<a@b>"},
		{"<a\x00b@c>", "<ab@c>"},
		{"<caf\u00e9@example.org>", ""},
		{"<a@b>\xff", "<a@b>"}, // invalid UTF-8 dropped, as controls
		{"<" + strings.Repeat("x", 250) + ">", ""},
		{"", ""},
	} {
		if got := cleanID(c.in); got != c.want {
			t.Errorf("cleanID(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
