package sender

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// ErrNoSTARTTLS is the failure of TLSStartTLS against a smart host that does
// not offer STARTTLS.
var ErrNoSTARTTLS = errors.New("the smart host does not offer STARTTLS, and [outbound] tls = \"starttls\" requires it: fix the smart host, or set tls = \"opportunistic\" or \"none\"")

// ErrAuthNotEncrypted is returned instead of sending a password in clear
// text: the connection is not encrypted and TLS is not TLSNone.
var ErrAuthNotEncrypted = errors.New("AUTH not sent: the connection is not encrypted (the smart host did not offer STARTTLS); set [outbound] tls = \"starttls\" or \"implicit\", or tls = \"none\" to allow AUTH in clear text")

// secure does the TLS part of connecting: the handshake for TLSImplicit;
// in the other modes, the wait for the greeting (awaitGreeting), then EHLO
// and STARTTLS for TLSOpportunistic and TLSStartTLS. The returned
// connection starts with a greeting for go-smtp's client to read: the
// server's, replayed after STARTTLS, so that the client then says EHLO over
// TLS as on a new connection. encrypted reports whether TLS is on.
//
// The pre-TLS exchange is done here and not by go-smtp because its
// NewClientStartTLS says EHLO as "localhost", and our name must be in both
// EHLOs (IIS said its FQDN).
//
// With plain (a second connection after opportunistic TLS failed, see
// dial), STARTTLS is not tried: the connection is as in TLSNone.
func (s *Session) secure(ctx context.Context, conn net.Conn, tr io.Writer, plain bool) (_ net.Conn, encrypted bool, _ error) {
	addr := s.cfg.Addr()
	if s.cfg.TLS == TLSImplicit {
		fb := &firstBytes{Conn: conn}
		tc, err := s.handshake(fb)
		if err != nil {
			return nil, false, plainTextAnswer(err, fb.buf)
		}
		// The greeting is read here, as in the other modes, to tell a
		// refusal at the greeting from one at EHLO; go-smtp's client
		// reads (and logs) it again from the replay.
		br := bufio.NewReader(tc)
		tc.SetDeadline(time.Now().Add(s.greetingTimeout()))
		_, greeting, err := smtp.ReadResponse(textproto.NewReader(br), 220)
		tc.SetDeadline(time.Time{})
		if err != nil {
			quitAfterRefusal(tc, err)
			return nil, false, s.refused("greeting", replyError(err), conn)
		}
		return replay(tc, br, greeting, ""), true, nil
	}
	// go-smtp's client sets its own deadlines per command.
	defer conn.SetDeadline(time.Time{})
	br := bufio.NewReader(conn)
	if err := s.awaitGreeting(ctx, conn, br); err != nil {
		return nil, false, err
	}
	deadline := func() { conn.SetDeadline(time.Now().Add(s.cfg.CommandTimeout)) }
	r := textproto.NewReader(br)
	// say and read keep the W3C transcript (tr, may be nil) as go-smtp's
	// client does for the rest of the connection. It goes to tr when this
	// returns, except when the connection goes on in plain text: go-smtp's
	// client then sees (and logs) this greeting and EHLO as its own.
	var said bytes.Buffer
	keep := true
	defer func() {
		if keep && tr != nil {
			tr.Write(said.Bytes())
		}
	}()
	say := func(cmd string) error {
		deadline()
		said.WriteString(cmd + "\r\n")
		_, err := io.WriteString(conn, cmd+"\r\n")
		return err
	}
	read := func(code int) (string, error) {
		deadline()
		got, msg, err := smtp.ReadResponse(r, code) // a code alone too
		if got != 0 {
			said.WriteString(replyLines(got, msg))
		}
		return msg, err
	}
	greeting, err := read(220)
	if err != nil {
		quitAfterRefusal(conn, err)
		return nil, false, s.refused("greeting", replyError(err), conn)
	}
	if s.cfg.TLS == TLSNone || plain {
		// go-smtp's client gets (and logs) the greeting read here.
		keep = false
		return replay(conn, br, greeting, ""), false, nil
	}
	if err := say("EHLO " + s.cfg.Hostname); err != nil {
		return nil, false, classify(addr, "EHLO", err)
	}
	ehlo, err := read(250)
	if err != nil {
		// A server that does not know EHLO offers no STARTTLS either
		// (RFC 3207 extends EHLO): only opportunistic may go on, and
		// go-smtp's client falls back to HELO by itself.
		var te *textproto.Error
		if s.cfg.TLS == TLSOpportunistic && errors.As(err, &te) && (te.Code == 500 || te.Code == 502) {
			if s.tlsRequired() {
				return nil, false, s.notOffered(addr)
			}
			// go-smtp's client gets this reply for its EHLO, so that it
			// says HELO at once: one EHLO on the wire, then one HELO
			// (RFC 5321 section 4.1.1.1).
			keep = false
			return replay(conn, br, greeting, replyLines(te.Code, te.Msg)), false, nil
		}
		return nil, false, s.refused("EHLO", replyError(err), conn)
	}
	if !offers(ehlo, "STARTTLS") {
		if s.cfg.TLS == TLSStartTLS {
			return nil, false, classify(addr, "STARTTLS", ErrNoSTARTTLS)
		}
		if s.tlsRequired() {
			// A certificate to verify or a password to protect: an
			// attacker who strips STARTTLS from the EHLO reply must not
			// get the plain text that a refused STARTTLS (454) would not.
			return nil, false, s.notOffered(addr)
		}
		// Opportunistic, and nothing offered: plain text, as RFC 3207
		// allows. go-smtp's client gets the greeting and, for its EHLO,
		// the reply already read: one EHLO on the wire, as from IIS.
		keep = false
		return replay(conn, br, greeting, replyLines(250, ehlo)), false, nil
	}
	if err := say("STARTTLS"); err != nil {
		return nil, false, classify(addr, "STARTTLS", err)
	}
	if _, err := read(220); err != nil {
		// Offered but refused. Even a 5xx is about the smart host's TLS
		// set-up, not about the message: transient, so the message waits
		// for the fix, unless opportunistic TLS may go without.
		e := classify(addr, "STARTTLS", replyError(err))
		e.Permanent = false
		var te *textproto.Error
		if !errors.As(err, &te) {
			return nil, false, e // no reply: the connection is gone
		}
		if s.tlsRequired() {
			e.Note = s.tlsRequiredNote()
			return nil, false, e
		}
		// RFC 3207 section 4: after a refused STARTTLS the client
		// decides whether to go on, in the session as it was; RFC 7435
		// section 3: without TLS rather than not at all. go-smtp's client gets the greeting and the EHLO
		// reply already read, which the transcript has.
		s.cfg.Log.Warn("opportunistic TLS refused by the smart host: delivering in plain text",
			"server", addr, "reason", e.ReplyLine())
		s.plainAfter = e.ReplyLine()
		rc := replay(conn, br, greeting, replyLines(250, ehlo))
		rc.logged = rc.pre.Len() + len("EHLO "+s.cfg.Hostname+"\r\n") + len(rc.ehlo)
		return rc, false, nil
	}
	if br.Buffered() > 0 {
		// RFC 3207 6: bytes sent before the handshake may be injected.
		return nil, false, s.tlsFailed(classify(addr, "STARTTLS", errors.New("the smart host sent data after its STARTTLS reply, before the TLS handshake: refusing the connection")))
	}
	tc, err := s.handshake(conn)
	if err != nil {
		return nil, false, s.tlsFailed(err.(*Error))
	}
	rc := replay(tc, bufio.NewReader(tc), greeting, "")
	// The greeting replayed after STARTTLS is in the transcript already.
	rc.logged = rc.pre.Len()
	return rc, true, nil
}

// tlsRequired reports whether TLS must succeed for this delivery. In modes
// starttls and implicit it must. In opportunistic mode it must when a
// password is to be sent (only over TLS) or when the smart host is to be
// authenticated (certificate verification on, which config turns on by
// default in this mode only with username, ca_file or server_name, see its
// verifyByDefault): falling back to plain text would then give away what
// verification protects. Otherwise opportunistic TLS protects only
// against a passive listener, and a failure of it is no reason to hold the
// mail (RFC 7435 sections 1.2 and 3; IIS delivered in plain text).
func (s *Session) tlsRequired() bool {
	return s.cfg.TLS != TLSOpportunistic || s.cfg.Username != "" || !s.cfg.InsecureSkipVerify
}

// errNotOffered is the failure of opportunistic TLS that is required
// (tlsRequired) against a smart host whose EHLO reply offers no STARTTLS.
var errNotOffered = errors.New("the smart host does not offer STARTTLS (none in its EHLO reply)")

// notOffered is errNotOffered as a transient failure that says why TLS was
// required and what to do.
func (s *Session) notOffered(addr string) *Error {
	e := classify(addr, "STARTTLS", errNotOffered)
	e.Permanent = false
	e.Note = s.requiredNote("make the smart host offer STARTTLS (or check that nothing between removes it from its EHLO reply)")
	return e
}

// tlsRequiredNote says why TLS was required and what the administrator can
// do when it failed.
func (s *Session) tlsRequiredNote() string {
	return s.requiredNote("fix the smart host's TLS set-up (its certificate, or its TLS versions: mailbridge speaks TLS 1.2 and 1.3)")
}

// requiredNote is tlsRequiredNote with fix for what to mend on the smart
// host.
func (s *Session) requiredNote(fix string) string {
	switch {
	case s.cfg.TLS == TLSStartTLS:
		return `[outbound] tls = "starttls" requires TLS, so the message waits: ` + fix + `, or, if plain text is acceptable, set tls = "none" (a password set in username/password then goes in clear text)`
	case s.cfg.TLS == TLSImplicit:
		return `[outbound] tls = "implicit" requires TLS, so the message waits: ` + fix + `, or check [outbound] port`
	case s.cfg.Username != "":
		return `TLS is required because [outbound] username is set and the password goes only over TLS, so the message waits: ` + fix + `; if plain text is acceptable, either remove username and password (opportunistic TLS then falls back to plain text, when the certificate is not to be verified) or set tls = "none" to send the password in clear text`
	}
	return `TLS is required because the smart host's certificate is to be verified ([outbound] verify_certificate is on: set, or implied by ca_file or server_name), so the message waits: ` + fix + `, or, if plain text is acceptable, set verify_certificate = false (opportunistic TLS then falls back to plain text) or tls = "none"`
}

// tlsFailed is the failure of TLS after the smart host's STARTTLS 220: this
// connection is lost to SMTP. When TLS is required it is e, transient,
// with a note saying why and what to do (a certificate that does not
// verify says that itself, see TLSError); otherwise it asks dial for a
// plain-text connection.
func (s *Session) tlsFailed(e *Error) error {
	e.Permanent = false
	if !s.tlsRequired() {
		return &plainFallback{err: e}
	}
	var ve *tls.CertificateVerificationError
	if !errors.As(e, &ve) {
		e.Note = s.tlsRequiredNote()
	}
	return e
}

// plainFallback is a failed opportunistic TLS that does not hold the mail:
// dial connects again without STARTTLS.
type plainFallback struct{ err *Error }

func (p *plainFallback) Error() string { return p.err.Error() }
func (p *plainFallback) Unwrap() error { return p.err }

// refused classifies a failed greeting or EHLO (HELO). A 5xx reply there
// is about this connection, not about any message: most often the smart
// host does not accept mail from our address (its relay or connector
// settings). It is transient, as postfix treats it by default
// (smtp_skip_5xx_greeting), so that the mail waits in Queue while the
// administrator fixes the smart host, instead of every message bouncing at
// once; the note says what to check.
// quitAfterRefusal sends QUIT on a connection whose greeting (554), or
// EHLO and HELO, the smart host refused with a reply, and which it left
// open: RFC 5321 section 3.1 has the client send QUIT then (found from
// outside: postfix logged "lost connection after CONNECT"). Its reply is
// not awaited. A 421, or no reply at all, means the connection is closing.
func quitAfterRefusal(conn net.Conn, err error) {
	var se *smtp.SMTPError
	if !errors.As(replyError(err), &se) || se.Code < 400 || se.Code == 421 {
		return
	}
	_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(conn, "QUIT\r\n")
}

func (s *Session) refused(stage string, err error, conn net.Conn) *Error {
	e := classify(s.cfg.Addr(), stage, err)
	if lower := strings.ToLower(e.Reply); e.Code == 421 && (strings.Contains(lower, "too many") ||
		strings.Contains(lower, "concurrent") && strings.Contains(lower, "connection") || strings.Contains(lower, "connection limit")) {
		// postfix's "421 4.7.0 Error: too many connections from ...",
		// Exchange's "421 4.3.2 The maximum number of concurrent
		// connections has exceeded a limit" and "... concurrent server
		// connections ..." (found from outside: the second went
		// unrecognised): our connections over its limit per client.
		e.Note = "the smart host limits the connections it takes (from one client, or from all): where mailbridge's own are over the limit, lower [outbound] connections (4 by default) to it; retried as a temporary failure"
		e.ConnectionLimit = true
		return e
	}
	if e.Code < 500 || e.Code > 599 {
		return e
	}
	e.Permanent = false
	from := "this machine's address"
	if ap, perr := netip.ParseAddrPort(conn.LocalAddr().String()); perr == nil {
		from = fmt.Sprintf("this machine's address (we connect from %s; the smart host may see a translated address)", ap.Addr().Unmap())
	}
	if stage == "greeting" {
		e.Note = fmt.Sprintf("the smart host refused the connection in its greeting: check that its relay or connector settings accept mail from %s; retried as a temporary failure", from)
	} else {
		e.Note = fmt.Sprintf("the smart host refused our %s %s: check that its relay or connector settings accept mail from %s and the name %q; retried as a temporary failure", stage, s.cfg.Hostname, from, s.cfg.Hostname)
	}
	return e
}

// handshake runs the TLS handshake within the connect timeout: it is part
// of setting the connection up, and a smart host that stalls in it (found
// from outside: after its "220 Ready to start TLS") held the attempt for
// the command timeout, ten minutes, with nothing in the log. A failure,
// including a certificate that does not verify, is transient: the
// administrator can fix it and the message waits in Queue meanwhile.
func (s *Session) handshake(conn net.Conn) (*tls.Conn, error) {
	tc := tls.Client(conn, s.cfg.tlsConfig())
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ConnectTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			// Found from outside: "context deadline exceeded" named
			// neither the setting nor its value.
			err = fmt.Errorf("the smart host did not complete the handshake within connect_timeout (%s): it stalled, or something between drops the TLS traffic (%w)", s.cfg.ConnectTimeout, err)
		}
		e := classify(s.cfg.Addr(), "TLS handshake", &TLSError{Name: s.cfg.serverName(), Err: err, RSAKeyExchange: s.cfg.RSAKeyExchange, OwnCAs: s.cfg.RootCAs != nil})
		if !s.cfg.RSAKeyExchange && closedByPeer(err) {
			// A host that finds no common suite may close without an
			// alert, as one below TLS 1.2 does (found from outside).
			e.Reply += "; or it takes only RSA key exchange suites, which tls_rsa_key_exchange = false leaves out: set it to true"
		}
		return nil, e
	}
	// For the delivery's log line (TLSState).
	s.tlsVersion, s.verified = tc.ConnectionState().Version, !s.cfg.InsecureSkipVerify
	return tc, nil
}

// TLSError is a failed TLS handshake; its text names the name expected
// and the certificate presented when verification failed.
type TLSError struct {
	Name string // the name verified
	Err  error
	// RSAKeyExchange tells whether the RSA key exchange suites were
	// offered (Config.RSAKeyExchange), for the advice on a refusal.
	RSAKeyExchange bool
	// OwnCAs tells whether the certificate was checked against ca_file's
	// (Config.RootCAs) rather than the system's.
	OwnCAs bool
}

// selfSigned reports whether c is signed by its own key.
func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

func (e *TLSError) Error() string {
	var cert *x509.Certificate
	var he x509.HostnameError
	var ua x509.UnknownAuthorityError
	var ci x509.CertificateInvalidError
	var ve *tls.CertificateVerificationError
	var cause, fix string
	switch {
	case errors.As(e.Err, &he):
		cert = he.Certificate
		cause = fmt.Sprintf("the certificate is not valid for %q", e.Name)
		fix = "set [outbound] server_name to a name the certificate holds"
		if cert != nil && len(cert.DNSNames) == 0 && len(cert.IPAddresses) == 0 {
			if strings.EqualFold(strings.TrimSuffix(cert.Subject.CommonName, "."), strings.TrimSuffix(e.Name, ".")) {
				// Found from outside: a certificate naming the host in its
				// CN alone was said not to be valid for the very name it
				// showed, and server_name, already set, was the advice.
				cause = "the certificate names the host only in its subject's CN, which is no longer accepted (RFC 6125 section 6.4.4: a subjectAltName is required, as by current Windows and browsers)"
				fix = fmt.Sprintf("the smart host's administrator must issue it again with a subjectAltName (DNS:%s)", e.Name)
			} else {
				cause += ", and it has no subjectAltName: a name in its CN alone would not be accepted either"
				fix = fmt.Sprintf("check [outbound] server and server_name; if they are right, the smart host's administrator must issue the certificate again with a subjectAltName (DNS:%s)", e.Name)
			}
		}
	case errors.As(e.Err, &ua):
		cause = "the certificate is signed by an unknown authority"
		fix = "set [outbound] ca_file to the PEM file of the CA that signed it"
		// The leaf itself, not the last certificate of the chain sent
		// (ua.Cert), which may be an untrusted CA's own.
		self := errors.As(e.Err, &ve) && len(ve.UnverifiedCertificates) > 0 && selfSigned(ve.UnverifiedCertificates[0])
		if self {
			cause = "the certificate is self-signed"
			fix = "set [outbound] ca_file to that certificate itself (PEM or DER), if it is the smart host's own"
		}
		if e.OwnCAs {
			// Found from outside: with ca_file set, the advice was to set
			// it; the smart host's certificate had been replaced.
			cause = "the certificate is not signed by any certificate in [outbound] ca_file"
			fix = "if the smart host's certificate was replaced, set ca_file to the CA that signed the new one"
			if self {
				cause = "the certificate is self-signed, and not the one in [outbound] ca_file"
				fix = "if the smart host's certificate was replaced, set ca_file to the new certificate itself"
			}
		}
	case errors.As(e.Err, &ci):
		cause = "the certificate is invalid: " + ci.Error()
		fix = "the smart host's administrator must renew or fix its certificate"
		if ci.Reason == x509.Expired && ci.Cert != nil && time.Now().Before(ci.Cert.NotBefore) {
			// Not valid yet: more often this machine's clock is wrong.
			fix = "check this machine's clock; if it is right, the smart host's certificate is not valid yet"
		}
	}
	// The leaf the smart host presented: the one the administrator must
	// compare with the name expected.
	if errors.As(e.Err, &ve) && len(ve.UnverifiedCertificates) > 0 {
		cert = ve.UnverifiedCertificates[0]
	}
	if cert == nil {
		if protocolVersion(e.Err) {
			return fmt.Sprintf("TLS handshake with %q failed: the smart host speaks only TLS versions below 1.2, mailbridge's minimum (TLS 1.0 and 1.1 are disabled, as on Windows Server 2025): enable TLS 1.2 on the smart host (%v)", e.Name, e.Err)
		}
		if handshakeRefused(e.Err) {
			// Found from outside: a TLS 1.2 host that takes only RSA key
			// exchange suites was told to enable TLS 1.2.
			fix := "if the smart host takes only RSA key exchange suites (older Exchange servers, appliances), set [outbound] tls_rsa_key_exchange = true"
			if e.RSAKeyExchange {
				fix = "mailbridge offers TLS 1.2 and 1.3 suites with ECDHE or RSA key exchange and AES-GCM, AES-CBC or ChaCha20; DHE, 3DES and RC4 suites are not available: enable one of those on the smart host"
			}
			return fmt.Sprintf("TLS handshake with %q failed: the smart host refused it (handshake_failure), most often because no cipher suite is common to both: %s (%v)", e.Name, fix, e.Err)
		}
		return fmt.Sprintf("TLS handshake with %q failed: %v", e.Name, e.Err)
	}
	if cause == "" {
		cause = e.Err.Error()
	}
	names := append([]string(nil), cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		names = append(names, ip.String())
	}
	hint := "verify_certificate = false accepts any certificate"
	if fix != "" {
		hint = fix + ", or " + hint
	}
	return fmt.Sprintf("certificate verification for %q failed: %s; the smart host presented subject %q, names [%s], issuer %q, valid until %s (%s)",
		e.Name, cause, cert.Subject.String(), strings.Join(names, ", "), cert.Issuer.String(), cert.NotAfter.UTC().Format(time.RFC3339), hint)
}

func (e *TLSError) Unwrap() error { return e.Err }

// protocolVersion reports whether a handshake failed on the TLS version:
// the smart host's protocol_version alert (RFC 8446 section 6.2), or its
// choice of a version below our minimum.
func protocolVersion(err error) bool {
	var alert tls.AlertError
	if errors.As(err, &alert) && alert == 70 { // protocol_version
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "protocol version not supported") || strings.Contains(msg, "unsupported protocol version")
}

// handshakeRefused reports whether the smart host ended the handshake with
// a handshake_failure or insufficient_security alert (RFC 5246 section
// 7.2.2): what OpenSSL and Schannel send when no cipher suite is common.
func handshakeRefused(err error) bool {
	var alert tls.AlertError
	if errors.As(err, &alert) && (alert == 40 || alert == 71) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "remote error: tls: handshake failure") || strings.Contains(msg, "remote error: tls: insufficient security level")
}

// auth authenticates when a user name is configured: LOGIN when offered
// (Microsoft 365 refuses PLAIN), else PLAIN. A refusal (535) is transient:
// a wrong password is fixed by the administrator, and the message waits,
// then goes to Badmail at expiration with the smart host's reply.
func (s *Session) auth(c *smtp.Client, encrypted bool) *Error {
	if s.cfg.Username == "" {
		return nil
	}
	addr := s.cfg.Addr()
	if !encrypted && s.cfg.TLS != TLSNone {
		return classify(addr, "AUTH", ErrAuthNotEncrypted)
	}
	ok, mechs := c.Extension("AUTH")
	if !ok {
		if tlsOK, _ := c.Extension("STARTTLS"); tlsOK && !encrypted {
			// Smart hosts commonly offer AUTH only after STARTTLS (RFC
			// 4954 section 4 lets a server require TLS first; Microsoft
			// 365 and Exchange do): the port is right, the mode is not.
			return classify(addr, "AUTH", errors.New(`the smart host offers no AUTH in plain text but offers STARTTLS (AUTH usually comes only over TLS), and [outbound] tls = "none" does not use it: set tls = "starttls" (or "opportunistic")`))
		}
		return classify(addr, "AUTH", errors.New("the smart host does not offer AUTH, but [outbound] username is set: remove username and password, or check the smart host's port (587 usually offers AUTH)"))
	}
	var client sasl.Client
	mech := ""
	for _, m := range []string{sasl.Login, sasl.Plain} {
		if hasWord(mechs, m) {
			mech = m
			break
		}
	}
	switch mech {
	case sasl.Login:
		client = &loginClient{user: s.cfg.Username, password: s.cfg.Password}
	case sasl.Plain:
		client = sasl.NewPlainClient("", s.cfg.Username, s.cfg.Password)
	default:
		return classify(addr, "AUTH", fmt.Errorf("the smart host offers AUTH %s, but only LOGIN and PLAIN are supported", mechs))
	}
	err := c.Auth(client)
	var se *smtp.SMTPError
	refused := mech // the mechanisms refused with 504, for the note
	if mech == sasl.Login && hasWord(mechs, sasl.Plain) && errors.As(err, &se) && se.Code == 504 {
		// 504: the mechanism is not supported (RFC 4954 section 6),
		// though offered. Found from outside: PLAIN, offered too, was
		// not tried, and every retry met the same 504.
		mech = sasl.Plain
		err = c.Auth(sasl.NewPlainClient("", s.cfg.Username, s.cfg.Password))
		refused = "LOGIN and AUTH PLAIN"
	}
	if err != nil {
		e := classify(addr, "AUTH "+mech, err)
		e.Permanent = false
		if e.Code == 535 {
			// RFC 4954 section 6: the credentials are invalid. The reply
			// alone ("535 5.7.8 Authentication unsuccessful") does not
			// say where they come from.
			e.Note = "the smart host refused the user name or the password: check [outbound] username and password (or password_file, password_env); retried as a temporary failure"
		}
		if e.Code == 504 {
			e.Note = "the smart host refused AUTH " + refused + ", though it offers them (AUTH " + mechs + "): its administrator must enable LOGIN or PLAIN for this account; retried as a temporary failure"
		}
		return e
	}
	return nil
}

// loginClient is the LOGIN mechanism (draft-murchison-sasl-login): the
// user name in answer to the first challenge, the password to the second.
// go-sasl has one, but it sends the user name with the command and refuses
// any password challenge but "Password:"; servers word their challenges
// as they like ("Password:", aiosmtpd's "Password\x00"), and the draft has
// clients ignore the wording.
type loginClient struct {
	user, password string
	step           int
}

func (a *loginClient) Start() (string, []byte, error) { return sasl.Login, nil, nil }

func (a *loginClient) Next([]byte) ([]byte, error) {
	a.step++
	switch a.step {
	case 1:
		return []byte(a.user), nil
	case 2:
		return []byte(a.password), nil
	}
	return nil, errors.New("AUTH LOGIN: the smart host asked for more than a user name and a password")
}

// offers reports whether an EHLO reply (lines joined by "\n", the first
// being the greeting line) lists keyword.
func offers(ehlo, keyword string) bool {
	lines := strings.Split(ehlo, "\n")
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) > 0 && strings.EqualFold(f[0], keyword) {
			return true
		}
	}
	return false
}

func hasWord(list, w string) bool {
	for _, f := range strings.Fields(list) {
		if strings.EqualFold(f, w) {
			return true
		}
	}
	return false
}

// replyError turns net/textproto's reply error into go-smtp's, so that
// classify reads its code and enhanced code as for any other reply.
func replyError(err error) error {
	var te *textproto.Error
	if !errors.As(err, &te) {
		return err
	}
	se := &smtp.SMTPError{Code: te.Code, Message: te.Msg, EnhancedCode: smtp.NoEnhancedCode}
	if parts := strings.SplitN(te.Msg, " ", 2); len(parts) == 2 {
		if code, ok := parseEnhanced(parts[0]); ok && code[0] == te.Code/100 {
			se.EnhancedCode, se.Message = code, parts[1]
		}
	}
	return se
}

func parseEnhanced(s string) (smtp.EnhancedCode, bool) {
	var code smtp.EnhancedCode
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return code, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 999 {
			return code, false
		}
		code[i] = n
	}
	return code, true
}

// replayConn reads a greeting first, then the connection. With ehlo set,
// it answers the first EHLO written with it instead of sending it.
type replayConn struct {
	net.Conn
	r    *bufio.Reader
	pre  *strings.Reader
	ehlo string
	// logged is how many bytes of what go-smtp's client reads and says
	// first are in the transcript already (secure wrote them).
	logged int
}

// replay returns conn with the greeting in front of what br has not read;
// ehlo, when not "", is the reply to the EHLO already said.
func replay(conn net.Conn, br *bufio.Reader, greeting, ehlo string) *replayConn {
	return &replayConn{Conn: conn, r: br, pre: strings.NewReader(replyLines(220, greeting)), ehlo: ehlo}
}

func (c *replayConn) Write(p []byte) (int, error) {
	if c.ehlo != "" && len(p) > 5 && strings.EqualFold(string(p[:5]), "EHLO ") {
		// go-smtp writes each command in one Write and never pipelines.
		c.pre, c.ehlo = strings.NewReader(c.ehlo), ""
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// replyLines writes a reply as read by net/textproto (lines joined by
// "\n") back in its wire form.
func replyLines(code int, msg string) string {
	lines := strings.Split(msg, "\n")
	var b strings.Builder
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		fmt.Fprintf(&b, "%03d%s%s\r\n", code, sep, l)
	}
	return b.String()
}

// skipWriter drops the first n bytes written to it.
type skipWriter struct {
	w io.Writer
	n int
}

func (s *skipWriter) Write(p []byte) (int, error) {
	if s.n > 0 {
		k := min(s.n, len(p))
		s.n -= k
		if k == len(p) {
			return len(p), nil
		}
		s.w.Write(p[k:])
		return len(p), nil
	}
	return s.w.Write(p)
}

func (c *replayConn) Read(p []byte) (int, error) {
	if c.pre.Len() > 0 {
		return c.pre.Read(p)
	}
	return c.r.Read(p)
}
