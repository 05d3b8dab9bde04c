package sender

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// ErrExpectsImplicitTLS is the failure of a mode that expects a plain-text
// greeting (none, opportunistic, starttls) against a smart host that speaks
// TLS from the first byte. Such a host waits for our TLS ClientHello and
// sends nothing, so without this the wait would end at the command timeout
// with a bare "timed out".
var ErrExpectsImplicitTLS = errors.New(`the smart host seems to expect TLS from the first byte (implicit TLS, as on port 465): set [outbound] tls = "implicit"`)

// ErrPlainTextNotTLS is the failure of TLSImplicit against a smart host that
// greets in plain text ("220 ..."), which the TLS handshake sees as a record
// header that is not TLS.
var ErrPlainTextNotTLS = errors.New(`the smart host answered in plain text, so it does not expect TLS from the first byte on this port: set [outbound] tls = "starttls" or "opportunistic" (or set [outbound] port to its implicit TLS port, usually 465)`)

// defaultProbeAfter is how long a smart host may stay silent after the
// connect before a second connection checks whether it speaks TLS. It is
// longer than the usual deliberate greeting delays (sendmail's greet_pause
// 5 s, postscreen's greet wait 6 s), so that a plain host that pauses is
// almost never probed, and short enough that the administrator reads the
// reason within seconds rather than after the command timeout.
const defaultProbeAfter = 10 * time.Second

// greetingWait is the longest wait for a greeting: RFC 5321 section
// 4.5.3.2.1 suggests 5 minutes for the initial 220 message.
const greetingWait = 5 * time.Minute

// greetingTimeout bounds the wait for the smart host's greeting:
// greetingWait, or the command timeout when that is shorter.
func (s *Session) greetingTimeout() time.Duration {
	w := greetingWait
	if s.cfg.greetingWait > 0 {
		w = s.cfg.greetingWait
	}
	return min(w, s.cfg.CommandTimeout)
}

// awaitGreeting waits, within greetingTimeout, for the first bytes
// from the smart host, which in every mode but implicit must be its
// plain-text greeting (RFC 5321 3.1; br keeps them for the reader of the
// greeting). A host that stays silent for probeAfter is asked, on a second
// connection, for a TLS handshake: a TLS answer there means it expects TLS
// from the first byte. The probe is on a connection of its own because
// anything we send on this one before the greeting breaks the SMTP
// conversation with a host that is only slow (RFC 5321 4.3.1), and
// a host that pauses on purpose drops clients that talk first.
func (s *Session) awaitGreeting(ctx context.Context, conn net.Conn, br *bufio.Reader) error {
	addr := s.cfg.Addr()
	start := time.Now()
	wait := s.greetingTimeout()
	end := start.Add(wait)
	probeAfter := s.cfg.probeAfter
	if probeAfter <= 0 {
		probeAfter = defaultProbeAfter
	}
	conn.SetReadDeadline(start.Add(min(probeAfter, wait)))
	_, err := br.Peek(1)
	if silent(err) {
		waited := time.Since(start).Round(time.Millisecond)
		if s.speaksTLS(ctx, min(wait, defaultProbeAfter)) {
			return classify(addr, "greeting", fmt.Errorf("no greeting after %s, and a TLS handshake on a second connection was answered with TLS: %w", waited, ErrExpectsImplicitTLS))
		}
		if time.Now().Before(end) {
			conn.SetReadDeadline(end)
			_, err = br.Peek(1)
		}
	}
	switch {
	case silent(err):
		return classify(addr, "greeting", fmt.Errorf("no greeting within %s: the smart host accepted the connection but sent nothing: %w", wait, err))
	case err == io.EOF:
		return classify(addr, "greeting", errors.New("the smart host closed the connection without a greeting"))
	case err != nil:
		return classify(addr, "greeting", err)
	}
	// A TLS host sends nothing before our ClientHello, but one that gives
	// up on us may send an alert: a TLS record is never an SMTP reply.
	if b, _ := br.Peek(min(br.Buffered(), 2)); looksTLS(b) {
		return classify(addr, "greeting", fmt.Errorf("its first bytes are a TLS record, not an SMTP greeting: %w", ErrExpectsImplicitTLS))
	}
	return nil
}

// silent reports whether err is a read deadline that passed.
func silent(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// speaksTLS reports whether the smart host answers a TLS ClientHello on a
// new connection with a TLS record, within timeout. Nothing is sent after
// the handshake, so the certificate is not checked here: the question is
// only which protocol the port speaks.
func (s *Session) speaksTLS(ctx context.Context, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	dial := s.cfg.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	conn, err := dial(ctx, "tcp", s.cfg.Addr())
	if err != nil {
		return false
	}
	fb := &firstBytes{Conn: conn}
	tc := tls.Client(fb, &tls.Config{ServerName: s.cfg.serverName(), InsecureSkipVerify: true})
	tc.HandshakeContext(ctx) // any answer will do, a refusal (alert) included
	tc.Close()
	return looksTLS(fb.buf)
}

// looksTLS reports whether b starts like a TLS record from a server: content
// type alert (21) or handshake (22), then major version 3 (RFC 8446 5.1).
func looksTLS(b []byte) bool {
	return len(b) >= 2 && (b[0] == 21 || b[0] == 22) && b[1] == 3
}

// plainTextAnswer rewords a failed implicit TLS handshake whose answer was
// an SMTP reply in plain text (first holds the bytes read) as
// ErrPlainTextNotTLS, quoting that reply; any other failure is returned as
// it is.
func plainTextAnswer(err error, first []byte) error {
	var rh tls.RecordHeaderError
	if !errors.As(err, &rh) {
		return err
	}
	line, _, _ := strings.Cut(string(first), "\r\n")
	line, _, _ = strings.Cut(line, "\n")
	if !isReply(line) {
		return err
	}
	if len(line) > 80 {
		line = line[:80] + "..."
	}
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	return classify(e.Host, e.Stage, fmt.Errorf("the TLS handshake got %q: %w", line, ErrPlainTextNotTLS))
}

// firstBytes keeps the first bytes read through it, to tell what a smart
// host said when it did not speak the protocol expected.
type firstBytes struct {
	net.Conn
	buf []byte
}

func (c *firstBytes) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if room := 512 - len(c.buf); room > 0 && n > 0 {
		c.buf = append(c.buf, p[:min(n, room)]...)
	}
	return n, err
}
