package listener

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A TCP check that connects and resets at once (a load balancer's, a
// monitor's) is no event for the log at INFO, however often it comes:
// found from outside, each logged that a reply could not be written.
func TestPortProbeNotLogged(t *testing.T) {
	ts := startServer(t, testConfig())
	for range 10 { // fewer than max_connections (20), which they hold until they end
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.(*net.TCPConn).SetLinger(0) // a reset, as probes close
		c.Close()
	}
	// A session after them: once it is answered, the probes' sessions
	// have long ended.
	c := dial(t, ts.addr)
	c.hello()
	c.expect("QUIT", "221")
	time.Sleep(200 * time.Millisecond)
	if strings.Contains(ts.logs.String(), "level=INFO msg=\"connection") {
		t.Fatalf("a probe logged at INFO:\n%s", ts.logs.String())
	}
}

// A client that sends its whole transaction and closes without reading
// the replies (scanners do) has its message stored: it was whole in this
// server's buffers before the client left. Found from outside: the write
// of a reply failed on the client's reset and the session was dropped
// with the message, 6 of 8 times when the client read the greeting, 8 of
// 8 when it did not. A transaction cut short by the client's leaving is
// not stored.
func TestClientLeavesWithoutReading(t *testing.T) {
	cfg := testConfig()
	ts := startServer(t, cfg)
	const whole = "HELO ricoh\r\nMAIL FROM:<scanner@corp.test>\r\nRCPT TO:<u@corp.test>\r\nDATA\r\nSubject: scan\r\n\r\npages\r\n.\r\nQUIT\r\n"
	n := 0
	for _, how := range []string{"close", "read the greeting, close", "reset", "read the greeting, reset"} {
		for range 3 {
			c, err := net.Dial("tcp", ts.addr)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(how, "read the greeting") {
				buf := make([]byte, 512)
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Read(buf); err != nil {
					t.Fatal(err)
				}
			} else {
				time.Sleep(20 * time.Millisecond) // the greeting arrives, unread: close resets
			}
			if _, err := c.Write([]byte(whole)); err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(how, "reset") {
				c.(*net.TCPConn).SetLinger(0)
			}
			c.Close()
			n++
		}
	}
	// Three messages, the first write ending before the first DATA: the
	// replies from the 354 on fail, and the next messages must still be
	// read as messages (found from outside: read as commands, they were
	// lost, and once a later one stored cut).
	var three strings.Builder
	three.WriteString("EHLO x\r\n")
	for i := range 3 {
		fmt.Fprintf(&three, "MAIL FROM:<s@x.test>\r\nRCPT TO:<r@x.test>\r\nDATA\r\nSubject: final-%d\r\n\r\nbody\r\n.\r\n", i)
	}
	three.WriteString("QUIT\r\n")
	for _, at := range []int{50, 52, 130, 133} {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		b := []byte(three.String())
		c.Write(b[:at])
		time.Sleep(30 * time.Millisecond)
		c.Write(b[at:])
		c.Close()
		n += 3
	}
	// Cut short: no message.
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	c.Write([]byte(whole[:strings.Index(whole, "pages")]))
	c.(*net.TCPConn).SetLinger(0)
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for len(ts.dropFiles(t)) < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if got := len(ts.dropFiles(t)); got != n {
		t.Fatalf("Drop holds %d messages, want %d:\n%s", got, n, ts.logs.String())
	}
	// Each whole, as sent.
	for _, name := range ts.dropFiles(t) {
		b, err := os.ReadFile(filepath.Join(ts.drop, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte("\r\nSubject: ")) || !bytes.HasSuffix(b, []byte("\r\n\r\npages\r\n")) && !bytes.HasSuffix(b, []byte("\r\n\r\nbody\r\n")) {
			t.Fatalf("%s:\n%s", name, b)
		}
	}
}

// The W3C log's closing line of a client that left counts only the bytes
// that were written before it left, fewer than a client that reads them
// all (found from outside: the same, as if it had read every reply).
func TestClientLeavesW3CBytes(t *testing.T) {
	ts, ml := startLogged(t, testConfig())
	const session = "EHLO x\r\nMAIL FROM:<s@x.test>\r\nRCPT TO:<r@x.test>\r\nDATA\r\nSubject: s\r\n\r\nbody\r\n.\r\nQUIT\r\n"
	closing := func(want int) int64 {
		deadline := time.Now().Add(5 * time.Second)
		for {
			ml.mu.Lock()
			var got []int64
			for _, e := range ml.entries {
				if e.Status == 240 { // a session's totals: QUIT's line, or its closing line
					got = append(got, e.SCBytes)
				}
			}
			ml.mu.Unlock()
			if len(got) == want {
				return got[want-1]
			}
			if time.Now().After(deadline) {
				t.Fatalf("closing lines: %v, want %d", got, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// A client that reads every reply.
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte(session))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	all, _ := io.ReadAll(c)
	c.Close()
	if full := closing(1); full != int64(len(all)) {
		t.Fatalf("a reading client's closing line counts %d bytes, it got %d", full, len(all))
	}
	// One that reads the greeting, sends the same, and resets.
	c, err = net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(buf); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).SetLinger(0)
	c.Write([]byte(session))
	c.Close()
	if sent := closing(2); sent >= int64(len(all)) {
		t.Fatalf("a client that left after the greeting: %d bytes counted sent, as many as a client that read them all (%d)", sent, len(all))
	}
	if n := len(ts.dropFiles(t)); n != 2 {
		t.Fatalf("Drop holds %d messages, want 2", n)
	}
	// Every command it sent is logged, as the reading client's are, the
	// stored message's DATA line with its Message-ID: found from
	// outside, a scanner that hangs up after its last command had its
	// message stored and no W3C line for it. What was not sent counts
	// no bytes.
	ml.mu.Lock()
	defer ml.mu.Unlock()
	var first, second []string
	for i, e := range ml.entries {
		line := fmt.Sprintf("%s %d", e.Method, e.Status)
		if e.Method == "DATA" && strings.HasPrefix(e.Query, "<") {
			line += " <id>"
		}
		if i < len(ml.entries)/2 {
			first = append(first, line)
			continue
		}
		second = append(second, line)
		if e.Method == "DATA" && e.SCBytes != 0 {
			t.Errorf("DATA line of a client that left counts %d bytes sent", e.SCBytes)
		}
	}
	if want := "EHLO 250|MAIL 250|RCPT 250|DATA 250 <id>|QUIT 240"; strings.Join(first, "|") != want || strings.Join(second, "|") != want {
		t.Errorf("W3C lines:\n%q\n%q\nwant %q for both sessions", first, second, want)
	}
}
