// Package sender relays messages to the Outbound Server (smart host) over
// SMTP, as IIS's outbound connection did.
//
// A Session is one worker's connection: it dials on first use, says EHLO
// with our host name, sends MAIL FROM with SIZE= when the server offers
// SIZE (RFC 1870) and does not send a message larger than that SIZE,
// splits recipients over several transactions when there are more than
// MaxRecipients (IIS's per-message limit), the smart host's LIMITS
// RCPTMAX, or recipients in more domains than its RCPTDOMAINMAX (RFC
// 9422), sends those refused with "452 4.5.3 too many recipients" in the
// next transaction at once (RFC 5321 section 4.5.3.1.10) and keeps to that
// many recipients per transaction from then on, opens a new connection
// after LIMITS MAILMAX, reuses the
// connection for up to MaxMessages messages (RSET after a failed
// transaction, RFC 5321 section 4.1.1.5; a completed one needs none, as the
// final reply to DATA ends the transaction, section 3.3) and closes it
// after that or on any connection error. Every command has a deadline.
// A stop (the context of Send done) lets a transaction under way finish
// within StopTimeout and starts no other.
//
// TLS is a mode (Config.TLS): none; opportunistic, STARTTLS when the smart
// host offers it (RFC 3207), plain text when it does not, and plain text
// too when its STARTTLS is refused (same session) or its handshake fails
// (a second connection, without STARTTLS), with a warning in Config.Log,
// unless TLS is required for this delivery: a password to send, or a
// certificate to verify (RFC 7435; see Session.tlsRequired); then any of
// the three defers the message, STARTTLS not offered included (as an
// attacker on the path would have it); starttls,
// required; implicit, TLS from the first byte. A mode that does not fit the smart host is a transient
// failure that says which mode to set: a host silent after the connect is
// checked on a second connection for TLS from the first byte
// (ErrExpectsImplicitTLS), and a plain-text greeting where a TLS handshake
// was expected is recognised (ErrPlainTextNotTLS). TLS 1.2 is the minimum.
// The EHLO name is ours before and after STARTTLS. A certificate that does
// not verify is a transient failure whose reason (a *TLSError) names the
// name expected and the certificate presented. AUTH (LOGIN when offered, else PLAIN) is sent only over TLS,
// or in plain text when the mode is none, the administrator's choice; a
// refused password is transient, and the connection ends with QUIT. The
// password is in no error or log. AUTH and RSET are said by this package,
// not by go-smtp's client, whose Auth answers a final 535 with "*" and whose
// Reset makes it say EHLO again (see raw).
//
// Every failure is classified here, once, into a *Error that is either
// permanent (a 5xx reply) or transient (a 4xx reply, a refused or lost
// connection, a timeout, anything we cannot classify), with the reply text.
// International addresses: SMTPUTF8 when the smart host offers it and
// the message needs it, else A-label domains, and 5.6.7 for a local part
// that is not ASCII (RFC 6531; see utf8.go).
//
// A 5xx greeting or reply to EHLO refuses the connection, not a message:
// it is transient, with a note on what to check (see refused). Callers
// decide from Permanent only. Results are per recipient: one
// recipient may be accepted, another refused, a third deferred.
package sender

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailbridge/mailbridge/tlscert"
)

// Config is the smart host and the limits of the conversation with it.
// Zero values are documented per field.
type Config struct {
	// Host is the smart host: a name, an IPv4 or IPv6 address, or an
	// address in brackets as IIS wrote it ("[10.0.0.5]").
	Host string
	// Port of the smart host; 0 means 25.
	Port int
	// Hostname is our name in EHLO; "" means "localhost".
	Hostname string
	// ConnectTimeout bounds the TCP connect, and the TLS handshake; 0
	// means 30 s.
	ConnectTimeout time.Duration
	// CommandTimeout bounds each command's reply, including the reply to
	// the final "." of DATA; 0 means 10 minutes (IIS RemoteTimeout). The
	// greeting is awaited for 5 minutes at most (RFC 5321 section
	// 4.5.3.2.1), or CommandTimeout when that is shorter.
	CommandTimeout time.Duration
	// MaxRecipients per transaction; more are split over several
	// transactions on the same connection. 0 means 100.
	MaxRecipients int
	// MaxMessages sent on one connection before it is closed; 0 means 20.
	MaxMessages int
	// StopTimeout is how long a transaction under way (from MAIL FROM to
	// the reply to the final ".") may still take to finish once the
	// context of Send is done (a stop): cutting the connection after the
	// final "." leaves the message sent but not known to be, and it is
	// sent again after the restart (RFC 5321 section 6.1), so the reply
	// to a final "." already sent is waited for up to endGrace in any
	// case. No new transaction starts after the stop. 0 means none: the
	// connection is closed at once ([inbound] shutdown_timeout = "0s"),
	// unless that reply is awaited.
	StopTimeout time.Duration

	// endGrace is endGrace, shorter in tests.
	endGrace time.Duration

	// TLS is the mode: TLSNone, TLSOpportunistic (also ""), TLSStartTLS or
	// TLSImplicit. See the package doc for what each one does.
	TLS string
	// ServerName is the name the smart host's certificate must carry; ""
	// means Host (an IP address is then matched against the certificate's
	// IP addresses).
	ServerName string
	// RootCAs are the CAs trusted for the smart host's certificate; nil
	// means the system's.
	RootCAs *x509.CertPool
	// InsecureSkipVerify accepts any certificate (verify_certificate =
	// false): the connection is encrypted but not authenticated.
	InsecureSkipVerify bool
	// RSAKeyExchange also offers the TLS 1.2 RSA key exchange suites
	// (tlscert.WithRSAKeyExchange), as Windows' Schannel did as a client:
	// found from outside, a smart host that accepts only those (older
	// Exchange servers and appliances) could not be reached.
	RSAKeyExchange bool
	// Username and Password, when Username is not "", authenticate to the
	// smart host with AUTH LOGIN or AUTH PLAIN. They are sent only over TLS,
	// unless TLS is TLSNone (an explicit choice of the administrator).
	Username string
	Password string

	// CommandLog, when set, receives IIS's W3C lines for every command
	// sent and reply received (see transcript).
	CommandLog CommandLog
	// Log receives the warnings of the conversation that do not fail a
	// delivery (opportunistic TLS that fell back to plain text); nil
	// discards them.
	Log *slog.Logger

	// Dial replaces net.Dialer.DialContext (tests); nil means TCP.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

	// probeAfter replaces defaultProbeAfter, greetingWait replaces
	// greetingWait (tests).
	probeAfter, greetingWait time.Duration
}

// TLS modes of the connection to the smart host.
const (
	// TLSNone never encrypts (old relays on port 25).
	TLSNone = "none"
	// TLSOpportunistic uses STARTTLS when the smart host offers it, and
	// plain text when it does not, or when its TLS fails and nothing
	// requires TLS (see Session.tlsRequired).
	TLSOpportunistic = "opportunistic"
	// TLSStartTLS requires STARTTLS (port 587, Microsoft 365).
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (port 465, IIS's "Use SSL
	// for Outbound").
	TLSImplicit = "implicit"
)

// Addr is the smart host's host:port.
func (c Config) Addr() string {
	host := strings.TrimSuffix(strings.TrimPrefix(c.Host, "["), "]")
	port := c.Port
	if port == 0 {
		port = 25
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

func (c Config) withDefaults() Config {
	if c.Hostname == "" {
		c.Hostname = "localhost"
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 30 * time.Second
	}
	if c.endGrace <= 0 {
		c.endGrace = endGrace
	}
	if c.CommandTimeout <= 0 {
		c.CommandTimeout = 10 * time.Minute
	}
	if c.MaxRecipients <= 0 {
		c.MaxRecipients = 100
	}
	if c.MaxMessages <= 0 {
		c.MaxMessages = 20
	}
	if c.TLS == "" {
		c.TLS = TLSOpportunistic
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// serverName is the name the certificate is verified against.
func (c Config) serverName() string {
	if c.ServerName != "" {
		return c.ServerName
	}
	return strings.TrimSuffix(strings.TrimPrefix(c.Host, "["), "]")
}

func (c Config) tlsConfig() *tls.Config {
	tc := &tls.Config{
		ServerName:         c.serverName(),
		RootCAs:            c.RootCAs,
		InsecureSkipVerify: c.InsecureSkipVerify,
		// Windows Server 2025 disables TLS 1.0 and 1.1; so do we.
		MinVersion: tls.VersionTLS12,
	}
	if c.RSAKeyExchange {
		tc.CipherSuites = tlscert.WithRSAKeyExchange()
	}
	return tc
}

// Error is a classified delivery failure.
type Error struct {
	// Permanent is true for a 5xx reply: retrying will not help.
	Permanent bool
	// Code and Enhanced are the smart host's reply code and enhanced status
	// code ("5.1.1"), 0 and "" when there was no reply (connection failure).
	Code     int
	Enhanced string
	// Reply is the reply text, or a description of the connection failure.
	Reply string
	// Stage is the step that failed: "connect", "greeting", "EHLO", "STARTTLS",
	// "TLS handshake", "AUTH", "AUTH LOGIN", "AUTH PLAIN", "MAIL FROM",
	// "RCPT TO", "DATA", "end of data" (the connection lost while waiting
	// for the reply to the final ".").
	Stage string
	// Host is the smart host's address.
	Host string
	// Note, when not "", is our explanation of a reply that is not what
	// it seems: a 5xx that is transient, say.
	Note string
	// ConnectionLimit is set when the smart host refused the connection
	// as one too many from this client (421 "too many connections").
	ConnectionLimit bool
	// Err is the underlying error.
	Err error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s %s: %s", e.Host, e.Stage, e.ReplyLine())
}

// ReplyLine is the reply as the smart host wrote it: "550 5.1.1 text", or
// the connection failure; then Note in parentheses, when there is one.
func (e *Error) ReplyLine() string {
	line := e.Line()
	if e.Note != "" {
		line += " (" + e.Note + ")"
	}
	return line
}

// Line is ReplyLine without Note: what a non-delivery report's
// Diagnostic-Code carries, for the sender, who has no use for advice on
// mailbridge's settings (RFC 3464 section 2.3.6: the remote MTA's reply).
func (e *Error) Line() string {
	var line string
	switch {
	case e.Code == 0 && e.Enhanced != "":
		// A failure of ours with a status (5.3.4 too big for the smart
		// host's SIZE, 5.6.7 SMTPUTF8 needed): the status leads, so that
		// a non-delivery report carries it.
		line = e.Enhanced + " " + e.Reply
	case e.Code == 0:
		line = e.Reply
	case e.Enhanced != "":
		line = fmt.Sprintf("%d %s %s", e.Code, e.Enhanced, e.Reply)
	default:
		line = fmt.Sprintf("%d %s", e.Code, e.Reply)
	}
	return strings.TrimSpace(line) // a bare code: "554", not "554 "
}

func (e *Error) Unwrap() error { return e.Err }

// expectedReply names the positive reply that SMTP calls for at a stage
// (RFC 5321 section 4.3.2; RFC 3207 for STARTTLS, RFC 4954 for AUTH).
func expectedReply(stage string) string {
	switch stage {
	case "greeting", "STARTTLS":
		return "220"
	case "DATA":
		return "354"
	case "AUTH", "AUTH LOGIN", "AUTH PLAIN":
		return "334 or 235"
	default:
		return "250"
	}
}

// classify turns any failure into an *Error, once.
func classify(host, stage string, err error) *Error {
	var ce *Error
	if errors.As(err, &ce) {
		return ce
	}
	e := &Error{Stage: stage, Host: host, Err: err}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		e.Code = se.Code
		if se.EnhancedCode != (smtp.EnhancedCode{}) && se.EnhancedCode != smtp.NoEnhancedCode {
			e.Enhanced = fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
		}
		e.Reply = se.Message
		e.Permanent = se.Code >= 500 && se.Code < 600
		if se.Code < 400 {
			// go-smtp returns a positive reply as an error only when the
			// step calls for another (found from outside: a 250 to DATA
			// was logged as "deferred" with the reply "250 2.0.0 ok",
			// which reads as a delivery).
			e.Note = fmt.Sprintf("a reply that SMTP does not allow at %s, where it calls for %s (RFC 5321 section 4.3.2): the smart host does not follow the protocol; retried as a temporary failure", stage, expectedReply(stage))
		}
		if se.Code == 530 {
			// "530 5.7.0 Must issue a STARTTLS command first" (RFC 3207
			// section 4), "530 5.7.0 Authentication required" (RFC 4954
			// section 6), Microsoft 365's "530 5.7.57 Client not
			// authenticated": the smart host refuses mailbridge as it is
			// configured, not the message. Taken as permanent, every
			// message bounced, each with a report to its sender, until
			// the configuration was fixed (found from outside with
			// postfix).
			e.Permanent = false
			if lower := strings.ToLower(se.Message); strings.Contains(lower, "tls") || strings.Contains(lower, "encrypt") {
				e.Note = `the smart host requires TLS: set [outbound] tls = "starttls" (or "implicit" on its TLS port); retried as a temporary failure`
			} else {
				e.Note = "the smart host requires authentication: set [outbound] username and password (or password_file, password_env); retried as a temporary failure"
			}
		}
		return e
	}
	// Timeouts, refused or lost connections, and everything else: transient,
	// as a mail server treats what it cannot classify (RFC 5321 4.5.4.1).
	var ne net.Error
	var dnsErr *net.DNSError
	switch {
	case stage == "connect" && errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		// "dial tcp: lookup NAME on RESOLVER:53: no such host", in words
		// (found from outside).
		e.Reply = fmt.Sprintf("the smart host's name %s is not found in DNS (%v)", dnsErr.Name, err)
		e.Note = "check [outbound] server, and this machine's DNS servers"
	case stage == "connect" && errors.As(err, &dnsErr):
		e.Reply = fmt.Sprintf("the smart host's name %s could not be looked up in DNS (%v)", dnsErr.Name, err)
	case errors.As(err, &ne) && ne.Timeout() && stage == "end of data":
		e.Reply = `timed out waiting for the reply to the end of the message (the final "."): it may have taken the message, and then gets it once more from any later attempt (RFC 5321 section 6.1) (` + err.Error() + ")"
	case errors.As(err, &ne) && ne.Timeout():
		// Found from outside: "timed out (read tcp ...: i/o timeout)"
		// named neither the step nor the setting.
		var op *net.OpError
		switch {
		case stage == "connect":
			e.Reply = "timed out: no connection within [outbound] connect_timeout (" + err.Error() + ")"
		case stage == "greeting":
			e.Reply = "timed out: no greeting within [outbound] command_timeout, or 5 minutes if shorter (" + err.Error() + ")"
		case errors.As(err, &op) && op.Op == "write":
			e.Reply = "timed out: the smart host stopped reading what was sent at " + stage + " for [outbound] command_timeout (" + err.Error() + ")"
		default:
			e.Reply = "timed out: no reply to " + stage + " within [outbound] command_timeout (" + err.Error() + ")"
		}
	case stage == "connect" && connRefused(err):
		// "dial tcp ...: connect: connection refused" (Windows: "No
		// connection could be made because the target machine actively
		// refused it"), in words an administrator acts on; it goes into
		// .BDR files (found from outside), and without the advice, which
		// is for the administrator, into reports.
		e.Reply = fmt.Sprintf("connection refused by %s: nothing accepts connections on that port (%v)", host, err)
		e.Note = "check that the smart host's SMTP service runs and that [outbound] server and port name it"
	case closedByPeer(err):
		e.Reply = "the smart host closed the connection " + closedWhen(stage)
	case errors.Is(err, net.ErrClosed):
		// Only a stop closes the connection under us. Under a transaction
		// its StopTimeout ([inbound] shutdown_timeout) ran out, or
		// endGrace; before one (greeting, EHLO, STARTTLS, AUTH) it waits
		// for nothing, since no message is under way (found from outside:
		// a stop during AUTH was said to be shutdown_timeout running out).
		why := "(shutdown_timeout ran out, or the 10 seconds it waits for the reply to a message's end)"
		switch stage {
		case "MAIL FROM", "RCPT TO", "DATA", "end of data":
		default:
			why = "(no message was under way on it yet)"
		}
		// Found from outside: "stopped before any message was under way
		// on it before its greeting".
		// closedWhen last: for the end of data it goes on to say what the
		// smart host may have done (found from outside: "as it stopped"
		// read as the smart host's).
		e.Reply = "mailbridge closed the connection as it stopped " + why + ", " + closedWhen(stage)
	case errors.Is(err, smtp.ErrTooLongLine):
		// go-smtp's client reads lines of up to 2000 bytes, four times
		// what RFC 5321 section 4.5.3.1.5 asks of a reply line; its bare
		// error names neither the server nor the command.
		where := "in its reply to our " + stage
		if stage == "greeting" {
			where = "in its greeting"
		}
		e.Reply = fmt.Sprintf("the smart host %s sent a line longer than 2000 bytes %s: %v", host, where, err)
	case stage == "end of data":
		// A reply that is no SMTP reply ("2500 ok"): found from outside,
		// retried without a word that the smart host may have the message.
		e.Reply = fmt.Sprintf(`the smart host's reply to the end of the message (the final ".") could not be read (%v): it may have taken the message, and then gets it once more from any later attempt (RFC 5321 section 6.1)`, err)
	default:
		e.Reply = err.Error()
	}
	return e
}

// closedByPeer reports whether err is the smart host closing (or
// resetting) the connection, which go-smtp reports as a bare "EOF", and a
// write to it as "broken pipe" (found from outside: a smart host gone in
// the middle of a 4.5 MB message was reported so, in .BDR files too).
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || resetByPeer(err) || errors.Is(err, syscall.EPIPE)
}

// connLost reports whether e leaves no connection to say QUIT on: the
// smart host is closing it (421, RFC 5321 section 3.8), or it failed
// without a reply.
func connLost(e *Error) bool {
	if e.Code != 0 {
		return e.Code == 421
	}
	var ne net.Error
	return errors.As(e.Err, &ne) || closedByPeer(e.Err) || errors.Is(e.Err, net.ErrClosed)
}

// closedWhen says at which point of the conversation stage is.
func closedWhen(stage string) string {
	switch stage {
	case "greeting":
		return "before its greeting"
	case "TLS handshake":
		// Without a word: a smart host that speaks only TLS 1.0 or 1.1
		// often just closes (an OpenSSL or SChannel server whose alert
		// does not get out), and that is the likeliest cause.
		return "during the TLS handshake: most often it speaks only TLS 1.0 or 1.1, below mailbridge's minimum of TLS 1.2 (as on Windows Server 2025), or it has no usable certificate; enable TLS 1.2 on the smart host"
	case "DATA":
		return "during DATA, before its reply to the DATA command or while we sent the message"
	case "end of data":
		return `before its reply to the end of the message (the final "."): it may have taken the message, and then gets it once more from any later attempt (RFC 5321 section 6.1)`
	}
	return "after our " + stage
}

// Result is the outcome for one recipient: Err is nil when the smart host
// accepted the message for it.
type Result struct {
	Rcpt  string
	Err   *Error
	Reply string // the smart host's final reply for accepted recipients

	addr string // Rcpt as sent in RCPT TO (A-label domain without SMTPUTF8)
}

// Session is one connection to the smart host, reused across messages. It
// is not safe for concurrent use: each worker has its own.
type Session struct {
	cfg    Config
	c      *smtp.Client
	sent   int    // messages on this connection
	tx     int    // transactions on this connection
	limits limits // the smart host's, from its EHLO reply
	// learnt is the number of recipients after which the smart host said
	// "452 too many recipients"; 0: never said. Unlike limits it outlives
	// the connection: a smart host that limits without saying so (no
	// LIMITS RCPTMAX) would otherwise refuse the same recipient on every
	// new connection, one wasted command each time.
	learnt int

	// plainAfter, when not "", is why this connection is in plain text
	// though opportunistic TLS was tried: STARTTLS refused, or its
	// handshake failed.
	plainAfter string
	// tlsVersion is the TLS version of the connection (0: plain text, or
	// none made), verified whether the smart host's certificate was;
	// connected whether the last connection attempt got as far as a
	// session. See TLSState.
	tlsVersion uint16
	verified   bool
	connected  bool
	open       atomic.Bool // s.c != nil, for Open
	// down is what the last message's conversion (for a smart host
	// without 8BITMIME, or of lines too long) did (see Downgraded).
	down downgradeStats

	mu       sync.Mutex
	conn     net.Conn    // s.c's connection, closed from another goroutine on a stop
	gen      int         // the Send call under way, so that a late stop of an earlier one is ignored
	inTx     bool        // a transaction is under way: a stop lets it finish
	stopping bool        // the context of Send is done: no transaction starts
	grace    *time.Timer // closes the connection StopTimeout after the stop
	// ending: the final "." is going out, or has, and its reply is
	// awaited since endAt; a stop waits for that reply (endGrace).
	ending bool
	endAt  time.Time
}

// dataTermination is RFC 5321's minimum wait for the reply to the final
// "." (section 4.5.3.2.6).
const dataTermination = 10 * time.Minute

// endGrace is how long a stop waits for the smart host's reply to the
// final "." of a message whatever StopTimeout says: cut there, the message
// is delivered but not known to be, and is sent again after the restart
// (RFC 5321 section 6.1). The listener gives a message being stored the
// same 10 seconds.
const endGrace = 10 * time.Second

// Downgraded reports, for the delivery's log line, what the last Send did
// to the message (see downgrade): how many parts it converted to
// quoted-printable (8-bit ones for a smart host without 8BITMIME, and
// those with lines too long for SMTP), how many 8-bit parts of a
// multipart/signed it sent unchanged to a smart host without 8BITMIME,
// and how many header lines too long for SMTP it folded. All are 0 when
// nothing was changed.
func (s *Session) Downgraded() (converted, keptSigned, folded int) {
	return s.down.converted, s.down.keptSigned, s.down.folded
}

// Open reports whether the session holds a connection to the smart host,
// past its greeting and EHLO (and AUTH). Unlike the rest of Session, it
// may be called from any goroutine.
func (s *Session) Open() bool { return s.open.Load() }

// NewSession returns a session that connects on first use.
func NewSession(cfg Config) *Session {
	return &Session{cfg: cfg.withDefaults()}
}

// Close ends the connection politely (QUIT), if there is one.
func (s *Session) Close() error {
	if s.c == nil {
		return nil
	}
	c := s.c
	s.c = nil
	s.open.Store(false)
	// QUIT is a courtesy: a smart host that does not answer it must not
	// hold up a shutdown for the whole command timeout.
	c.CommandTimeout = min(c.CommandTimeout, 5*time.Second)
	err := c.Quit()
	if err != nil {
		c.Close()
	}
	return err
}

func (s *Session) drop() {
	if s.c != nil {
		s.c.Close()
		s.c = nil
		s.open.Store(false)
	}
}

// abort closes the connection under way when StopTimeout has run out; it
// runs on the grace timer's goroutine. The reply to a final "." already
// sent is waited for up to endGrace.
func (s *Session) abort() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ending {
		if left := s.cfg.endGrace - time.Since(s.endAt); left > 0 {
			s.grace = time.AfterFunc(left, s.abort)
			return
		}
	}
	if s.conn != nil {
		s.conn.Close()
	}
}

// endData marks the final "." of the transaction as going out.
func (s *Session) endData() {
	s.mu.Lock()
	s.ending, s.endAt = true, time.Now()
	s.mu.Unlock()
}

// stop runs when the context of Send call gen is done: the connection is
// closed at once, unless a transaction is under way and StopTimeout gives
// it time to finish.
func (s *Session) stop(gen int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.gen || s.stopping {
		return
	}
	s.stopping = true
	if s.inTx && (s.cfg.StopTimeout > 0 || s.ending) {
		s.grace = time.AfterFunc(s.cfg.StopTimeout, s.abort)
		return
	}
	if s.conn != nil {
		s.conn.Close()
	}
}

// begin marks the start of a transaction; it reports false after a stop.
func (s *Session) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return false
	}
	s.inTx = true
	return true
}

// end marks the end of a transaction.
func (s *Session) end() {
	s.mu.Lock()
	s.inTx, s.ending = false, false
	s.mu.Unlock()
}

// watch arms stop for this Send call; the returned function disarms it.
func (s *Session) watch(ctx context.Context) (unwatch func()) {
	s.mu.Lock()
	s.gen++
	gen := s.gen
	s.stopping, s.inTx, s.ending = false, false, false
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { s.stop(gen) })
	return func() {
		stop()
		s.mu.Lock()
		s.gen++ // a stop still on its way finds another call, or none
		if s.grace != nil {
			s.grace.Stop()
			s.grace = nil
		}
		s.mu.Unlock()
	}
}

// dial connects, says EHLO (with STARTTLS as the mode has it) and
// authenticates. When opportunistic TLS failed after the smart host's
// STARTTLS 220 and TLS is not required, the connection cannot go on in
// plain text (RFC 3207 section 4.1 leaves the session undefined), so it
// connects once more and speaks plain text without STARTTLS (RFC 7435
// section 3), as postfix's "may" level does.
func (s *Session) dial(ctx context.Context) error {
	err := s.connect(ctx, false)
	var pf *plainFallback
	if !errors.As(err, &pf) {
		return err
	}
	s.cfg.Log.Warn("opportunistic TLS failed: connecting again to deliver in plain text, without STARTTLS",
		"server", s.cfg.Addr(), "reason", pf.err.ReplyLine())
	if err := s.connect(ctx, true); err != nil {
		return err
	}
	s.plainAfter = pf.err.ReplyLine()
	return nil
}

// connect makes one connection; plain skips STARTTLS (see dial).
func (s *Session) connect(ctx context.Context, plain bool) error {
	s.tlsVersion, s.verified, s.connected, s.plainAfter = 0, false, false, ""
	addr := s.cfg.Addr()
	dctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	defer cancel()
	dial := s.cfg.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	conn, err := dial(dctx, "tcp", addr)
	if err != nil {
		return classify(addr, "connect", err)
	}
	// go-smtp bounds each command's reply, but not the writing of the
	// message: every write gets its own deadline, so a smart host that
	// stops reading in the middle of DATA cannot hold a worker forever,
	// while a large message that keeps moving is never cut off.
	conn = &writeDeadlineConn{Conn: conn, timeout: s.cfg.CommandTimeout}
	s.mu.Lock()
	s.conn = conn
	s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		conn.Close() // cancelled while connecting: abort saw no connection
		return classify(addr, "connect", err)
	}
	// tr, the W3C transcript, sees the plain text: the exchange before
	// STARTTLS here, then everything go-smtp's client says and reads.
	var tr io.Writer
	if s.cfg.CommandLog != nil {
		ip, port := conn.RemoteAddr().String(), s.cfg.Port
		if ap, err := netip.ParseAddrPort(ip); err == nil {
			ip, port = ap.Addr().Unmap().String(), int(ap.Port())
		}
		tr = newTranscript(s.cfg.CommandLog, ip, port, s.cfg.Hostname)
	}
	sconn, encrypted, err := s.secure(ctx, conn, tr, plain)
	if err != nil {
		conn.Close()
		return err
	}
	conn = sconn
	c := smtp.NewClient(conn)
	if tr != nil {
		c.DebugWriter = tr
		if rc, ok := conn.(*replayConn); ok && rc.logged > 0 {
			// What go-smtp's client reads (and says) of the replay is
			// in the transcript already.
			c.DebugWriter = &skipWriter{w: tr, n: rc.logged}
		}
	}
	c.CommandTimeout = s.cfg.CommandTimeout
	// The reply to the final "." is awaited 10 minutes at least (RFC 5321
	// section 4.5.3.2.6, "DATA Termination"), whatever command_timeout:
	// the smart host may be scanning the message, and one cut off here
	// has it, and gets it again at the next attempt. Found from outside:
	// with command_timeout = "5s" and a smart host that took 12 s, each
	// attempt delivered the message once more.
	c.SubmissionTimeout = max(s.cfg.CommandTimeout, dataTermination)
	// After STARTTLS this is the second EHLO, over TLS: RFC 3207 4.2 has
	// the client forget what it learnt before and ask again.
	if err := c.Hello(s.cfg.Hostname); err != nil {
		quitAfterRefusal(conn, err) // go-smtp's Quit needs a greeting that worked
		c.Close()
		return s.refused("EHLO", err, conn)
	}
	if err := s.auth(c, encrypted); err != nil {
		// The connection is still good unless the failure says
		// otherwise: end it politely (RFC 5321 section 4.1.1.10).
		if !connLost(err) {
			c.CommandTimeout = min(c.CommandTimeout, 5*time.Second)
			c.Quit()
		}
		c.Close()
		return err
	}
	s.c, s.sent, s.tx, s.limits = c, 0, 0, readLimits(c)
	s.open.Store(true)
	s.connected = true
	return nil
}

// TLSState describes the connection the last Send used, for its log line:
// version is "TLS1.3" (as Go names it, without the space), "none" for
// plain text, or "" when no connection got as far as a session; verified
// reports whether the smart host's certificate was verified.
func (s *Session) TLSState() (version string, verified bool) {
	switch {
	case !s.connected:
		return "", false
	case s.tlsVersion == 0:
		return "none", false
	}
	return strings.ReplaceAll(tls.VersionName(s.tlsVersion), " ", ""), s.verified
}

// Send delivers message (CRLF text, not dot-stuffed) from from ("" is the
// null sender) to every recipient in to, and returns one Result per
// recipient in the order of to.
func (s *Session) Send(ctx context.Context, from string, to []string, message []byte) []Result {
	return s.SendContent(ctx, from, to, Content{
		Size:   int64(len(message)),
		Header: message,
		Open:   func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(message)), nil },
	})
}

// Content is a message that need not be in memory: Size bytes of CRLF
// text, not dot-stuffed, read anew from Open for each transaction (a
// message may take several), Header its header block (or more), from
// which SMTPUTF8 is decided. Relaying a large file this way holds
// go-smtp's buffer, not the message.
type Content struct {
	Size   int64
	Header []byte
	Open   func() (io.ReadCloser, error)
	// Settled, when set, is called after a transaction that another
	// follows (more recipients than one transaction takes), with the
	// results of the recipients it settled: accepted, or refused for good.
	// It is called before the next transaction begins: the caller records
	// them, so that a crash in a later one does not send to them again.
	Settled func(results []Result)
}

// SendContent is Send for a message read from c. A failure to read it is
// transient; one in the middle of DATA closes the connection without the
// final ".", so that no truncated message is delivered.
func (s *Session) SendContent(ctx context.Context, from string, to []string, message Content) []Result {
	s.down = downgradeStats{}
	results := make([]Result, len(to))
	for i, r := range to {
		results[i].Rcpt = r
	}
	fail := func(from int, e *Error) {
		for i := from; i < len(results); i++ {
			if results[i].Err == nil && results[i].Reply == "" {
				results[i].Err = e
			}
		}
	}
	if err := ctx.Err(); err != nil {
		fail(0, classify(s.cfg.Addr(), "connect", err))
		return results
	}
	// A stop (ctx done) closes the connection, at once or, when a
	// transaction is under way, after StopTimeout (see stop).
	defer s.watch(ctx)()
	for start := 0; start < len(to); {
		if s.c != nil && s.limits.mailMax > 0 && s.tx >= s.limits.mailMax {
			s.Close() // LIMITS MAILMAX (RFC 9422): a new connection
		}
		if s.c == nil {
			if err := s.dial(ctx); err != nil {
				fail(start, err.(*Error))
				return results
			}
		}
		if e := s.tooBig(message.Size); e != nil {
			fail(start, e)
			break
		}
		if !s.begin() {
			fail(start, classify(s.cfg.Addr(), "MAIL FROM", fmt.Errorf("not sent: stopping (%w)", context.Cause(ctx))))
			return results
		}
		end := s.batchEnd(to, start)
		reused := s.tx > 0
		tried, broken := s.transaction(from, results[start:end], message)
		s.end()
		s.tx++
		s.explain530(results[start:end])
		if broken && reused && refusedAtMail(results[start:end]) {
			// A connection that carried a transaction already, lost or
			// closed (421) before anything of this one was accepted:
			// hosts that take one message per connection, or close an
			// idle one, do that. Nothing was sent: once more on a new
			// connection, rather than a deferral of a whole retry
			// interval (found from outside; for each transaction of a
			// message split over several too). The new connection is
			// not reused yet, so this happens once a transaction.
			s.drop()
			for i := start; i < end; i++ {
				results[i].Err, results[i].Reply = nil, ""
			}
			continue
		}
		if message.Settled != nil && start+tried < len(to) {
			var done []Result
			for _, r := range results[start : start+tried] {
				if r.Err == nil && r.Reply != "" || r.Err != nil && r.Err.Permanent {
					done = append(done, r)
				}
			}
			if len(done) > 0 {
				message.Settled(done)
			}
		}
		start += tried
		if broken {
			s.drop()
		}
	}
	s.sent++
	if s.c != nil && s.sent >= s.cfg.MaxMessages {
		s.Close()
	}
	return results
}

// explain530 rewords the note of a 530 asking for TLS on a connection in
// plain text because opportunistic TLS failed: found from outside, it said
// to set tls = "starttls", which would not have helped; the smart host's
// TLS is what fails.
//
// Nor when the smart host offers no STARTTLS on this port, where setting
// it fails as "not offered" (found from outside).
func (s *Session) explain530(res []Result) {
	asksTLS := func(r Result) bool {
		return r.Err != nil && r.Err.Code == 530 && strings.HasPrefix(r.Err.Note, "the smart host requires TLS")
	}
	if !slices.ContainsFunc(res, asksTLS) {
		return
	}
	note := ""
	switch {
	case s.plainAfter != "":
		note = "the smart host requires TLS, and mailbridge sent in plain text because TLS with it failed (" + s.plainAfter + "): fix TLS on the smart host, or the setting the failure names; retried as a temporary failure"
	case s.c != nil && s.tlsVersion == 0:
		if ok, _ := s.c.Extension("STARTTLS"); !ok {
			note = `the smart host requires TLS but offers no STARTTLS on this port: set [outbound] port to its TLS port with tls = "implicit" (465), or have STARTTLS enabled on it; retried as a temporary failure`
		}
	}
	if note == "" {
		return
	}
	for _, r := range res {
		if asksTLS(r) {
			r.Err.Note = note // one *Error may be every recipient's
		}
	}
}

// refusedAtMail reports whether res failed as one at MAIL FROM: nothing of
// the transaction was accepted.
func refusedAtMail(res []Result) bool {
	for _, r := range res {
		if r.Err == nil || r.Err.Stage != "MAIL FROM" {
			return false
		}
	}
	return len(res) > 0
}

// limits are what the smart host said of its limits in its EHLO reply.
type limits struct {
	size    int64 // SIZE (RFC 1870); 0: none said
	rcptMax int   // LIMITS RCPTMAX (RFC 9422); 0: none
	mailMax int   // LIMITS MAILMAX (RFC 9422); 0: none
	domMax  int   // LIMITS RCPTDOMAINMAX (RFC 9422); 0: none
}

// readLimits reads the smart host's limits from its EHLO reply.
func readLimits(c *smtp.Client) limits {
	var l limits
	if n, ok := c.MaxMessageSize(); ok {
		l.size = int64(n)
	}
	if ok, params := c.Extension("LIMITS"); ok {
		for _, f := range strings.Fields(params) {
			name, value, _ := strings.Cut(f, "=")
			n, err := strconv.Atoi(value)
			if err != nil || n <= 0 {
				continue
			}
			switch strings.ToUpper(name) {
			case "RCPTMAX":
				l.rcptMax = n
			case "MAILMAX":
				l.mailMax = n
			case "RCPTDOMAINMAX":
				l.domMax = n
			}
		}
	}
	return l
}

// rcptMax is the most recipients one transaction may have.
func (s *Session) rcptMax() int {
	n := s.cfg.MaxRecipients
	for _, l := range []int{s.limits.rcptMax, s.learnt} {
		if l > 0 {
			n = min(n, l)
		}
	}
	return n
}

// batchEnd returns the end of the next transaction's recipients, to[start:
// end]: at most rcptMax of them, in at most RCPTDOMAINMAX domains
// (compared without regard to case, RFC 5321 section 2.4). Recipients stay
// in their order, so the results do too.
func (s *Session) batchEnd(to []string, start int) int {
	end := min(start+s.rcptMax(), len(to))
	if s.limits.domMax <= 0 {
		return end
	}
	domains := map[string]bool{}
	for i := start; i < end; i++ {
		d := strings.ToLower(to[i][strings.LastIndexByte(to[i], '@')+1:])
		if !domains[d] && len(domains) == s.limits.domMax {
			return i
		}
		domains[d] = true
	}
	return end
}

// tooBig is the failure of a message larger than the SIZE the smart host
// announced: permanent, and the message is not sent (RFC 1870 section 6),
// since the smart host would refuse it after the whole upload.
func (s *Session) tooBig(size int64) *Error {
	if s.limits.size <= 0 || size <= s.limits.size {
		return nil
	}
	return &Error{Permanent: true, Enhanced: "5.3.4", Stage: "MAIL FROM", Host: s.cfg.Addr(),
		Reply: fmt.Sprintf("not sent: the message is %d bytes, larger than the %d bytes the smart host accepts (SIZE in its EHLO reply, RFC 1870)", size, s.limits.size)}
}

// tooManyRecipients reports whether e is a smart host's refusal of one more
// recipient in this transaction: 452 (RFC 5321 section 4.5.3.1.10), or 552,
// which that section has clients take as temporary too, with X.5.3 "too
// many recipients" (RFC 3463) or words to that effect.
func tooManyRecipients(e *Error) bool {
	if e.Code != 452 && e.Code != 552 {
		return false
	}
	return strings.HasSuffix(e.Enhanced, ".5.3") || strings.Contains(strings.ToLower(e.Reply), "too many recipients")
}

// transaction runs MAIL, RCPT..., DATA for one chunk of recipients and
// fills res. tried is the number of recipients of res it settled, from the
// first: fewer than len(res) when the smart host took no more recipients
// in this transaction, and the rest are for the next. broken reports
// whether the connection is unusable afterwards.
func (s *Session) transaction(from string, res []Result, message Content) (tried int, broken bool) {
	addr := s.cfg.Addr()
	// fail gives every recipient without a result err, and resets the
	// transaction when the connection is still usable.
	fail := func(stage string, err error) (int, bool) {
		e := classify(addr, stage, err)
		if stage == "MAIL FROM" {
			s.relayHint(e) // a relay refusal at MAIL FROM (found from outside)
		}
		for i := range res {
			if res[i].Err == nil {
				res[i].Err = e
			}
		}
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code == 421 {
			return len(res), true // no reply, or the server is closing (RFC 5321 3.8)
		}
		if !s.rset() {
			return len(res), true
		}
		return len(res), false
	}
	opts := &smtp.MailOptions{Size: message.Size}
	has8BitMIME, _ := s.c.Extension("8BITMIME")
	// What each part holds (8-bit bytes, lines too long for SMTP), read
	// before the transaction starts (see downgrade).
	plan, err := scanMessage(message)
	if err != nil {
		e := classify(addr, "MAIL FROM", fmt.Errorf("reading the message: %w", err))
		for i := range res {
			if res[i].Err == nil {
				res[i].Err = e
			}
		}
		return len(res), false
	}
	convert := needsDowngrade(plan, has8BitMIME)
	if convert {
		// The message may grow up to three times when parts are
		// re-encoded: no SIZE= rather than a wrong one (RFC 1870 makes it
		// optional); the smart host judges the size at the end of the
		// data.
		opts.Size = 0
	}
	if ok, _ := s.c.Extension("SMTPUTF8"); ok {
		opts.UTF8 = needsUTF8(from, res, message.Header)
		for i := range res {
			res[i].addr = res[i].Rcpt
		}
	} else {
		// No raw UTF-8 in the envelope (RFC 6531 section 3.5; see utf8.go).
		var err error
		if from, err = asciiAddress(from); err != nil {
			e := s.utf8Failure("MAIL FROM", err)
			for i := range res {
				res[i].Err = e
			}
			return len(res), false
		}
		left := 0
		for i := range res {
			if res[i].addr, err = asciiAddress(res[i].Rcpt); err != nil {
				res[i].Err = s.utf8Failure("RCPT TO", err)
				continue
			}
			left++
		}
		if left == 0 {
			return len(res), false
		}
	}
	if err := s.c.Mail(from, opts); err != nil {
		return fail("MAIL FROM", err)
	}
	accepted := 0
	for i := range res {
		if res[i].Err != nil {
			continue // refused before MAIL FROM
		}
		if err := s.c.Rcpt(res[i].addr, nil); err != nil {
			var se *smtp.SMTPError
			if !errors.As(err, &se) || se.Code == 421 {
				return fail("RCPT TO", err)
			}
			e := classify(addr, "RCPT TO", err)
			s.relayHint(e)
			if tooManyRecipients(e) {
				e.Permanent = false
				if accepted > 0 {
					// The rest go in the next transaction, at once, and
					// no more than this many at a time.
					s.learnt = i
					res = res[:i]
					break
				}
			}
			res[i].Err = e
			continue
		}
		accepted++
	}
	if accepted == 0 {
		if !s.rset() {
			return len(res), true
		}
		return len(res), false
	}
	rc, err := message.Open()
	if err != nil {
		return fail("DATA", fmt.Errorf("opening the message: %w", err))
	}
	defer rc.Close()
	w, err := s.c.Data()
	if err != nil {
		return fail("DATA", err)
	}
	copyMessage := func(w io.Writer, r io.Reader) error {
		_, err := io.Copy(w, r)
		return err
	}
	if convert {
		copyMessage = func(w io.Writer, r io.Reader) error {
			// 8bit parts without 8BITMIME (RFC 6152), long lines for any,
			// as quoted-printable.
			return downgrade(w, r, plan, has8BitMIME, &s.down)
		}
	}
	if err := copyMessage(w, readOnly{rc}); err != nil {
		var re readError
		if errors.As(err, &re) {
			// Our file failed us mid-message: closing the connection
			// without the final "." makes the smart host discard what
			// it got (RFC 5321 section 3.3); "." would deliver it cut.
			e := classify(addr, "DATA", fmt.Errorf("reading the message: %w", re.err))
			for i := range res {
				if res[i].Err == nil {
					res[i].Err = e
				}
			}
			return len(res), true
		}
		w.Close()
		return fail("DATA", err)
	}
	s.endData()
	resp, err := w.CloseWithResponse()
	if err != nil {
		var se *smtp.SMTPError
		var oe *net.OpError
		if !errors.As(err, &se) && !(errors.As(err, &oe) && oe.Op == "write") {
			// go-smtp buffers the message: the final "." went out at
			// Close, and the connection ended (closed, timed out, cut by
			// a stop) while we waited for the reply to it.
			return fail("end of data", err)
		}
		return fail("DATA", err)
	}
	for i := range res {
		if res[i].Err == nil {
			// A bare "250" is a reply (RFC 5321 section 4.2): logged as
			// such, without a space after it.
			res[i].Reply = strings.TrimSpace("250 " + resp.StatusText)
		}
	}
	return len(res), false
}

// scanMessage runs scanParts over a reading of message of its own.
func scanMessage(message Content) (scanPlan, error) {
	rc, err := message.Open()
	if err != nil {
		return scanPlan{}, err
	}
	defer rc.Close()
	return scanParts(rc)
}

// relayHint explains a recipient (or a sender) refused as relaying. When
// the smart host offers AUTH, most relay only for clients that log in
// (postfix's permit_sasl_authenticated, Microsoft 365's
// smtp.office365.com), and "554 5.7.1 Relay access denied" names neither
// AUTH nor our settings (found from outside: every message and its report
// went to Badmail with no word of AUTH). Postfix says it with 454 4.7.1,
// and the message then waited two days without a word; a smart host that
// offers no AUTH must list this server among the clients it relays for;
// with a username set, the account itself may lack the right to relay.
func (s *Session) relayHint(e *Error) {
	if e.Note != "" || e.Code < 400 {
		return
	}
	lower := strings.ToLower(e.Reply)
	if strings.Contains(lower, "greylist") {
		return // "Greylisted: relay attempt delayed" (found from outside)
	}
	relay := strings.Contains(lower, "relay")
	// A temporary X.7.1 is most often greylisting or a policy server
	// (found from outside: postgrey's 451 4.7.1 got the AUTH advice);
	// only "relay" in its words makes it one.
	if !relay && (e.Code < 500 || !strings.HasSuffix(e.Enhanced, ".7.1")) {
		return
	}
	auth, _ := s.c.Extension("AUTH")
	switch {
	case s.cfg.Username != "" && relay:
		e.Note = "the smart host refused to relay although mailbridge logged in as " + s.cfg.Username + ": check that this account may relay, and send as this sender, on the smart host"
	case s.cfg.Username != "":
	case auth:
		e.Note = "the smart host offers AUTH and may relay only for clients that log in: set [outbound] username and password (or password_file, password_env)"
	case relay:
		e.Note = "the smart host does not relay for this server: add this server's IP address to the clients it relays for (its relay restrictions, or its receive connector), or have an account there for mailbridge to log in with (username and password in [outbound])"
	}
}

// readOnly hides the reader's WriteTo from io.Copy and marks its errors,
// to tell a failing file from a failing connection.
type readOnly struct{ r io.Reader }

func (r readOnly) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = readError{err}
	}
	return n, err
}

type readError struct{ err error }

func (e readError) Error() string { return e.err.Error() }
func (e readError) Unwrap() error { return e.err }

// rset ends a failed transaction with RSET (RFC 5321 section 4.1.1.5) and
// reports whether the connection is still usable.
func (s *Session) rset() bool {
	return s.c.Reset() == nil
}

// writeDeadlineConn gives every Write a fresh write deadline.
type writeDeadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (c *writeDeadlineConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}
