// Package smtpsink is a real SMTP server on 127.0.0.1 for tests of the
// outbound side: it records every message it accepts and answers each
// command as a test script says (421/451/550 ...). It is built on go-smtp,
// the same protocol layer as our listener, and is used only by tests.
package smtpsink

import (
	"bytes"
	"crypto/tls"
	"io"
	"log"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one accepted message.
type Message struct {
	From string
	To   []string
	Size int64 // SIZE= of MAIL FROM, 0 when absent
	Data []byte
	Helo string
	TLS  bool // the message came over TLS (STARTTLS or implicit)
}

// Hooks decide replies; a nil hook accepts. An *smtp.SMTPError return is
// sent as the reply.
type Hooks struct {
	Mail func(from string) error
	Rcpt func(to string) error
	Data func(from string, to []string, data []byte) error
	// Auth, when set, has the sink offer AUTH PLAIN (also without TLS)
	// and decide each attempt; a nil return accepts.
	Auth func(username, password string) error
}

// Sink is a running test server.
type Sink struct {
	Addr string // host:port
	Host string
	Port int

	srv     *smtp.Server
	l       net.Listener
	limited *limitListener // StartLimited's

	mu       sync.Mutex
	hooks    Hooks
	msgs     []Message
	conns    int
	notify   chan struct{}
	closedCh chan struct{}
}

// Start runs a sink on 127.0.0.1:0 until the test ends.
func Start(tb testing.TB, hooks Hooks) *Sink {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := startOn(tb, l, hooks, nil)
	tb.Cleanup(func() { s.Close() })
	return s
}

// StartAt runs a sink on addr (to bring a smart host "back up" on the port
// it had); it fails the test if the port cannot be bound.
func StartAt(tb testing.TB, addr string, hooks Hooks) *Sink {
	tb.Helper()
	var l net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		tb.Fatal(err)
	}
	s := startOn(tb, l, hooks, nil)
	tb.Cleanup(func() { s.Close() })
	return s
}

// StartLimited runs a sink on 127.0.0.1:0 that takes at most limit
// connections at a time, as postfix does with
// smtpd_client_connection_count_limit: one more is answered "421 4.7.0
// sink.test Error: too many connections from IP" and closed.
func StartLimited(tb testing.TB, hooks Hooks, limit int) *Sink {
	tb.Helper()
	return StartLimitedReply(tb, hooks, limit, "")
}

// StartLimitedReply is StartLimited refusing with reply (a whole reply
// line, without CRLF) instead of postfix's "too many connections".
func StartLimitedReply(tb testing.TB, hooks Hooks, limit int, reply string) *Sink {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ll := &limitListener{Listener: l, limit: limit, reply: reply}
	s := startOn(tb, ll, hooks, nil)
	s.limited = ll
	tb.Cleanup(func() { s.Close() })
	return s
}

// Refused is the number of connections a StartLimited sink refused.
func (s *Sink) Refused() int {
	if s.limited == nil {
		return 0
	}
	s.limited.mu.Lock()
	defer s.limited.mu.Unlock()
	return s.limited.refused
}

type limitListener struct {
	net.Listener
	limit int
	reply string // the refusal; "" is postfix's

	mu      sync.Mutex
	open    int
	refused int
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		if l.open >= l.limit {
			l.refused++
			l.mu.Unlock()
			ip, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			reply := "421 4.7.0 sink.test Error: too many connections from " + ip
			if l.reply != "" {
				reply = l.reply
			}
			c.Write([]byte(reply + "\r\n"))
			c.Close()
			continue
		}
		l.open++
		l.mu.Unlock()
		return &countedConn{Conn: c, l: l}, nil
	}
}

type countedConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.open--
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// TLSOptions make a sink speak TLS: STARTTLS offered on the plain port, or
// TLS from the first byte when Implicit.
type TLSOptions struct {
	Config   *tls.Config
	Implicit bool
}

// StartTLS runs a sink with TLS on 127.0.0.1:0 until the test ends.
func StartTLS(tb testing.TB, hooks Hooks, opts TLSOptions) *Sink {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	if opts.Implicit {
		l = tls.NewListener(l, opts.Config)
	}
	s := startOn(tb, l, hooks, opts.Config)
	tb.Cleanup(func() { s.Close() })
	return s
}

func startOn(tb testing.TB, l net.Listener, hooks Hooks, tlsConf *tls.Config) *Sink {
	s := &Sink{l: l, hooks: hooks, notify: make(chan struct{}, 1), closedCh: make(chan struct{})}
	s.Addr = l.Addr().String()
	tcp := l.Addr().(*net.TCPAddr)
	s.Host, s.Port = tcp.IP.String(), tcp.Port
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		s.mu.Lock()
		s.conns++
		s.mu.Unlock()
		return &session{s: s, c: c}, nil
	}))
	srv.Domain = "sink.test"
	srv.AllowInsecureAuth = true // AUTH is offered only with Hooks.Auth
	srv.TLSConfig = tlsConf
	// Clients cut off on purpose (shutdown tests) are not news.
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.MaxMessageBytes = 64 << 20
	srv.MaxLineLength = 1 << 20
	srv.MaxRecipients = 1000
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	s.srv = srv
	go func() {
		srv.Serve(l)
		close(s.closedCh)
	}()
	return s
}

// Close stops the sink; the port is free when it returns.
func (s *Sink) Close() {
	s.srv.Close()
	// A Close before Serve has taken the listener would leave Serve
	// accepting on it for ever (seen under Wine, a test that skipped
	// right after Start): closing it ends Serve either way.
	s.l.Close()
	<-s.closedCh
}

// SetHooks replaces the reply script.
func (s *Sink) SetHooks(h Hooks) {
	s.mu.Lock()
	s.hooks = h
	s.mu.Unlock()
}

// Messages returns a copy of what was accepted so far.
func (s *Sink) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Conns is the number of connections accepted so far.
func (s *Sink) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// WaitFor blocks until cond holds for the accepted messages, or fails the
// test after timeout (a generous bound against hangs, not a measurement).
func (s *Sink) WaitFor(tb testing.TB, timeout time.Duration, what string, cond func([]Message) bool) []Message {
	tb.Helper()
	deadline := time.After(timeout)
	for {
		msgs := s.Messages()
		if cond(msgs) {
			return msgs
		}
		select {
		case <-s.notify:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			tb.Fatalf("sink %s: gave up waiting for %s; %d message(s) received", s.Addr, what, len(msgs))
		}
	}
}

type session struct {
	s    *Sink
	c    *smtp.Conn
	from string
	size int64
	to   []string
}

func (ss *session) hooks() Hooks {
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	return ss.s.hooks
}

func (ss *session) Reset() {
	ss.from, ss.to, ss.size = "", nil, 0
}

func (ss *session) Logout() error { return nil }

// AuthMechanisms offers PLAIN when the hooks decide AUTH.
func (ss *session) AuthMechanisms() []string {
	if ss.hooks().Auth == nil {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		if h := ss.hooks().Auth; h != nil {
			return h(username, password)
		}
		return nil
	}), nil
}

func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	if h := ss.hooks().Mail; h != nil {
		if err := h(from); err != nil {
			return err
		}
	}
	ss.from = from
	if opts != nil {
		ss.size = opts.Size
	}
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if h := ss.hooks().Rcpt; h != nil {
		if err := h(to); err != nil {
			return err
		}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	var b bytes.Buffer
	if _, err := io.Copy(&b, r); err != nil {
		return err
	}
	if h := ss.hooks().Data; h != nil {
		if err := h(ss.from, ss.to, b.Bytes()); err != nil {
			return err
		}
	}
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, Message{From: ss.from, To: append([]string(nil), ss.to...), Size: ss.size, Data: b.Bytes(), Helo: ss.c.Hostname(), TLS: isTLS(ss.c)})
	ss.s.mu.Unlock()
	select {
	case ss.s.notify <- struct{}{}:
	default:
	}
	return nil
}

func isTLS(c *smtp.Conn) bool {
	_, ok := c.TLSConnectionState()
	return ok
}
