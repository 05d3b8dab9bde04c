package sender

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/smtpsink"
)

// failingReader gives n bytes of message lines, then fails, as a Queue
// file on a disk that fails mid-read would.
type failingReader struct {
	left int
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, r.err
	}
	line := "line of the message that is cut short\r\n"
	n := 0
	for n+len(line) <= len(p) && r.left >= len(line) {
		n += copy(p[n:], line)
		r.left -= len(line)
	}
	if n == 0 {
		r.left = 0
		return 0, r.err
	}
	return n, nil
}

func (r *failingReader) Close() error { return nil }

// A read failure in the middle of DATA must not deliver the part sent so
// far: the connection is closed without the final "." (RFC 5321 section
// 3.3: a transaction without it is discarded), the failure is transient
// and names the stage and the cause, and the session recovers for the
// next message on a new connection.
func TestReadFailsMidData(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	s := NewSession(cfgFor(sink))
	defer s.Close()
	cause := errors.New("input/output error")
	header := "Subject: cut\r\n\r\n"
	size := int64(len(header) + 300<<10)
	opened := 0
	content := Content{
		Size:   size,
		Header: []byte(header),
		Open: func() (io.ReadCloser, error) {
			// The first reading (the scan for 8-bit parts and long lines,
			// before MAIL FROM) goes well; the disk fails in the second.
			opened++
			body := &failingReader{left: 300 << 10 / 2, err: cause}
			if opened == 1 {
				body = &failingReader{left: 300 << 10, err: io.EOF}
			}
			return struct {
				io.Reader
				io.Closer
			}{io.MultiReader(strings.NewReader(header), body), io.NopCloser(nil)}, nil
		},
	}
	res := s.SendContent(context.Background(), "a@x.test", []string{"b@y.test", "c@y.test"}, content)
	for _, r := range res {
		if r.Err == nil || r.Reply != "" {
			t.Fatalf("%s: got %+v, want a failure", r.Rcpt, r)
		}
		if r.Err.Permanent || r.Err.Stage != "DATA" || !errors.Is(r.Err, cause) || !strings.Contains(r.Err.Error(), "reading the message") {
			t.Fatalf("%s: error %#v (%v), want a transient DATA failure reading the message", r.Rcpt, r.Err, r.Err)
		}
	}
	// The sink must have dropped the cut message: wait until it has seen
	// the connection end, then check that nothing was accepted.
	res = s.Send(context.Background(), "a@x.test", []string{"d@y.test"}, []byte(msg))
	if res[0].Err != nil {
		t.Fatalf("next message: %v", res[0].Err)
	}
	msgs := sink.WaitFor(t, 5*time.Second, "the next message", func(m []smtpsink.Message) bool { return len(m) >= 1 })
	if len(msgs) != 1 || msgs[0].To[0] != "d@y.test" {
		var got []string
		for _, m := range msgs {
			got = append(got, fmt.Sprintf("%v (%d bytes)", m.To, len(m.Data)))
		}
		t.Fatalf("sink accepted %s, want only the next message", strings.Join(got, ", "))
	}
	if n := sink.Conns(); n != 2 {
		t.Fatalf("%d connections, want 2 (the cut one closed)", n)
	}
}
