package sender

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// scriptHost is a raw SMTP smart host on 127.0.0.1 whose replies a test
// writes, and which records every command line it reads: for what go-smtp's
// server (smtpsink) will not say or accept.
type scriptHost struct {
	// Greeting is the greeting line; "" means "220 script.test ESMTP".
	Greeting string
	// EHLO lists the keywords after the first line of the EHLO reply;
	// EHLOReply, when set, is the whole reply instead.
	EHLO      []string
	EHLOReply string
	// Rcpt replies to the nth RCPT of a transaction (from 1); nil accepts.
	Rcpt func(n int, to string) string
	// CloseAt is a command ("MAIL", "RCPT", "DATA") the host answers by
	// closing the connection; "." closes it after the message instead of
	// replying to the final ".".
	CloseAt string
	// CloseAfterMessage closes the connection after each message's 250.
	CloseAfterMessage bool
	// StartTLS, when set, is offered in EHLO and is the reply to
	// STARTTLS; after a 220 the host sends AfterStartTLS (which is not
	// TLS) and closes the connection.
	StartTLS, AfterStartTLS string
	// Auth are the replies to AUTH and to each line after it while they
	// are 334 challenges; a "*" line is answered 501 and ends it. Those
	// lines are recorded as "<sasl>" (or "*").
	Auth []string
	// AuthFor, when set, gives the replies for the AUTH command of a
	// mechanism ("LOGIN", "PLAIN") instead of Auth.
	AuthFor func(mech string) []string
	// Mail replies to the nth MAIL (from 1, over all connections); nil or
	// "" accepts.
	Mail func(n int) string
	// DataReply, when set, is the reply to DATA instead of 354; the host then
	// reads no message.
	DataReply string
	// MessageReply, when set, is the reply to a message's final "."
	// instead of "250 2.0.0 queued"; Go354, the reply to DATA.
	MessageReply, Go354 string

	Port int

	data []byte // the last message's DATA lines, as sent (dot-stuffed)

	mu    sync.Mutex
	lines []string
	msgs  int
	conns int
	mails int
}

func (h *scriptHost) start(t *testing.T) *scriptHost {
	t.Helper()
	h.Port = rawHost(t, h.serve)
	return h
}

// Verbs returns the verbs of the command lines read so far, space
// separated ("EHLO MAIL RCPT DATA QUIT").
func (h *scriptHost) Verbs() string {
	var verbs []string
	for _, l := range h.Lines() {
		verbs = append(verbs, strings.Fields(l)[0])
	}
	return strings.Join(verbs, " ")
}

// Data returns the last message's DATA lines, as sent (dot-stuffed).
func (h *scriptHost) Data() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return string(h.data)
}

// Lines returns the command lines read so far.
func (h *scriptHost) Lines() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.lines...)
}

// Conns is the number of connections accepted so far.
func (h *scriptHost) Conns() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.conns
}

// Messages is the number of messages accepted so far.
func (h *scriptHost) Messages() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.msgs
}

func (h *scriptHost) serve(c net.Conn) {
	h.mu.Lock()
	h.conns++
	h.mu.Unlock()
	r := bufio.NewReader(c)
	greeting := h.Greeting
	if greeting == "" {
		greeting = "220 script.test ESMTP"
	}
	fmt.Fprintf(c, "%s\r\n", greeting)
	rcpts := 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		h.mu.Lock()
		h.lines = append(h.lines, line)
		h.mu.Unlock()
		verb := strings.ToUpper(strings.Fields(line + " x")[0])
		if verb == h.CloseAt {
			return
		}
		switch verb {
		case "EHLO":
			if h.EHLOReply != "" {
				fmt.Fprintf(c, "%s\r\n", h.EHLOReply)
				continue
			}
			reply := "250-script.test"
			for _, k := range h.EHLO {
				reply += "\r\n250-" + k
			}
			if h.StartTLS != "" {
				reply += "\r\n250-STARTTLS"
			}
			reply += "\r\n250 ENHANCEDSTATUSCODES"
			fmt.Fprintf(c, "%s\r\n", reply)
		case "MAIL":
			rcpts = 0
			h.mu.Lock()
			h.mails++
			n := h.mails
			h.mu.Unlock()
			reply := "250 2.1.0 ok"
			if h.Mail != nil && h.Mail(n) != "" {
				reply = h.Mail(n)
			}
			fmt.Fprintf(c, "%s\r\n", reply)
		case "AUTH":
			replies := h.Auth
			if h.AuthFor != nil {
				replies = h.AuthFor(strings.ToUpper(strings.Fields(line + " x x")[1]))
			}
			for _, reply := range replies {
				fmt.Fprintf(c, "%s\r\n", reply)
				if !strings.HasPrefix(reply, "334") {
					break
				}
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				l = strings.TrimRight(l, "\r\n")
				if l != "*" {
					l = "<sasl>"
				}
				h.mu.Lock()
				h.lines = append(h.lines, l)
				h.mu.Unlock()
				if l == "*" {
					fmt.Fprintf(c, "501 5.7.0 AUTH cancelled\r\n")
					break
				}
			}
		case "RCPT":
			rcpts++
			reply := "250 2.1.5 ok"
			if h.Rcpt != nil {
				if r := h.Rcpt(rcpts, line); r != "" {
					reply = r
				}
			}
			fmt.Fprintf(c, "%s\r\n", reply)
		case "DATA":
			if h.DataReply != "" {
				fmt.Fprintf(c, "%s\r\n", h.DataReply)
				continue
			}
			go354 := "354 go ahead"
			if h.Go354 != "" {
				go354 = h.Go354
			}
			fmt.Fprintf(c, "%s\r\n", go354)
			var data []byte
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data = append(data, l...)
			}
			h.mu.Lock()
			h.data = data
			h.mu.Unlock()
			if h.CloseAt == "." {
				return
			}
			h.mu.Lock()
			h.msgs++
			h.mu.Unlock()
			reply := "250 2.0.0 queued"
			if h.MessageReply != "" {
				reply = h.MessageReply
			}
			fmt.Fprintf(c, "%s\r\n", reply)
			if h.CloseAfterMessage {
				return
			}
		case "STARTTLS":
			fmt.Fprintf(c, "%s\r\n", h.StartTLS)
			if strings.HasPrefix(h.StartTLS, "220") {
				time.Sleep(50 * time.Millisecond) // after the client reads the 220
				io.WriteString(c, h.AfterStartTLS)
				return
			}
		case "QUIT":
			fmt.Fprintf(c, "221 2.0.0 bye\r\n")
			return
		default:
			fmt.Fprintf(c, "250 2.0.0 ok\r\n")
		}
	}
}

// A reply that is its code alone ("250", no text) is a reply (RFC 5321
// section 4.2: the text is optional), at every step: found from outside, a
// smart host answering the message's end with "250" alone had the message
// sent again at every retry, as "short response".
func TestBareReplyCodes(t *testing.T) {
	h := (&scriptHost{
		Greeting:     "220",
		EHLOReply:    "250",
		Mail:         func(int) string { return "250" },
		Rcpt:         func(int, string) string { return "250" },
		Go354:        "354",
		MessageReply: "250",
	}).start(t)
	s := NewSession(scriptCfg(h))
	defer s.Close()
	for i := 0; i < 2; i++ {
		if res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg)); res[0].Err != nil || res[0].Reply != "250" {
			// The reply as logged: "250", not "250 " (found from outside).
			t.Fatalf("message %d: %+v, reply %q", i+1, res[0].Err, res[0].Reply)
		}
	}
	if h.Messages() != 2 || h.Conns() != 1 {
		t.Fatalf("%d messages over %d connections, want 2 over 1", h.Messages(), h.Conns())
	}
	// A reply that is none, after the message's end, says that the smart
	// host may have the message (found from outside: retried without a
	// word of it).
	h = (&scriptHost{MessageReply: "2500 ok"}).start(t)
	s3 := NewSession(scriptCfg(h))
	defer s3.Close()
	if e := s3.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))[0].Err; e == nil || e.Permanent || !strings.Contains(e.Reply, "could not be read") || !strings.Contains(e.Reply, "it may have taken the message") {
		t.Fatalf("2500 ok: %+v", e)
	}
	// A bare code that refuses is still a refusal, with its code.
	h = (&scriptHost{MessageReply: "554"}).start(t)
	s2 := NewSession(scriptCfg(h))
	defer s2.Close()
	if e := s2.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))[0].Err; e == nil || !e.Permanent || e.ReplyLine() != "554" {
		t.Fatalf("554 alone: %+v", e)
	}
}

// scriptCfg is a configuration for h, in TLS mode none.
func scriptCfg(h *scriptHost) Config {
	return Config{Host: "127.0.0.1", Port: h.Port, Hostname: "bridge.test", TLS: TLSNone, ConnectTimeout: 5 * time.Second, CommandTimeout: 5 * time.Second}
}
