package listener

import (
	"bytes"
	"strings"
	"testing"
)

func runDropWriter(t testing.TB, in []byte, splits []int) ([]byte, string) {
	var out bytes.Buffer
	d := newDropWriter(&out, func() string { return "<new@id>" }, "X-OriginalArrivalTime: T\r\n")
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
	return out.Bytes(), d.echoID
}

func TestDropWriterCases(t *testing.T) {
	tests := []struct{ name, in, want, id string }{
		{"empty", "", "Message-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n", "<new@id>"},
		{"header without line end", "Subject: x", "Subject: x\r\nMessage-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n", "<new@id>"},
		{"message-id any case", "message-ID:  <a@b> \r\n\r\nb", "message-ID:  <a@b> \r\nX-OriginalArrivalTime: T\r\n\r\nb", "<a@b>"},
		{"continuation first is not a header", " x\r\n", "Message-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n\r\n x\r\n", "<new@id>"},
		{"mbox From line", "From a@b Mon\r\nSubject: x\r\n\r\nb", "Message-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n\r\nFrom a@b Mon\r\nSubject: x\r\n\r\nb", "<new@id>"},
		{"bare CR kept", "A: 1\r\n\r\na\rb\n", "A: 1\r\nMessage-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n\r\na\rb\r\n", "<new@id>"},
		{"LF-only blank line", "A: 1\n\nbody\n", "A: 1\r\nMessage-ID: <new@id>\r\nX-OriginalArrivalTime: T\r\n\r\nbody\r\n", "<new@id>"},
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

// FuzzDropWriter checks the streaming writer's invariants: no bare LF ever
// reaches a Drop file, the result does not depend on how the stream was cut
// into reads, and the body after the header block is the input's, with only
// line ends normalised.
func FuzzDropWriter(f *testing.F) {
	f.Add([]byte("Subject: a\r\nMessage-ID: <x@y>\r\n\r\nbody\r\n"), uint16(3), uint16(17))
	f.Add([]byte("no header\nat all\n"), uint16(1), uint16(2))
	f.Add([]byte("A: 1\n B\nC: 2\r\n\r\n\n\n\r\r\n"), uint16(5), uint16(0))
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
		norm := bytes.ReplaceAll(bytes.ReplaceAll(in, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
		// Whatever follows the first blank line of the input is kept.
		if i := bytes.Index(norm, []byte("\r\n\r\n")); i >= 0 && !bytes.Contains(norm[:i], []byte("\r\n ")) {
			rest := norm[i+4:]
			if !bytes.HasSuffix(whole, rest) {
				t.Fatalf("body changed:\nin  %q\nout %q", in, whole)
			}
		}
	})
}
