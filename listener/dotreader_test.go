package listener

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// refUnstuff is the transparency procedure of RFC 5321 section 4.5.2 read
// line by line, a reference written apart from dotReader's state machine:
// a line ends at LF, bare or after CR, and keeps its end; a line "." that
// CRLF both precedes and ends ends the message (lfEnds: any line ".",
// ".\r\n" or ".\n"); a line that starts with a dot loses it. It returns the
// message, how many input bytes the reader takes, and whether the end line
// was reached. Of an unfinished last line, the reader gives what cannot
// become the end line: a "." or ".\r" waits (the CR is not taken until its
// next byte comes), and a leading dot goes.
func refUnstuff(in []byte, lfEnds bool) (out []byte, used int, eof bool) {
	afterCRLF := true // the message's start is a line's
	for {
		i := bytes.IndexByte(in[used:], '\n')
		if i < 0 {
			break
		}
		line := in[used : used+i+1]
		used += i + 1
		if string(line) == ".\r\n" && (afterCRLF || lfEnds) || string(line) == ".\n" && lfEnds {
			return out, used, true
		}
		out = append(out, bytes.TrimPrefix(line, []byte("."))...)
		afterCRLF = bytes.HasSuffix(line, []byte("\r\n"))
	}
	tail := in[used:]
	switch {
	case string(tail) == ".\r":
		return out, len(in) - 1, false
	case bytes.HasPrefix(tail, []byte(".")):
		tail = tail[1:]
	}
	return append(out, tail...), len(in), false
}

// chunkedUnstuff feeds in to a dotReader in pieces of the given sizes, as
// reads from the network would come; what it does not take (a held CR)
// comes again at the start of the next piece, as Read does.
func chunkedUnstuff(in []byte, sizes []byte, lfEnds bool) (out []byte, used int, eof bool) {
	d := &dotReader{lfEnds: lfEnds}
	var b, held []byte
	pos := 0 // the next input byte not fed yet
	for k := 0; pos < len(in); k++ {
		n := len(in) - pos
		if len(sizes) > 0 {
			n = min(n, int(sizes[k%len(sizes)])+1)
		}
		b = append(append(b[:0], held...), in[pos:pos+n]...)
		pos += n
		o, u, e := d.unstuff(b)
		out = append(out, b[:o]...)
		if e {
			return out, pos - (len(b) - u), true
		}
		held = append(held[:0], b[u:]...)
	}
	return out, pos - len(held), false
}

func FuzzDotReader(f *testing.F) {
	for _, s := range []string{
		"Subject: x\r\n\r\nbody\r\n.\r\n",
		"..leading dot\r\n...\r\n.\r\nQUIT\r\n",
		".\r\n",
		"bare\nlf\n.\n.\r\n",
		"cr\r\r\n.\r\nmore\r\n.\r\n",
		".\rX\r\n.\r\n",
		"line1\r\r\n..stuffed\r\ntext\r\r\n.\r\n",
		".\r\r\n.\r\r\n.\r",
		"no end\r\n.",
		"\r\n.\r\n",
		strings.Repeat("long line ", 500) + "\r\n.\r\n",
		"lf\n..stuffed\n\n.\nQUIT\n",
		"mixed\r\n.x\n.\r\n",
		".\n",
	} {
		f.Add([]byte(s), []byte{0, 3, 200})
	}
	f.Fuzz(func(t *testing.T, in, sizes []byte) {
		for _, lfEnds := range []bool{false, true} {
			wantOut, wantUsed, wantEOF := refUnstuff(in, lfEnds)
			gotOut, gotUsed, gotEOF := chunkedUnstuff(in, sizes, lfEnds)
			if !bytes.Equal(gotOut, wantOut) || gotUsed != wantUsed || gotEOF != wantEOF {
				t.Fatalf("input %q in chunks %v, bare LF ends lines %v:\n got %q used %d eof %v\nwant %q used %d eof %v",
					in, sizes, lfEnds, gotOut, gotUsed, gotEOF, wantOut, wantUsed, wantEOF)
			}
		}
	})
}

// TestDataPipelinedAfterBody: the client pipelines the next transaction
// right behind a message's end (RFC 2920), and sends a message without
// waiting for the 354 (an early talker). Every byte after the end of a
// message must reach go-smtp as commands, in order, and the W3C log pairs
// each command with its reply.
func TestDataPipelinedAfterBody(t *testing.T) {
	cfg := testConfig()
	ts, ml := startLogged(t, cfg)
	c := dial(t, ts.addr)
	c.hello()
	c.send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n")
	c.replies("250 2.1.0", "250 2.1.5", "354 ")
	// One write: the end of message 1, all of transaction 2 (its body
	// before the 354), and QUIT.
	c.send("Subject: one\r\n\r\n..dot\r\n.\r\n" +
		"MAIL FROM:<c@x.test>\r\nRCPT TO:<d@y.test>\r\nDATA\r\nSubject: two\r\n\r\nsecond\r\n.\r\nQUIT\r\n")
	c.replies("250 2.6.0", "250 2.1.0 c@x.test", "250 2.1.5 d@y.test", "354 ", "250 2.6.0", "221 2.0.0")
	c.waitClosed()

	names := ts.dropFiles(t)
	if len(names) != 2 {
		t.Fatalf("Drop holds %v, want 2 files", names)
	}
	var bodies []string
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(ts.drop, n))
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, string(b))
	}
	joined := strings.Join(bodies, "\n---\n")
	for _, want := range []string{"Subject: one\r\n", "\r\n.dot\r\n", "Subject: two\r\n", "\r\nsecond\r\n"} {
		if !strings.Contains(joined, want) {
			t.Errorf("Drop files lack %q:\n%s", want, joined)
		}
	}
	if strings.Contains(joined, "MAIL FROM") || strings.Contains(joined, "QUIT") {
		t.Errorf("commands ended up in a message:\n%s", joined)
	}

	ml.mu.Lock()
	var got []string
	for _, e := range ml.entries {
		got = append(got, fmt.Sprintf("%s %d %d", e.Method, e.Status, e.CSBytes))
	}
	ml.mu.Unlock()
	// DATA's cs-bytes: the command line and the message as sent, end line
	// included ("Subject: one\r\n\r\n..dot\r\n.\r\n" is 26 bytes).
	want := []string{
		"EHLO 250 18", "MAIL 250 22", "RCPT 250 20", "DATA 250 32",
		"MAIL 250 22", "RCPT 250 20", "DATA 250 33",
	}
	if len(got) < len(want) || strings.Join(got[:len(want)], "|") != strings.Join(want, "|") {
		t.Errorf("W3C entries\n got %v\nwant %v then QUIT", got, want)
	}
	if len(got) != len(want)+1 || !strings.HasPrefix(got[len(want)], "QUIT 240 ") {
		t.Errorf("W3C entries %v: want QUIT last", got)
	}
}

// TestDataRefusedThenBody: DATA without a recipient is refused, and what
// the client sent after it is read as commands, as RFC 2920 section 3.1
// describes for a pipelining client whose DATA fails.
func TestDataRefusedThenBody(t *testing.T) {
	ts := startServer(t, testConfig())
	c := dial(t, ts.addr)
	c.hello()
	c.send("MAIL FROM:<a@x.test>\r\nDATA\r\nNOOP\r\n")
	c.replies("250 2.1.0", "5", "250 ")
	if n := ts.dropFiles(t); len(n) != 0 {
		t.Fatalf("Drop holds %v", n)
	}
}

// TestMessageSizeBoundary: the size limit counts the message as stored
// (leading dots removed, CRLF kept), and a message of exactly the limit
// is accepted (RFC 1870 section 6: SIZE is the largest message the server
// takes; go-smtp's reader refused it).
func TestMessageSizeBoundary(t *testing.T) {
	cfg := testConfig()
	cfg.MaxMessageSize = 1000
	cfg.MaxAttachmentSize = 0
	ts := startServer(t, cfg)
	for _, tc := range []struct {
		size int
		want string
	}{
		{999, "250 2.6.0"},
		{1000, "250 2.6.0"},
		{1001, "552 5.3.4"},
		{1100, "552 5.3.4"},
	} {
		// Lines that start with a dot: the wire carries one more byte per
		// line than the message holds.
		var stored []string
		for left := tc.size; left > 0; {
			n := 100
			if left < 200 && left != 100 {
				n = left
			}
			stored = append(stored, "."+strings.Repeat("x", n-3)+"\r\n")
			left -= n
		}
		wire := "." + strings.Join(stored, ".") + ".\r\n"
		if got := len(strings.Join(stored, "")); got != tc.size {
			t.Fatalf("test message is %d bytes, want %d", got, tc.size)
		}
		c := dial(t, ts.addr)
		c.hello()
		c.beginData()
		c.send(wire)
		if r := c.reply(); !strings.HasPrefix(r, tc.want) {
			t.Errorf("message of %d bytes: got %q, want %q", tc.size, r, tc.want)
		}
		c.expect("NOOP", "250")
		c.cmd("QUIT")
	}
}

// TestBareLFEnd: with bare_lf_end, a client that ends every line with LF
// alone (a Unix script writing to the socket) has its message ended by
// "\n.\n" and its dot-stuffed lines unstuffed; the Drop file has CRLF
// throughout. Commands after the end are read as commands. Without it,
// that end is message text (TestAbortLogged has the stall it causes), and
// the dots after a bare LF are removed all the same (e2e's smtplib
// "lfbytes").
func TestBareLFEnd(t *testing.T) {
	cfg := testConfig()
	cfg.BareLFEnd = true
	ts := startServer(t, cfg)
	c := dial(t, ts.addr)
	c.reply()
	c.send("HELO script\nMAIL FROM:<cron@x.test>\nRCPT TO:<ops@y.test>\nDATA\n")
	c.replies("250 ", "250 2.1.0", "250 2.1.5", "354 ")
	c.send("Subject: nightly\n\n..dotted\nmixed\r\n.\nRSET\nMAIL FROM:<cron@x.test>\nRCPT TO:<ops@y.test>\nDATA\n")
	c.replies("250 2.6.0", "250 2.0.0", "250 2.1.0", "250 2.1.5", "354 ")
	// The same end with a CR before its LF, after a bare LF.
	c.send("Subject: second\n\ntext\n.\r\nQUIT\n")
	c.replies("250 2.6.0", "221 ")
	var bodies []string
	for _, n := range ts.dropFiles(t) {
		b, err := os.ReadFile(filepath.Join(ts.drop, n))
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, string(b))
	}
	joined := strings.Join(bodies, "")
	if len(bodies) != 2 || !strings.Contains(joined, "\r\n\r\n.dotted\r\nmixed\r\n") || !strings.HasSuffix(bodies[0]+bodies[1], "\r\n") ||
		!strings.Contains(joined, "\r\n\r\ntext\r\n") || strings.Contains(strings.ReplaceAll(joined, "\r\n", ""), "\n") || strings.Contains(joined, "RSET") {
		t.Fatalf("Drop files:\n%q", bodies)
	}
}

// FuzzLFDotSeen: the bare-LF dot line is found however the message is
// cut into reads, as a search of the message whole (up to its end) finds
// it.
func FuzzLFDotSeen(f *testing.F) {
	for _, s := range []string{"a\n.\nb", "a\r\n.\n", "a\n.\r\n", "a\r\n.\r\n", "\n.\r\n", ".\n"} {
		f.Add([]byte(s), []byte{0, 1, 2})
	}
	f.Fuzz(func(t *testing.T, in, sizes []byte) {
		d := &dotReader{tail: startTail()}
		var held []byte
		used := 0
		for pos, k := 0, 0; pos < len(in); k++ {
			n := len(in) - pos
			if len(sizes) > 0 {
				n = min(n, int(sizes[k%len(sizes)])+1)
			}
			b := append(append([]byte(nil), held...), in[pos:pos+n]...)
			pos += n
			_, u, eof := d.unstuff(b)
			used = pos - (len(b) - u)
			if eof {
				break
			}
			held = append(held[:0], b[u:]...)
		}
		start := startTail()
		want := hasLFDot(append(start[:], in[:used]...))
		if d.lfDotSeen() != want {
			t.Fatalf("%q in reads of %v: seen %v, want %v", in, sizes, d.lfDotSeen(), want)
		}
	})
}

// hasLFDot reports whether b holds "\n.\n", or "\n.\r\n" after a bare LF:
// FuzzLFDotSeen's reference.
func hasLFDot(b []byte) bool {
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte("\n."))
		if j < 0 {
			return false
		}
		j += i
		rest := b[j+2:]
		if bytes.HasPrefix(rest, []byte("\n")) || bytes.HasPrefix(rest, []byte("\r\n")) && j > 0 && b[j-1] != '\r' {
			return true
		}
		i = j + 1
	}
}
