package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/fsnotify/fsnotify"
	"github.com/mailbridge/mailbridge/compat"
	"github.com/mailbridge/mailbridge/internal/smtpsink"
	"github.com/mailbridge/mailbridge/internal/testdir"
	"github.com/mailbridge/mailbridge/mailroot"
	"github.com/mailbridge/mailbridge/sender"

	"github.com/mailbridge/mailbridge/internal/testlog"
	"github.com/mailbridge/mailbridge/internal/testtool"
)

// wait is the bound on any wait in these tests: a guard against hangs, not
// a measurement.
const wait = 60 * time.Second

type harness struct {
	t      testing.TB
	root   *mailroot.Root
	cfg    Config
	cancel context.CancelFunc
	done   chan struct{}
	logs   *testlog.Buffer
}

func testLayout(t *testing.T) mailroot.Layout {
	return testLayoutIn(testdir.New(t))
}

func testLayoutIn(d string) mailroot.Layout {
	return mailroot.Layout{Pickup: filepath.Join(d, "Pickup"), Drop: filepath.Join(d, "Drop"), Queue: filepath.Join(d, "Queue"),
		Badmail: filepath.Join(d, "Badmail"), SortTemp: filepath.Join(d, "SortTemp")}
}

// makeFolders creates the folders of l, as a start would, for files put
// there before the bridge starts.
func makeFolders(t *testing.T, l mailroot.Layout) {
	t.Helper()
	r, err := mailroot.Open(l)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
}

// baseConfig sends to sink (nil: no smart host) with short retries.
func baseConfig(sink *smtpsink.Sink) Config {
	c := Config{
		Hostname:    "bridge.test",
		Connections: 4,
		Retry:       []time.Duration{200 * time.Millisecond, 400 * time.Millisecond},
		Expiration:  time.Hour,
		Pickup:      compat.PickupOptions{DotStuffed: true, StripBcc: true, DefaultDomain: "corp.test"},
		Rescan:      2 * time.Second,
		QuietPeriod: 500 * time.Millisecond,
	}
	if sink != nil {
		// InsecureSkipVerify as config has it by default (opportunistic TLS
		// without verification: plain text to a sink without STARTTLS).
		c.Sender = sender.Config{Host: sink.Host, Port: sink.Port, Hostname: "bridge.test", ConnectTimeout: 5 * time.Second, CommandTimeout: 10 * time.Second, InsecureSkipVerify: true}
	}
	return c
}

// start runs a bridge over layout until the test ends (or stop).
func start(t *testing.T, l mailroot.Layout, cfg Config, setup ...func(*Bridge)) *harness {
	t.Helper()
	return startB(t, l, cfg, setup...)
}

// startB is start for benchmarks too; setup changes the bridge before it
// runs.
func startB(t testing.TB, l mailroot.Layout, cfg Config, setup ...func(*Bridge)) *harness {
	t.Helper()
	root, err := mailroot.Open(l)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testlog.Buffer{}
	log := slog.New(slog.NewTextHandler(io.MultiWriter(logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, root: root, cfg: cfg, cancel: cancel, done: make(chan struct{}), logs: logs}
	b := New(cfg, root, log)
	for _, f := range setup {
		f(b)
	}
	go func() {
		defer close(h.done)
		if err := b.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(h.stop)
	return h
}

// waitLog waits for text in the log, and fails the test, with the log,
// when it does not come.
func (h *harness) waitLog(text string) {
	h.t.Helper()
	for deadline := time.Now().Add(wait); !strings.Contains(h.logs.String(), text); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			h.t.Fatalf("no %q in the log:\n%s", text, h.logs.String())
		}
	}
}

// waitLogCount waits for text to be in the log n times or more.
func (h *harness) waitLogCount(text string, n int) {
	h.t.Helper()
	for deadline := time.Now().Add(wait); strings.Count(h.logs.String(), text) < n; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			h.t.Fatalf("%q not %d times in the log:\n%s", text, n, h.logs.String())
		}
	}
}

func (h *harness) stop() {
	h.cancel()
	<-h.done
	// A restarted bridge opens the mail root again: release its lock.
	h.root.Close()
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	if testing.Verbose() {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

func drop(t *testing.T, l mailroot.Layout, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(l.Pickup, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitEmpty waits until Pickup and Queue hold no file (and SortTemp none).
func waitEmpty(t *testing.T, l mailroot.Layout) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		var left []string
		for _, d := range []string{l.Pickup, l.Queue, l.SortTemp} {
			es, _ := os.ReadDir(d)
			for _, e := range es {
				if !mailroot.Internal(e.Name()) { // the running root's lock, the sending record
					left = append(left, filepath.Join(filepath.Base(d), e.Name()))
				}
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("files left behind: %v", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitFile(t *testing.T, dir, pattern string) []string {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		m, _ := filepath.Glob(filepath.Join(dir, pattern))
		if len(m) > 0 {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s in %s", pattern, dir)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// What the bridge adds to a Pickup message, as IIS did: its trace header
// first, and at the end of the header block a Date (the trace header's)
// when missing, a Message-ID and X-OriginalArrivalTime (see
// TestPickupStamped).
var (
	stampReceived = regexp.MustCompile("Received: from mail pickup service by bridge\\.test with Microsoft SMTPSVC;\r\n\t ([^\r\n]+)\r\n")
	stampID       = regexp.MustCompile("Message-ID: <BRIDGE[0-9A-Z]+@bridge\\.test>\r\n")
	stampOAT      = regexp.MustCompile("X-OriginalArrivalTime: [^\r\n]+ \\(UTC\\) FILETIME=\\[[0-9A-F]{8}:[0-9A-F]{8}\\]\r\n")
)

// unstamped is b without what the bridge adds to a Pickup message, for
// tests of what it keeps.
func unstamped(b []byte) []byte {
	for _, m := range stampReceived.FindAllSubmatch(b, -1) {
		b = bytes.Replace(b, []byte("Date: "+string(m[1])+"\r\nMessage-ID: <BRIDGE"), []byte("Message-ID: <BRIDGE"), 1)
	}
	b = stampReceived.ReplaceAll(b, nil)
	b = stampID.ReplaceAll(b, nil)
	return stampOAT.ReplaceAll(b, nil)
}

func count(n int) func([]smtpsink.Message) bool {
	return func(m []smtpsink.Message) bool { return len(m) >= n }
}

// relayOne relays one Pickup file, written as name, to a fresh smart host
// and returns what it received, once Pickup and Queue are empty.
func relayOne(t *testing.T, name string, data []byte) smtpsink.Message {
	t.Helper()
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	l := testLayout(t)
	start(t, l, baseConfig(sink))
	drop(t, l, name, data)
	m := sink.WaitFor(t, wait, "the message", count(1))[0]
	waitEmpty(t, l)
	return m
}

// A .NET Framework file: X-Sender, X-Receiver for To, Cc and Bcc, no Bcc
// header, dot-stuffed body.
func TestDotNetFile(t *testing.T) {
	data := fixture(t, "dotnet-framework-style-stuffed.eml")
	m := relayOne(t, "8d6a1c2e-0b7a-4c55-9f1e-2a3b4c5d6e7f.eml", data)
	if m.From != "app@corp.test" || strings.Join(m.To, ",") != "one@dest.test,two@dest.test,hidden@dest.test" {
		t.Fatalf("envelope %q %q", m.From, m.To)
	}
	want := data[bytes.Index(data, []byte("MIME-Version")):]
	want = bytes.Replace(want, []byte("\r\n.."), []byte("\r\n."), -1)
	if !bytes.Equal(unstamped(m.Data), want) {
		t.Fatalf("data:\n%q\nwant\n%q", m.Data, want)
	}
	if m.Size != int64(len(m.Data)) || m.Helo != "bridge.test" {
		t.Fatalf("SIZE=%d EHLO %s", m.Size, m.Helo)
	}
}

// A file with only a header block (no empty line, no body), bare LF, Bcc.
func TestHeaderOnlyFile(t *testing.T) {
	m := relayOne(t, "Message.txt", []byte("From: App <app>\nTo: a@dest.test\nBcc: secret@dest.test\nSubject: header only\n"))
	if m.From != "app@corp.test" || strings.Join(m.To, ",") != "a@dest.test,secret@dest.test" {
		t.Fatalf("envelope %q %q", m.From, m.To)
	}
	if string(unstamped(m.Data)) != "From: App <app>\r\nTo: a@dest.test\r\nSubject: header only\r\n" {
		t.Fatalf("data %q", m.Data)
	}
}

// Windows PowerShell 5 (Set-Content -Encoding UTF8, Out-File) and Notepad
// start a file with a UTF-8 byte order mark: the X-Sender line after it is
// still the envelope, and the mark is not relayed.
func TestByteOrderMarkFile(t *testing.T) {
	m := relayOne(t, "ps5.eml", []byte("\xEF\xBB\xBFX-Sender: app@corp.test\r\nX-Receiver: a@dest.test\r\nFrom: app@corp.test\r\nSubject: bom\r\n\r\nbody\r\n"))
	if m.From != "app@corp.test" || strings.Join(m.To, ",") != "a@dest.test" {
		t.Fatalf("envelope %q %q", m.From, m.To)
	}
	if string(unstamped(m.Data)) != "From: app@corp.test\r\nSubject: bom\r\n\r\nbody\r\n" {
		t.Fatalf("data %q", m.Data)
	}
}

// A file with an X-Sender / X-Receiver block and a Bcc header: the
// recipients are the X-Receiver ones and, with strip_bcc, the Bcc line is
// not relayed to them.
func TestEnvelopeFileBcc(t *testing.T) {
	m := relayOne(t, "bcc.eml", []byte("x-sender: env@corp.test\r\nx-receiver: r1@dest.test\r\nFrom: hdr@corp.test\r\n"+
		"To: t1@dest.test\r\nBcc: b9@dest.test\r\nSubject: a2\r\n\r\nbody\r\n"))
	if m.From != "env@corp.test" || strings.Join(m.To, ",") != "r1@dest.test" {
		t.Fatalf("envelope %q %q", m.From, m.To)
	}
	if string(unstamped(m.Data)) != "From: hdr@corp.test\r\nTo: t1@dest.test\r\nSubject: a2\r\n\r\nbody\r\n" {
		t.Fatalf("data %q", m.Data)
	}
}

// Quoted local parts survive the Queue file: they were written there
// unquoted ("john smith@x.test"), which no parser reads back as one
// address, and the message went to Badmail unsent. The smart host sees the
// addresses (go-smtp gives them unquoted) and nothing is in Badmail.
func TestQuotedAddressesRelayed(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	l := testLayout(t)
	start(t, l, baseConfig(sink))
	drop(t, l, "quoted.eml", []byte("x-sender: \"john smith\"@corp.test\r\nx-receiver: \"a@b\"@dest.test\r\n"+
		"From: John <\"john smith\"@corp.test>\r\nTo: \"c d\"@dest.test\r\nSubject: q\r\n\r\nbody\r\n"))
	drop(t, l, "headers.eml", []byte("From: John <\"john smith\"@corp.test>\r\nTo: \"c d\"@dest.test\r\nSubject: q\r\n\r\nbody\r\n"))
	msgs := sink.WaitFor(t, wait, "both messages", count(2))
	waitEmpty(t, l)
	got := map[string]bool{}
	for _, m := range msgs {
		got[m.From+" -> "+strings.Join(m.To, ",")] = true
	}
	for _, want := range []string{"john smith@corp.test -> a@b@dest.test", "john smith@corp.test -> c d@dest.test"} {
		if !got[want] {
			t.Errorf("no message %s; got %v", want, got)
		}
	}
	if bad, _ := filepath.Glob(filepath.Join(l.Badmail, "*")); len(bad) != 0 {
		t.Fatalf("Badmail holds %v", bad)
	}
}

// The Mono file is not dot-stuffed and has a lone "." line: with
// dot_stuffed = true (IIS) the message ends there, with false it is whole.
func TestDotStuffedLoneDot(t *testing.T) {
	data := fixture(t, "mono-6.8-systemnetmail-unstuffed.eml")
	cut := bytes.Index(data, []byte("\r\n.\r\n")) + 2
	for _, stuffed := range []bool{true, false} {
		t.Run(fmt.Sprint("dot_stuffed=", stuffed), func(t *testing.T) {
			sink := smtpsink.Start(t, smtpsink.Hooks{})
			l := testLayout(t)
			cfg := baseConfig(sink)
			cfg.Pickup.DotStuffed = stuffed
			h := start(t, l, cfg)
			drop(t, l, "mono.eml", data)
			m := sink.WaitFor(t, wait, "the message", count(1))[0]
			want := data
			if stuffed {
				want = bytes.Replace(data[:cut], []byte("\r\n..two"), []byte("\r\n.two"), 1)
			}
			if !bytes.Equal(unstamped(m.Data), want) {
				t.Fatalf("data:\n%q\nwant\n%q", m.Data, want)
			}
			if strings.Join(m.To, ",") != "one@dest.test,two@dest.test" {
				t.Fatalf("to %q", m.To)
			}
			waitEmpty(t, l)
			var kept []byte
			err := fs.ErrNotExist
			if matches, _ := filepath.Glob(filepath.Join(l.Badmail, "*-whole.BAD")); len(matches) == 1 {
				kept, err = os.ReadFile(matches[0])
			}
			if !stuffed {
				if err == nil {
					t.Fatal("a file sent whole was kept in Badmail")
				}
				return
			}
			// Nothing of the file is lost: it is kept whole, with why.
			if err != nil || !bytes.Equal(kept, data) {
				t.Fatalf("the whole file is not in Badmail (%v):\n%q", err, kept)
			}
			matches, _ := filepath.Glob(filepath.Join(l.Badmail, "*-whole.BDR"))
			bdr, _ := os.ReadFile(matches[0])
			line := bytes.Count(data[:cut], []byte("\n")) + 1
			if !strings.HasPrefix(string(bdr), "This message was taken only in part because the following error was encountered: ") ||
				strings.Contains(string(bdr), "Given up") ||
				!strings.Contains(string(bdr), fmt.Sprintf(`"mono.eml" was taken only up to its line %d, which holds only "."`, line)) ||
				!strings.Contains(h.logs.String(), "bytes_not_sent=") {
				t.Fatalf("reason:\n%s\nlog:\n%s", bdr, h.logs.String())
			}
		})
	}
}

// A file written slowly while its writer holds it open is sent once, whole.
func TestSlowWriter(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	l := testLayout(t)
	start(t, l, baseConfig(sink))
	f, err := os.Create(filepath.Join(l.Pickup, "slow.eml"))
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	want.WriteString("From: a@x.test\r\nTo: b@y.test\r\nSubject: slow\r\n\r\n")
	f.Write(want.Bytes())
	for i := 0; i < 30; i++ {
		line := fmt.Sprintf("line %d of a file written over three seconds\r\n", i)
		want.WriteString(line)
		if _, err := f.WriteString(line); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(sink.Messages()) != 0 {
		t.Fatal("sent while still open")
	}
	f.Close()
	m := sink.WaitFor(t, wait, "the message", count(1))[0]
	waitEmpty(t, l)
	if !bytes.Equal(unstamped(m.Data), want.Bytes()) {
		t.Fatalf("incomplete: %d bytes, want %d", len(unstamped(m.Data)), want.Len())
	}
	if n := len(sink.Messages()); n != 1 {
		t.Fatalf("%d messages", n)
	}
}

// 2,000 files dropped at once: each delivered exactly once, none left.
func TestBurst(t *testing.T) {
	n := 2000
	if testing.Short() {
		n = 200
	}
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	l := testLayout(t)
	start(t, l, baseConfig(sink))
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 4 {
				data := fmt.Sprintf("X-Sender: a@x.test\r\nX-Receiver: b@y.test\r\nSubject: burst %d\r\n\r\nbody %d\r\n", i, i)
				os.WriteFile(filepath.Join(l.Pickup, fmt.Sprintf("burst-%05d.eml", i)), []byte(data), 0o644)
			}
		}()
	}
	wg.Wait()
	sink.WaitFor(t, wait*2, fmt.Sprint(n, " messages"), count(n))
	waitEmpty(t, l)
	time.Sleep(200 * time.Millisecond)
	msgs := sink.Messages()
	seen := map[string]int{}
	for _, m := range msgs {
		seen[string(m.Data)]++
	}
	if len(msgs) != n || len(seen) != n {
		t.Fatalf("%d messages, %d distinct, want %d", len(msgs), len(seen), n)
	}
}

// The smart host is down, then comes back on the same port.
// While the smart host cannot be reached, the first deferral is a warning
// with what to check, and the others for the same reason go at INFO.
// Found from outside: a 20 s outage with 1500 queued messages made 3559
// identical warnings.
func TestSmartHostDownWarnedOnce(t *testing.T) {
	l := testLayout(t)
	cfg := baseConfig(nil)
	cfg.Connections = 1
	cfg.Retry = []time.Duration{time.Hour}
	cfg.Sender = sender.Config{Host: "127.0.0.1", Port: closedPort(t).Port, Hostname: "bridge.test", ConnectTimeout: time.Second, CommandTimeout: 5 * time.Second, InsecureSkipVerify: true}
	h := start(t, l, cfg)
	for i := 0; i < 3; i++ {
		drop(t, l, fmt.Sprintf("down%d.eml", i), []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nwhile down\r\n"))
	}
	h.waitLogCount("result=deferred", 3)
	logs := h.logs.String()
	if strings.Count(logs, "level=WARN msg=\"the Outbound Server cannot be reached") != 1 ||
		strings.Count(logs, "level=WARN msg=delivery") != 1 || strings.Count(logs, "level=INFO msg=delivery") != 2 {
		t.Fatalf("log:\n%s", logs)
	}
	// The stop says what is left (found from outside, QA100).
	h.stop()
	if want := `msg="stopped with messages waiting in Queue: they are tried again at the next start" queued=3`; !strings.Contains(h.logs.String(), want) {
		t.Fatalf("no %s in the log:\n%s", want, h.logs.String())
	}
}

// One message retried alone while the smart host stays down warns once,
// not at each retry (found from outside: its attempt took it out of the
// set of messages deferred for that, so the set was empty each time).
func TestSmartHostDownOneMessageWarnedOnce(t *testing.T) {
	l := testLayout(t)
	cfg := baseConfig(nil)
	cfg.Retry = []time.Duration{50 * time.Millisecond}
	addr := closedPort(t)
	cfg.Sender = sender.Config{Host: "127.0.0.1", Port: addr.Port, Hostname: "bridge.test", ConnectTimeout: time.Second, CommandTimeout: 5 * time.Second, InsecureSkipVerify: true}
	h := start(t, l, cfg)
	drop(t, l, "alone.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nwhile down\r\n"))
	h.waitLogCount("result=deferred", 4)
	if n := strings.Count(h.logs.String(), "the Outbound Server cannot be reached"); n != 1 {
		t.Fatalf("%d warnings:\n%s", n, h.logs.String())
	}
	// The outage's end is said too, though no other message waits for
	// it (found from outside, QA100: the message retried alone was out
	// of the set of those waiting, and nothing was said).
	sink := smtpsink.StartAt(t, addr.String(), smtpsink.Hooks{})
	sink.WaitFor(t, wait, "the message", count(1))
	h.waitLog(`msg="the Outbound Server accepts mail again (it could not be reached, or was not available)"`)
}

func TestSmartHostDownThenBack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	ln.Close()
	l := testLayout(t)
	cfg := baseConfig(nil)
	cfg.Sender = sender.Config{Host: "127.0.0.1", Port: addr.Port, Hostname: "bridge.test", ConnectTimeout: time.Second, CommandTimeout: 5 * time.Second, InsecureSkipVerify: true}
	h := start(t, l, cfg)
	drop(t, l, "down.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nwhile down\r\n"))
	// The first attempt failed and was recorded.
	waitFile(t, l.Queue, "*.state")
	if !strings.Contains(h.logs.String(), "result=deferred") {
		t.Fatal("no deferred attempt logged")
	}
	sink := smtpsink.StartAt(t, addr.String(), smtpsink.Hooks{})
	m := sink.WaitFor(t, wait, "the message", count(1))[0]
	if !strings.HasSuffix(string(m.Data), "while down\r\n") {
		t.Fatalf("%q", m.Data)
	}
	waitEmpty(t, l)
}

// 421 then 451 then acceptance: one delivery, after three attempts.
func TestTransientThenAccept(t *testing.T) {
	var calls atomic.Int32
	sink := smtpsink.Start(t, smtpsink.Hooks{Mail: func(string) error {
		switch calls.Add(1) {
		case 1:
			return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "busy, closing"}
		case 2:
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again"}
		}
		return nil
	}})
	l := testLayout(t)
	h := start(t, l, baseConfig(sink))
	drop(t, l, "t.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nx\r\n"))
	sink.WaitFor(t, wait, "the message", count(1))
	waitEmpty(t, l)
	logs := h.logs.String()
	if !strings.Contains(logs, "421 4.3.2 busy") || !strings.Contains(logs, "451 4.3.0 try again") || !strings.Contains(logs, "attempt=3") {
		t.Fatalf("log:\n%s", logs)
	}
	if n := len(sink.Messages()); n != 1 {
		t.Fatalf("%d messages", n)
	}
}

// 550 for one recipient of two: the other gets it once; the refused one
// goes to Badmail and the sender gets a non-delivery report.
func TestOneRecipientRefused(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{Rcpt: func(to string) error {
		if strings.HasPrefix(to, "bad@") {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	}})
	l := testLayout(t)
	h := start(t, l, baseConfig(sink))
	drop(t, l, "two.eml", []byte("From: app@corp.test\r\nTo: good@y.test, bad@y.test\r\nSubject: two\r\n\r\nbody\r\n"))
	msgs := sink.WaitFor(t, wait, "message and report", count(2))
	waitEmpty(t, l)
	var orig, ndr *smtpsink.Message
	for i := range msgs {
		if msgs[i].From == "" {
			ndr = &msgs[i]
		} else {
			orig = &msgs[i]
		}
	}
	if orig == nil || strings.Join(orig.To, ",") != "good@y.test" {
		t.Fatalf("original: %+v", orig)
	}
	if ndr == nil || strings.Join(ndr.To, ",") != "app@corp.test" ||
		!bytes.Contains(ndr.Data, []byte("Final-Recipient: rfc822;bad@y.test")) ||
		!bytes.Contains(ndr.Data, []byte("Diagnostic-Code: smtp;550 5.1.1 no such user")) ||
		!bytes.Contains(ndr.Data, []byte("Subject: two")) {
		t.Fatalf("report: %+v\n%s", ndr, ndr.Data)
	}
	bads := waitFile(t, l.Badmail, "*.BAD")
	bad, _ := os.ReadFile(bads[0])
	if !bytes.HasPrefix(unstamped(bad), []byte("x-sender: app@corp.test\r\nx-receiver: bad@y.test\r\nFrom:")) {
		t.Fatalf(".BAD: %q", bad)
	}
	bdr, _ := os.ReadFile(strings.TrimSuffix(bads[0], ".BAD") + ".BDR")
	if !bytes.HasPrefix(bdr, []byte("Unable to deliver this message because the following error was encountered: ")) ||
		!bytes.Contains(bdr, []byte("<bad@y.test>: 550 5.1.1 no such user")) || !bytes.Contains(bdr, []byte("Pickup file: two.eml")) {
		t.Fatalf(".BDR:\n%s", bdr)
	}
	if _, err := os.Stat(strings.TrimSuffix(bads[0], ".BAD") + ".BDP"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h.logs.String(), `msg="not delivered to some recipients (the others have it): a copy for them is in Badmail"`) {
		t.Fatalf("log:\n%s", h.logs.String())
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(sink.Messages()); n != 2 {
		t.Fatalf("%d messages", n)
	}

	// The administrator fixes the mailbox and copies .BAD back into Pickup
	// (iis-reference.md section 5): it goes to the refused recipient only.
	sink.SetHooks(smtpsink.Hooks{})
	drop(t, l, "resend.eml", bad)
	m := sink.WaitFor(t, wait, "the resent message", count(3))[2]
	if m.From != "app@corp.test" || strings.Join(m.To, ",") != "bad@y.test" || !bytes.Equal(unstamped(m.Data), unstamped(orig.Data)) {
		t.Fatalf("resent: %+v", m)
	}
	waitEmpty(t, l)
}

// With no smart host, files wait in Queue; a restart with one sends them.
func TestRestartWithQueue(t *testing.T) {
	l := testLayout(t)
	h := start(t, l, baseConfig(nil))
	for i := 0; i < 5; i++ {
		drop(t, l, fmt.Sprintf("r%d.eml", i), []byte(fmt.Sprintf("From: a@x.test\r\nTo: b@y.test\r\nSubject: %d\r\n\r\n.dot\r\n", i)))
	}
	deadline := time.Now().Add(wait)
	for {
		q, _ := filepath.Glob(filepath.Join(l.Queue, "*.eml"))
		p, _ := os.ReadDir(l.Pickup)
		if len(q) == 5 && len(p) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue %d pickup %d", len(q), len(p))
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.stop()
	if !strings.Contains(h.logs.String(), "level=INFO msg=\"no Outbound Server: Pickup files are claimed into Queue and wait there; nothing is sent until [outbound] server is set\"") ||
		strings.Count(h.logs.String(), "level=WARN msg=\"Pickup mail is waiting in Queue: there is no Outbound Server") != 1 {
		t.Fatalf("no-server notice (info at a start with nothing queued) or warning (once mail waits) missing:\n%s", h.logs.String())
	}
	// A Queue file is a readable .eml with its envelope and stuffed body.
	q, _ := filepath.Glob(filepath.Join(l.Queue, "*.eml"))
	b, _ := os.ReadFile(q[0])
	if !bytes.HasPrefix(unstamped(b), []byte("x-sender: a@x.test\r\nx-receiver: b@y.test\r\nFrom: a@x.test\r\n")) || !bytes.HasSuffix(b, []byte("\r\n..dot\r\n")) {
		t.Fatalf("queue file %q", b)
	}

	// An administrator "stirs" the queue: one Queue file back into Pickup
	// (iis-reference.md section 4). It is claimed again and sent once.
	if err := os.Rename(q[1], filepath.Join(l.Pickup, "stirred.eml")); err != nil {
		t.Fatal(err)
	}

	// Files that are not of ours (IIS's leftovers, whatever the case of
	// their extension) are left alone, and said to be, with what they
	// are. Found from outside: lower-case .eml ones were sent.
	foreign := map[string]string{
		"NTFS_1a2b.EML":       "From: a@x.test\r\nTo: b@y.test\r\n\r\niis\r\n",
		"NTFS_1a2c.eml":       "From: a@x.test\r\nTo: b@y.test\r\n\r\niis\r\n",
		"NTFS_1a2d.eml":       "x-sender: a@x.test\r\nx-receiver: b@y.test\r\nFrom: a@x.test\r\n\r\niis\r\n",
		"NTFS_1a2e.EML":       "",
		"NTFS_1a2e.in":        "x-sender: a@x.test\r\nx-receiver: b@y.test\r\n\r\niis\r\n",
		"odd name (copy).eml": "x-sender: a@x.test\r\nx-receiver: b@y.test\r\n\r\niis\r\n",
		"NTFS_1a2f.EML":       "x-sender: a@x.test\r\nFrom: a@x.test\r\nTo: c@y.test\r\n\r\niis\r\n",
		"notes.txt":           "to do: clean up\r\n",
		"NTFS_1a30.EML":       "From: a@x.test\r\nSubject: no one\r\n\r\nx\r\n",
		"Thumbs.db":           "x",
	}
	for name, data := range foreign {
		if err := os.WriteFile(filepath.Join(l.Queue, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(l.Queue, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}

	sink := smtpsink.Start(t, smtpsink.Hooks{})
	h = start(t, l, baseConfig(sink))
	msgs := sink.WaitFor(t, wait, "5 messages", count(5))
	for name := range foreign {
		if err := os.Remove(filepath.Join(l.Queue, name)); err != nil {
			t.Fatalf("the foreign file: %v", err)
		}
	}
	os.Remove(filepath.Join(l.Queue, "sub"))
	logs := h.logs.String()
	for what, n := range map[string]int{
		"did not queue": 9, "it is empty, with nothing to send": 1, "it has no x-receiver lines": 3, "it does not start as a message does": 1, "neither x-receiver lines nor To, Cc or Bcc fields": 1,
		"which sends it to the recipients of its x-receiver lines": 3, "a folder in Queue, left alone": 1, "Thumbs.db": 0,
	} {
		if c := strings.Count(logs, what); c != n {
			t.Errorf("%q said %d times, want %d", what, c, n)
		}
	}
	if t.Failed() {
		t.Fatalf("log:\n%s", logs)
	}
	waitEmpty(t, l)
	seen := map[string]bool{}
	for _, m := range msgs {
		if !strings.HasSuffix(string(m.Data), "\r\n\r\n.dot\r\n") {
			t.Fatalf("%q", m.Data)
		}
		seen[string(m.Data)] = true
	}
	if len(seen) != 5 {
		t.Fatalf("%d distinct messages", len(seen))
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(sink.Messages()); n != 5 {
		t.Fatalf("%d messages", n)
	}
}

// A recipient that is always deferred: one delay notice, then after the
// expiration the message goes to Badmail and the sender's NDR reaches the
// smart host.
func TestExpiration(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{Rcpt: func(to string) error {
		if strings.HasPrefix(to, "slow@") {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "mailbox busy"}
		}
		return nil
	}})
	l := testLayout(t)
	cfg := baseConfig(sink)
	cfg.DelayNotification = 500 * time.Millisecond
	cfg.Expiration = 2 * time.Second
	start(t, l, cfg)
	drop(t, l, "exp.eml", []byte("From: app@corp.test\r\nTo: slow@y.test\r\nSubject: expiring\r\n\r\nbody\r\n"))
	isNDR := func(m smtpsink.Message) bool {
		return m.From == "" && bytes.Contains(m.Data, []byte("(Failure)"))
	}
	msgs := sink.WaitFor(t, wait, "the NDR", func(ms []smtpsink.Message) bool {
		for _, m := range ms {
			if isNDR(m) {
				return true
			}
		}
		return false
	})
	waitEmpty(t, l)
	delays, ndrs := 0, 0
	for _, m := range msgs {
		if m.From != "" || strings.Join(m.To, ",") != "app@corp.test" {
			t.Fatalf("unexpected %+v", m)
		}
		if bytes.Contains(m.Data, []byte("Subject: Delivery Status Notification (Delay)")) {
			delays++
		}
		if isNDR(m) {
			ndrs++
			for _, want := range []string{"Action: failed", "Status: 5.4.7", "Final-Recipient: rfc822;slow@y.test", "451 4.2.0 mailbox busy", "Remote-MTA: dns;[127.0.0.1]", "Subject: expiring", "multipart/report"} {
				if !bytes.Contains(m.Data, []byte(want)) {
					t.Fatalf("NDR lacks %q:\n%s", want, m.Data)
				}
			}
		}
	}
	if delays != 1 || ndrs != 1 {
		t.Fatalf("%d delay notices, %d NDRs", delays, ndrs)
	}
	bdr := waitFile(t, l.Badmail, "*.BDR")
	b, _ := os.ReadFile(bdr[0])
	if !bytes.Contains(b, []byte("within 2s (expiration); last reply from the Outbound Server")) || bytes.Count(b, []byte("gave up after")) != 1 {
		t.Fatalf("%s", b) // the headline does not repeat the recipient's line
	}
}

// The delay notice goes out when it falls due, after an attempt then,
// not at the next retry (found from outside: up to 4 hours late with
// IIS's schedule, and never when no retry fell before the expiration).
func TestDelayNoticeOnTime(t *testing.T) {
	var mu sync.Mutex
	tries := 0
	sink := smtpsink.Start(t, smtpsink.Hooks{Rcpt: func(to string) error {
		if strings.HasPrefix(to, "slow@") {
			mu.Lock()
			tries++
			mu.Unlock()
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "mailbox busy"}
		}
		return nil
	}})
	l := testLayout(t)
	cfg := baseConfig(sink)
	cfg.Retry = []time.Duration{time.Minute}
	cfg.DelayNotification = 500 * time.Millisecond
	cfg.Expiration = 2 * time.Minute
	h := start(t, l, cfg)
	drop(t, l, "late.eml", []byte("From: app@corp.test\r\nTo: slow@y.test\r\nSubject: delayed\r\n\r\nbody\r\n"))
	m := sink.WaitFor(t, wait, "the delay notice", count(1))[0]
	if m.From != "" || !bytes.Contains(m.Data, []byte("Subject: Delivery Status Notification (Delay)")) || !bytes.Contains(m.Data, []byte("451 4.2.0 mailbox busy")) {
		t.Fatalf("not the delay notice: %+v\n%s", m, m.Data)
	}
	// Its delivery line names the message it is about (found from
	// outside, QA100: it said only from="").
	h.waitLog("result=sent")
	if !regexp.MustCompile(`msg=delivery id=\w+ report_for=\w+ from="" to=\[app@corp.test\]`).MatchString(h.logs.String()) {
		t.Errorf("the notice's delivery line does not name its message:\n%s", h.logs.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if tries != 2 {
		t.Fatalf("%d attempts before the notice, want 2 (the first, and one when it fell due)", tries)
	}
}

// A delay notice is given up when its message is (the time it gives,
// "Delivery will be retried until"), not tried for a whole expiration of
// its own: found from outside, it reached the sender after the message's
// failure report, and was retried past the time it gave.
func TestDelayNoticeExpiresWithItsMessage(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{Rcpt: func(to string) error {
		// The message's recipient, and the sender of its reports.
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "mailbox busy"}
	}})
	l := testLayout(t)
	cfg := baseConfig(sink)
	cfg.DelayNotification = 1200 * time.Millisecond
	cfg.Expiration = 3 * time.Second
	h := start(t, l, cfg)
	drop(t, l, "exp.eml", []byte("From: app@corp.test\r\nTo: slow@y.test\r\nSubject: expiring\r\n\r\nbody\r\n"))
	// Said as a notice (found from outside: read as a message).
	h.waitLog(`msg="delay notice not delivered: moved to Badmail"`)
	deadline := time.Now().Add(wait)
	var notice, original []byte
	for notice == nil || original == nil {
		if time.Now().After(deadline) {
			t.Fatalf("Badmail: notice %q, message %q", notice, original)
		}
		time.Sleep(20 * time.Millisecond)
		bdrs, _ := filepath.Glob(filepath.Join(l.Badmail, "*.BDR"))
		for _, f := range bdrs {
			b, _ := os.ReadFile(f)
			switch {
			case bytes.Contains(b, []byte("the delay notice could not be delivered within 2s (until its message's expiration)")):
				// Its own time, not the expiration (found from outside).
				notice = b
			case bytes.Contains(b, []byte("within 3s (expiration)")):
				original = b
			}
		}
	}
	if !bytes.Contains(notice, []byte("app@corp.test")) || !bytes.Contains(notice, []byte("This is the delay notice about message")) || bytes.Contains(notice, []byte("copy ")) {
		t.Fatalf("the notice's .BDR:\n%s", notice)
	}
}

// A recipient refused for good is reported to the sender after the attempt
// that refused it, while another recipient is still retried; the report at
// expiration names only the one that expired, and the .BDR says both.
func TestRefusedReportedBeforeExpiration(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{Rcpt: func(to string) error {
		switch {
		case strings.HasPrefix(to, "bad@"):
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		case strings.HasPrefix(to, "slow@"):
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "mailbox busy"}
		}
		return nil
	}})
	l := testLayout(t)
	cfg := baseConfig(sink)
	cfg.Expiration = 3 * time.Second
	start(t, l, cfg)
	drop(t, l, "three.eml", []byte("From: app@corp.test\r\nTo: good@y.test, bad@y.test, slow@y.test\r\nSubject: three\r\n\r\nbody\r\n"))
	reports := func(ms []smtpsink.Message) []smtpsink.Message {
		var r []smtpsink.Message
		for _, m := range ms {
			if m.From == "" {
				r = append(r, m)
			}
		}
		return r
	}
	first := reports(sink.WaitFor(t, wait, "the first report", func(ms []smtpsink.Message) bool { return len(reports(ms)) >= 1 }))[0]
	if !bytes.Contains(first.Data, []byte("Final-Recipient: rfc822;bad@y.test")) || bytes.Contains(first.Data, []byte("rfc822;slow@y.test")) {
		t.Fatalf("first report:\n%s", first.Data)
	}
	// The message is still queued for slow@ when bad@ is reported.
	if m, _ := filepath.Glob(filepath.Join(l.Badmail, "*.BAD")); len(m) != 0 {
		t.Fatalf("in Badmail before expiration: %v", m)
	}
	msgs := sink.WaitFor(t, wait, "the report at expiration", func(ms []smtpsink.Message) bool { return len(reports(ms)) >= 2 })
	waitEmpty(t, l)
	last := reports(msgs)[1]
	if !bytes.Contains(last.Data, []byte("Final-Recipient: rfc822;slow@y.test")) || bytes.Contains(last.Data, []byte("rfc822;bad@y.test")) {
		t.Fatalf("report at expiration:\n%s", last.Data)
	}
	bdr, _ := os.ReadFile(waitFile(t, l.Badmail, "*.BDR")[0])
	for _, want := range []string{"refused 1 of 3 recipients, and 1 could not be delivered within 3s (expiration)",
		"<bad@y.test>: 550 5.1.1 no such user", "after the attempt that refused them"} {
		if !bytes.Contains(bdr, []byte(want)) {
			t.Errorf(".BDR lacks %q:\n%s", want, bdr)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(reports(sink.Messages())); n != 2 {
		t.Fatalf("%d reports, want 2", n)
	}
}

// A claimed file whose Queue file cannot be written, the disk being full,
// stays claimed in Queue and is queued and sent once there is room again,
// without a restart (it used to wait for the next start).
func TestQueueFileRetriedWhenDiskFull(t *testing.T) {
	// Without an Outbound Server too: the claims are finished (Queue/ID.in
	// becomes ID.eml), and the messages wait there. Found from outside:
	// no worker ran without a server, and the claims stayed .in for good.
	for _, withServer := range []bool{true, false} {
		t.Run(fmt.Sprint("server=", withServer), func(t *testing.T) {
			mnt := testtool.Tmpfs(t, "4m")
			l := testLayoutIn(mnt)
			if err := os.MkdirAll(l.Pickup, 0o755); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 5; i++ {
				drop(t, l, fmt.Sprintf("m%d.eml", i), []byte(fmt.Sprintf("From: app@corp.test\r\nTo: r%d@y.test\r\nSubject: full\r\n\r\nbody\r\n", i)))
			}
			// Fill the disk, one page at a time, to the last byte.
			filler := filepath.Join(mnt, "filler")
			f, err := os.Create(filler)
			if err != nil {
				t.Fatal(err)
			}
			page := make([]byte, 4096)
			for {
				if _, err := f.Write(page); err != nil {
					break
				}
			}
			f.Close()
			sink := smtpsink.Start(t, smtpsink.Hooks{})
			cfg := baseConfig(sink)
			if !withServer {
				cfg.Sender.Host = ""
			}
			h := start(t, l, cfg)
			deadline := time.Now().Add(wait)
			for strings.Count(h.logs.String(), "cannot write the Queue file") == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("no Queue write failed on a full disk:\n%s", h.logs.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			if n := len(sink.Messages()); n != 0 {
				t.Fatalf("%d messages sent while the disk was full", n)
			}
			// What the volume has, and what the message needs (found
			// from outside: "no space left" while df showed 15 % free).
			if !strings.Contains(h.logs.String(), "and this message needs") {
				t.Errorf("no space advice in the log:\n%s", h.logs.String())
			}
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			if !withServer {
				for {
					ins, _ := filepath.Glob(filepath.Join(l.Queue, "*.in"))
					emls, _ := filepath.Glob(filepath.Join(l.Queue, "*.eml"))
					if len(ins) == 0 && len(emls) == 5 {
						return
					}
					if time.Now().After(deadline.Add(wait)) {
						t.Fatalf("Queue holds %d claims and %d messages, want 0 and 5", len(ins), len(emls))
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
			sink.WaitFor(t, wait, "the five messages once there is room", count(5))
			waitEmpty(t, l)
			time.Sleep(300 * time.Millisecond)
			if n := len(sink.Messages()); n != 5 {
				t.Fatalf("%d messages, want 5", n)
			}
		})
	}
}

// A report that cannot be delivered (the sender's address is refused)
// stays in Badmail: no report about a report.
func TestNDRFailureStaysInBadmail(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{Rcpt: func(to string) error {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "nobody here"}
	}})
	l := testLayout(t)
	h := start(t, l, baseConfig(sink))
	drop(t, l, "n.eml", []byte("From: gone@corp.test\r\nTo: x@y.test\r\n\r\nb\r\n"))
	deadline := time.Now().Add(wait)
	for {
		b, _ := filepath.Glob(filepath.Join(l.Badmail, "*.BAD"))
		if len(b) == 2 {
			break
		}
		if time.Now().After(deadline) || len(b) > 2 {
			t.Fatalf("%d .BAD files", len(b))
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitEmpty(t, l)
	time.Sleep(300 * time.Millisecond)
	if b, _ := filepath.Glob(filepath.Join(l.Badmail, "*.BAD")); len(b) != 2 || len(sink.Messages()) != 0 {
		t.Fatalf("%d .BAD, %d messages", len(b), len(sink.Messages()))
	}
	// The report's .BDR and log line name the message it was about
	// (found from outside: they named only the report).
	bdrs, _ := filepath.Glob(filepath.Join(l.Badmail, "*.BDR"))
	ids := []string{strings.TrimSuffix(filepath.Base(bdrs[0]), ".BDR"), strings.TrimSuffix(filepath.Base(bdrs[1]), ".BDR")}
	found := false
	for i, p := range bdrs {
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), "this is itself a report, about message "+ids[1-i]) {
			found = true
			if !strings.Contains(h.logs.String(), "report_for="+ids[1-i]) {
				t.Errorf("no log line names %s as what the report was about:\n%s", ids[1-i], h.logs.String())
			}
		}
	}
	if !found {
		t.Fatalf("no .BDR names the message its report was about")
	}
}

// A file that is not a message goes to Badmail with its reason; the
// bridge carries on.
func TestUnparsableToBadmail(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	l := testLayout(t)
	h := start(t, l, baseConfig(sink))
	drop(t, l, "junk.txt", []byte("this is not a message\r\n"))
	drop(t, l, "norcpt.eml", []byte("From: a@x.test\r\nSubject: nobody\r\n\r\nb\r\n"))
	drop(t, l, "empty.eml", []byte("\r\n"))
	drop(t, l, "ok.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nb\r\n"))
	sink.WaitFor(t, wait, "the good message", count(1))
	waitEmpty(t, l)
	bdrs, _ := filepath.Glob(filepath.Join(l.Badmail, "*.BDR"))
	if len(bdrs) != 3 {
		t.Fatalf("%d .BDR", len(bdrs))
	}
	all := ""
	for _, p := range bdrs {
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), `"empty.eml"`) {
			// Nothing to send again: not asked to (found from outside).
			if !strings.Contains(string(b), "The file holds nothing to send: delete") || strings.Contains(string(b), "To send it again") {
				t.Errorf("the empty file's reason:\n%s", b)
			}
			continue
		}
		all += string(b)
	}
	for _, want := range []string{`"junk.txt"`, `"norcpt.eml"`, "no recipients", "line 1 is not a header field"} {
		if !strings.Contains(all, want) {
			t.Fatalf("reasons lack %q:\n%s", want, all)
		}
	}
	// The file without recipients is said, in the log, to be maybe a
	// part of one written in several steps (found from outside: a script
	// appending line by line); the one not a message is not. Each line is
	// written once its file is in Badmail: waited for (CI, under load,
	// read the log between the two).
	logs := h.logs.String()
	for deadline := time.Now().Add(wait); strings.Count(logs, "Pickup file moved to Badmail") < 3 && time.Now().Before(deadline); logs = h.logs.String() {
		time.Sleep(10 * time.Millisecond)
	}
	for _, line := range strings.Split(logs, "\n") {
		if hinted := strings.Contains(line, "opening it anew for each"); strings.Contains(line, "file=norcpt.eml") && strings.Contains(line, "moved to Badmail") && !hinted ||
			strings.Contains(line, "file=junk.txt") && hinted {
			t.Fatalf("hint where it does not belong, or none where it does:\n%s", line)
		}
	}
	if !strings.Contains(logs, "opening it anew for each") {
		t.Fatalf("no hint:\n%s", logs)
	}
	// The line is named, not quoted: the file is in .BAD for who must see it.
	if strings.Contains(all, "this is not a message") {
		t.Fatalf("a reason quotes the file:\n%s", all)
	}
	// Not the null sender: the file without recipients has one, and
	// nobody knows the sender of the file that could not be read.
	if !strings.Contains(all, "Sender:      <a@x.test>") || !strings.Contains(all, "Sender:      unknown (the file could not be read as a message)") || strings.Contains(all, "<>") {
		t.Fatalf("reasons name the wrong senders:\n%s", all)
	}
	bads, _ := filepath.Glob(filepath.Join(l.Badmail, "*.BAD"))
	for _, p := range bads {
		b, _ := os.ReadFile(p)
		if string(b) != "this is not a message\r\n" && string(b) != "\r\n" && !strings.Contains(string(b), "Subject: nobody") {
			t.Fatalf(".BAD is not the file as written: %q", b)
		}
	}
}

// Stopping while messages are due (the smart host is down and retries are
// immediate) returns promptly and keeps every message in Queue.
func TestStopWithDueMail(t *testing.T) {
	port := testtool.FreePort(t)
	l := testLayout(t)
	cfg := baseConfig(nil)
	cfg.Retry = []time.Duration{time.Millisecond}
	cfg.Sender = sender.Config{Host: "127.0.0.1", Port: port, ConnectTimeout: time.Second, InsecureSkipVerify: true}
	h := start(t, l, cfg)
	for i := 0; i < 5; i++ {
		drop(t, l, fmt.Sprintf("d%d.eml", i), []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nx\r\n"))
	}
	// Every message tried once and due again: claimed, each with its state.
	deadline := time.Now().Add(wait)
	for {
		s, _ := filepath.Glob(filepath.Join(l.Queue, "*.state"))
		if len(s) == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages with a retry state in Queue, want 5", len(s))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// One deleted by hand is dropped from the schedule, with a word.
	q, _ := filepath.Glob(filepath.Join(l.Queue, "*.eml"))
	// On Windows a file held by an attempt cannot be deleted (as with
	// IIS): the administrator tries again, as here.
	for err := os.Remove(q[0]); err != nil; err = os.Remove(q[0]) {
		if runtime.GOOS != "windows" || time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for !strings.Contains(h.logs.String(), "Queue file gone") {
		if time.Now().After(deadline) {
			t.Fatalf("no word of the deleted Queue file:\n%s", h.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.stop()
	q, _ = filepath.Glob(filepath.Join(l.Queue, "*.eml"))
	if len(q) != 4 {
		t.Fatalf("%d messages in Queue, want 4", len(q))
	}
}

// Where the OS cannot tell whether a writer is done, a file is claimed only
// after its size and modification time stayed the same for the quiet
// period: a file still growing is not sent half-written. The file is in
// Pickup before the start, so the start-up scan finds it.
func TestQuietPeriodFallback(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	l := testLayout(t)
	makeFolders(t, l)
	f, err := os.Create(filepath.Join(l.Pickup, "growing.eml"))
	if err != nil {
		t.Fatal(err)
	}
	want := "From: a@x.test\r\nTo: b@y.test\r\n\r\n"
	f.WriteString(want)
	cfg := baseConfig(sink)
	cfg.QuietPeriod = 400 * time.Millisecond
	runFallback(t, l, cfg)
	for i := 0; i < 15; i++ {
		line := fmt.Sprintf("line %d\r\n", i)
		want += line
		f.WriteString(line)
		time.Sleep(100 * time.Millisecond)
	}
	f.Close()
	m := sink.WaitFor(t, wait, "the message", count(1))[0]
	if string(unstamped(m.Data)) != want {
		t.Fatalf("sent %q", m.Data)
	}
	waitEmpty(t, l)
}

// A writer that pauses longer than the quiet period and goes on while its
// file, claimed meanwhile, is being read: the claim is undone, the file
// goes back to Pickup and is sent whole once quiet again (found from
// outside: what was written after the claim was lost, and the message
// sent cut short).
func TestQuietPeriodWriterWentOn(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	l := testLayout(t)
	makeFolders(t, l)
	first := "From: a@x.test\r\nTo: b@y.test\r\n\r\nfirst half\r\n"
	if err := os.WriteFile(filepath.Join(l.Pickup, "paused.eml"), []byte(first), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := baseConfig(sink)
	cfg.QuietPeriod = 200 * time.Millisecond
	logs := &testlog.Buffer{}
	var once sync.Once
	runFallback(t, l, cfg, func(b *Bridge) {
		b.log = slog.New(slog.NewTextHandler(logs, nil))
		b.afterRead = func(path string) {
			once.Do(func() {
				// The writer goes on, through the descriptor it kept.
				f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					t.Error(err)
					return
				}
				f.WriteString("second half\r\n")
				f.Close()
			})
		}
	})
	m := sink.WaitFor(t, wait, "the message", count(1))[0]
	if got := string(unstamped(m.Data)); got != first+"second half\r\n" {
		t.Fatalf("sent %q", got)
	}
	waitEmpty(t, l)
	time.Sleep(300 * time.Millisecond)
	if n := len(sink.Messages()); n != 1 {
		t.Fatalf("%d messages sent", n)
	}
	if !strings.Contains(logs.String(), "Pickup file changed after it was taken") {
		t.Fatalf("log: %s", logs.String())
	}
}

// Where only the quiet period tells, a file that looks unfinished (empty,
// its last line without a line end, or its envelope alone) waits longer:
// found from outside, an empty file whose writer wrote it 3 seconds later
// was moved to Badmail as empty, the message never sent; one whose writer
// paused inside its envelope was sent to a recipient's address cut short;
// one whose writer paused after its envelope lines went to Badmail.
func TestQuietPeriodUnfinishedWaits(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	l := testLayout(t)
	makeFolders(t, l)
	cfg := baseConfig(sink)
	cfg.QuietPeriod = 100 * time.Millisecond
	runFallback(t, l, cfg, func(b *Bridge) { b.unfinishedQuiet = 3 * time.Second })
	empty := filepath.Join(l.Pickup, "empty.eml")
	cut := filepath.Join(l.Pickup, "cut.eml")
	env := filepath.Join(l.Pickup, "env.eml")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cut, []byte("X-Sender: a@x.test\r\nX-Receiver: cut@y.te"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(env, []byte("X-Sender: a@x.test\r\nX-Receiver: env@y.test\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(800 * time.Millisecond) // eight quiet periods
	if bad, _ := filepath.Glob(filepath.Join(l.Badmail, "*")); len(bad) != 0 || len(sink.Messages()) != 0 {
		t.Fatalf("taken before their writers went on: Badmail %v, sent %d", bad, len(sink.Messages()))
	}
	if err := os.WriteFile(empty, []byte("From: a@x.test\r\nTo: empty@y.test\r\n\r\nbody\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(cut, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("st\r\nFrom: a@x.test\r\n\r\nbody\r\n")
	f.Close()
	if f, err = os.OpenFile(env, os.O_WRONLY|os.O_APPEND, 0); err != nil {
		t.Fatal(err)
	}
	f.WriteString("From: a@x.test\r\n\r\nbody\r\n")
	f.Close()
	ms := sink.WaitFor(t, wait, "the three messages", count(3))
	var to []string
	for _, m := range ms {
		to = append(to, m.To...)
	}
	slices.Sort(to)
	if strings.Join(to, " ") != "cut@y.test empty@y.test env@y.test" {
		t.Fatalf("sent to %v", to)
	}
	waitEmpty(t, l)
}

// Where a lease is refused, the first such file says once what the quiet
// period means for every such file (found from outside: a writer's pause
// cut a message, and nothing had said that the fallback applied).
func TestNoLeaseSaidOnce(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	l := testLayout(t)
	cfg := baseConfig(sink)
	cfg.QuietPeriod = 50 * time.Millisecond
	logs := &testlog.Buffer{}
	runFallback(t, l, cfg, func(b *Bridge) {
		b.log = slog.New(slog.NewTextHandler(logs, nil))
		b.openIfDone = func(path string) (*os.File, readiness, error) {
			if _, err := os.Lstat(path); os.IsNotExist(err) {
				return nil, gone, nil
			}
			return nil, unknown, &noLease{"mailbridge's account neither owns the file nor has CAP_LEASE"}
		}
	})
	drop(t, l, "one.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\none\r\n"))
	drop(t, l, "two.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\ntwo\r\n"))
	sink.WaitFor(t, wait, "both messages", count(2))
	if n := strings.Count(logs.String(), "cannot tell when the writer of this Pickup file is done, as mailbridge's account neither owns the file nor has CAP_LEASE"); n != 1 {
		t.Fatalf("said %d times:\n%s", n, logs.String())
	}
}

// After a watcher error (here an event overflow) the bridge rescans at
// once and watches again: a file whose event was lost is found without
// waiting for the periodic rescan.
func TestWatcherOverflowRescans(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	l := testLayout(t)
	root, err := mailroot.Open(l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	cfg := baseConfig(sink)
	cfg.Rescan = time.Hour
	logs := &testlog.Buffer{}
	b := New(cfg, root, slog.New(slog.NewTextHandler(logs, nil)))
	w, err := b.newWatcher()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	deliver := func(ctx context.Context) { b.deliverLoop(ctx, &sendingRecord{}, 0) }
	for _, f := range []func(context.Context){func(ctx context.Context) { b.watch(ctx, w) }, b.claimLoop, deliver} {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	defer func() { cancel(); wg.Wait() }()

	drop(t, l, "seen.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nseen\r\n"))
	sink.WaitFor(t, wait, "the first message", count(1))
	// Lose the events: nothing tells the bridge about the next file...
	if err := w.Remove(l.Pickup); err != nil {
		t.Fatal(err)
	}
	drop(t, l, "lost.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nlost\r\n"))
	// ...until the watcher reports the overflow.
	w.Errors <- fsnotify.ErrEventOverflow
	m := sink.WaitFor(t, wait, "the file whose event was lost", count(2))[1]
	if !strings.HasSuffix(string(m.Data), "lost\r\n") {
		t.Fatalf("%q", m.Data)
	}
	if !strings.Contains(logs.String(), "overflow=true") {
		t.Fatalf("log: %s", logs.String())
	}
	// The new watcher sees new files again.
	drop(t, l, "after.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nafter\r\n"))
	sink.WaitFor(t, wait, "a file after the new watcher", count(3))
	waitEmpty(t, l)
}

// A message partly accepted is retried only for the rest, across a
// restart: the accepted recipient is recorded in the state file.
func TestPartlyAcceptedAcrossRestart(t *testing.T) {
	var deferLater atomic.Bool
	deferLater.Store(true)
	sink := smtpsink.Start(t, smtpsink.Hooks{Rcpt: func(to string) error {
		if strings.HasPrefix(to, "later@") && deferLater.Load() {
			return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "mailbox full"}
		}
		return nil
	}})
	l := testLayout(t)
	cfg := baseConfig(sink)
	cfg.Retry = []time.Duration{time.Hour} // no retry before the restart
	h := start(t, l, cfg)
	drop(t, l, "p.eml", []byte("From: a@x.test\r\nTo: now@y.test, later@y.test\r\n\r\nbody\r\n"))
	st := waitFile(t, l.Queue, "*.state")
	sink.WaitFor(t, wait, "the first delivery", count(1))
	h.stop()
	if !strings.Contains(h.logs.String(), `result="partly deferred" attempt=1 `) || !strings.Contains(h.logs.String(), "deferred=[later@y.test]") {
		t.Fatalf("the partly deferred line does not name the deferred recipient:\n%s", h.logs.String())
	}
	raw, _ := os.ReadFile(st[0])
	if !strings.Contains(string(raw), `"now@y.test"`) || !strings.Contains(string(raw), "452 4.2.2 mailbox full") {
		t.Fatalf("state: %s", raw)
	}

	// Restarted, with the retry due now (as if the hour had passed).
	var s state
	if err := json.Unmarshal(raw, &s); err != nil || s.Attempts != 1 || len(s.Done) != 1 {
		t.Fatalf("state %+v %v", s, err)
	}
	s.Next = time.Now()
	raw, _ = json.Marshal(s)
	if err := os.WriteFile(st[0], raw, 0o644); err != nil {
		t.Fatal(err)
	}
	deferLater.Store(false)
	start(t, l, cfg)
	msgs := sink.WaitFor(t, wait, "the rest", count(2))
	waitEmpty(t, l)
	if strings.Join(msgs[0].To, ",") != "now@y.test" || strings.Join(msgs[1].To, ",") != "later@y.test" {
		t.Fatalf("%q then %q", msgs[0].To, msgs[1].To)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(sink.Messages()); n != 2 {
		t.Fatalf("%d messages", n)
	}
}

// runFallback runs a bridge on l until the test ends, where the system
// cannot tell when a writer is done with a file: only cfg.QuietPeriod
// tells (a network share, another user's file without a lease).
func runFallback(t *testing.T, l mailroot.Layout, cfg Config, setup ...func(*Bridge)) {
	t.Helper()
	root, err := mailroot.Open(l)
	if err != nil {
		t.Fatal(err)
	}
	b := New(cfg, root, slog.New(slog.NewTextHandler(io.Discard, nil)))
	b.openIfDone = func(path string) (*os.File, readiness, error) {
		if _, err := os.Lstat(path); os.IsNotExist(err) {
			return nil, gone, nil
		}
		return nil, unknown, nil
	}
	for _, f := range setup {
		f(b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); b.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; root.Close() })
}

// An administrator "stirs" the queue (iis-reference.md section 4): a
// partly delivered message moved back into Pickup is retried for the
// recipients still pending only. The one who has it does not get it again,
// and the refused one is not reported twice.
func TestStirredPartlyDeliveredMessage(t *testing.T) {
	var hostReady atomic.Bool
	sink := smtpsink.Start(t, smtpsink.Hooks{Rcpt: func(to string) error {
		switch {
		case strings.HasPrefix(to, "bad@"):
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		case strings.HasPrefix(to, "later@") && !hostReady.Load():
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "try later"}
		}
		return nil
	}})
	l := testLayout(t)
	cfg := baseConfig(sink)
	cfg.Retry = []time.Duration{time.Hour} // no retry but the stirred one
	h := start(t, l, cfg)
	drop(t, l, "p.eml", []byte("From: a@x.test\r\nTo: ok@y.test, bad@y.test, later@y.test\r\nSubject: stir\r\n\r\nbody\r\n"))
	sink.WaitFor(t, wait, "the delivery to ok@ and the report for bad@", count(2))
	st := waitFile(t, l.Queue, "*.state")
	// Stopped once the report has left the Queue too: a stop while the
	// smart host's reply is on its way resends (the lost-reply window).
	for deadline := time.Now().Add(wait); ; time.Sleep(20 * time.Millisecond) {
		if q, _ := filepath.Glob(filepath.Join(l.Queue, "*.eml")); len(q) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the report stays in Queue")
		}
	}
	h.stop()

	q := strings.TrimSuffix(st[0], ".state") + ".eml"
	b, err := os.ReadFile(q)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(unstamped(b), []byte("x-sender: a@x.test\r\nx-receiver: later@y.test\r\nFrom: a@x.test\r\n")) {
		t.Fatalf("Queue file after a partial delivery:\n%s", b)
	}
	if err := os.Rename(q, filepath.Join(l.Pickup, "stirred.eml")); err != nil {
		t.Fatal(err)
	}
	hostReady.Store(true)
	start(t, l, cfg)
	sink.WaitFor(t, wait, "the stirred message", count(3))
	waitEmpty(t, l)
	time.Sleep(300 * time.Millisecond)
	msgs := sink.Messages()
	if len(msgs) != 3 {
		for _, m := range msgs {
			t.Logf("%s -> %q", m.From, m.To)
		}
		t.Fatalf("%d messages, want 3 (ok@, the report for bad@, later@)", len(msgs))
	}
	if m := msgs[2]; m.From != "a@x.test" || strings.Join(m.To, ",") != "later@y.test" || !strings.HasSuffix(string(unstamped(m.Data)), "Subject: stir\r\n\r\nbody\r\n") {
		t.Fatalf("stirred: %s %q %q", m.From, m.To, m.Data)
	}
}

// A message given up on after a partial delivery keeps its whole
// recipient list in the Badmail reason, though its Queue file was
// rewritten to list only the pending ones.
func TestBadmailCountsAllRecipientsAfterCheckpoint(t *testing.T) {
	var calls atomic.Int32
	sink := smtpsink.Start(t, smtpsink.Hooks{Rcpt: func(to string) error {
		switch {
		case strings.HasPrefix(to, "later@") && calls.Add(1) == 1:
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "try later"}
		case strings.HasPrefix(to, "later@"), strings.HasPrefix(to, "bad@"):
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	}})
	l := testLayout(t)
	start(t, l, baseConfig(sink))
	drop(t, l, "p.eml", []byte("From: a@x.test\r\nTo: ok@y.test, bad@y.test, later@y.test\r\n\r\nbody\r\n"))
	bads := waitFile(t, l.Badmail, "*.BAD")
	waitEmpty(t, l)
	bdr, _ := os.ReadFile(strings.TrimSuffix(bads[0], ".BAD") + ".BDR")
	bdp, _ := os.ReadFile(strings.TrimSuffix(bads[0], ".BAD") + ".BDP")
	if !bytes.Contains(bdr, []byte("refused 2 of 3 recipients")) || !bytes.Contains(bdp, []byte("Recipient: <ok@y.test>")) {
		t.Fatalf(".BDR:\n%s\n.BDP:\n%s", bdr, bdp)
	}
}

// closedPort returns a local address where nothing listens (yet).
func closedPort(t *testing.T) *net.TCPAddr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: testtool.FreePort(t)}
}

// soon bounds the waits for what must happen at once, not at the next
// scheduled retry (an hour away in these tests).
const soon = 10 * time.Second

// smartHostDown is a layout and a configuration whose smart host is not
// there yet (nothing listens at addr), with retries hours apart.
func smartHostDown(t *testing.T) (*net.TCPAddr, mailroot.Layout, Config) {
	addr := closedPort(t)
	cfg := baseConfig(nil)
	cfg.Retry = []time.Duration{2 * time.Hour, 3 * time.Hour}
	cfg.Sender = sender.Config{Host: "127.0.0.1", Port: addr.Port, Hostname: "bridge.test", ConnectTimeout: time.Second, CommandTimeout: 5 * time.Second, InsecureSkipVerify: true}
	return addr, testLayout(t), cfg
}

// A restart retries the queued mail at once (iis-reference.md section 4:
// administrators flush a queue that way), keeping the attempt count.
func TestRestartRetriesQueueAtOnce(t *testing.T) {
	addr, l, cfg := smartHostDown(t)
	h := start(t, l, cfg)
	drop(t, l, "down.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nwhile down\r\n"))
	waitFile(t, l.Queue, "*.state")
	h.stop()

	sink := smtpsink.StartAt(t, addr.String(), smtpsink.Hooks{})
	h = start(t, l, cfg)
	sink.WaitFor(t, soon, "the queued message, at the restart", count(1))
	waitEmpty(t, l)
	if !strings.Contains(h.logs.String(), "attempt=2") {
		t.Fatalf("the attempt count was not kept:\n%s", h.logs.String())
	}
}

// Mail deferred while the smart host could not be reached is retried as
// soon as a delivery proves it is back, not at its next scheduled time.
func TestSmartHostBackRetriesDeferredMail(t *testing.T) {
	addr, l, cfg := smartHostDown(t)
	h := start(t, l, cfg)
	drop(t, l, "old.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nold\r\n"))
	waitFile(t, l.Queue, "*.state")

	sink := smtpsink.StartAt(t, addr.String(), smtpsink.Hooks{})
	drop(t, l, "new.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nnew\r\n"))
	msgs := sink.WaitFor(t, soon, "the new message, then the old one", count(2))
	waitEmpty(t, l)
	if !strings.HasSuffix(string(msgs[0].Data), "new\r\n") || !strings.HasSuffix(string(msgs[1].Data), "old\r\n") {
		t.Fatalf("%q then %q", msgs[0].Data, msgs[1].Data)
	}
	if !strings.Contains(h.logs.String(), "accepts mail again") {
		t.Fatalf("log:\n%s", h.logs.String())
	}
}

// A recipient's own 4xx reply is not the smart host being away: a
// success for other mail does not bring its retry forward.
func TestDeferredByReplyNotBroughtForward(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{Rcpt: func(to string) error {
		if strings.HasPrefix(to, "full@") {
			return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "mailbox full"}
		}
		return nil
	}})
	l := testLayout(t)
	cfg := baseConfig(sink)
	cfg.Retry = []time.Duration{2 * time.Hour}
	h := start(t, l, cfg)
	drop(t, l, "full.eml", []byte("From: a@x.test\r\nTo: full@y.test\r\n\r\nfull\r\n"))
	waitFile(t, l.Queue, "*.state")
	drop(t, l, "ok.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nok\r\n"))
	sink.WaitFor(t, soon, "the other message", count(1))
	time.Sleep(time.Second)
	if n := strings.Count(h.logs.String(), "to=[full@y.test] server="); n != 1 {
		t.Fatalf("%d attempts for full@, want 1:\n%s", n, h.logs.String())
	}
}

// An administrator replaces the Pickup folder ("mv Pickup Pickup.old;
// mkdir Pickup"): the bridge watches the new folder, and files written
// there are sent at once, not at the next rescan (an hour here).
func TestPickupFolderReplaced(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	l := testLayout(t)
	cfg := baseConfig(sink)
	cfg.Rescan = time.Hour
	if runtime.GOOS == "windows" {
		// Windows may report no event for the watched folder itself
		// (Wine does not): there the rescan notices the new folder.
		cfg.Rescan = 500 * time.Millisecond
	}
	h := start(t, l, cfg)
	drop(t, l, "first.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nfirst\r\n"))
	sink.WaitFor(t, soon, "the first message", count(1))
	if err := os.Rename(l.Pickup, l.Pickup+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(l.Pickup, 0o777); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	drop(t, l, "second.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nsecond\r\n"))
	m := sink.WaitFor(t, soon, "a message written into the new Pickup folder", count(2))[1]
	if !strings.HasSuffix(string(m.Data), "second\r\n") {
		t.Fatalf("%q", m.Data)
	}
	// (Under Wine the folder's identity is not reliable either: there the
	// rescan alone finds the file, which is what matters.)
	if runtime.GOOS != "windows" && !strings.Contains(h.logs.String(), "the Pickup folder was removed or renamed") {
		t.Fatalf("log:\n%s", h.logs.String())
	}
}

// quiet_period = "0s" is allowed (README) and means no wait; it used to be
// taken for unset and became 2 s.
func TestQuietPeriodZeroKept(t *testing.T) {
	if got := (Config{QuietPeriod: 0}).withDefaults().QuietPeriod; got != 0 {
		t.Errorf("QuietPeriod 0 became %v", got)
	}
	if got := (Config{QuietPeriod: -1}).withDefaults().QuietPeriod; got != 2*time.Second {
		t.Errorf("QuietPeriod -1 became %v, want the default 2s", got)
	}
}

// A smart host that answers 421 at its greeting (maintenance) is not
// available, as one that cannot be reached: one warning, the other
// deferrals at INFO, and the messages it deferred are retried once a
// delivery proves it back. Found from outside: a warning per message, and
// the deferred mail waited for its next retry.
func TestGreeting421IsUnavailable(t *testing.T) {
	addr, l, cfg := smartHostDown(t)
	ln, err := net.Listen("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "421 4.3.2 Service not available, closing transmission channel\r\n")
			c.Close()
		}
	}()
	h := start(t, l, cfg)
	for _, name := range []string{"a.eml", "b.eml", "c.eml"} {
		drop(t, l, name, []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\n"+name+"\r\n"))
	}
	h.waitLogCount("result=deferred", 3)
	if n := strings.Count(h.logs.String(), "the Outbound Server is not available: it answers 421"); n != 1 {
		t.Fatalf("%d warnings, want 1:\n%s", n, h.logs.String())
	}
	if n := strings.Count(h.logs.String(), "level=WARN msg=delivery"); n != 1 {
		t.Fatalf("%d deferrals logged as warnings, want the first:\n%s", n, h.logs.String())
	}
	ln.Close()

	sink := smtpsink.StartAt(t, addr.String(), smtpsink.Hooks{})
	drop(t, l, "new.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nnew\r\n"))
	sink.WaitFor(t, soon, "the new message, then the three deferred (not at their retry, hours away)", count(4))
	waitEmpty(t, l)
}

// A smart host that defers messages by its replies (451 to RCPT, as in
// a phase of trouble on its side) gets one warning, the deferrals that
// follow go at INFO until a message is delivered, and the next run of
// deferrals warns again. Found from outside (QA95): every retry of every
// message was a warning, 3,047 in 68 minutes.
func TestDeferralsWarnOncePerRun(t *testing.T) {
	var refuse atomic.Bool
	refuse.Store(true)
	sink := smtpsink.Start(t, smtpsink.Hooks{Rcpt: func(string) error {
		if refuse.Load() {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary local problem"}
		}
		return nil
	}})
	l := testLayout(t)
	cfg := baseConfig(sink)
	cfg.Connections = 1
	h := start(t, l, cfg)
	for _, name := range []string{"a.eml", "b.eml", "c.eml"} {
		drop(t, l, name, []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\n"+name+"\r\n"))
	}
	// Each message deferred twice or more: retried 200 and 400 ms apart.
	h.waitLogCount("result=deferred", 6)
	logs := h.logs.String()
	if n := strings.Count(logs, "level=WARN msg=delivery"); n != 1 {
		t.Fatalf("%d deferrals logged as warnings, want the first:\n%s", n, logs)
	}
	if !strings.Contains(logs, `level=WARN msg=delivery`) || !strings.Contains(logs, `then="the deferrals that follow are logged at INFO until a message is delivered"`) {
		t.Fatalf("the warning does not say what follows:\n%s", logs)
	}
	refuse.Store(false)
	sink.WaitFor(t, wait, "the three messages", count(3))
	waitEmpty(t, l)
	// The run's end is said once (found from outside, QA100: nothing
	// marked it).
	h.waitLog("the Outbound Server accepts mail again after deferring messages")
	if n := strings.Count(h.logs.String(), "accepts mail again"); n != 1 {
		t.Fatalf("the run's end said %d times:\n%s", n, h.logs.String())
	}
	refuse.Store(true)
	drop(t, l, "d.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nd\r\n"))
	h.waitLogCount("result=deferred", strings.Count(h.logs.String(), "result=deferred")+2)
	if n := strings.Count(h.logs.String(), "level=WARN msg=delivery"); n != 2 {
		t.Fatalf("%d deferrals logged as warnings, want one per run of deferrals:\n%s", n, h.logs.String())
	}
	refuse.Store(false)
	sink.WaitFor(t, wait, "the fourth message", count(4))
	waitEmpty(t, l)
}

// A smart host back from an outage but answering 451 for a while: the
// outage's end is said when a message is delivered at last, though every
// message deferred by it was retried (and so left the set of those
// waiting for it) meanwhile. Found from outside (QA100): nothing was said.
func TestSmartHostBackDeferringThenAccepting(t *testing.T) {
	l := testLayout(t)
	cfg := baseConfig(nil)
	cfg.Connections = 1
	addr := closedPort(t)
	cfg.Sender = sender.Config{Host: "127.0.0.1", Port: addr.Port, Hostname: "bridge.test", ConnectTimeout: time.Second, CommandTimeout: 5 * time.Second, InsecureSkipVerify: true}
	h := start(t, l, cfg)
	drop(t, l, "a.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\na\r\n"))
	drop(t, l, "b.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nb\r\n"))
	h.waitLogCount("result=deferred", 4)
	var refuse atomic.Bool
	refuse.Store(true)
	sink := smtpsink.StartAt(t, addr.String(), smtpsink.Hooks{Rcpt: func(string) error {
		if refuse.Load() {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary local problem"}
		}
		return nil
	}})
	h.waitLogCount("451 4.3.0 Temporary local problem", 4)
	refuse.Store(false)
	sink.WaitFor(t, wait, "the two messages", count(2))
	h.waitLog(`msg="the Outbound Server accepts mail again (it could not be reached, or was not available)"`)
	if n := strings.Count(h.logs.String(), "accepts mail again"); n != 1 {
		t.Fatalf("the end said %d times:\n%s", n, h.logs.String())
	}
}
