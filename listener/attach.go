package listener

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"regexp"
	"slices"
	"strings"

	"github.com/emersion/go-message"
	"github.com/mailbridge/mailbridge/compat"
)

// errPartTooBig reports an attachment over the attachment limit. Its name
// is the part's own, as the log shows it; replyName is the form for the
// reply.
type errPartTooBig struct {
	name string
	size int64
}

func (e *errPartTooBig) Error() string {
	return fmt.Sprintf("attachment %s decodes to more than %d bytes", e.name, e.size)
}

// replyName is the name with every character that is not printable US-ASCII
// replaced by '?': reply text is printable US-ASCII (RFC 5321 section 4.2,
// textstring). RFC 6531 section 3.7.4.1 lets replies in a transaction
// begun with SMTPUTF8 hold UTF-8, but the reply stays ASCII there too: a
// client's log or error dialog may take the bytes for another charset.
func (e *errPartTooBig) replyName() string {
	return printableASCII(e.name)
}

const (
	// maxDepth bounds how deep largestPart follows nested multiparts and
	// forwarded messages; what is deeper is measured whole, as one
	// attachment (no mail client nests so deep: such a message is built to
	// slip past a filter).
	maxDepth = 50
	// maxFieldBytes is how much of a Content-Type, Content-Disposition or
	// Content-Transfer-Encoding field is held: enough for any file name a
	// client writes (RFC 2231 continuations included). A longer one makes
	// the part unreadable, and it is measured whole (see largestPart).
	maxFieldBytes = 16 << 10
	// maxBoundary bounds a boundary held for each open multipart. RFC 2046
	// section 5.1.1 allows 70 characters; a longer one is accepted, as
	// clients do, up to a line's length (RFC 5322 section 2.1.1).
	maxBoundary = 998
	// readBuffer is the longest piece of a line read at once: it holds
	// "--", any boundary, "--" and the line end, so a delimiter's start
	// is always in a line's first piece.
	readBuffer = 64 << 10
)

// Names for what is measured but has no name of its own.
const (
	nameTooDeep    = "(nested more than 50 levels deep)"
	nameOutside    = "(text outside the MIME parts)"
	nameUnreadable = "(part with an unreadable header)"
)

// largestPart walks a MIME message and returns an *errPartTooBig for the
// first attachment whose decoded body exceeds limit, or the error that
// kept it from reading r. A message that is not MIME is not an error: it
// is stored as received, as IIS did.
//
// An attachment is what a mail client shows as a file: every leaf part
// except a text part (messageText) that is neither marked "attachment"
// nor named (the message's own text, whose size max_message_size
// governs), and any file uuencoded in such text (uuLine). A forwarded
// message (message/rfc822) is walked into, so that its attachments are
// measured one by one, as they were in the original message.
//
// The walk is one pass over r, line by line, holding per message only the
// open multiparts' boundaries and three fields of the part being read
// (Content-Type, -Disposition, -Transfer-Encoding, each at most
// maxFieldBytes): memory does not grow with the size or the number of
// header fields. (go-message, which this replaced, held every field of a
// part's header, about 75 times its size for fields of a few bytes, with
// no limit below the top level.)
//
// What the walk cannot read is never a way past the limit; it keeps
// walking, as mail clients do, rather than refusing the message, because
// the clients that will show its attachments are just as lenient:
//   - a header line that is not a field (no colon, a space or 8-bit byte
//     in the name, a continuation with nothing to continue) is skipped and
//     the header goes on: every field after it still counts;
//   - a delimiter is found by its line alone (RFC 2046 section 5.1.1),
//     whatever the part before it held, so one broken part does not hide
//     the next;
//   - a part whose structure cannot be known (two differing Content-Type,
//     Content-Disposition or Content-Transfer-Encoding fields, one longer
//     than maxFieldBytes, a multipart without a usable boundary, nesting
//     deeper than maxDepth) is measured whole, as one attachment: counting
//     too much can refuse only a message bigger than the limit, where
//     counting too little would let its attachment through;
//   - text outside every part (a multipart's preamble and epilogue, RFC
//     2046 section 5.1.1) is measured too: no client writes more than a
//     line there, and a delimiter a lenient client sees and we do not
//     would otherwise hide an attachment in it;
//   - base64 and quoted-printable are counted, not decoded: a byte a
//     decoder would stop at is skipped (base64) or counted as itself
//     (quoted-printable), as clients do, instead of ending the count.
func largestPart(r io.Reader, limit int64) error {
	// A bufio.Reader of this size already (session.go's) is used as is.
	br := bufio.NewReaderSize(r, readBuffer)
	w := &mimeWalk{limit: limit, state: inHeader, cand: -1}
	atStart := true
	for {
		line, err := br.ReadSlice('\n')
		for len(line) > 0 {
			// A CR alone ends a line too, as Python's email and
			// Thunderbird read it (found from outside: a part after
			// lines ended by CR alone was shown, and not measured).
			// Such a CR last in a piece cut by the buffer waits: its
			// LF may follow.
			piece := line
			if i := bareCR(line); i >= 0 {
				piece = line[:i+1]
			}
			line = line[len(piece):]
			// The last line may lack its line end (BDAT, RFC 3030);
			// it ends there all the same.
			end := piece[len(piece)-1]
			complete := end == '\n' || end == '\r' && len(line) > 0 || errors.Is(err, io.EOF) && len(line) == 0
			if werr := w.chunk(piece, atStart, complete); werr != nil {
				return werr
			}
			atStart = complete
		}
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			return w.end()
		default:
			return fmt.Errorf("reading the message to measure its attachments: %w", err)
		}
	}
}

// bareCR returns the index of the first CR in p that is not followed by
// an LF within p, but not one last in p; -1 if there is none.
func bareCR(p []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(p[i:], '\r')
		if j < 0 || i+j+1 >= len(p) {
			return -1
		}
		if i += j; p[i+1] != '\n' {
			return i
		}
		i++
	}
}

// States of a mimeWalk.
const (
	inHeader  = iota // a header block: the message's, a part's or a forwarded message's
	inLeaf           // the body of a part that has no parts
	inOutside        // a multipart's preamble or epilogue
)

// Transfer encodings, as counted (RFC 2045 section 6).
const (
	encIdentity = iota // 7bit, 8bit, binary, and any we do not know: as sent
	encBase64
	encQP
	encUU // x-uuencode and its spellings: lines led by their decoded length
)

// frame is an open multipart.
type frame struct {
	delim  []byte // "--" and the boundary
	depth  int    // the multipart's depth
	digest bool   // multipart/digest: its parts are messages by default
	alt    bool   // multipart/alternative: its text parts are renderings
}

// field is one kept header field, unfolded as go-message's textproto does
// (continuation lines trimmed and joined by a space).
type field struct {
	val      []byte
	n        int    // how many fields of this name the header has
	differ   bool   // a second one differs from the first
	over     bool   // longer than maxFieldBytes
	current  bool   // the last line read belongs to this field
	building bool   // the first of its name, still being read
	shape    string // structure(val), once asked (see structure)
}

// structure is structure(f.val), computed once per field.
func (f *field) structure() string {
	if f.shape == "" {
		f.shape = structure(f.val)
	}
	return f.shape
}

type mimeWalk struct {
	limit  int64
	frames []frame
	state  int
	depth  int // of the entity whose header or body is being read
	// inDigest: the header being read is that of a part of a
	// multipart/digest, whose default type is message/rfc822 (RFC 2046
	// section 5.1.5), not text/plain.
	inDigest bool
	// inAlt: the header being read is that of a part of a
	// multipart/alternative, whose text parts are renderings of the
	// message's text (RFC 2046 section 5.1.4), whatever their type.
	inAlt bool

	// The header being read.
	ct, cd, cte field
	second      []byte // a second field of a kept name, being read
	// Bytes of its lines that are not fields, skipped (see headerLine),
	// and whether the line being read is one.
	junk      int64
	inJunk    bool
	afterJunk bool   // such a line was read: every line after it counts
	junkB64   bool   // and the fields before it say base64
	junkFile  bool   // and the fields before it make the part a file
	junkName  string // named so

	// The leaf being measured.
	measure bool // it is an attachment
	name    string
	enc     int
	binhex  bool  // a BinHex part (binHexTypes): w.bh counts its file, decoded
	n       int64 // decoded bytes so far (base64: alphabet characters)
	eol     int64 // the line end held back: it may belong to a delimiter

	outside int64 // bytes of the current preamble or epilogue

	// A uuencoded file in a text part being read (uuLine): its kind
	// (uuNone when none), name and decoded bytes so far (base64
	// characters for uuBase64).
	uu       int
	uuName   string
	uuN      int64
	uuCol    int    // uuClassic: where in its line the piece read begins
	uuBroken bool   // uuClassic: text broke the file; only uuencode's own lines count
	bh       binHex // uuBinHex, and a measured application/mac-binhex40 part
	// The text of a base64 or quoted-printable text part, decoded for
	// uuLine: the line being decoded, whether a piece of it went to
	// uuLine already (it outgrew readBuffer), and base64's bits not yet
	// a byte.
	decLine  []byte
	decLong  bool
	decCR    bool // the decoded text's last piece ended in CR: an LF next is its line end
	decBits  uint32
	decNBits uint

	// Whether the line being read is a delimiter is settled at its end:
	// one longer than the reader's buffer (a delimiter and that much
	// white space) comes in pieces. cand is the frame the line would end,
	// or -1, and candClose whether it is a close delimiter.
	cand      int
	candClose bool
}

// chunk takes the next piece of input: a whole line, or a piece of one
// longer than the reader's buffer (start tells whether it begins a line,
// complete whether it ends one).
func (w *mimeWalk) chunk(p []byte, start, complete bool) error {
	if start {
		w.cand, w.candClose = w.delimiter(p)
	} else if w.cand >= 0 && len(bytes.Trim(p, " \t\r\n")) > 0 {
		w.cand = -1
	}
	if complete && w.cand >= 0 {
		if w.state == inHeader {
			if err := w.checkJunk(); err != nil {
				return err
			}
		}
		w.endAt(w.cand, w.candClose)
		w.cand = -1
		return nil
	}
	// The pieces of a long line that may be a delimiter are read as
	// what they would be if it is not: at most they are counted once
	// too often.
	switch w.state {
	case inHeader:
		return w.headerLine(p, start, complete)
	case inLeaf:
		return w.body(p, start, complete)
	case inOutside:
		w.outside += int64(len(p))
		if w.outside > w.limit {
			return &errPartTooBig{name: nameOutside, size: w.limit}
		}
	}
	return nil
}

// delimiter tells whether line (or a long line's first piece) is a
// delimiter of an open multipart, and which: the index of its frame, or -1.
// RFC 2046 section 5.1.1: "--" and the boundary, then optional white space,
// then the line end; "--" after the boundary closes the multipart. The
// innermost multipart whose boundary matches wins; the ones inside it end
// with it, as in clients that check every enclosing boundary (a part cut
// short by its parent's delimiter).
func (w *mimeWalk) delimiter(line []byte) (i int, close bool) {
	if len(w.frames) == 0 || len(line) < 3 || line[0] != '-' || line[1] != '-' {
		return -1, false
	}
	line = bytes.TrimRight(line, " \t\r\n")
	for i = len(w.frames) - 1; i >= 0; i-- {
		d := w.frames[i].delim
		if !bytes.HasPrefix(line, d) {
			continue
		}
		switch rest := line[len(d):]; {
		case len(rest) == 0:
			return i, false
		case len(rest) == 2 && rest[0] == '-' && rest[1] == '-':
			return i, true
		}
	}
	return -1, false
}

// endAt ends what a delimiter of frames[i] ends: a new part's header
// follows, or, after a close delimiter, the multipart's epilogue.
func (w *mimeWalk) endAt(i int, close bool) {
	if close {
		w.frames = w.frames[:i]
		w.state = inOutside
		w.outside = 0
		return
	}
	w.frames = w.frames[:i+1]
	w.newHeader(w.frames[i].depth + 1)
	w.inDigest = w.frames[i].digest
	w.inAlt = w.frames[i].alt
}

func (w *mimeWalk) newHeader(depth int) {
	w.state = inHeader
	w.depth = depth
	w.inDigest, w.inAlt = false, false
	w.ct, w.cd, w.cte = field{val: w.ct.val[:0]}, field{val: w.cd.val[:0]}, field{val: w.cte.val[:0]}
	w.second = w.second[:0]
	w.junk, w.inJunk, w.afterJunk, w.junkB64, w.junkFile, w.junkName = 0, false, false, false, false, ""
}

// headerLine reads one line (or piece) of a header block. RFC 5322 section
// 2.2 (with section 4.5's white space before the colon, which RFC 2045
// section 3 takes for MIME fields too): a field is a name of printable
// ASCII but the colon, a colon and a value that continues on lines
// beginning with white space; an empty line ends the block.
//
// Lines that are not fields are skipped, but counted: a part whose header
// runs on into its body, without the empty line (found from outside:
// base64 right after the fields), is shown with its file by clients that
// end the header at such a line (Python's email). More of them than the
// limit is measured as such a file; no header is so long.
func (w *mimeWalk) headerLine(p []byte, start, complete bool) error {
	if w.afterJunk {
		// Python's email ends the header at a line that is not a field:
		// all that follows is the part's body (found from outside: a
		// named log file of "key:value" lines after such a line).
		w.junk += w.junkBytes(p)
	}
	if !start {
		if w.inJunk {
			return w.addJunk(p)
		}
		w.appendValue(trimEOL(p)) // a line longer than the reader's buffer
		return nil
	}
	w.inJunk = false
	content := trimEOL(p)
	if len(content) == 0 {
		if complete {
			w.closeFields()
			if err := w.checkJunk(); err != nil {
				return err
			}
			w.endHeader()
		}
		return nil
	}
	if content[0] == ' ' || content[0] == '\t' {
		// A continuation: joined by a space, as go-message unfolds.
		if v := bytes.Trim(content, " \t"); len(v) > 0 {
			w.appendValue([]byte{' '})
			w.appendValue(v)
		}
		return nil
	}
	w.closeFields()
	colon := bytes.IndexByte(content, ':')
	if colon < 0 {
		return w.addJunk(p) // not a field: skipped, the header goes on
	}
	name := bytes.TrimRight(content[:colon], " \t")
	for _, c := range name {
		if c < 33 || c > 126 {
			return w.addJunk(p) // not a field name: skipped
		}
	}
	var f *field
	switch {
	case asciiEqualFold(name, "Content-Type"):
		f = &w.ct
	case asciiEqualFold(name, "Content-Disposition"):
		f = &w.cd
	case asciiEqualFold(name, "Content-Transfer-Encoding"):
		f = &w.cte
	default:
		return nil
	}
	f.n++
	f.current = true
	f.building = f.n == 1
	if !f.building {
		w.second = w.second[:0]
	}
	w.appendValue(bytes.Trim(content[colon+1:], " \t"))
	return nil
}

// addJunk counts a header line, or a piece of one, that is not a field:
// the first such line begins what a reader that ends the header there
// takes for the body (headerLine counts the rest).
func (w *mimeWalk) addJunk(p []byte) error {
	w.inJunk = true
	if !w.afterJunk {
		w.junkB64 = asciiEqualFold(bytes.TrimSpace(w.cte.val), "base64")
		w.junk += w.junkBytes(p)
		w.afterJunk = true
		// Such a reader knows only the fields before it: they say
		// whether what follows is a file (not a multipart's parts,
		// which are walked as they come).
		file, name := w.file()
		t, _ := leadingToken(w.ct.val)
		w.junkFile = (file || w.digestMessage()) && !strings.HasPrefix(t, "multipart/")
		w.junkName = name
	}
	return nil
}

// junkBytes is what p adds to a header's body read as Python's email
// reads it: its bytes, or its base64 characters decoded when the fields
// before say base64 (found from outside: a 50,000-byte PDF so written was
// counted as its 67 KB of base64, and refused at 64 KB).
func (w *mimeWalk) junkBytes(p []byte) int64 {
	if !w.junkB64 {
		return int64(len(p))
	}
	var n int64
	for _, c := range p {
		if isBase64(c) {
			n++
		}
	}
	return n * 6 / 8
}

// checkJunk runs where a header block ends (its empty line, a delimiter,
// the end of the message): what follows its first line that is not a
// field, more than the limit of it, is the body of a part whose header
// lacks its empty line. It is a file, named as the fields before that line
// name it, unless those make it the message's own text (found from
// outside: a script's unnamed text/plain part, its text right after its
// header, was refused).
func (w *mimeWalk) checkJunk() error {
	if w.junk > w.limit && w.junkFile {
		return &errPartTooBig{name: w.junkName, size: w.limit}
	}
	return nil
}

func (w *mimeWalk) fields() [3]*field { return [3]*field{&w.ct, &w.cd, &w.cte} }

// appendValue adds to the field being read, if it is one kept, up to
// maxFieldBytes; a value goes on across a long line's pieces and
// continuation lines until the next field or the empty line.
func (w *mimeWalk) appendValue(v []byte) {
	for _, f := range w.fields() {
		if !f.current {
			continue
		}
		buf := &f.val
		if !f.building {
			buf = &w.second
		}
		if len(*buf)+len(v) > maxFieldBytes {
			f.over = true
			return
		}
		*buf = append(*buf, v...)
	}
}

// closeFields ends the field being read. A second field of a kept name
// that means another structure than the first makes the header ambiguous:
// RFC 2045 allows one, and clients differ on which one they obey. (One that
// differs only in, say, the charset, as some bulk mailers write, changes
// nothing measured.)
func (w *mimeWalk) closeFields() {
	for _, f := range w.fields() {
		// Once a header is ambiguous it stays so: the fields after are not
		// compared (found by a test: 266,000 repeats took 137 MB of
		// garbage, two parses each).
		if f.current && !f.building && !f.differ && !bytes.EqualFold(w.second, f.val) &&
			(f == &w.cte || structure(w.second) != f.structure()) {
			f.differ = true
		}
		f.current, f.building = false, false
	}
}

// structure is what of a Content-Type or Content-Disposition value the
// walk obeys: the type, the boundary, and whether there is a name.
func structure(v []byte) string {
	t, p, err := mime.ParseMediaType(string(v))
	if err != nil {
		return "\x00" + string(v)
	}
	named := p["name"] != "" || p["filename"] != ""
	return fmt.Sprintf("%s %q %t", strings.ToLower(t), p["boundary"], named)
}

// endHeader decides, at the empty line, what the entity is.
func (w *mimeWalk) endHeader() {
	ct := string(w.ct.val)
	w.enc = encIdentity
	w.binhex, w.bh = false, binHex{}
	switch cte := bytes.TrimSpace(w.cte.val); {
	case asciiEqualFold(cte, "base64"):
		w.enc = encBase64
	case asciiEqualFold(cte, "quoted-printable"):
		w.enc = encQP
	case asciiEqualFold(cte, "x-uuencode"), asciiEqualFold(cte, "x-uue"), asciiEqualFold(cte, "uuencode"), asciiEqualFold(cte, "x-uu"):
		// Not in RFC 2045, but written by old clients, and decoded by
		// Thunderbird: found from outside, a file under the limit was
		// refused, counted as encoded.
		w.enc = encUU
	}
	unreadable := false
	for _, f := range w.fields() {
		unreadable = unreadable || f.differ || f.over
	}
	if w.depth > maxDepth {
		w.leaf(true, nameTooDeep)
		return
	}
	t, params, err := mime.ParseMediaType(ct)
	t = strings.ToLower(t)
	w.binhex = slices.Contains(binHexTypes, t)
	if w.digestMessage() {
		// A digest's part without a type is a message (found from
		// outside: taken for text, a forwarded message's attachment
		// inside it went unmeasured).
		t, err = "message/rfc822", nil
	}
	// A Content-Type or Content-Disposition there but unparseable (a
	// comment, "application/pdf (c); name=big.pdf"; a parameter given
	// twice) would have the part taken for unnamed text, not measured,
	// where a lenient client shows the file: found from outside, a 2.2 MB
	// PDF passed a 2 MB limit so. Such a part is measured whole.
	garbled := false
	for _, f := range []*field{&w.ct, &w.cd} {
		if v := bytes.TrimSpace(f.val); f.n > 0 && len(v) > 0 {
			if _, _, perr := mime.ParseMediaType(string(v)); perr != nil {
				garbled = true
			}
		}
	}
	switch {
	case garbled && !unreadable && w.plainText():
		// Only the parameters are garbled (found from outside:
		// "charset=3D\"utf-8\"", a header quoted-printable-encoded
		// twice), of a text part that is neither named nor marked
		// "attachment": the message's own text, as for a part whose
		// fields parse, which max_message_size governs.
		w.leaf(false, "")
	case unreadable || garbled:
		name, _ := attachmentName(w.header(), false)
		if w.ct.over || w.cd.over || garbled {
			name = nameUnreadable
		}
		w.leaf(true, name)
	case strings.HasPrefix(t, "multipart/"):
		b := params["boundary"]
		if err != nil || b == "" || len(b) > maxBoundary || strings.ContainsAny(b, "\r\n") {
			// RFC 2046 section 5.1.1: the boundary parameter is
			// required; without one the parts cannot be told apart.
			name, _ := attachmentName(w.header(), false)
			w.leaf(true, name)
			return
		}
		w.frames = append(w.frames, frame{delim: []byte("--" + b), depth: w.depth, digest: t == "multipart/digest", alt: t == "multipart/alternative"})
		w.state = inOutside
		w.outside = 0
	case (t == "message/rfc822" || t == "message/global") && w.enc == encIdentity:
		// RFC 2046 section 5.2.1 (and RFC 6532 section 3.5 for
		// message/global): the body is a whole message. (Encoded in
		// base64 against section 5.2.1, it is measured as a file.)
		w.newHeader(w.depth + 1)
	case w.digestMessage():
		// A message (the digest's default) encoded against RFC 2046
		// section 5.2.1: measured whole, as a message/rfc822 part so
		// encoded is (found from outside: taken for text).
		w.leaf(true, "(message/rfc822)")
	default:
		w.leaf(w.file())
	}
}

// file tells whether the part whose fields were read is a file (an
// attachment, see attachmentName) and names it. A name parameter that
// mime.ParseMediaType drops without an error (RFC 2231 written wrongly:
// "filename*=big.txt", a continuation without its first piece) leaves the
// part unnamed there, where lenient clients (Python's email) name it: found
// from outside, such a text file passed the limit. A part whose fields
// mention a name is a file, named as written.
func (w *mimeWalk) file() (measure bool, name string) {
	name, ok := attachmentName(w.header(), w.inAlt)
	if !ok && w.mentionsName() {
		ok = true
		if m := looseName.FindSubmatch(bytes.Join([][]byte{w.cd.val, w.ct.val}, []byte(";"))); m != nil {
			name = partName(string(m[1]), name)
		}
	}
	return ok, name
}

// digestMessage reports whether the part whose fields were read is a
// multipart/digest's part without a type: a message (RFC 2046 section
// 5.1.5), not text.
func (w *mimeWalk) digestMessage() bool {
	return w.inDigest && len(bytes.TrimSpace(w.ct.val)) == 0
}

// looseName finds the value of a name or filename parameter however it is
// written, for a part that mime.ParseMediaType found none in.
var looseName = regexp.MustCompile(`(?i)name\*?[0-9]*\*?\s*=\s*"?(?:[^"';]*'[^"';]*')?([^";]+)`)

// plainText reports whether a part whose Content-Type or
// Content-Disposition does not parse is all the same a text part that no
// client shows as a file: its media type (before any ';') is one of
// messageText's, or absent (RFC 2045 section 5.2); its disposition, if any, is "inline";
// and neither field holds "name" anywhere, so that no spelling of a
// name or filename parameter (RFC 2231 continuations included) a lenient
// client might read is missed. Anything else in doubt is measured.
func (w *mimeWalk) plainText() bool {
	if w.digestMessage() {
		return false // a message (RFC 2046 section 5.1.5)
	}
	if w.ct.n > 0 {
		t, ok := leadingToken(w.ct.val)
		if !ok || !messageText(t) && !(w.inAlt && strings.HasPrefix(t, "text/")) {
			return false
		}
	}
	if w.cd.n > 0 {
		if d, ok := leadingToken(w.cd.val); !ok || d != "inline" {
			return false
		}
	}
	return !w.mentionsName()
}

// leadingToken returns a field's value before its parameters, lower-cased,
// and whether it parses alone as a media type or disposition (RFC 2045
// section 5.1, RFC 2183 section 2): a comment or a quote there fails.
func leadingToken(v []byte) (string, bool) {
	if i := bytes.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	t, _, err := mime.ParseMediaType(string(bytes.TrimSpace(v)))
	return t, err == nil && t != ""
}

// mentionsName reports whether the part's Content-Type or
// Content-Disposition holds "name" anywhere, in any case: a name or
// filename parameter in any spelling a lenient client reads, whether or
// not it parses.
func (w *mimeWalk) mentionsName() bool {
	return containsFold(w.ct.val, "name") || containsFold(w.cd.val, "name")
}

// containsFold reports whether s holds the lower-case ASCII word sub,
// in any case. (Only for a garbled field, at most maxFieldBytes.)
func containsFold(s []byte, sub string) bool {
	return bytes.Contains(bytes.ToLower(s), []byte(sub))
}

// header is the part's kept fields as go-message's Header, whose parsing
// of parameters (RFC 2231, and RFC 2047 words that clients write in them)
// names the part.
func (w *mimeWalk) header() message.Header {
	var h message.Header
	if w.ct.n > 0 {
		h.Set("Content-Type", string(w.ct.val))
	}
	if w.cd.n > 0 {
		h.Set("Content-Disposition", string(w.cd.val))
	}
	return h
}

func (w *mimeWalk) leaf(measure bool, name string) {
	w.state = inLeaf
	w.measure = measure
	w.name = name
	w.n = 0
	w.eol = 0
	w.uu = uuNone
	w.decLine = w.decLine[:0]
	w.decLong, w.decCR = false, false
	w.decBits, w.decNBits = 0, 0
}

// Kinds of file encoded in text (uuLine).
const (
	uuNone    = iota
	uuClassic // "begin 644 name", lines led by their length, "end"
	uuBase64  // "begin-base64 644 name", base64 lines, "===="
	uuYEnc    // "=ybegin ... name=NAME", raw lines with "=" escapes, "=yend"
	uuBinHex  // "(This file must be converted with BinHex 4.0)", ":...:"
)

// uuPiece is how much of a uuencoded line Thunderbird decodes at once
// (its line buffer less the terminating NUL): each piece leads with its
// own length.
const uuPiece = 127

// uuBegin matches the first line of a uuencoded file (POSIX uuencode:
// "begin", the file's mode in octal, its name, which Thunderbird does not
// require).
var uuBegin = regexp.MustCompile(`^begin(-base64)? [0-7]{3,4}(?:\s+(.*\S))?\s*$`)

// yEncName is the name of a yEnc file, at the end of its "=ybegin" line.
var yEncName = regexp.MustCompile(`\sname=(.*\S)\s*$`)

// uuLine measures the files encoded in a text part that is otherwise the
// message's text, as mail clients show them: uuencode, its base64 form,
// yEnc and BinHex 4.0 (found from outside: Outlook and Thunderbird show
// such a file as an attachment, and a file over the limit went through as
// text). The text is looked at line by line; p is a whole line or a piece
// of one longer than the reader's buffer (start: its first). A file
// begins at a whole line; inside one, a long line counts as clients
// decode it (found from outside: one line of 70,000 characters ended the
// file here, and the rest of it went uncounted). Text in base64 or
// quoted-printable is looked at once decoded (uuDecode).
func (w *mimeWalk) uuLine(p []byte, start, complete bool) error {
	line := trimEOL(p)
	whole := start && complete
	switch w.uu {
	case uuNone:
		if !whole {
			return nil
		}
		switch m := uuBegin.FindSubmatch(line); {
		case m != nil:
			w.uu, w.uuN, w.uuBroken = uuClassic, 0, false
			if len(m[1]) > 0 {
				w.uu = uuBase64
			}
			w.uuName = partName(string(m[2]), "(uuencoded file)")
		case bytes.HasPrefix(line, []byte("=ybegin ")):
			w.uu, w.uuN = uuYEnc, 0
			w.uuName = "(yEnc file)"
			if m := yEncName.FindSubmatch(line); m != nil {
				w.uuName = partName(string(m[1]), w.uuName)
			}
		case bytes.HasPrefix(line, []byte("(This file must be converted with BinHex")):
			w.uu, w.uuN, w.uuName, w.bh = uuBinHex, 0, "(BinHex file)", binHex{}
		}
		return nil
	case uuClassic:
		if start {
			w.uuCol = 0
		}
		if whole && uuBegin.Match(line) {
			// A new file, the last one ended without its "end".
			w.uu = uuNone
			return w.uuLine(p, start, complete)
		}
		if whole && string(bytes.TrimRight(line, " \t")) == "end" || start && len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			// Thunderbird's uuencode ends at "end", or at a line that
			// begins with white space (mimeunty.cpp).
			w.uu = uuNone
			return nil
		}
		// Each line leads with the length it decodes to, in the six
		// bits of any character, which is all Thunderbird's decoder
		// looks at (mimeenc.cpp: ((c - ' ') & 077)), and it decodes a
		// long line in pieces of 127 characters, each led by its own
		// length. Found from outside: a file whose characters were
		// shifted by 64, or written on one long line, was shown whole
		// by Thunderbird and not counted here.
		if !whole || len(line) > uuPiece {
			if w.uuBroken {
				return nil // a long line of the text
			}
			for i := (uuPiece - w.uuCol%uuPiece) % uuPiece; i < len(line); i += uuPiece {
				if c := line[i]; c >= ' ' && c < 127 {
					w.uuN += int64((c - ' ') & 63)
				}
			}
			w.uuCol += len(line)
			break
		}
		if len(line) == 0 {
			return nil
		}
		// A line as long as its length says, give or take a checksum
		// character or two, whatever its characters; a shorter one
		// only of uuencode's characters (a gateway stripped trailing
		// spaces: Thunderbird pads them). Any other line is text, and
		// is not counted (found from outside: prose or a log after a
		// line that only looked like a file's beginning was counted as
		// one); after it, only lines of uuencode's characters alone
		// count, as a lenient decoder that skips text lines would
		// still find them (found from outside: a file with a line of
		// text after every hundred was measured a hundred lines at a
		// time).
		n := int((line[0] - ' ') & 63)
		inRange := !bytes.ContainsFunc(line, func(r rune) bool { return r < ' ' || r > '`' })
		switch want := 1 + (n+2)/3*4; {
		case len(line) > want+2 || len(line) < want && !inRange:
			w.uuBroken = true
			return nil
		case w.uuBroken && !inRange:
			return nil
		}
		w.uuN += int64(n)
	case uuBase64:
		if whole && string(line) == "====" {
			w.uu = uuNone
			return nil
		}
		for _, c := range line {
			if isBase64(c) {
				w.uuN++
			}
		}
	case uuYEnc:
		switch {
		case start && bytes.HasPrefix(line, []byte("=yend")):
			w.uu = uuNone
			return nil
		case start && bytes.HasPrefix(line, []byte("=ypart ")):
			return nil
		}
		// A byte each, but "=" and the byte it escapes: one.
		w.uuN += int64(len(line) - bytes.Count(line, []byte("=")))
	case uuBinHex:
		end, ok := w.bh.line(line, start, complete)
		if !ok {
			// Not BinHex: the text only quoted its first line
			// (found from outside: prose after it was counted).
			w.uu = uuNone
			return nil
		}
		if end {
			w.uu = uuNone
		}
		if w.bh.size() > w.limit {
			return &errPartTooBig{name: w.uuName, size: w.limit}
		}
		return nil
	}
	n := w.uuN
	if w.uu == uuBase64 {
		n = n * 6 / 8
	}
	if n > w.limit {
		return &errPartTooBig{name: w.uuName, size: w.limit}
	}
	return nil
}

// binHex counts the bytes a BinHex 4.0 text decodes to: six bits a
// character, then its run-length coding undone (0x90 and a count repeats
// the byte before it, so a few characters can stand for hundreds of
// bytes: found from outside, a 24 MB file of runs went through in a
// 520 KB message).
type binHex struct {
	n       int64 // bytes decoded so far, runs counted whole
	frame   int64 // bytes of the header and checksums around the forks: 26 and the name's length
	bits    uint32
	nbits   uint
	marker  bool // the last byte was 0x90: a count follows
	started bool // the ":" that begins the data was read
}

// line reads one line (or piece of one, start telling whether it begins
// the line) of BinHex text. It reports whether the data ended (its closing
// ":") and whether the line was BinHex at all.
func (h *binHex) line(p []byte, start, complete bool) (end, ok bool) {
	data := bytes.TrimSpace(p)
	switch {
	case h.started:
	case start && bytes.HasPrefix(data, []byte(":")):
		data, h.started = data[1:], true
	case len(data) == 0:
		return false, true // before the data
	default:
		return false, false
	}
	end = complete && bytes.HasSuffix(data, []byte(":"))
	data = bytes.TrimSuffix(data, []byte(":"))
	for _, c := range data {
		if c == '\r' || c == '\n' {
			continue // line ends, as BinHex decoders skip them
		}
		if c > 127 || binHexValue[c] < 0 {
			return false, false
		}
		h.bits = h.bits<<6 | uint32(binHexValue[c])
		h.nbits += 6
		if h.nbits < 8 {
			continue
		}
		h.nbits -= 8
		b := byte(h.bits >> h.nbits)
		switch {
		case h.marker && b == 0:
			h.marker = false
			h.n++ // 0x90 itself
		case h.marker:
			h.marker = false
			h.n += int64(b) - 1 // the byte before, b times in all
		case b == 0x90:
			h.marker = true
		default:
			if h.n == 0 {
				// The name's length leads the header (then the name, a
				// version byte, type, creator, flags, the forks' lengths,
				// a CRC); each fork ends in a CRC. Found from outside: a
				// file of exactly the limit was refused.
				h.frame = int64(b) + 26
			}
			h.n++
		}
	}
	return end, true
}

// size is the bytes of the file's forks decoded so far.
func (h *binHex) size() int64 { return max(0, h.n-h.frame) }

// binHexValue is the value of each of BinHex 4.0's 64 characters, -1 for
// any other.
var binHexValue = func() (a [128]int8) {
	for i := range a {
		a[i] = -1
	}
	for i, c := range "!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr" {
		a[c] = int8(i)
	}
	return a
}()

// uuDecode decodes a piece of a base64 or quoted-printable text part and
// hands its lines to uuLine (found from outside: a uuencoded file in text
// that Outlook had sent as quoted-printable, or another client as base64,
// went unmeasured, where the same file in plain text was refused). It
// decodes as leniently as body counts: base64 skips what is not in its
// alphabet and ends a group at "="; quoted-printable keeps an "=" that
// starts no escape.
func (w *mimeWalk) uuDecode(p []byte, complete bool) error {
	content := trimEOL(p)
	var buf [512]byte
	out := buf[:0]
	flush := func() error {
		err := w.uuText(out)
		out = out[:0]
		return err
	}
	switch w.enc {
	case encBase64:
		for _, c := range content {
			v, ok := base64Value(c)
			if !ok {
				if c == '=' {
					w.decBits, w.decNBits = 0, 0
				}
				continue
			}
			w.decBits = w.decBits<<6 | uint32(v)
			w.decNBits += 6
			if w.decNBits >= 8 {
				w.decNBits -= 8
				out = append(out, byte(w.decBits>>w.decNBits))
				w.decBits &= 1<<w.decNBits - 1
				if len(out) == cap(out) {
					if err := flush(); err != nil {
						return err
					}
				}
			}
		}
	case encQP:
		if complete {
			content = bytes.TrimRight(content, " \t") // RFC 2045 section 6.7 rule 3
		}
		soft := complete && len(content) > 0 && content[len(content)-1] == '='
		if soft {
			content = content[:len(content)-1] // rule 5: a soft line break
		}
		for i := 0; i < len(content); i++ {
			c := content[i]
			if c == '=' && i+2 < len(content) && isHex(content[i+1]) && isHex(content[i+2]) {
				c = unhex(content[i+1])<<4 | unhex(content[i+2])
				i += 2
			}
			out = append(out, c)
			if len(out) == cap(out) {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if complete && !soft {
			out = append(out, '\n')
		}
	}
	return flush()
}

// decodedLine takes a line of decoded text (uuText): a BinHex part's to
// its BinHex decoder, a text part's to uuLine.
func (w *mimeWalk) decodedLine(p []byte, start, complete bool) error {
	if w.measure && w.binhex {
		w.bh.line(trimEOL(p), start, complete)
		return nil
	}
	return w.uuLine(p, start, complete)
}

// uuText takes decoded text, and hands each line to uuLine once whole; a
// line longer than readBuffer goes in pieces, as the reader's lines do.
func (w *mimeWalk) uuText(p []byte) error {
	for len(p) > 0 {
		if w.decCR && p[0] == '\n' {
			p = p[1:] // the LF of a CRLF whose CR ended the last piece
			w.decCR = false
			continue
		}
		w.decCR = false
		// A CR alone ends a line too, as the reader's lines (found from
		// outside: BinHex in base64 text whose lines ended in CR was one
		// line here, and not measured).
		i := bytes.IndexAny(p, "\r\n")
		piece := p
		if i >= 0 {
			piece = p[:i]
		}
		for len(w.decLine)+len(piece) > readBuffer {
			k := readBuffer - len(w.decLine)
			w.decLine = append(w.decLine, piece[:k]...)
			piece = piece[k:]
			err := w.decodedLine(w.decLine, !w.decLong, false)
			w.decLine, w.decLong = w.decLine[:0], true
			if err != nil {
				return err
			}
		}
		w.decLine = append(w.decLine, piece...)
		if i < 0 {
			return nil
		}
		if p[i] == '\r' {
			switch {
			case i+1 == len(p):
				w.decCR = true
			case p[i+1] == '\n':
				i++
			}
		}
		p = p[i+1:]
		err := w.decodedLine(w.decLine, !w.decLong, true)
		w.decLine, w.decLong = w.decLine[:0], false
		if err != nil {
			return err
		}
	}
	return nil
}

// body counts a leaf's decoded bytes. The line end before a delimiter
// belongs to the delimiter (RFC 2046 section 5.1.1), so each line's end is
// held back until the next line shows it is not one.
func (w *mimeWalk) body(p []byte, start, complete bool) error {
	if !w.measure {
		if w.enc == encBase64 || w.enc == encQP {
			return w.uuDecode(p, complete)
		}
		return w.uuLine(p, start, complete) // x-uuencode text is a uuencoded file
	}
	content := trimEOL(p)
	w.n += w.eol
	w.eol = 0
	switch w.enc {
	case encBase64:
		for _, c := range content {
			if isBase64(c) {
				w.n++
			}
		}
	case encQP:
		if complete {
			content = bytes.TrimRight(content, " \t") // RFC 2045 section 6.7 rule 3
		}
		w.n += int64(len(content)) - 2*int64(qpEscapes(content))
		switch {
		case complete && len(content) > 0 && content[len(content)-1] == '=':
			w.n-- // a soft line break, rule 5: no line end either
		case complete:
			w.eol = int64(len(p) - len(trimEOL(p)))
		}
	case encUU:
		// Each line leads with the length it decodes to; "begin" and
		// "end" frame the file.
		if line := bytes.TrimRight(content, " \t"); len(line) > 0 && line[0] >= ' ' && line[0] <= '`' &&
			!bytes.HasPrefix(line, []byte("begin ")) && string(line) != "end" {
			w.n += int64((line[0] - ' ') & 63)
		}
	default:
		w.n += int64(len(content))
		if complete {
			w.eol = int64(len(p) - len(content))
		}
	}
	if w.binhex {
		// Its file, decoded as BinHex: the runs make it larger than the
		// text (check takes the larger). Found from outside: a 24 MB
		// file in a mac-binhex40 part sent as base64 passed as the
		// 0.5 MB of its text.
		if w.enc == encBase64 || w.enc == encQP {
			if err := w.uuDecode(p, complete); err != nil {
				return err
			}
		} else {
			w.bh.line(content, start, complete)
		}
	}
	return w.check()
}

func (w *mimeWalk) check() error {
	n := w.n
	if w.enc == encBase64 {
		n = w.n * 6 / 8
	}
	if w.binhex && w.bh.started {
		// The file, as clients decode the part, not its text.
		n = w.bh.size()
	}
	if w.measure && n > w.limit {
		return &errPartTooBig{name: w.name, size: w.limit}
	}
	return nil
}

// binHexTypes are the types of a part that holds a BinHex 4.0 file, as
// clients and old Mac mailers label it.
var binHexTypes = []string{"application/mac-binhex40", "application/x-mac-binhex40", "application/binhex", "application/x-binhex40", "application/binhex40"}

// end is the end of the message: a leaf's last line end is its own.
func (w *mimeWalk) end() error {
	if w.state == inHeader {
		return w.checkJunk()
	}
	if w.state == inLeaf && w.measure {
		w.n += w.eol
		w.eol = 0
		return w.check()
	}
	return nil
}

// messageText reports whether a part of media type t (lower case) that is
// neither named nor marked "attachment" is the message's own text, which
// mail clients show in place: plain text, HTML, enriched text (RFC 1896),
// a calendar invitation, a report's headers (RFC 6522). Other text types
// (text/csv, text/xml and the like) are files even without a name (found
// from outside: Thunderbird lists an unnamed text/csv part as an
// attachment, and one over the limit passed as text).
func messageText(t string) bool {
	switch t {
	case "text/plain", "text/html", "text/enriched", "text/richtext", "text/calendar", "text/rfc822-headers":
		return true
	}
	return false
}

// attachmentName names a leaf part for the log and the reply (its file
// name, else its type in parentheses) and tells whether it is an
// attachment. In a multipart/alternative (alt) every unnamed text part is
// a rendering of the message's text (found from outside: text/x-amp-html
// and text/watch-html, which no client lists as files).
func attachmentName(h message.Header, alt bool) (name string, ok bool) {
	disp, dp, derr := h.ContentDisposition()
	t, tp, terr := h.ContentType()
	if terr != nil || t == "" {
		t = "text/plain" // RFC 2045 section 5.2 default
	}
	switch {
	case derr == nil && dp["filename"] != "":
		name = dp["filename"]
	case terr == nil && tp["name"] != "":
		name = tp["name"]
	}
	text := messageText(strings.ToLower(t)) || alt && strings.HasPrefix(strings.ToLower(t), "text/")
	ok = name != "" || strings.EqualFold(disp, "attachment") || !text
	// The name goes into the log and, made ASCII, into the 552 reply:
	// one line, bounded. A name of nothing but control characters and
	// invalid UTF-8 would leave the reply naming nothing: the type names
	// the part then.
	return partName(name, "("+strings.ToLower(t)+")"), ok
}

// partName is a part's name as the log and the reply give it: one line,
// at most 100 characters, else fallback when nothing printable is left.
func partName(name, fallback string) string {
	name = compat.ReplyText(name)
	if name == "" {
		name = fallback
	}
	if r := []rune(name); len(r) > 100 {
		name = string(r[:100]) + "..."
	}
	return name
}

// trimEOL returns line without its "\r\n" or "\n" (a bare LF ends a line
// too: clients read such mail, and so does go-message).
func trimEOL(line []byte) []byte {
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r"))
}

// qpEscapes counts "=" and two hexadecimal digits in p (RFC 2045 section
// 6.7 rule 1; lower-case digits too, as decoders accept them).
func qpEscapes(p []byte) int {
	n := 0
	for i := 0; i+2 < len(p); i++ {
		if p[i] == '=' && isHex(p[i+1]) && isHex(p[i+2]) {
			n++
			i += 2
		}
	}
	return n
}

// unhex is the value of the hexadecimal digit c.
func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// base64Value is the value of c in the base64 alphabet, if it is in it.
func base64Value(c byte) (byte, bool) {
	switch {
	case 'A' <= c && c <= 'Z':
		return c - 'A', true
	case 'a' <= c && c <= 'z':
		return c - 'a' + 26, true
	case '0' <= c && c <= '9':
		return c - '0' + 52, true
	case c == '+':
		return 62, true
	case c == '/':
		return 63, true
	}
	return 0, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// isBase64 tells whether c is in the base64 alphabet (RFC 2045 section
// 6.8, table 1); every other byte, padding included, decodes to nothing.
func isBase64(c byte) bool {
	_, ok := base64Value(c)
	return ok
}

func asciiEqualFold(b []byte, s string) bool {
	return len(b) == len(s) && strings.EqualFold(string(b), s)
}
