package compat

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// The whole-buffer reading that ParsePickup did before it streamed: kept
// as the reference the streaming reader must match byte for byte.

// crlf turns every bare LF into CRLF and returns data itself when there is
// none (the common case for Windows writers).
func crlf(data []byte) []byte {
	bare := 0
	for i, c := range data {
		if c == '\n' && (i == 0 || data[i-1] != '\r') {
			bare++
		}
	}
	if bare == 0 {
		return data
	}
	out := make([]byte, 0, len(data)+bare)
	for i, c := range data {
		if c == '\n' && (i == 0 || data[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

// crRuns is CRs before an LF: one line end with it.
var crRuns = regexp.MustCompile(`\r+\n`)

// bareCR turns every CR not followed by LF into CRLF.
func bareCR(data []byte) []byte {
	var out []byte
	for i, c := range data {
		out = append(out, c)
		if c == '\r' && (i == len(data)-1 || data[i+1] != '\n') {
			out = append(out, '\n')
		}
	}
	return out
}

// unstuff undoes SMTP dot-stuffing on CRLF text. It returns the message and
// the number of bytes after a terminating lone "." line.
func unstuff(data []byte) ([]byte, int) {
	out := data[:0:0]
	copied := 0 // data[:copied] is represented in out
	for pos := 0; pos < len(data); {
		end := bytes.Index(data[pos:], []byte("\r\n"))
		var line []byte
		if end < 0 {
			line = data[pos:]
		} else {
			line = data[pos : pos+end]
		}
		next := pos + len(line) + 2
		if end < 0 {
			next = len(data)
		}
		switch {
		case len(line) == 1 && line[0] == '.':
			out = append(out, data[copied:pos]...)
			return out, len(data) - next
		case len(line) >= 2 && line[0] == '.' && line[1] == '.':
			out = append(out, data[copied:pos]...)
			copied = pos + 1 // drop the first dot
		}
		pos = next
	}
	if copied == 0 {
		return data, 0
	}
	return append(out, data[copied:]...), 0
}

// streamText reads data through the streaming reader, in small reads.
func streamText(t testing.TB, data []byte, stuffed bool) ([]byte, int) {
	t.Helper()
	pt := newPickupText(bytes.NewReader(data), stuffed)
	m := &PickupMessage{}
	pt.msg = m
	var out bytes.Buffer
	buf := make([]byte, 7)
	for {
		n, err := pt.Read(buf)
		out.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes(), m.Trailing
}

func checkStream(t testing.TB, data []byte) {
	t.Helper()
	data = bytes.TrimPrefix(data, utf8BOM)
	for _, stuffed := range []bool{false, true} {
		// Lines (for the dots) are the file's, ended by LF; a bare CR is
		// made CRLF within them.
		want, wantTrailing := crlf(crRuns.ReplaceAll(data, []byte("\r\n"))), 0
		if stuffed {
			lf := want
			want, wantTrailing = unstuff(lf)
			wantTrailing = len(bareCR(lf[len(lf)-wantTrailing:]))
		}
		want = bareCR(want)
		got, trailing := streamText(t, data, stuffed)
		if !bytes.Equal(got, want) || trailing != wantTrailing {
			i := 0
			for i < len(got) && i < len(want) && got[i] == want[i] {
				i++
			}
			t.Fatalf("stuffed=%v, input of %d bytes ending %q: got %d bytes (trailing %d), want %d (trailing %d); from byte %d got %.40q, want %.40q",
				stuffed, len(data), data[max(0, len(data)-20):], len(got), trailing, len(want), wantTrailing, i, got[i:], want[i:])
		}
	}
}

// TestPickupTextMatchesWholeRead: line ends, dots and lines longer than
// the reader's buffer (64 KiB) come out as the whole-buffer reading had
// them.
func TestPickupTextMatchesWholeRead(t *testing.T) {
	long := strings.Repeat("x", 64<<10-1)
	for _, in := range []string{
		"", "\n", "\r\n", ".", ".\r\n", "..\r\n", "a\n.\nrest\n", "a\r\n..b\r\n.\r\nc\nd", "\r", "a\rb\n",
		long + "\r\n..x\r\n", long + "\n..x", "a\r\n" + long + "\r\n.\r\n", long + "\r" + "\n.", "..", ".\r", "x\r\n.",
		"a\r.\rb\n", "a\r..\r\n.\r\nc", "a\r\r\nb\r\r\r\n.\r\r\nc", "x\r\r", long + "\r\r\n.", long[1:] + "\r\r\n", long + "\r\r\r", "\r\r\r\r\n", "\r\r\n", long + "\r" + "x", long + "\r", "a\r\n.\r\nb\rc\r",
	} {
		checkStream(t, []byte(in))
	}
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("..\r\r\nab")
	for i := 0; i < 2000; i++ {
		b := make([]byte, r.IntN(200))
		for j := range b {
			b[j] = alphabet[r.IntN(len(alphabet))]
		}
		checkStream(t, b)
	}
}

func FuzzPickupText(f *testing.F) {
	f.Add([]byte("a\r\n..b\n.\r\nc"))
	f.Fuzz(func(t *testing.T, data []byte) { checkStream(t, data) })
}

// countingReader counts what was read from it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// A file with no empty line (a binary file, a log dumped into Pickup) was
// read whole as its header block: a 500 MB file would have been held in
// memory. Past MaxHeaderBlock it is malformed, read no further.
func TestHeaderBlockBounded(t *testing.T) {
	line := "X-Filler: " + strings.Repeat("x", 100) + "\r\n"
	big := io.MultiReader(strings.NewReader("From: a@x.test\r\nTo: b@y.test\r\n"),
		io.LimitReader(&repeater{s: line}, 3*MaxHeaderBlock))
	cr := &countingReader{r: big}
	_, err := ReadPickup(cr, PickupOptions{DotStuffed: true})
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "no empty line ends the header block in its first 2 MB") {
		t.Fatalf("error %v, want malformed", err)
	}
	if cr.n > MaxHeaderBlock+1<<20 {
		t.Fatalf("read %d bytes, want at most about %d", cr.n, MaxHeaderBlock)
	}
	// Just under the bound with the empty line after it: a message.
	under := strings.Repeat(line, (MaxHeaderBlock-200)/len(line))
	m, err := ReadPickup(strings.NewReader("From: a@x.test\r\nTo: b@y.test\r\n"+under+"\r\nbody\r\n"), PickupOptions{})
	if err != nil || len(m.To) != 1 {
		t.Fatalf("a large header under the bound: %v", err)
	}
}

// repeater repeats s forever.
type repeater struct {
	s   string
	off int
}

func (r *repeater) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.s[r.off:])
		n += c
		r.off = (r.off + c) % len(r.s)
	}
	return n, nil
}

// A file of its envelope alone is no message (found from outside: it was
// sent with the added fields alone, no From and no text); with a header
// field, or text after the envelope, it is one.
func TestReadPickupEnvelopeOnly(t *testing.T) {
	for _, tc := range []struct {
		file string
		ok   bool
	}{
		{"X-Sender: a@x.test\r\nX-Receiver: b@y.test\r\n", false},
		{"X-Sender: a@x.test\r\nX-Receiver: b@y.test", false},
		{"X-Sender: a@x.test\r\nX-Receiver: b@y.test\r\n\r\n", false},
		{"X-Sender: a@x.test\r\nX-Receiver: b@y.test\r\nSubject: hi\r\n", true},
		{"X-Sender: a@x.test\r\nX-Receiver: b@y.test\r\n\r\nbody\r\n", true},
		{"\ufeffx-sender: a@x.test\nx-receiver: b@y.test\n", false},
		{"X-Sender: a@x.test\r\nX-Receiver: b@y.test\r\n\r\n\r\n", true},
	} {
		m, err := ReadPickup(strings.NewReader(tc.file), PickupOptions{})
		if tc.ok != (err == nil) {
			t.Errorf("%q: %v", tc.file, err)
			continue
		}
		if EnvelopeOnly([]byte(tc.file)) == tc.ok {
			t.Errorf("%q: EnvelopeOnly says %v", tc.file, !tc.ok)
		}
		if !tc.ok && (!errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "no message") || m == nil || m.From != "a@x.test") {
			t.Errorf("%q: %v, %+v", tc.file, err, m)
		}
	}
}

// A file EnvelopeOnly calls envelope alone is one ReadPickup refuses: the
// watcher's longer wait is only ever for a file that would not be sent.
func FuzzEnvelopeOnly(f *testing.F) {
	for _, s := range []string{
		"X-Sender: a@x.test\r\nX-Receiver: b@y.test\r\n",
		"X-Sender: a@x.test\r\nX-Receiver: b@y.test\r\n\r\n",
		"\ufeffx-sender: a@x.test\nx-receiver: b@y.test\n",
		"X-Sender: a@x.test\rX-Receiver: b@y.test\r",
		"X-Receiver: b@y.test\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !EnvelopeOnly(data) {
			return
		}
		if _, err := ReadPickup(bytes.NewReader(data), PickupOptions{}); err == nil {
			t.Fatalf("%q: EnvelopeOnly, and ReadPickup reads a message", data)
		}
	})
}
