package sender

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/smtpsink"
)

// rawDataSink serves one SMTP session on 127.0.0.1 and sends on the
// channel the DATA bytes exactly as they came, up to and without the
// final CRLF "." CRLF.
func rawDataSink(t *testing.T) (port int, data <-chan []byte) {
	t.Helper()
	got := make(chan []byte, 1)
	port = fakeSMTP(t, func(c net.Conn, r *bufio.Reader) bool {
		var b []byte
		for !bytes.HasSuffix(b, []byte("\r\n.\r\n")) {
			ch, err := r.ReadByte()
			if err != nil {
				return false
			}
			b = append(b, ch)
		}
		got <- b[:len(b)-5]
		fmt.Fprintf(c, "250 ok\r\n")
		return true
	})
	return port, got
}

// TestDotWriter: what goes on the wire after DATA is the message with a
// dot doubled at the start of each line (only CRLF ends a line, RFC 5321
// section 2.3.8), an unfinished last line ended, and nothing else changed
// (wire is without the final CRLF "." CRLF). go-smtp's client wrote through
// net/textproto's DotWriter, which made CR CR LF into CR CR CR LF (found
// from outside: a Pickup file with a line ending in CR).
func TestDotWriter(t *testing.T) {
	for _, c := range []struct{ name, msg, wire string }{
		{"dots", "Subject: s\r\n\r\n.one\r\n..two\r\nthree.\r\n.", "Subject: s\r\n\r\n..one\r\n...two\r\nthree.\r\n.."},
		{"CR CR LF", "Subject: s\r\n\r\nline\r\r\n.dot\r\n\r\r\r\n", "Subject: s\r\n\r\nline\r\r\n..dot\r\n\r\r"},
		{"lone CR then a dot", "Subject: s\r\n\r\na\r.b\r\n", "Subject: s\r\n\r\na\r.b"},
		{"ends in CR", "Subject: s\r\n\r\nlast\r", "Subject: s\r\n\r\nlast"},
	} {
		t.Run(c.name, func(t *testing.T) {
			port, data := rawDataSink(t)
			s := NewSession(Config{Host: "127.0.0.1", Port: port, ConnectTimeout: 5 * time.Second, CommandTimeout: 10 * time.Second, InsecureSkipVerify: true})
			defer s.Close()
			res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(c.msg))
			if res[0].Err != nil {
				t.Fatal(res[0].Err)
			}
			select {
			case got := <-data:
				if string(got) != c.wire {
					t.Fatalf("wire %q\nwant %q", got, c.wire)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no DATA")
			}
		})
	}
}

// TestDotWriterToSink: the same lines, relayed to the test sink (go-smtp's
// server, whose DATA reader had the same CR CR LF flaw, patched), arrive
// as sent.
func TestDotWriterToSink(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	s := NewSession(cfgFor(sink))
	defer s.Close()
	msg := "Subject: s\r\n\r\nline\r\r\n.dot\r\n.\rX\r\ntext\r\r\n.\r\r\nend\r\n"
	if res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg)); res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	m := sink.WaitFor(t, 10*time.Second, "the message", func(ms []smtpsink.Message) bool { return len(ms) == 1 })[0]
	if string(m.Data) != msg {
		t.Fatalf("sink got %q\nwant %q", m.Data, msg)
	}
}
