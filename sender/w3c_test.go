package sender

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mailbridge/mailbridge/compat"
	"github.com/mailbridge/mailbridge/internal/smtpsink"
)

type memLog struct {
	mu    sync.Mutex
	lines []string
}

func (m *memLog) Log(e compat.W3CEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := strings.Split(compat.FormatW3C(e, "SMTPSVC1"), " ")
	// date, time and time-taken change from run to run.
	f[0], f[1], f[15] = "DATE", "TIME", "MS"
	m.lines = append(m.lines, strings.Join(f, " "))
	return nil
}

// verbs returns the conversation in short: each command's verb and each
// reply's code, in order ("220 EHLO 250 ..."), and the whole log.
func (m *memLog) verbs() (short, all string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var v []string
	for _, l := range m.lines {
		f := strings.Split(l, " ")
		if f[3] == "OutboundConnectionCommand" {
			v = append(v, f[8])
		} else {
			v = append(v, f[10][:3])
		}
	}
	return strings.Join(v, " "), strings.Join(m.lines, "\n")
}

// sendLogged sends msg to b@y.test with cfg, the W3C log kept, and returns
// the conversation in short (memLog.verbs).
func sendLogged(t *testing.T, cfg Config) (short, all string) {
	t.Helper()
	ml := &memLog{}
	cfg.CommandLog = ml
	s := NewSession(cfg)
	res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
	s.Close()
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	return ml.verbs()
}

// TestOutboundW3C: every command sent and the first line of every reply
// is logged as IIS did (OutboundConnectionCommand/Response, s-port the
// smart host's port), without the message content.
func TestOutboundW3C(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	cfg := cfgFor(sink)
	ml := &memLog{}
	cfg.CommandLog = ml
	cfg.MaxMessages = 1
	s := NewSession(cfg)
	res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte("Subject: secret\r\n\r\n250 looks like a reply\r\nMAIL FROM:<not@a.command>\r\n"))
	s.Close()
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	ml.mu.Lock()
	got := strings.Join(ml.lines, "\n")
	ml.mu.Unlock()
	port := sink.Port
	prefix := "DATE TIME 127.0.0.1 "
	for _, want := range []string{
		prefix + "OutboundConnectionResponse SMTPSVC1 BRIDGE - " + strconv.Itoa(port) + " - - 220+",
		prefix + "OutboundConnectionCommand SMTPSVC1 BRIDGE - " + strconv.Itoa(port) + " EHLO - bridge.test 0 0 0 ",
		prefix + "OutboundConnectionCommand SMTPSVC1 BRIDGE - " + strconv.Itoa(port) + " MAIL - FROM:<a@x.test>+",
		prefix + "OutboundConnectionCommand SMTPSVC1 BRIDGE - " + strconv.Itoa(port) + " RCPT - TO:<b@y.test> ",
		prefix + "OutboundConnectionCommand SMTPSVC1 BRIDGE - " + strconv.Itoa(port) + " DATA - - ",
		prefix + "OutboundConnectionResponse SMTPSVC1 BRIDGE - " + strconv.Itoa(port) + " - - 354",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "secret") || strings.Contains(got, "looks+like") || strings.Contains(got, "not@a.command") {
		t.Errorf("message content logged:\n%s", got)
	}
	if n := strings.Count(got, "250-"); n > 1 {
		t.Errorf("more than the first line of the EHLO reply logged:\n%s", got)
	}
}

// AUTH exchanges never reach the log beyond the mechanism.
func TestTranscriptHidesAuth(t *testing.T) {
	ml := &memLog{}
	tr := newTranscript(ml, "192.0.2.1", 587, "mb.example.com")
	tr.Write([]byte("AUTH LOGIN dXNlcg==\r\n334 UGFzc3dvcmQ6\r\ncGFzc3dvcmQ=\r\n235 2.7.0 ok\r\nMAIL FROM:<a@b>\r\n"))
	got := strings.Join(ml.lines, "\n")
	if strings.Contains(got, "dXNlcg") || strings.Contains(got, "cGFzc3dvcmQ") {
		t.Fatalf("credentials logged:\n%s", got)
	}
	if !strings.Contains(got, " AUTH - LOGIN ") || !strings.Contains(got, " MAIL - FROM:<a@b> ") || !strings.Contains(got, "(hidden)") {
		t.Fatalf("log:\n%s", got)
	}
}

// cs-bytes is the command line as sent, CRLF included, with or without
// arguments (DATA and QUIT were counted one byte over).
func TestTranscriptCommandBytes(t *testing.T) {
	ml := &memLog{}
	tr := newTranscript(ml, "192.0.2.1", 25, "mb.example.com")
	tr.Write([]byte("MAIL FROM:<a@b>\r\nDATA\r\nQUIT\r\nAUTH PLAIN AGEAYg==\r\n"))
	var got []string
	for _, l := range ml.lines {
		f := strings.Split(l, " ")
		got = append(got, f[8]+" "+f[14]) // cs-method cs-bytes
	}
	want := "MAIL 17,DATA 6,QUIT 6,AUTH 21"
	if strings.Join(got, ",") != want {
		t.Fatalf("cs-bytes %v, want %s", got, want)
	}
}
