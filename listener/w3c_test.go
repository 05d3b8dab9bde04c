package listener

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/compat"

	"github.com/mailbridge/mailbridge/internal/testdir"
)

type memLog struct {
	mu      sync.Mutex
	entries []compat.W3CEntry
}

func (m *memLog) Log(e compat.W3CEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries = append(m.entries, e)
	return nil
}

// untilClosed waits (10 s at most) for the line that closes the session,
// status 240, and returns the lines logged by then.
func (m *memLog) untilClosed() []compat.W3CEntry {
	var entries []compat.W3CEntry
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		m.mu.Lock()
		entries = append(entries[:0], m.entries...)
		m.mu.Unlock()
		if len(entries) > 0 && entries[len(entries)-1].Status == 240 {
			break
		}
	}
	return entries
}

// startLogged starts a server with cfg that logs W3C lines into a memLog.
func startLogged(t *testing.T, cfg Config) (*testServer, *memLog) {
	ml := &memLog{}
	cfg.CommandLog = ml
	return startServer(t, cfg), ml
}

// stable blanks what changes from run to run: date, time, durations.
func stable(line string) string {
	f := strings.Split(line, " ")
	f[0], f[1], f[15] = "DATE", "TIME", "MS"
	if f[8] == "QUIT" {
		f[12] = "MS"
	}
	return strings.Join(f, " ")
}

// TestW3CLog compares the log of a scripted session with IIS's lines
// (iis-reference section 9), in testdata/w3c/session.log.
func TestW3CLog(t *testing.T) {
	cfg := testConfig()
	ts, ml := startLogged(t, cfg)
	c := dial(t, ts.addr)
	c.reply()
	c.expect("EHLO client.test", "250")
	c.expect("MAIL FROM: <a@x.test>", "250")
	c.expect("RCPT TO:<b@y.test>", "250")
	c.expect("DATA", "354")
	c.send("Subject: logged\r\nMessage-ID: <w3c@x.test>\r\n\r\nbody\r\n.\r\n")
	c.reply()
	c.expect("NOOP", "250")
	c.expect("XYZZY now", "50")
	// Pipelined commands are paired with their replies in order.
	c.send("RSET\r\nMAIL FROM:<>\r\nRCPT TO:<c@y.test>\r\nRSET\r\n")
	for i := 0; i < 4; i++ {
		c.reply()
	}
	c.expect("QUIT", "221")
	c.waitClosed()
	var got []string
	ml.mu.Lock()
	for _, e := range ml.entries {
		got = append(got, stable(compat.FormatW3C(e, "SMTPSVC1")))
	}
	ml.mu.Unlock()
	path := filepath.Join("testdata", "w3c", "session.log")
	if *update {
		os.MkdirAll(filepath.Dir(path), 0o755)
		os.WriteFile(path, []byte(strings.Join(got, "\n")+"\n"), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if g := strings.Join(got, "\n") + "\n"; g != string(want) {
		t.Errorf("W3C lines differ from %s:\n--- got\n%s--- want\n%s", path, g, want)
	}
}

// Commands pipelined behind the third bad command are neither answered
// nor logged (found from outside: W3C lines after the 421, paired with
// other commands' replies, and "a reply could not be written" in the log
// for a client that read every reply).
func TestNothingLoggedAfterClose(t *testing.T) {
	ts, ml := startLogged(t, testConfig())
	c := dial(t, ts.addr)
	c.hello()
	// Messages among them are not stored either (found from outside: a
	// message pipelined behind the 421 was stored, its 250 never sent,
	// and its client sent it again).
	late := "MAIL FROM:<late@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nSubject: late\r\n\r\nbody\r\n.\r\n"
	c.send("XX\r\nXX\r\nXX\r\n" + late + late + late +
		"MAIL FROM:<late@x.test>\r\nRCPT TO:<b@y.test>\r\nBDAT 7 LAST\r\nS: x\r\n\r\nXX\r\n")
	for i, want := range []string{"500", "500", "500", "421 4.7.0 "} {
		if r := c.reply(); !strings.HasPrefix(r, want) {
			t.Fatalf("reply %d: %q, want %s", i+1, r, want)
		}
	}
	c.waitClosed()
	var methods []string
	for _, e := range ml.untilClosed() {
		methods = append(methods, strings.Fields(compat.FormatW3C(e, "SMTPSVC1"))[8])
	}
	if got := strings.Join(methods, " "); got != "EHLO XX XX XX -" {
		t.Errorf("W3C methods %q, want the greeting, the three bad commands and the close", got)
	}
	time.Sleep(200 * time.Millisecond) // what go-smtp had read is done with
	if names, _ := os.ReadDir(ts.drop); len(names) != 0 {
		t.Errorf("%d messages stored in Drop after the closing 421", len(names))
	}
	logs := ts.logs.String()
	if strings.Count(logs, "too many bad commands") != 1 || strings.Contains(logs, "could not be written") || strings.Contains(logs, "message received") || strings.Contains(logs, "panic") {
		t.Errorf("log:\n%s", logs)
	}
}

// A BDAT transaction begun before the 421 that closes the session is not
// finished by its LAST chunk pipelined behind it (found from outside: the
// chunk was read from what go-smtp had buffered, and the message stored,
// its 250 never sent, so that its client sent it again).
func TestNothingStoredAfterCloseInBDAT(t *testing.T) {
	ts := startServer(t, testConfig())
	c := dial(t, ts.addr)
	c.hello()
	c.expect("MAIL FROM:<a@x.test>", "250")
	c.expect("RCPT TO:<b@y.test>", "250")
	first := "Subject: closed\r\n" + strings.Repeat("x", 598) + "\r\n"
	c.send(fmt.Sprintf("BDAT %d\r\n%s", len(first), first))
	if r := c.reply(); !strings.HasPrefix(r, "250") {
		t.Fatalf("first chunk: %q", r)
	}
	c.send("XX\r\nXX\r\nXX\r\nBDAT 6 LAST\r\n\r\nhi\r\n")
	for i, want := range []string{"500", "500", "500", "421 4.7.0 "} {
		if r := c.reply(); !strings.HasPrefix(r, want) {
			t.Fatalf("reply %d: %q, want %s", i+1, r, want)
		}
	}
	c.waitClosed()
	waitLog(t, ts, "mailbridge closed the session") // what go-smtp had read is done with
	if names, _ := os.ReadDir(ts.drop); len(names) != 0 {
		t.Errorf("%d messages stored in Drop after the closing 421", len(names))
	}
	if logs := ts.logs.String(); strings.Contains(logs, "message received") || strings.Contains(logs, "disconnected inside") {
		t.Errorf("log:\n%s", logs)
	}
}

func TestW3CLogFile(t *testing.T) {
	dir := testdir.New(t)
	l, err := compat.NewW3CLog(dir, "SMTPSVC1", 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.CommandLog = l
	ts := startServer(t, cfg)
	c := dial(t, ts.addr)
	c.hello()
	c.expect("QUIT", "221")
	c.waitClosed()
	l.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "ex*.log"))
	if len(files) != 1 {
		t.Fatalf("log files %v", files)
	}
	b, _ := os.ReadFile(files[0])
	if !strings.HasPrefix(string(b), "#Software: Microsoft Internet Information Services 10.0\r\n#Version: 1.0\r\n#Date: ") ||
		!strings.Contains(string(b), "\r\n#Fields: date time c-ip cs-username s-sitename s-computername s-ip s-port cs-method cs-uri-stem cs-uri-query sc-status sc-win32-status sc-bytes cs-bytes time-taken cs-version cs-host cs(User-Agent) cs(Cookie) cs(Referer)\r\n") ||
		!strings.Contains(string(b), " 127.0.0.1 client.test SMTPSVC1 MAIL 127.0.0.1 0 QUIT - client.test 240 ") {
		t.Fatalf("log file:\n%s", b)
	}
}

// TestW3CLogWithoutQUIT: a BDAT line counts its chunk and names the stored
// message, as a DATA line does; a session that ends without QUIT still
// gets its closing line with status 240 and the session's totals.
func TestW3CLogWithoutQUIT(t *testing.T) {
	cfg := testConfig()
	ts, ml := startLogged(t, cfg)
	c := dial(t, ts.addr)
	c.hello()
	msg := "Message-ID: <bdat@x.test>\r\n\r\nchunked\r\n"
	c.expect("MAIL FROM:<a@x.test>", "250")
	c.expect("RCPT TO:<b@y.test>", "250")
	c.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(msg), msg))
	if r := c.reply(); !strings.HasPrefix(r, "250 2.6.0 <bdat@x.test>") {
		t.Fatalf("BDAT: %q", r)
	}
	c.c.Close() // no QUIT
	entries := ml.untilClosed()
	var bdat *compat.W3CEntry
	for i := range entries {
		if entries[i].Method == "BDAT" {
			bdat = &entries[i]
		}
	}
	if bdat == nil || bdat.Query != "<bdat@x.test>" || bdat.CSBytes != int64(len(fmt.Sprintf("BDAT %d LAST\r\n", len(msg)))+len(msg)) {
		t.Errorf("BDAT line: %+v", bdat)
	}
	last := entries[len(entries)-1]
	if last.Status != 240 || last.Method != "" || last.Query != "client.test" || last.CSBytes == 0 || last.SCBytes == 0 {
		t.Errorf("closing line: %+v", last)
	}
}

// TestW3CLogAbortedData: a message cut short is logged with the reply the
// client got (421 after the data timeout), or none when the client left;
// never with the 554 go-smtp writes to a connection nobody reads.
func TestW3CLogAbortedData(t *testing.T) {
	cfg := testConfig()
	cfg.DataTimeout = 300 * time.Millisecond
	ts, ml := startLogged(t, cfg)
	var got []string
	lines := func() []string {
		got = got[:0]
		ml.mu.Lock()
		defer ml.mu.Unlock()
		for _, e := range ml.entries {
			got = append(got, fmt.Sprintf("%s %d", e.Method, e.Status))
		}
		return got
	}
	for i, leave := range []bool{true, false} {
		c := dial(t, ts.addr)
		c.hello()
		c.beginData()
		c.send("Subject: cut short\r\n\r\nhalf")
		if leave {
			c.c.Close()
		} else if r := c.reply(); !strings.HasPrefix(r, "421 4.4.2") {
			t.Fatalf("after the data timeout: %q", r)
		}
		// One session's lines, then the next's.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if strings.Count(strings.Join(lines(), "|"), " 240") == i+1 {
				break
			}
		}
	}
	want := "EHLO 250|MAIL 250|RCPT 250| 240|EHLO 250|MAIL 250|RCPT 250|DATA 421| 240"
	if strings.Join(got, "|") != want {
		t.Errorf("W3C lines %q, want %q", strings.Join(got, "|"), want)
	}
}

// TestW3CLogCutChunk: a client that leaves inside a BDAT chunk, by a
// close or a reset, gets no BDAT line: go-smtp's reply to the chunk it
// took for whole was never the answer to one (found from outside: logged
// as "BDAT 250", or 554). Nothing is stored.
func TestW3CLogCutChunk(t *testing.T) {
	for _, reset := range []bool{false, true} {
		t.Run(map[bool]string{false: "close", true: "reset"}[reset], func(t *testing.T) {
			ts, ml := startLogged(t, testConfig())
			nc, err := net.Dial("tcp", ts.addr)
			if err != nil {
				t.Fatal(err)
			}
			nc.Write([]byte("EHLO bd\r\nMAIL FROM:<s@x.test>\r\nRCPT TO:<r@x.test>\r\nBDAT 45\r\nSubj"))
			if reset {
				nc.(*net.TCPConn).SetLinger(0)
			}
			nc.Close()
			var got []string
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				ml.mu.Lock()
				got = got[:0]
				for _, e := range ml.entries {
					got = append(got, fmt.Sprintf("%s %d", e.Method, e.Status))
				}
				ml.mu.Unlock()
				if len(got) > 0 && got[len(got)-1] == " 240" {
					break
				}
			}
			if want := "EHLO 250|MAIL 250|RCPT 250| 240"; strings.Join(got, "|") != want {
				t.Errorf("W3C lines %q, want %q", strings.Join(got, "|"), want)
			}
			if n := len(ts.dropFiles(t)); n != 0 {
				t.Errorf("Drop holds %d files", n)
			}
		})
	}
}

// TestW3CLogLineTooLong: a command line over the limit gets its own line
// with the 500 the client was sent, as a refused command does: the verb
// when the kept start of the line shows where it ends, "-" otherwise; then
// the session's closing line.
func TestW3CLogLineTooLong(t *testing.T) {
	const reply = "500 5.5.2 Line too long, closing transmission channel"
	for _, tc := range []struct {
		name, line   string
		method, args string // the line's method, and how its query starts
	}{
		{"a command", "MAIL FROM:<" + strings.Repeat("a", 70<<10) + "@x.test>", "MAIL", " FROM:<aaaa"},
		{"an unknown verb", "XYZZY " + strings.Repeat("b", 70<<10), "XYZZY", " bbbb"},
		{"no end to the first word", strings.Repeat("c", 70<<10), "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, ml := startLogged(t, testConfig())
			c := dial(t, ts.addr)
			c.hello()
			go func() {
				// The end of input ends the server's drain at once.
				c.c.Write([]byte(tc.line + "\r\n"))
				c.c.(*net.TCPConn).CloseWrite()
			}()
			if r := c.reply(); r != reply {
				t.Fatalf("reply %q", r)
			}
			c.waitClosed()
			entries := ml.untilClosed()
			var got []string
			for _, e := range entries {
				got = append(got, fmt.Sprintf("%s %d", e.Method, e.Status))
			}
			if want := "EHLO 250|" + tc.method + " 500| 240"; strings.Join(got, "|") != want {
				t.Fatalf("W3C lines %q, want %q", strings.Join(got, "|"), want)
			}
			e := entries[1]
			if !strings.HasPrefix(e.Query, tc.args) || (tc.args == "") != (e.Query == "") || e.User != "client.test" ||
				e.CSBytes <= maxCommandLine || e.SCBytes != int64(len(reply)+2) {
				t.Errorf("the line's entry: %+v", e)
			}
		})
	}
}
