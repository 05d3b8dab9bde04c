package sender

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/mailbridge/mailbridge/internal/smtpsink"
)

func cfgFor(s *smtpsink.Sink) Config {
	// InsecureSkipVerify as config has it by default: opportunistic TLS
	// without verification, so plain text where STARTTLS is not offered.
	return Config{Host: s.Host, Port: s.Port, Hostname: "bridge.test", ConnectTimeout: 5 * time.Second, CommandTimeout: 10 * time.Second, InsecureSkipVerify: true}
}

const msg = "Subject: t\r\n\r\n.leading dot\r\nbody\r\n"

func TestSendReuseSizeEhlo(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	cfg := cfgFor(sink)
	cfg.MaxMessages = 3
	s := NewSession(cfg)
	defer s.Close()
	for i := 0; i < 7; i++ {
		res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
		if res[0].Err != nil || !strings.HasPrefix(res[0].Reply, "250 ") {
			t.Fatalf("message %d: %+v", i, res[0])
		}
	}
	msgs := sink.Messages()
	if len(msgs) != 7 {
		t.Fatalf("%d messages", len(msgs))
	}
	for _, m := range msgs {
		if string(m.Data) != msg || m.Size != int64(len(msg)) || m.Helo != "bridge.test" || m.From != "a@x.test" {
			t.Fatalf("got %+v", m)
		}
	}
	// 7 messages, 3 per connection: 3 connections.
	if n := sink.Conns(); n != 3 {
		t.Fatalf("%d connections, want 3", n)
	}
}

func TestSendSplitsRecipients(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	cfg := cfgFor(sink)
	cfg.MaxRecipients = 2
	s := NewSession(cfg)
	defer s.Close()
	to := []string{"1@y.test", "2@y.test", "3@y.test", "4@y.test", "5@y.test"}
	res := s.Send(context.Background(), "", to, []byte(msg))
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	msgs := sink.Messages()
	if len(msgs) != 3 || len(msgs[0].To) != 2 || len(msgs[2].To) != 1 || msgs[0].From != "" {
		t.Fatalf("%+v", msgs)
	}
	if sink.Conns() != 1 {
		t.Fatalf("%d connections", sink.Conns())
	}
}

func TestSendClassifies(t *testing.T) {
	var dataCalls atomic.Int32
	sink := smtpsink.Start(t, smtpsink.Hooks{
		Rcpt: func(to string) error {
			switch {
			case strings.HasPrefix(to, "perm"):
				return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
			case strings.HasPrefix(to, "temp"):
				return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
			}
			return nil
		},
		Data: func(string, []string, []byte) error {
			if dataCalls.Add(1) == 1 {
				return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "disk full"}
			}
			return nil
		},
	})
	s := NewSession(cfgFor(sink))
	defer s.Close()
	to := []string{"ok@y.test", "perm@y.test", "temp@y.test"}
	res := s.Send(context.Background(), "a@x.test", to, []byte(msg))
	// DATA refused with 452: ok@ is transient, perm@ permanent, temp@ transient.
	if res[0].Err == nil || res[0].Err.Permanent || res[0].Err.Code != 452 || res[0].Err.Stage != "DATA" {
		t.Fatalf("ok@: %+v", res[0].Err)
	}
	if e := res[1].Err; e == nil || !e.Permanent || e.ReplyLine() != "550 5.1.1 no such user" || e.Stage != "RCPT TO" {
		t.Fatalf("perm@: %+v", e)
	}
	if e := res[2].Err; e == nil || e.Permanent || e.Code != 451 {
		t.Fatalf("temp@: %+v", e)
	}
	// Same connection, after RSET: now DATA is accepted.
	res = s.Send(context.Background(), "a@x.test", to, []byte(msg))
	if res[0].Err != nil || res[1].Err == nil || res[2].Err == nil {
		t.Fatalf("%+v", res)
	}
	if sink.Conns() != 1 || len(sink.Messages()) != 1 {
		t.Fatalf("conns %d msgs %d", sink.Conns(), len(sink.Messages()))
	}
}

func TestSendConnectionFailures(t *testing.T) {
	// Nothing listens: connect refused is transient.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().(*net.TCPAddr)
	l.Close()
	s := NewSession(Config{Host: "127.0.0.1", Port: addr.Port, ConnectTimeout: time.Second, CommandTimeout: time.Second})
	res := s.Send(context.Background(), "a@x.test", []string{"b@y.test", "c@y.test"}, []byte(msg))
	for _, r := range res {
		if r.Err == nil || r.Err.Permanent || r.Err.Stage != "connect" || r.Err.Code != 0 {
			t.Fatalf("%+v", r.Err)
		}
	}

	// A server that greets 421 (busy): transient, at EHLO (the greeting).
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	go func() {
		for {
			c, err := l2.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "421 4.3.2 busy\r\n")
			c.Close()
		}
	}()
	port := l2.Addr().(*net.TCPAddr).Port
	s = NewSession(Config{Host: "[127.0.0.1]", Port: port, CommandTimeout: time.Second})
	res = s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
	if e := res[0].Err; e == nil || e.Permanent || e.Code != 421 {
		t.Fatalf("%+v", e)
	}

	// A server that never answers: the command timeout ends the wait.
	l3, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l3.Close()
	go func() {
		for {
			c, err := l3.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	s = NewSession(Config{Host: "127.0.0.1", Port: l3.Addr().(*net.TCPAddr).Port, CommandTimeout: 200 * time.Millisecond})
	res = s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
	if e := res[0].Err; e == nil || e.Permanent || !strings.Contains(e.Reply, "timed out: no greeting within [outbound] command_timeout") {
		t.Fatalf("%+v", e)
	}
}

func TestAddr(t *testing.T) {
	for _, tt := range []struct {
		in   Config
		want string
	}{
		{Config{Host: "relay.test"}, "relay.test:25"},
		{Config{Host: "[10.0.0.5]", Port: 2}, "10.0.0.5:2"},
		{Config{Host: "::1", Port: 26}, "[::1]:26"},
	} {
		if got := tt.in.Addr(); got != tt.want {
			t.Errorf("%+v: %s, want %s", tt.in, got, tt.want)
		}
	}
}

// A smart host that stops reading in the middle of DATA: the write
// deadline ends the attempt (transient) instead of blocking the worker.
// fakeSMTP serves one SMTP session on 127.0.0.1 and returns its port: a
// greeting, EHLO with 8BITMIME, 250 to other commands, 221 to QUIT, and
// after DATA's 354, data with the connection; the session goes on while
// data returns true.
func fakeSMTP(t *testing.T, data func(c net.Conn, r *bufio.Reader) bool) int {
	t.Helper()
	return fakeSMTPWith(t, "8BITMIME", map[string]func(net.Conn, *bufio.Reader) bool{"DATA": func(c net.Conn, r *bufio.Reader) bool {
		fmt.Fprintf(c, "354 go ahead\r\n")
		return data(c, r)
	}})
}

// fakeSMTPWith is fakeSMTP offering the EHLO extension ext, and handing
// the commands in verbs (upper case) to their function, which answers
// them; the session goes on while it returns true.
func fakeSMTPWith(t *testing.T, ext string, verbs map[string]func(c net.Conn, r *bufio.Reader) bool) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		fmt.Fprintf(c, "220 fake.test ESMTP\r\n")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			verb := strings.ToUpper(strings.Fields(line + " x")[0])
			if f := verbs[verb]; f != nil {
				if !f(c, r) {
					return
				}
				continue
			}
			switch verb {
			case "EHLO":
				fmt.Fprintf(c, "250-fake.test\r\n250 %s\r\n", ext)
			case "QUIT":
				fmt.Fprintf(c, "221 bye\r\n")
				return
			default:
				fmt.Fprintf(c, "250 ok\r\n")
			}
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

func TestSendStalledData(t *testing.T) {
	stop := make(chan struct{})
	defer close(stop)
	port := fakeSMTP(t, func(net.Conn, *bufio.Reader) bool {
		<-stop // and never read again
		return false
	})
	s := NewSession(Config{Host: "127.0.0.1", Port: port, CommandTimeout: 300 * time.Millisecond, InsecureSkipVerify: true})
	defer s.Close()
	big := []byte(strings.Repeat(strings.Repeat("y", 998)+"\r\n", 32<<10)) // 32 MB
	res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, big)
	if e := res[0].Err; e == nil || e.Permanent || e.Stage != "DATA" || !strings.Contains(e.Reply, "timed out: the smart host stopped reading what was sent at DATA for [outbound] command_timeout") {
		t.Fatalf("%+v", e)
	}
}
