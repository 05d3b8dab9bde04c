package listener

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime/quotedprintable"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"
)

// TestAttachmentCheckUnreadable: QA's H3. A part or header the check
// cannot read as MIME must not carry an attachment over the limit past it
// (see largestPart for what each shape is taken as).
func TestAttachmentCheckUnreadable(t *testing.T) {
	cfg := testConfig()
	cfg.MaxMessageSize = 4 << 20
	cfg.MaxAttachmentSize = 16 << 10
	raw := bytes.Repeat([]byte{1}, 18<<10) // over the 16 KB limit
	b64 := wrap76(base64.StdEncoding.EncodeToString(raw))
	const tooBig = " exceeds the maximum attachment size of 16 KB"
	pdf := "Content-Type: application/pdf; name=\"big.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64
	// multi is a message whose first part has the header first, and
	// whose second part is the 18 KB attachment.
	multi := func(top, first string) string {
		return "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"BB\"\r\n" + top + "\r\n--BB\r\n" +
			first + "\r\nhi\r\n--BB\r\n" + pdf + "\r\n--BB--\r\n"
	}
	for _, tc := range []struct{ name, msg, want string }{
		// att_bypass3.py: NextPart failed on these, and the walk stopped.
		{"control: a well-formed first part", multi("", "Content-Type: text/plain\r\n"), "552 5.3.4 Attachment big.pdf" + tooBig},
		{"a first part's field name with a space", multi("", "Bad Key: x\r\n"), "552 5.3.4 Attachment big.pdf" + tooBig},
		{"a first part's line without a colon", multi("", "no colon\r\n"), "552 5.3.4 Attachment big.pdf" + tooBig},
		{"a first part's header beginning with a space", multi("", " folded\r\n"), "552 5.3.4 Attachment big.pdf" + tooBig},
		{"a first part's 8-bit field name", multi("", "\xe9: x\r\n"), "552 5.3.4 Attachment big.pdf" + tooBig},
		// att_bypass.py: message.Read refused a header over 1 MB.
		{"a top-level header over 1 MB", multi(strings.Repeat("A: b\r\n", 180000), ""), "552 5.3.4 Attachment big.pdf" + tooBig},
		{"a part header of 1 MB", multi("", strings.Repeat("A: b\r\n", 180000)), "552 5.3.4 Attachment big.pdf" + tooBig},
		{"fields after a bad line still count",
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\nno colon\r\n" + pdf + "\r\n--BB--\r\n",
			"552 5.3.4 Attachment big.pdf" + tooBig},
		// Decoders stopped at the first byte they refuse, and the count
		// with them; clients skip such bytes and show the file.
		{"base64 with a byte outside its alphabet",
			strings.Replace(multi("", "Content-Type: text/plain\r\n"), "base64\r\n\r\n", "base64\r\n\r\n!\r\n", 1),
			"552 5.3.4 Attachment big.pdf" + tooBig},
		{"quoted-printable with a bad escape",
			"MIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=ZZ" +
				strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef=\r\n", 300),
			"552 5.3.4 Attachment (application/octet-stream)" + tooBig},
		// Where the structure cannot be known, the whole is measured.
		{"a part with two Content-Types hiding a multipart",
			"MIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\n" + pdf + "\r\n--BB--\r\n",
			"552 5.3.4 Attachment (text/plain)" + tooBig},
		{"two Content-Types that differ in the charset only",
			"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + b64,
			"250 2.6.0"},
		{"a second Content-Type naming a text part",
			"MIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Type: text/plain; name=a.txt\r\n\r\n" + b64,
			"552 5.3.4 Attachment (text/plain)" + tooBig},
		{"a multipart without a boundary",
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n\r\n--BB\r\n" + pdf + "\r\n--BB--\r\n",
			"552 5.3.4 Attachment (multipart/mixed)" + tooBig},
		{"a Content-Type longer than 16 KB",
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB;\r\n x=\"" + strings.Repeat("x", 17<<10) + "\"\r\n\r\n--BB\r\n" + pdf + "\r\n--BB--\r\n",
			"552 5.3.4 Attachment (part with an unreadable header)" + tooBig},
		{"an attachment behind a delimiter that is not ours",
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n--BBx\r\n" + pdf + "\r\n--BBx--\r\n",
			"552 5.3.4 Attachment (text outside the MIME parts)" + tooBig},
		// A Content-Type or Content-Disposition Go cannot parse, which a
		// lenient client reads all the same (found from outside).
		{"a comment in Content-Type",
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\nContent-Type: application/pdf (c); name=\"big.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64 + "\r\n--BB--\r\n",
			"552 5.3.4 Attachment (part with an unreadable header)" + tooBig},
		{"a name given twice",
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\nContent-Type: application/pdf; name=\"a.pdf\"; name=\"b.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64 + "\r\n--BB--\r\n",
			"552 5.3.4 Attachment (part with an unreadable header)" + tooBig},
		{"a filename given twice",
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"x\"; filename=\"y\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64 + "\r\n--BB--\r\n",
			"552 5.3.4 Attachment (part with an unreadable header)" + tooBig},
		// Comments are not read past: readers take the type up to the
		// first ';' (Python's email) or white space (Thunderbird),
		// comments included, and a walk that read past them let files
		// over the limit through (found from outside, 549 variants).
		{"a comment before a text type",
			"MIME-Version: 1.0\r\nContent-Type: (c)text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64,
			"552 5.3.4 Attachment (part with an unreadable header)" + tooBig},
		{"a comment before a multipart type",
			"MIME-Version: 1.0\r\nContent-Type: (c)multipart/mixed; boundary=AAAA\r\nContent-Transfer-Encoding: base64\r\n\r\n--AAAA\r\n\r\n" + b64 + "\r\n--AAAA--\r\n",
			"552 5.3.4 Attachment (part with an unreadable header)" + tooBig},
		{"a digest whose type has a comment",
			"MIME-Version: 1.0\r\nContent-Type: multipart/digest(c); boundary=B\r\n\r\n--B\r\nContent-Disposition: attachment; filename=big.txt\r\n\r\n" +
				strings.Repeat("a line of a text file padded out to its length\r\n", 400) + "--B--\r\n",
			"552 5.3.4 Attachment (part with an unreadable header)" + tooBig},
		{"a quote in a comment of the type",
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed (\"); boundary=B\r\nContent-Transfer-Encoding: base64\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n" + b64 + "\r\n--B--\r\n",
			"552 5.3.4 Attachment (part with an unreadable header)" + tooBig},
		{"a comment before a message type",
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: (c)message/rfc822\r\n\r\nSubject: in\r\n\r\n" +
				strings.Repeat("a line of a text file padded out to its length\r\n", 400) + "--B--\r\n",
			"552 5.3.4 Attachment (part with an unreadable header)" + tooBig},
		{"a type that is a comment",
			"MIME-Version: 1.0\r\nContent-Type: (application/pdf)\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64,
			"552 5.3.4 Attachment (part with an unreadable header)" + tooBig},
		{"a comment in the boundary",
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B(c)\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nhello\r\n--B(c)\r\n" + pdf + "\r\n--B(c)--\r\n--B--\r\n",
			"552 5.3.4 Attachment (part with an unreadable header)" + tooBig},
		{"a comment in the top-level multipart's type",
			strings.Replace(multi("", "Content-Type: text/plain\r\n"), "multipart/mixed; boundary", "multipart/mixed (c); boundary", 1),
			"552 5.3.4 Attachment (part with an unreadable header)" + tooBig},
		{"a boundary given twice",
			strings.Replace(multi("", "Content-Type: text/plain\r\n"), "boundary=\"BB\"", "boundary=\"BB\"; boundary=\"CC\"", 1),
			"552 5.3.4 Attachment (part with an unreadable header)" + tooBig},
		// Garbled parameters of the message's own text (a header
		// quoted-printable-encoded twice): text, as when they parse.
		{"a text body whose charset is garbled",
			"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=3D\"utf-8\"\r\n\r\n" + b64, "250 2.6.0"},
		{"a text part whose charset is garbled",
			"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=BB\r\n\r\n--BB\r\n" +
				"Content-Type: text/html; charset=3D\"utf-8\"\r\nContent-Disposition: inline\r\n\r\n" + b64 + "\r\n--BB--\r\n", "250 2.6.0"},
		{"an inline disposition with garbled parameters",
			"MIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Disposition: inline; x=3D\"y\"\r\n\r\n" + b64, "250 2.6.0"},
		{"a garbled text part with a name",
			"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=3D\"utf-8\"; name=\"a.txt\"\r\n\r\n" + b64,
			"552 5.3.4 Attachment (part with an unreadable header)" + tooBig},
		{"a garbled text part with a filename continuation",
			"MIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Disposition: inline; FileName*0=3D\"a.txt\"\r\n\r\n" + b64,
			"552 5.3.4 Attachment (part with an unreadable header)" + tooBig},
		{"a garbled text part marked attachment",
			"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=3D\"utf-8\"\r\nContent-Disposition: attachment\r\n\r\n" + b64,
			"552 5.3.4 Attachment (part with an unreadable header)" + tooBig},
		{"a garbled text type with a comment",
			"MIME-Version: 1.0\r\nContent-Type: text/plain (c); charset=3D\"utf-8\"\r\n\r\n" + b64,
			"552 5.3.4 Attachment (part with an unreadable header)" + tooBig},
		{"a garbled part that is not text",
			"MIME-Version: 1.0\r\nContent-Type: application/pdf; x=3D\"y\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64,
			"552 5.3.4 Attachment (part with an unreadable header)" + tooBig},
		{"two garbled Content-Types",
			"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=3D\"a\"\r\nContent-Type: text/plain; charset=3D\"b\"\r\n\r\n" + b64,
			"552 5.3.4 Attachment (part with an unreadable header)" + tooBig},
		// A digest's parts are messages unless typed (RFC 2046 section
		// 5.1.5): a forwarded message's attachment in one is measured
		// (found from outside).
		{"a digest's part without a header",
			"MIME-Version: 1.0\r\nContent-Type: multipart/digest; boundary=DD\r\n\r\n--DD\r\n\r\n" +
				"Subject: fwd\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\n" + pdf + "\r\n--BB--\r\n\r\n--DD--\r\n",
			"552 5.3.4 Attachment big.pdf" + tooBig},
		{"a digest's part with only a garbled disposition",
			"MIME-Version: 1.0\r\nContent-Type: multipart/digest; boundary=DD\r\n\r\n--DD\r\nContent-Disposition: inline; x=3D\"y\"\r\n\r\n" +
				"Subject: fwd\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\n" + pdf + "\r\n--BB--\r\n\r\n--DD--\r\n",
			"552 5.3.4 Attachment (part with an unreadable header)" + tooBig},
		{"a digest's part typed as text",
			"MIME-Version: 1.0\r\nContent-Type: multipart/digest; boundary=DD\r\n\r\n--DD\r\nContent-Type: text/plain\r\n\r\n" + b64 + "\r\n--DD--\r\n",
			"250 2.6.0"},
		{"a part of a mixed multipart inside a digest's message is text by default",
			"MIME-Version: 1.0\r\nContent-Type: multipart/digest; boundary=DD\r\n\r\n--DD\r\n\r\n" +
				"Subject: fwd\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\n\r\n" + b64 + "\r\n--BB--\r\n\r\n--DD--\r\n",
			"250 2.6.0"},
		// Text types other than a message's text are files, named or
		// not (found from outside: Thunderbird lists such a part).
		{"an unnamed text/csv part",
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\nContent-Type: text/plain\r\n\r\nhi\r\n--BB\r\n" +
				"Content-Type: text/csv\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64 + "\r\n--BB--\r\n",
			"552 5.3.4 Attachment (text/csv)" + tooBig},
		{"an unnamed HTML part",
			"MIME-Version: 1.0\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64, "250 2.6.0"},
		{"an unnamed calendar invitation",
			"MIME-Version: 1.0\r\nContent-Type: text/calendar; method=REQUEST\r\n\r\n" + b64, "250 2.6.0"},
		{"a garbled text/xml part",
			"MIME-Version: 1.0\r\nContent-Type: text/xml; charset=3D\"utf-8\"\r\n\r\n" + b64,
			"552 5.3.4 Attachment (part with an unreadable header)" + tooBig},
		{"an unnamed AMP rendering beside the HTML",
			"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=AA\r\n\r\n--AA\r\nContent-Type: text/plain\r\n\r\nhi\r\n--AA\r\n" +
				"Content-Type: text/x-amp-html\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64 + "\r\n--AA\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n--AA--\r\n",
			"250 2.6.0"},
		{"a named part in an alternative",
			"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=AA\r\n\r\n--AA\r\nContent-Type: text/plain\r\n\r\nhi\r\n--AA\r\n" +
				"Content-Type: text/csv; name=\"big.csv\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64 + "\r\n--AA--\r\n",
			"552 5.3.4 Attachment big.csv" + tooBig},
		{"a digest's untyped part encoded in base64",
			"MIME-Version: 1.0\r\nContent-Type: multipart/digest; boundary=DD\r\n\r\n--DD\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64 + "\r\n--DD--\r\n",
			"552 5.3.4 Attachment (message/rfc822)" + tooBig},
		{"a digest's untyped part encoded in quoted-printable",
			"MIME-Version: 1.0\r\nContent-Type: multipart/digest; boundary=DD\r\n\r\n--DD\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
				"Subject: fwd\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\n" + pdf + "\r\n--BB--\r\n\r\n--DD--\r\n",
			"552 5.3.4 Attachment (message/rfc822)" + tooBig},
		// Text after a line that only looks like a file's beginning is
		// text: a line not as long as its first character says ends the
		// file (found from outside, both ways).
		{"long text after a line that only begins like a uuencoded file",
			"Subject: words\r\n\r\nbegin 644 steps of the plan\r\n" + strings.Repeat("Mostly short lines of prose here, one after another.\r\n", 2000),
			"250 2.6.0"},
		{"a uuencoded file with a line of text after every ten",
			"Subject: old style\r\n\r\n" + regexp.MustCompile(`((?:M.{60}\r\n){10})`).ReplaceAllString(uuencode("big.zip", raw), "${1}note\r\n"),
			"552 5.3.4 Attachment big.zip" + tooBig},
		{"two files, each under the limit, with text between",
			"Subject: old style\r\n\r\n" + strings.TrimSuffix(uuencode("a.zip", raw[:10<<10]), "`\r\nend\r\n") + "some text here\r\n" + uuencode("b.zip", raw[:10<<10]),
			"250 2.6.0"},
		{"a log after a line that only begins like a uuencoded file",
			"Subject: words\r\n\r\ncat <<EOF\r\nbegin 644 $name\r\nEOF\r\n" + strings.Repeat("INFO 2026-11-30 12:00:00 build step finished without errors, moving on to the next one\r\n", 2000),
			"250 2.6.0"},
		{"long text after a line that only begins like a uuencoded file, then an indented line",
			"Subject: words\r\n\r\nbegin 644 steps of the plan\r\n  (that was a joke)\r\n" + strings.Repeat("Mostly short lines of prose here, one after another.\r\n", 2000),
			"250 2.6.0"},
		{"a uuencoded file with its characters shifted by 64",
			"Subject: old style\r\n\r\nbegin 644 big.zip\r\n" + regexp.MustCompile("[!-?]").ReplaceAllStringFunc(strings.SplitN(uuencode("big.zip", raw), "\r\n", 2)[1], func(c string) string { return string(rune(c[0] + 64)) }),
			"552 5.3.4 Attachment big.zip" + tooBig},
		{"a uuencoded file on one line, in pieces of 127 characters",
			"Subject: old style\r\n\r\nbegin 644 big.zip\r\n" + onePieceLine(uuencode("big.zip", raw)) + "\r\nend\r\n",
			"552 5.3.4 Attachment big.zip" + tooBig},
		// Files uuencoded in the text, which clients show as
		// attachments (found from outside).
		{"a uuencoded file in a message that is not MIME",
			"Subject: old style\r\n\r\nHere it is:\r\n\r\n" + uuencode("big.zip", raw) + "\r\nBye\r\n",
			"552 5.3.4 Attachment big.zip" + tooBig},
		{"a uuencoded file in a text part",
			"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n" + uuencode("big.zip", raw),
			"552 5.3.4 Attachment big.zip" + tooBig},
		{"a file in uuencode's base64 form",
			"Subject: b64\r\n\r\nbegin-base64 644 big.zip\r\n" + wrap76(base64.StdEncoding.EncodeToString(raw)) + "====\r\n",
			"552 5.3.4 Attachment big.zip" + tooBig},
		{"a uuencoded file in quoted-printable text",
			"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
				quotedPrintable("Here it is:\r\n\r\n"+uuencode("big.zip", raw)+"\r\nBye\r\n"),
			"552 5.3.4 Attachment big.zip" + tooBig},
		{"a uuencoded file in base64 text",
			"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
				wrap76(base64.StdEncoding.EncodeToString([]byte("Here it is:\r\n"+uuencode("big.zip", raw)))),
			"552 5.3.4 Attachment big.zip" + tooBig},
		{"a file in uuencode's base64 form, in base64 text with bare LF",
			"MIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: BASE64\r\n\r\n" +
				wrap76(base64.StdEncoding.EncodeToString([]byte("begin-base64 644 big.zip\n"+strings.ReplaceAll(wrap76(base64.StdEncoding.EncodeToString(raw)), "\r\n", "\n")+"====\n"))),
			"552 5.3.4 Attachment big.zip" + tooBig},
		{"a uuencoded file under the limit in quoted-printable text",
			"MIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
				quotedPrintable(uuencode("small.zip", raw[:10<<10])+strings.Repeat("Long prose that goes on and on. ", 4000)),
			"250 2.6.0"},
		{"long base64 text with no uuencoded file",
			"MIME-Version: 1.0\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
				wrap76(base64.StdEncoding.EncodeToString([]byte("begin 644 of our plans\r\n"+strings.Repeat("<p>Mostly short lines of prose here.</p>", 4000)))),
			"250 2.6.0"},
		// Content-Transfer-Encoding: x-uuencode is counted decoded
		// (found from outside: a file under the limit was refused).
		{"an x-uuencode attachment over the limit",
			"MIME-Version: 1.0\r\nContent-Type: application/zip; name=big.zip\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n" + uuencode("big.zip", raw),
			"552 5.3.4 Attachment big.zip" + tooBig},
		{"an x-uuencode attachment under the limit, over it encoded",
			"MIME-Version: 1.0\r\nContent-Type: application/zip; name=small.zip\r\nContent-Transfer-Encoding: X-UUE\r\n\r\n" + uuencode("small.zip", raw[:15<<10]),
			"250 2.6.0"},
		// Uuencode as Thunderbird reads it, and the other encodings it
		// shows as files (found from outside).
		{"a uuencoded file without a name",
			"Subject: old style\r\n\r\n" + strings.Replace(uuencode("x", raw), "begin 644 x", "begin 644", 1),
			"552 5.3.4 Attachment (uuencoded file)" + tooBig},
		{"a uuencoded file with its lines cut short",
			"Subject: old style\r\n\r\n" + regexp.MustCompile(`(?m)^(M.{59}).\r$`).ReplaceAllString(uuencode("big.zip", raw), "$1\r"),
			"552 5.3.4 Attachment big.zip" + tooBig},
		{"a uuencoded file with a checksum after each line",
			"Subject: old style\r\n\r\n" + regexp.MustCompile(`(?m)^(M.{60})\r$`).ReplaceAllString(uuencode("big.zip", raw), "${1}a\r"),
			"552 5.3.4 Attachment big.zip" + tooBig},
		{"a yEnc file",
			"Subject: binaries\r\n\r\n=ybegin line=128 size=18432 name=big.bin\r\n" + yEncode(raw) + "=yend size=18432\r\n",
			"552 5.3.4 Attachment big.bin" + tooBig},
		{"a BinHex file",
			"Subject: mac\r\n\r\n(This file must be converted with BinHex 4.0)\r\n:" +
				strings.TrimSuffix(regexp.MustCompile(`.{1,64}`).ReplaceAllString(strings.Repeat("A", 26000), "$0\r\n"), "\r\n") + ":\r\n",
			"552 5.3.4 Attachment (BinHex file)" + tooBig},
		// A line longer than the reader's buffer inside a file is
		// counted as clients decode it (found from outside: it ended the
		// file here, and the rest went uncounted).
		{"a uuencoded file with a line of 70,000 characters",
			"Subject: old style\r\n\r\n" + longSecondLine(uuencode("big.zip", raw)),
			"552 5.3.4 Attachment big.zip" + tooBig},
		{"a yEnc file on one line",
			"Subject: binaries\r\n\r\n=ybegin line=200000 size=18432 name=big.bin\r\n" + strings.ReplaceAll(yEncode(bytes.Repeat(raw, 5)), "\r\n", "") + "\r\n=yend size=18432\r\n",
			"552 5.3.4 Attachment big.bin" + tooBig},
		{"a file in uuencode's base64 form on one line",
			"Subject: b64\r\n\r\nbegin-base64 644 big.zip\r\n" + base64.StdEncoding.EncodeToString(bytes.Repeat(raw, 5)) + "\r\n====\r\n",
			"552 5.3.4 Attachment big.zip" + tooBig},
		{"a uuencoded file with a long line, in base64 text",
			"MIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
				wrap76(base64.StdEncoding.EncodeToString([]byte(longSecondLine(uuencode("big.zip", raw))))),
			"552 5.3.4 Attachment big.zip" + tooBig},
		// BinHex's run-length coding decodes a few characters to many
		// bytes: measured decoded, however small the message (found from
		// outside: a 24 MB file of runs in a 520 KB message).
		{"a BinHex file of runs in the text",
			"Subject: mac\r\n\r\n" + binHexRuns(64<<10, 200) + "Bye\r\n",
			"552 5.3.4 Attachment (BinHex file)" + tooBig},
		{"a mac-binhex40 attachment of runs",
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\nContent-Type: text/plain\r\n\r\nscan\r\n--BB\r\n" +
				"Content-Type: application/mac-binhex40; name=scan.hqx\r\nContent-Disposition: attachment\r\n\r\n" + binHexRuns(64<<10, 200) + "--BB--\r\n",
			"552 5.3.4 Attachment scan.hqx" + tooBig},
		// Found from outside: the same file in a part sent as base64 or
		// quoted-printable, under another type name, or in base64 text.
		{"a mac-binhex40 attachment of runs, sent as base64",
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\nContent-Type: text/plain\r\n\r\nscan\r\n--BB\r\n" +
				"Content-Type: application/mac-binhex40; name=scan.hqx\r\nContent-Transfer-Encoding: base64\r\n\r\n" + wrap76(base64.StdEncoding.EncodeToString([]byte(binHexRuns(64<<10, 200)))) + "--BB--\r\n",
			"552 5.3.4 Attachment scan.hqx" + tooBig},
		{"a mac-binhex40 attachment of runs, sent as quoted-printable",
			"MIME-Version: 1.0\r\nContent-Type: application/Mac-BinHEX40; name=scan.hqx\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + quotedPrintable(binHexRuns(64<<10, 200)),
			"552 5.3.4 Attachment scan.hqx" + tooBig},
		{"an x-mac-binhex40 attachment of runs",
			"MIME-Version: 1.0\r\nContent-Type: application/x-mac-binhex40; name=scan.hqx\r\n\r\n" + binHexRuns(64<<10, 200),
			"552 5.3.4 Attachment scan.hqx" + tooBig},
		{"a BinHex file of runs in base64 text",
			"MIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n" + wrap76(base64.StdEncoding.EncodeToString([]byte(binHexRuns(64<<10, 200)))),
			"552 5.3.4 Attachment (BinHex file)" + tooBig},
		// Lines ended by CR alone in decoded text (found from outside).
		{"a BinHex file of runs with CR line ends, in base64 text",
			"MIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n" + wrap76(base64.StdEncoding.EncodeToString([]byte("Hi\r"+strings.ReplaceAll(binHexRuns(64<<10, 200), "\r\n", "\r")))),
			"552 5.3.4 Attachment (BinHex file)" + tooBig},
		{"a mac-binhex40 attachment of runs with CR line ends, sent as base64",
			"MIME-Version: 1.0\r\nContent-Type: application/mac-binhex40; name=scan.hqx\r\nContent-Transfer-Encoding: base64\r\n\r\n" + wrap76(base64.StdEncoding.EncodeToString([]byte(strings.ReplaceAll(binHexRuns(64<<10, 200), "\r\n", "\r")))),
			"552 5.3.4 Attachment scan.hqx" + tooBig},
		{"a BinHex file of runs with LF CR line ends, in base64 text",
			"MIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n" + wrap76(base64.StdEncoding.EncodeToString([]byte(strings.ReplaceAll(binHexRuns(64<<10, 200), "\r\n", "\n\r")))),
			"552 5.3.4 Attachment (BinHex file)" + tooBig},
		{"a uuencoded file with CR line ends, in base64 text",
			"MIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n" + wrap76(base64.StdEncoding.EncodeToString([]byte(strings.ReplaceAll(uuencode("big.zip", raw), "\r\n", "\r")))),
			"552 5.3.4 Attachment big.zip" + tooBig},
		{"a small mac-binhex40 attachment of runs, sent as base64",
			"MIME-Version: 1.0\r\nContent-Type: application/mac-binhex40; name=small.hqx\r\nContent-Transfer-Encoding: base64\r\n\r\n" + wrap76(base64.StdEncoding.EncodeToString([]byte(binHexRuns(12<<10, 200)))),
			"250 2.6.0"},
		{"a mac-binhex40 attachment of exactly the limit, its header and checksums aside",
			"MIME-Version: 1.0\r\nContent-Type: application/mac-binhex40; name=exact.hqx\r\n\r\n" + binHexRuns(16<<10+26, 1),
			"250 2.6.0"},
		{"a mac-binhex40 attachment of a byte over the limit",
			"MIME-Version: 1.0\r\nContent-Type: application/mac-binhex40; name=over.hqx\r\n\r\n" + binHexRuns(16<<10+27, 1),
			"552 5.3.4 Attachment over.hqx" + tooBig},
		{"a BinHex file of runs under the limit",
			"Subject: mac\r\n\r\n" + binHexRuns(12<<10, 200),
			"250 2.6.0"},
		{"a BinHex file with 0x90 bytes of its own, under the limit",
			"Subject: mac\r\n\r\n" + binHexRuns(12<<10, 1),
			"250 2.6.0"},
		{"prose quoting BinHex's first line",
			"Subject: mac\r\n\r\n(This file must be converted with BinHex 4.0)\r\n" + strings.Repeat("Then some prose, with spaces in it.\r\n", 1000),
			"250 2.6.0"},
		{"a uuencoded file under the limit",
			"Subject: small\r\n\r\n" + uuencode("small.zip", raw[:10<<10]) + uuencode("other.zip", raw[:10<<10]),
			"250 2.6.0"},
		{"text that only begins like a uuencoded file",
			"Subject: words\r\n\r\nbegin 644 meetings this year\r\n" + strings.Repeat("Then we met again.\r\n", 100) + "end\r\n",
			"250 2.6.0"},
		// Delimiters as clients read them.
		{"a delimiter followed by 100 KB of white space",
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\nContent-Type: text/plain\r\n\r\nhi\r\n--BB" +
				strings.Repeat(" ", 100<<10) + "\r\n" + pdf + "\r\n--BB--\r\n",
			"552 5.3.4 Attachment big.pdf" + tooBig},
		// Name parameters written wrongly, which Go's parser drops and
		// lenient clients read (found from outside).
		{"a text part named by filename*= without a charset",
			"MIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Disposition: inline; filename*=big.txt\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64,
			"552 5.3.4 Attachment big.txt" + tooBig},
		{"a text part named by name*=",
			"MIME-Version: 1.0\r\nContent-Type: text/plain; name*=big.txt\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64,
			"552 5.3.4 Attachment big.txt" + tooBig},
		{"a text part named by a continuation without its first piece",
			"MIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Disposition: inline; filename*1=\"big.txt\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64,
			"552 5.3.4 Attachment big.txt" + tooBig},
		{"a text part named by filename*0*= with a charset",
			"MIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Disposition: inline; filename*0*=utf-8''big.txt\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64,
			"552 5.3.4 Attachment big.txt" + tooBig},
		// A header that runs on into its body, without the empty line
		// (found from outside: clients that end a header at a line that
		// is not a field show the file).
		{"a part's base64 right after its fields",
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\nContent-Type: text/plain\r\n\r\nhi\r\n--BB\r\n" +
				"Content-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n" + b64 + "\r\n--BB--\r\n",
			"552 5.3.4 Attachment a.pdf" + tooBig},
		{"a message's base64 right after its fields",
			"MIME-Version: 1.0\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n" + b64,
			// The Drop file has the empty line the header lacks.
			"552 5.3.4 Attachment a.pdf" + tooBig},
		{"a named part's lines of key:value after a line that is not a field",
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\nContent-Type: text/plain; name=app.log\r\n" +
				"Content-Disposition: attachment; filename=app.log\r\nlog start\r\n" + strings.Repeat("key000001:value of a log line\r\n", 1000) + "\r\n--BB--\r\n",
			"552 5.3.4 Attachment app.log" + tooBig},
		{"an unnamed text part's text right after its header",
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: 7bit\r\n" +
				strings.Repeat("Report line with words and no colon\r\n", 1000) + "\r\n--BB--\r\n",
			"250 2.6.0"},
		{"a part's base64 under the limit right after its fields",
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\nContent-Type: text/plain\r\n\r\nhi\r\n--BB\r\n" +
				"Content-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n" + wrap76(base64.StdEncoding.EncodeToString(raw[:14<<10])) + "\r\n--BB--\r\n",
			"250 2.6.0"},
		{"a few lines that are not fields in a part's header",
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\nContent-Type: text/plain\r\nnot a field\r\n" +
				strings.Repeat("x", 1000) + "\r\n\r\nhi\r\n--BB--\r\n",
			"250 2.6.0"},
		// A CR alone ends a line for Python's email and Thunderbird
		// (found from outside: a part hidden behind such lines).
		{"a part behind lines ended by CR alone",
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nhi\r--XX\r" +
				"Content-Type: application/pdf; name=cr.pdf\rContent-Transfer-Encoding: base64\r\r" + strings.ReplaceAll(b64, "\r\n", "\r") + "\r\n--XX--\r\n",
			"552 5.3.4 Attachment cr.pdf" + tooBig},
		{"CR alone in text under the limit",
			"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n" + strings.Repeat("a line\r", 3000) + "\r\n",
			"250 2.6.0"},
		// Bare LF is stored as CRLF: a part of them is measured as
		// stored (found from outside: 10 KB of bare LFs as received, 20
		// KB in the Drop file, passed a 16 KB limit).
		{"a binary part of bare LFs, under the limit as received",
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\nContent-Type: application/octet-stream; name=lf.bin\r\n" +
				"Content-Transfer-Encoding: binary\r\n\r\n" + strings.Repeat("\n", 10<<10) + "\r\n--BB--\r\n",
			"552 5.3.4 Attachment lf.bin" + tooBig},
		{"a binary part of bare LFs, under the limit as stored",
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\nContent-Type: application/octet-stream; name=lf.bin\r\n" +
				"Content-Transfer-Encoding: binary\r\n\r\n" + strings.Repeat("\n", 7<<10) + "\r\n--BB--\r\n",
			"250 2.6.0"},
		{"bare LF line ends",
			strings.ReplaceAll(multi("", "Content-Type: text/plain\r\n"), "\r\n", "\n"),
			"552 5.3.4 Attachment big.pdf" + tooBig},
		// What is not an attachment is still stored as received.
		{"not MIME", "Subject: plain\r\n\r\n" + b64, "250 2.6.0"},
		{"a long text part", "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=BB\r\n\r\n--BB\r\n" +
			"Content-Type: text/plain\r\n\r\n" + b64 + "\r\n--BB--\r\n", "250 2.6.0"},
		{"two attachments each under the limit",
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\n" +
				strings.Replace(pdf, b64, b64[:len(b64)/2-2], 1) + "\r\n--BB\r\n" + strings.Replace(pdf, b64, b64[:len(b64)/2-2], 1) + "\r\n--BB--\r\n",
			"250 2.6.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sendExpect(t, cfg, tc.msg, tc.want)
		})
	}
}

// uuencode is POSIX uuencode's output for a file: "begin", lines of up
// to 45 bytes led by their length, a line of length 0, "end".
func uuencode(name string, data []byte) string {
	enc := func(c byte) byte {
		if c == 0 {
			return '`'
		}
		return c + ' '
	}
	var b strings.Builder
	b.WriteString("begin 644 " + name + "\r\n")
	for len(data) > 0 {
		n := min(len(data), 45)
		line := data[:n]
		data = data[n:]
		b.WriteByte(enc(byte(n)))
		for i := 0; i < n; i += 3 {
			var g [3]byte
			copy(g[:], line[i:])
			b.WriteByte(enc(g[0] >> 2))
			b.WriteByte(enc((g[0]<<4 | g[1]>>4) & 63))
			b.WriteByte(enc((g[1]<<2 | g[2]>>6) & 63))
			b.WriteByte(enc(g[2] & 63))
		}
		b.WriteString("\r\n")
	}
	b.WriteString("`\r\nend\r\n")
	return b.String()
}

// quotedPrintable is s encoded as Go's mime/quotedprintable writes it.
func quotedPrintable(s string) string {
	var b strings.Builder
	w := quotedprintable.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

// onePieceLine joins a uuencoded file's data lines into one line, each
// padded to 127 characters, as Thunderbird's decoder cuts a long line.
func onePieceLine(uu string) string {
	lines := strings.Split(strings.TrimSuffix(uu, "\r\n"), "\r\n")
	var b strings.Builder
	for _, l := range lines[1 : len(lines)-2] { // not begin, "`", end
		b.WriteString(l + strings.Repeat("`", 127-len(l)))
	}
	return b.String()
}

// longSecondLine is text with 70,000 backticks after its second line,
// longer than the reader's buffer: a uuencoded file's first data line
// with as many characters past its declared length.
func longSecondLine(text string) string {
	lines := strings.SplitAfterN(text, "\r\n", 3)
	return lines[0] + strings.TrimSuffix(lines[1], "\r\n") + strings.Repeat("`", 70000) + "\r\n" + lines[2]
}

// yEncode is yEnc's encoding of data, in lines of 128 characters.
// binHexRuns is BinHex 4.0 text (its first line, then ":" data ":") of
// a file of size bytes made of runs of length run, 0x90 among the bytes
// (which the coding escapes), run-length coded as BinHex codes it.
func binHexRuns(size, run int) string {
	var coded []byte
	for i := 0; i < size; i += run {
		b := byte(i / run * 7)
		n := min(run, size-i)
		lit := []byte{b}
		if b == 0x90 {
			lit = []byte{0x90, 0}
		}
		for n > 0 {
			k := min(n, 255)
			coded = append(coded, lit...)
			if k > 1 {
				coded = append(coded, 0x90, byte(k))
			}
			n -= k
		}
	}
	const alphabet = "!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr"
	var text []byte
	var v uint32
	var nb uint
	for _, c := range coded {
		v, nb = v<<8|uint32(c), nb+8
		for nb >= 6 {
			nb -= 6
			text = append(text, alphabet[v>>nb&63])
		}
	}
	if nb > 0 {
		text = append(text, alphabet[v<<(6-nb)&63])
	}
	text = append(append([]byte(":"), text...), ':')
	return "(This file must be converted with BinHex 4.0)\r\n\r\n" + regexp.MustCompile(`.{1,64}`).ReplaceAllString(string(text), "$0\r\n")
}

func yEncode(data []byte) string {
	var b strings.Builder
	n := 0
	for _, c := range data {
		e := c + 42
		if e == 0 || e == '\n' || e == '\r' || e == '=' {
			b.WriteByte('=')
			e += 64
			n++
		}
		b.WriteByte(e)
		if n++; n >= 128 {
			b.WriteString("\r\n")
			n = 0
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

// wrap76 breaks base64 into lines of 76 characters (RFC 2045 section 6.8).
func wrap76(s string) string {
	return regexp.MustCompile(`.{1,76}`).ReplaceAllString(s, "$0\r\n")
}

// bombs are QA's H2 shapes, about 5 MB each, which held 75 times their
// size in memory: header fields of six bytes each in a part's header
// (part_header_bomb.py) and in the message's (hdrbomb.py), and the same
// in the fields the check keeps.
func bombs() []struct{ name, msg string } {
	const n = 800000
	fields := strings.Repeat("A: b\r\n", n)
	part := func(header string) string {
		return "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"BB\"\r\n\r\n--BB\r\n" +
			"Content-Type: application/octet-stream; name=\"x.bin\"\r\n" + header + "\r\nAAAA\r\n--BB--\r\n"
	}
	return []struct{ name, msg string }{
		{"part header of tiny fields", part(fields)},
		{"top-level header of tiny fields", fields + "\r\nb\r\n"},
		{"part header of repeated Content-Type", part(strings.Repeat("Content-Type: a/b\r\n", n/3))},
		{"one Content-Disposition folded over 5 MB", part("Content-Disposition: attachment;" + strings.Repeat("\r\n x", n*2))},
		{"parts without end", "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"BB\"\r\n\r\n" +
			strings.Repeat("--BB\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n", n/8)},
		// Text sent encoded is decoded to look for uuencoded files: a
		// decoded line is held only up to readBuffer.
		{"base64 text of one 4 MB line", "MIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			wrap76(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("x"), n*5)))},
		{"quoted-printable text of one long line", "MIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
			strings.Repeat(strings.Repeat("=C3=A9", 12)+"=\r\n", n/15)},
	}
}

// heapPeak runs f and returns the most heap in use above what was in use
// before, sampled every millisecond, and the bytes allocated meanwhile.
// The collector runs at every 1% of growth meanwhile, so that the peak is
// what is held, not garbage awaiting a collection.
func heapPeak(f func()) (peak, alloc uint64) {
	defer debug.SetGCPercent(debug.SetGCPercent(1))
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var max atomic.Uint64
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > max.Load() {
				max.Store(m.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	f()
	close(stop)
	<-stopped
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if p := max.Load(); p > before.HeapAlloc {
		peak = p - before.HeapAlloc
	}
	return peak, after.TotalAlloc - before.TotalAlloc
}

// TestAttachmentCheckMemory: QA's H2, through a real listener. Before the
// check was our own walk, these took 75 to 350 MB each.
func TestAttachmentCheckMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("5 MB messages")
	}
	cfg := testConfig()
	cfg.MaxMessageSize = 8 << 20
	cfg.MaxAttachmentSize = 1 << 20
	for _, b := range bombs() {
		t.Run(b.name, func(t *testing.T) {
			ts := startServer(t, cfg)
			c := dial(t, ts.addr)
			c.hello()
			c.beginData()
			data := []byte(b.msg + "\r\n.\r\n") // not converted in the measure
			var r string
			peak, alloc := heapPeak(func() {
				if _, err := c.c.Write(data); err != nil {
					t.Fatal(err)
				}
				r = c.reply()
			})
			t.Logf("%d bytes: %q; heap peak +%d KB, allocated %d KB", len(b.msg), r, peak>>10, alloc>>10)
			if !strings.HasPrefix(r, "250 ") {
				t.Errorf("reply %q", r)
			}
			if peak > 8<<20 {
				t.Errorf("the heap grew by %d KB for a %d KB message", peak>>10, len(b.msg)>>10)
			}
		})
	}
}

// TestLargestPartMemory: the check alone holds its read buffer and little
// else, whatever the header's shape.
func TestLargestPartMemory(t *testing.T) {
	for _, b := range bombs() {
		msg := []byte(b.msg)
		var err error
		peak, alloc := heapPeak(func() { err = largestPart(bytes.NewReader(msg), 1<<20) })
		t.Logf("%s, %d bytes: %v; heap peak +%d KB, allocated %d KB", b.name, len(msg), err, peak>>10, alloc>>10)
		if err != nil {
			t.Errorf("%s: %v", b.name, err)
		}
		if peak > 4<<20 {
			t.Errorf("%s: the heap grew by %d KB", b.name, peak>>10)
		}
	}
}

func BenchmarkLargestPart(b *testing.B) {
	// For comparison with the encoded text above, which is decoded: an
	// attachment of the same size, whose characters are only counted.
	attachment := struct{ name, msg string }{"a base64 attachment of 4 MB", "MIME-Version: 1.0\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		wrap76(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("x"), 4<<20)))}
	for _, bm := range append(bombs(), attachment) {
		msg := []byte(bm.msg)
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				_ = largestPart(bytes.NewReader(msg), 8<<20)
			}
		})
	}
}

func TestBareCR(t *testing.T) {
	for in, want := range map[string]int{
		"abc":          -1,
		"a\r\nb":       -1,
		"a\rb":         1,
		"a\r":          -1, // its LF may follow
		"a\r\n\rb\r\n": 3,
		"\r\r\n":       0,
	} {
		if got := bareCR([]byte(in)); got != want {
			t.Errorf("bareCR(%q) = %d, want %d", in, got, want)
		}
	}
}

// The words that make a small message's attachments measured are found
// in any letter case, across reads however short (found from outside:
// "Mac-BinHEX40", and the word sent a byte at a time, went unmeasured).
func TestMayExpand(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want bool
	}{
		{"Content-Type: application/Mac-BinHEX40\r\n", true},
		{"(This file must be converted with BinHex 4.0)\r\n", true},
		{"content-TRANSFER-encoding: base64\r\n", true},
		{"Subject: a hex dump of the bin\r\n\r\ntransfer - encoding, bin hex\r\n", false},
		{"Subject: x\r\n\r\n" + strings.Repeat("plain text, no such word\r\n", 100), false},
	} {
		for name, r := range map[string]func(string) io.Reader{
			"whole":          func(s string) io.Reader { return strings.NewReader(s) },
			"a byte at once": func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) },
			"halves":         func(s string) io.Reader { return iotest.HalfReader(strings.NewReader(s)) },
		} {
			cr := &countingReader{r: r(tc.msg)}
			if _, err := io.Copy(io.Discard, cr); err != nil {
				t.Fatal(err)
			}
			if cr.mayExpand != tc.want {
				t.Errorf("%q read %s: mayExpand %v, want %v", tc.msg, name, cr.mayExpand, tc.want)
			}
		}
	}
}
