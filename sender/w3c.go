package sender

import (
	"bytes"
	"strings"
	"sync"
	"time"

	"github.com/mailbridge/mailbridge/compat"
)

// CommandLog receives IIS's W3C log lines for outbound connections
// (compat.W3CLog).
type CommandLog interface {
	Log(compat.W3CEntry) error
}

// transcript turns go-smtp's client transcript (Client.DebugWriter, which
// sees the plain text above TLS, both directions in one stream) into IIS's
// outbound W3C lines: OutboundConnectionCommand for each command we send,
// OutboundConnectionResponse for the first line of each reply
// (iis-reference section 9). The client never pipelines, so a line is a
// reply when it starts with a three-digit code, and a command otherwise;
// message content (between 354 and the final dot) is not logged, and
// neither is anything said during AUTH after the mechanism.
type transcript struct {
	log      CommandLog
	serverIP string
	port     int
	computer string
	start    time.Time

	mu     sync.Mutex
	buf    []byte
	inData bool // between DATA's 354 and the end of the message
	auth   bool // an AUTH exchange is under way
	reply  bool // inside a multi-line reply (only its first line is logged)
}

func newTranscript(log CommandLog, serverIP string, port int, hostname string) *transcript {
	name, _, _ := strings.Cut(hostname, ".")
	return &transcript{log: log, serverIP: serverIP, port: port, computer: strings.ToUpper(name), start: time.Now()}
}

func (t *transcript) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	for {
		i := bytes.Index(t.buf, []byte("\r\n"))
		if i < 0 {
			if len(t.buf) > 64<<10 {
				// A content line longer than any command: not ours to keep.
				t.buf = t.buf[:0]
			}
			break
		}
		line := string(t.buf[:i])
		t.buf = t.buf[i+2:]
		t.line(line)
	}
	return len(p), nil
}

func isReply(line string) bool {
	return len(line) >= 3 && line[0] >= '2' && line[0] <= '5' && line[1] >= '0' && line[1] <= '9' && line[2] >= '0' && line[2] <= '9' &&
		(len(line) == 3 || line[3] == ' ' || line[3] == '-')
}

func (t *transcript) line(line string) {
	if t.inData {
		if line == "." {
			t.inData = false
		}
		return
	}
	if isReply(line) {
		first := !t.reply
		t.reply = len(line) > 3 && line[3] == '-'
		if !first {
			return
		}
		code := line[:3]
		switch {
		case code == "354":
			t.inData = true
		case code == "334":
			t.auth = true
		case t.auth:
			t.auth = false
		}
		t.entry("OutboundConnectionResponse", "-", line, 0, int64(len(line)+2))
		return
	}
	if t.auth {
		// A SASL response: credentials, never logged.
		t.command("-", "(hidden)", line)
		return
	}
	verb, args, _ := strings.Cut(line, " ")
	verb = strings.ToUpper(verb)
	if verb == "AUTH" {
		// The mechanism only: an initial response may carry credentials.
		args, _, _ = strings.Cut(args, " ")
	}
	t.command(verb, args, line)
}

// command logs a command line as sent: cs-bytes counts the line with its
// CRLF, whatever part of it is shown.
func (t *transcript) command(verb, args, line string) {
	t.entry("OutboundConnectionCommand", verb, args, int64(len(line)+2), 0)
}

func (t *transcript) entry(user, method, query string, cs, sc int64) {
	if t.log == nil {
		return
	}
	_ = t.log.Log(compat.W3CEntry{
		Time: time.Now(), ClientIP: t.serverIP, User: user, Computer: t.computer, Port: t.port,
		Method: method, Query: query, CSBytes: cs, SCBytes: sc, TimeTaken: time.Since(t.start),
	})
}
