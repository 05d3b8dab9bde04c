// Package listener is mailbridge's inbound SMTP server: it accepts mail for
// any domain, without AUTH, and stores each message in the Drop folder the
// way IIS SMTP did (see package compat for the format).
//
// Contract:
//   - 250 is sent only after the Drop file is complete, flushed to disk and
//     renamed into Drop, and Drop is synced (package mailroot). A consumer
//     polling Drop sees whole .eml files only, each once.
//   - Any failure to store answers 451 4.3.0 with a generic text; the cause
//     goes to the log, never to the client, and nothing is left in Drop.
//   - Limits: SIZE (552 5.3.4), any attachment (see largestPart) larger
//     than the attachment limit once decoded (552 5.3.4, nothing stored),
//     distinct recipients (452 4.5.3), connections (421 4.3.2 when full;
//     on the implicit TLS port inside TLS, as deny_from's 554), a
//     command timeout and a data timeout that restarts with every read,
//     command line length, three bad commands then 421. A panic in a
//     session ends that session only.
//   - Memory does not grow with message size: messages are streamed to disk.
//
// Server follows net/http.Server: Serve, Close, Shutdown.
package listener

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
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
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailbridge/mailbridge/compat"
	"github.com/mailbridge/mailbridge/mailroot"
	"github.com/mailbridge/mailbridge/tlscert"
)

// Config holds the listener's settings. Zero durations disable a timeout.
type Config struct {
	Hostname string // FQDN for greeting, EHLO and Received
	// DefaultDomain is given to a MAIL FROM or RCPT TO address without a
	// domain, as IIS's default domain was ("used to stamp messages from
	// addresses that do not have a domain"); Hostname when empty. The
	// reserved postmaster gets Hostname, which is always local.
	DefaultDomain     string
	Product           string // "Microsoft SMTPSVC", in Received headers
	Version           string // in Received headers and the greeting
	MaxMessageSize    int64  // advertised as SIZE; 0 means no limit
	MaxAttachmentSize int64  // largest decoded attachment; 0 means no limit
	MaxRecipients     int    // per message; 0 means no limit
	MaxConnections    int    // concurrent sessions; 0 means no limit
	// MaxConnectionsPerIP bounds the sessions of one client address; 0
	// means no limit but MaxConnections.
	MaxConnectionsPerIP int
	CommandTimeout      time.Duration
	DataTimeout         time.Duration
	// BareLFEnd makes a line of a lone dot end a DATA message however
	// its line ends are made ("\n.\n", "\n.\r\n", "\r\n.\n"), as
	// postfix's smtpd_forbid_bare_newline = no has it (a leading dot is
	// removed after any LF either way). For clients that end every
	// line with LF alone (a Unix script writing to the socket); where
	// IIS's behaviour is unknown, a setting (iis-reference, its
	// preamble). Off, only CRLF "." CRLF ends a message (RFC 5321
	// section 4.1.1.4): a server that reads another end than the one
	// before it on the path lets a message smuggle a second one (SMTP
	// smuggling, CVE-2023-51764).
	BareLFEnd bool

	// TLSConfig enables TLS: ServeTLS speaks it from the first byte, and
	// Serve offers STARTTLS when StartTLS is set. nil: plain text only.
	TLSConfig *tls.Config
	StartTLS  bool
	// RSAKeyExchange also accepts TLS 1.2 clients that offer only RSA
	// key exchange suites, as Windows' Schannel did (see tlscert.WithRSAKeyExchange).
	RSAKeyExchange bool

	// LocalDomains (local and alias domains) get their mail in Drop; empty
	// means every domain. RelayFrom lists the clients that may send mail
	// for other domains; with Intercept (IIS's Email Interceptor) that mail
	// goes to Drop instead, otherwise it is written, dot-stuffed as
	// RelayDotStuffed says, into RelayDir (the Pickup folder) for the smart
	// host. AllowFrom (empty: everyone) and DenyFrom control who may
	// connect at all.
	LocalDomains    []string
	RelayFrom       []netip.Prefix
	Intercept       bool
	RelayDir        string
	RelayDotStuffed bool
	AllowFrom       []netip.Prefix
	DenyFrom        []netip.Prefix

	// CommandLog receives one entry per SMTP command for IIS's W3C log;
	// nil: no such log.
	CommandLog CommandLog

	// Now returns the arrival time; nil means time.Now. Tests fix it.
	Now func() time.Time
	// atCommit, when set, is called by Data with "before" and "after"
	// conn.beginCommit (tests hold a message there).
	atCommit func(stage string)
}

// CommandLog is where IIS-format command log lines go (compat.W3CLog).
type CommandLog interface {
	Log(compat.W3CEntry) error
}

// Server receives mail into Drop.
type Server struct {
	cfg Config
	// tlsConf is cfg.TLSConfig, noting the client's TLS versions (see New).
	tlsConf *tls.Config
	root    *mailroot.Root
	log     *slog.Logger
	smtp    *smtp.Server

	local *compat.LocalDomains

	bufs     sync.Pool // *bufio.Writer for message files
	copyBufs sync.Pool // *[]byte for reading messages

	mu      sync.Mutex
	conns   map[*conn]struct{}
	slots   chan struct{}
	perIP   map[netip.Addr]int // sessions by client address (MaxConnectionsPerIP)
	closing bool
	// Connections refused over max_connections, and over
	// max_connections_per_ip (see noteFull, noteIPFull).
	fullRefused, ipRefused everyMinute
	listeners              []net.Listener // those Serve accepts on, until closing
	// tlsPorts are the ports ServeTLS accepts on, plainPorts those Serve
	// does: the log's advice to a client on the wrong one names the
	// others (tlsPortAdvice, handshakeFailed).
	tlsPorts, plainPorts []string
	// Lines about clients refused one by one (relay refused, TLS
	// handshakes failed): see logRefusal.
	refusalLines refusalLog
	// refusalQuiet is how long a client's refusals pause before the
	// lines not logged are counted in one of their own (reportRefusals),
	// on refusalTimer; both under mu.
	refusalQuiet time.Duration
	refusalTimer *time.Timer
	// keepAliveGap is keepAliveGap, shorter in tests.
	keepAliveGap time.Duration
	// noTLSSaid is when each client was last said, under mu, to have left
	// after EHLO on a port without STARTTLS (noteLeftWithoutTLS).
	noTLSSaid map[string]time.Time

	// refusing holds the connections of the implicit TLS port being
	// refused (see tlsRefuse), counted in refusals.
	refusing map[net.Conn]struct{}
	refusals sync.WaitGroup

	// commits counts the messages being stored whose reply is not yet
	// written (conn.beginCommit): a stop waits for them.
	commits sync.WaitGroup
	// receiving counts the messages being received (session.Data): a
	// stop that cut sessions waits for them to log what became of their
	// messages, so that those lines come before "mailbridge stopped"
	// (found from outside: they came after it).
	receiving inFlight
}

// inFlight counts calls in progress, and lets one wait for none to be.
// Unlike a sync.WaitGroup, a call may begin while another goroutine
// waits (a command pipelined behind a stop's 421).
type inFlight struct {
	mu   sync.Mutex
	n    int
	none chan struct{} // closed when n falls to 0; nil while it is 0
}

func (f *inFlight) begin() {
	f.mu.Lock()
	if f.n == 0 {
		f.none = make(chan struct{})
	}
	f.n++
	f.mu.Unlock()
}

func (f *inFlight) end() {
	f.mu.Lock()
	f.n--
	if f.n == 0 {
		close(f.none)
		f.none = nil
	}
	f.mu.Unlock()
}

// wait waits up to d for no call to be in progress, and reports whether
// none is.
func (f *inFlight) wait(d time.Duration) bool {
	f.mu.Lock()
	none := f.none
	f.mu.Unlock()
	if none == nil {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-none:
		return true
	case <-t.C:
		return false
	}
}

// New returns a server that stores into root's Drop folder.
func New(cfg Config, root *mailroot.Root, log *slog.Logger) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, root: root, log: log, conns: map[*conn]struct{}{}, perIP: map[netip.Addr]int{},
		local: compat.NewLocalDomains(cfg.Hostname, cfg.DefaultDomain, cfg.LocalDomains), refusing: map[net.Conn]struct{}{}, refusalQuiet: quietRefusals, keepAliveGap: keepAliveGap}
	if cfg.MaxConnections > 0 {
		s.slots = make(chan struct{}, cfg.MaxConnections)
	}
	if cfg.TLSConfig != nil {
		// A copy of the caller's that notes the client's TLS versions
		// for the log of a failed handshake (helloConn).
		s.tlsConf = cfg.TLSConfig.Clone()
		if cfg.RSAKeyExchange && s.tlsConf.CipherSuites == nil {
			s.tlsConf.CipherSuites = tlscert.WithRSAKeyExchange()
		}
		next := s.tlsConf.GetConfigForClient
		s.tlsConf.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			if hc, ok := h.Conn.(*helloConn); ok {
				for _, v := range h.SupportedVersions {
					hc.maxVersion = max(hc.maxVersion, v)
				}
				hc.suites = h.CipherSuites
			}
			if next != nil {
				return next(h)
			}
			return nil, nil
		}
		getCert := s.tlsConf.GetCertificate
		s.tlsConf.GetCertificate = func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if hc, ok := h.Conn.(*helloConn); ok {
				hc.certSent = true
			}
			if getCert == nil {
				return nil, nil // crypto/tls takes Certificates then
			}
			return getCert(h)
		}
	}
	ss := smtp.NewServer(&backend{s: s})
	ss.Domain = cfg.Hostname
	ss.MaxMessageBytes = cfg.MaxMessageSize
	// The session counts recipients (tooManyRcpts), and conn advertises
	// LIMITS RCPTMAX, which go-smtp does only with a limit of its own.
	ss.MaxRecipients = 0
	// Message lines have no length limit (they are streamed to disk; 100 KB
	// lines are real). conn bounds command lines instead.
	ss.MaxLineLength = 0
	// conn sets a fresh deadline on every read and write; go-smtp's
	// ReadTimeout would bound the whole DATA upload.
	ss.ReadTimeout = 0
	ss.WriteTimeout = 0
	ss.EnableSMTPUTF8 = true
	// DSN parameters (RFC 3461: NOTIFY, ORCPT, RET, ENVID) are taken,
	// checked for form, and not acted on; DSN itself is not offered (conn
	// hides the keyword), since mailbridge sends no success or relay
	// notices. Found from outside: IIS offered DSN, and a client that
	// still sends the parameters (Python's rcpt_options, scripts written
	// against IIS) had every recipient refused with 555, which also
	// counted towards the three bad commands that close a session.
	ss.EnableDSN = true
	// TLSConfig stays nil: conn does TLS below go-smtp (see conn).
	ss.ErrorLog = &slogPrinter{log: log}
	s.smtp = ss
	return s
}

// ErrServerClosed is returned by Serve after Close or Shutdown.
var ErrServerClosed = smtp.ErrServerClosed

// Serve accepts connections on l until Close or Shutdown. It always returns
// a non-nil error: ErrServerClosed after Close or Shutdown.
func (s *Server) Serve(l net.Listener) error {
	return s.serve(l, false)
}

// ServeTLS is Serve for a port where TLS starts with the first byte (IIS's
// "Use SSL for Inbound"; SMTPS, RFC 8314). Config.TLSConfig must be set.
func (s *Server) ServeTLS(l net.Listener) error {
	if s.cfg.TLSConfig == nil {
		return errors.New("listener: ServeTLS without a TLSConfig")
	}
	return s.serve(l, true)
}

// tlsPortAdvice tells what to do with a client that began a TLS handshake
// on a port where TLS does not start with the first byte: point it at the
// port where it does, named when mailbridge has one (found from outside:
// "[inbound] tls_port, which may need setting" where it was set).
func (s *Server) tlsPortAdvice() string {
	if s.cfg.TLSConfig == nil {
		return "set it to use plain SMTP, or give mailbridge a certificate and [inbound] tls_port for it"
	}
	here := "or set it to use STARTTLS or plain SMTP here"
	if !s.cfg.StartTLS {
		// Found from outside: STARTTLS advised on a port without it.
		here = "or set it to use plain SMTP here"
	}
	return s.pointAt(true, "where mailbridge speaks TLS from the first byte", "point it at the port where mailbridge speaks TLS from the first byte ([inbound] tls_port, which needs setting), "+here, here)
}

// startTLSHint tells what to do about a client that asked for STARTTLS
// where it is not offered (502 5.5.1): such a client, set to require TLS,
// says "STARTTLS not supported" and sends nothing (found from outside,
// QA97: curl --ssl-reqd, msmtp --tls=on).
func (s *Server) startTLSHint() string {
	if s.cfg.TLSConfig == nil {
		return `STARTTLS is not offered: give mailbridge a certificate ([inbound] pfx_path) and set [inbound] tls = "starttls", or set the client to send without TLS`
	}
	return s.pointAt(true, "where mailbridge speaks TLS from the first byte (SSL)", `STARTTLS is not offered on this port: set [inbound] tls = "starttls"`, `or set [inbound] tls = "starttls"`)
}

// noTLSEvery is how often a client leaving after EHLO on a port without
// STARTTLS is said in the log: a monitor that greets and quits every
// minute must not fill it.
const noTLSEvery = time.Hour

// noteLeftWithoutTLS logs, once in noTLSEvery for each client, a client
// that greeted with EHLO and left without a command more, on a connection
// where STARTTLS was not offered. A client set to require TLS (curl
// --ssl-reqd, msmtp --tls=on, .NET's SmtpClient with EnableSsl) does
// exactly that and says "STARTTLS not supported": found from outside
// (QA97), the log had no line for it, since no command was refused.
func (s *Server) noteLeftWithoutTLS(client string) {
	now := time.Now()
	s.mu.Lock()
	if t, ok := s.noTLSSaid[client]; ok && now.Sub(t) < noTLSEvery {
		s.mu.Unlock()
		return
	}
	if s.noTLSSaid == nil || len(s.noTLSSaid) >= 1024 {
		s.noTLSSaid = map[string]time.Time{} // bounded; at worst said again
	}
	s.noTLSSaid[client] = now
	s.mu.Unlock()
	s.log.Info("a client greeted with EHLO and left without sending a message, where STARTTLS is not offered: a client set to require TLS does this, and reports \"STARTTLS not supported\" (a monitor that only greets does it too; said once an hour for each client)",
		"client", client, "hint", s.startTLSHint())
}

// plainPortAdvice tells what to do with a client that waits for a
// greeting on a port where TLS starts with the first byte.
func (s *Server) plainPortAdvice() string {
	kind := "plain SMTP"
	if s.cfg.StartTLS {
		kind = "STARTTLS"
	}
	return s.pointAt(false, "for "+kind, "set it for implicit TLS (SSL) on this port", "or set it for implicit TLS (SSL) on this port")
}

// pointAt is advice to a client on the wrong port: the implicit-TLS ports
// (implicit) or the others, where it gets what, then here, what it may do
// on its port instead; none is unset's advice.
func (s *Server) pointAt(implicit bool, what, none, here string) string {
	s.mu.Lock()
	ports := s.plainPorts
	if implicit {
		ports = s.tlsPorts
	}
	ports = slices.Clone(ports)
	s.mu.Unlock()
	switch len(ports) {
	case 0:
		return none
	case 1:
		return "point it at port " + ports[0] + ", " + what + ", " + here
	}
	return "point it at one of ports " + strings.Join(ports, ", ") + ", " + what + ", " + here
}

func (s *Server) serve(l net.Listener, implicitTLS bool) error {
	// As net/http's Serve: after Close or Shutdown, at once. go-smtp's
	// Serve, called after its Close, would accept on l forever (a service
	// stopped right after its start would not stop), so the listeners are
	// ours to close too (closeListeners).
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners = append(s.listeners, l)
	if a, ok := l.Addr().(*net.TCPAddr); ok {
		if implicitTLS {
			s.tlsPorts = append(s.tlsPorts, strconv.Itoa(a.Port))
		} else {
			s.plainPorts = append(s.plainPorts, strconv.Itoa(a.Port))
		}
	}
	s.mu.Unlock()
	err := s.smtp.Serve(&limitListener{Listener: l, s: s, implicitTLS: implicitTLS})
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing || err == nil {
		return ErrServerClosed
	}
	return err
}

// closeListeners marks the server closing, so that no Serve starts
// accepting, and closes the listeners the Serves so far accept on.
func (s *Server) closeListeners() {
	s.mu.Lock()
	s.closing = true
	ls := s.listeners
	s.listeners = nil
	s.mu.Unlock()
	for _, l := range ls {
		l.Close()
	}
}

// Close closes the listeners and every connection at once.
func (s *Server) Close() error {
	s.closeListeners()
	err := s.smtp.Close()
	s.endRefusals()
	if errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) { // closed by closeListeners
		return nil
	}
	return err
}

// Shutdown stops accepting connections, lets messages being received finish,
// ends idle sessions with 421, and waits for them until ctx is done; then it
// closes what is left and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeListeners()
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- s.smtp.Shutdown(ctx) }()
	// The listeners are closed by now or in a moment; new connections that
	// raced in are told to go away by limitListener.
	for _, c := range conns {
		c.beginShutdown()
	}
	// Refusals are not sessions: nothing is lost by ending them now, and
	// a client stalling its handshake does not hold up the shutdown.
	s.endRefusals()
	err := <-done
	if errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) { // closed by closeListeners
		err = nil
	}
	if ctx.Err() != nil {
		// Sessions still receiving a message are cut off: tell their
		// clients why (RFC 5321 section 3.8: 421 before closing), so that
		// they retry the message later rather than report an error.
		s.mu.Lock()
		left := make([]*conn, 0, len(s.conns))
		for c := range s.conns {
			left = append(left, c)
		}
		s.mu.Unlock()
		if len(left) == 0 {
			// Every session had ended (shutdown_timeout = "0s" with none
			// open, say): nothing was cut, and there is no word of it to
			// give.
			s.smtp.Close()
			return nil
		}
		var wg sync.WaitGroup
		for _, c := range left {
			wg.Go(func() {
				c.abort("421 4.3.2 " + s.cfg.Hostname + " Service shutting down, closing transmission channel")
			})
		}
		wg.Wait()
		// Messages being stored are not cut (conn.abort): their clients
		// get the reply that says whether they were, then the 421.
		s.waitCommits(commitGrace)
		s.smtp.Close()
		// The sessions' reads fail at once now; what they log of their
		// messages comes before the caller's word of the stop. Bounded:
		// a stalled disk does not hold the stop up.
		s.receiving.wait(time.Second)
		// Said with what it means (found from outside: "context deadline
		// exceeded" alone, then after it, QA95).
		return &cutError{fmt.Sprintf("%d session(s) still open when shutdown_timeout ran out were ended with 421 4.3.2; a message they were sending is not stored, and their clients send it again later", len(left)), ctx.Err()}
	}
	return err
}

// cutError is Shutdown's error when its context ended first: its text
// says what was cut, for the log; it unwraps to the context's error, for
// errors.Is, without Go's words for it.
type cutError struct {
	text string
	ctx  error
}

func (e *cutError) Error() string { return e.text }
func (e *cutError) Unwrap() error { return e.ctx }

// commitGrace bounds the wait for messages being stored at a stop whose
// shutdown_timeout ran out: storing takes milliseconds, unless the disk
// has stalled.
const commitGrace = 10 * time.Second

// waitCommits waits up to d for the messages being stored to get their
// reply.
func (s *Server) waitCommits(d time.Duration) {
	done := make(chan struct{})
	go func() { s.commits.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		s.log.Warn("messages still being stored at the stop; their clients may send them again", "waited", d)
	}
}

// noteFull logs a connection refused over max_connections: the client
// retries, but an administrator whose applications are turned away must
// find why. A warning at the first, then at most one a minute with the
// count since, not one line per refusal under a flood.
func (s *Server) noteFull(client string) {
	s.mu.Lock()
	n, say := s.fullRefused.note(time.Now())
	s.mu.Unlock()
	if !say {
		return
	}
	s.log.Warn("connection refused with 421: max_connections sessions are open; raise [inbound] max_connections if clients are turned away often",
		"client", client, "max_connections", cap(s.slots), "refused", n)
}

// logRefusal logs msg (at INFO) about a refusal of client, within its
// budget (refusalLog): found from outside, one client reconnecting in a
// loop had "relay refused" logged for each of its recipients (2.7 MB a
// second), and a failed TLS handshake for each connection (4,000 a
// second), so that the log's rotation took away its whole history, start
// and errors included, within a minute. Lines past the budget are
// counted, and the client's next line logged says how many were not
// (not_logged); a client that stops has them counted in a line of its
// own once it has been quiet for refusalQuiet (reportRefusals), or at the
// stop: found from outside, a flood's count was never logged when the
// client did not come back.
func (s *Server) logRefusal(client, msg string, args ...any) {
	s.mu.Lock()
	ok, skipped := s.refusalLines.take(client, time.Now())
	if !ok && s.refusalTimer == nil && !s.closing {
		s.refusalTimer = time.AfterFunc(s.refusalQuiet, s.reportRefusals)
	}
	s.mu.Unlock()
	if !ok {
		return
	}
	args = append([]any{"client", client}, args...)
	if skipped > 0 {
		args = append(args, "not_logged", skipped)
	}
	s.log.Info(msg, args...)
}

// reportRefusals logs, for each client quiet for refusalQuiet whose
// refusals were not all logged, how many were not; and looks again later
// while others are not quiet yet. At the stop (final), every count is
// logged and no timer is left.
func (s *Server) reportRefusals() { s.flushRefusals(false) }

func (s *Server) flushRefusals(final bool) {
	s.mu.Lock()
	quiet := s.refusalQuiet
	if final {
		quiet = 0
		if s.refusalTimer != nil {
			s.refusalTimer.Stop()
		}
	}
	counts, wait := s.refusalLines.unreported(time.Now(), quiet)
	s.refusalTimer = nil
	if wait > 0 && !final && !s.closing {
		// When the first client still going is quiet for long enough
		// (found from outside: a whole period later, 20 s, not 10).
		s.refusalTimer = time.AfterFunc(wait, s.reportRefusals)
	}
	s.mu.Unlock()
	for _, c := range counts {
		s.log.Info("refusals of a client not logged: over its line budget", "client", c.client, "not_logged", c.n)
	}
}

// quietRefusals is how long a client's refusals pause before their count
// not logged is said (reportRefusals): a client retrying in a loop
// pauses less.
const quietRefusals = 10 * time.Second

// notLogged is a client's count of lines not logged.
type notLogged struct {
	client string
	n      int
}

// othersName names, in a count's line, the clients past refusalClients
// that share one budget.
const othersName = "other clients (past the first 1024)"

// unreported returns the counts of lines not logged of the clients whose
// last refusal is at least quiet before now, and resets them; wait, when
// other clients still have some, is how long until the first of them has
// been quiet for quiet.
func (r *refusalLog) unreported(now time.Time, quiet time.Duration) (counts []notLogged, wait time.Duration) {
	see := func(client string, b *lineBudget) {
		if b.skipped == 0 {
			return
		}
		if left := quiet - now.Sub(b.last); left > 0 {
			if wait == 0 || left < wait {
				wait = left
			}
			return
		}
		counts = append(counts, notLogged{client, b.skipped})
		b.skipped = 0
	}
	for client, b := range r.clients {
		see(client, b)
	}
	see(othersName, &r.others)
	slices.SortFunc(counts, func(a, b notLogged) int { return strings.Compare(a.client, b.client) })
	return counts, wait
}

// refusalLog bounds the lines of logRefusal: each client has a budget of
// its own (refusalBurst lines, then one a second), so that one client's
// flood does not hide another's refusals (found from outside: with one
// budget for all, a client in a loop left none for an application's
// refused recipient), and all clients together one of allBurst lines,
// then allRate a second, so that many clients at once are bounded too.
// Budgets are kept for up to refusalClients clients; the clients beyond
// share one.
type refusalLog struct {
	all     lineBudget
	clients map[string]*lineBudget
	others  lineBudget
}

const (
	refusalBurst   = 60
	allBurst       = 600
	allRate        = 10
	refusalClients = 1024
)

// take reports whether a line about client may be logged at now, and how
// many of the client's were not since its last one that was.
func (r *refusalLog) take(client string, now time.Time) (ok bool, skipped int) {
	if r.clients == nil {
		r.clients = map[string]*lineBudget{}
		r.all = lineBudget{burst: allBurst, rate: allRate}
		r.others = lineBudget{burst: refusalBurst, rate: 1}
	}
	b := r.clients[client]
	if b == nil {
		if len(r.clients) >= refusalClients {
			r.forgetIdle(now)
		}
		b = &r.others
		if len(r.clients) < refusalClients {
			b = &lineBudget{burst: refusalBurst, rate: 1}
			r.clients[client] = b
		}
	}
	b.refill(now)
	r.all.refill(now)
	if b.tokens < 1 || r.all.tokens < 1 {
		b.skipped++
		return false, 0
	}
	b.tokens--
	r.all.tokens--
	skipped, b.skipped = b.skipped, 0
	return true, skipped
}

// forgetIdle drops the budgets that are full again, and whose count of
// lines not logged has been said (unreported): a client back later starts
// as new, as it would.
func (r *refusalLog) forgetIdle(now time.Time) {
	for client, b := range r.clients {
		if b.skipped == 0 && now.Sub(b.last).Seconds()*b.rate >= b.burst {
			delete(r.clients, client)
		}
	}
}

// lineBudget lets through a burst of lines, then rate a second: a
// misconfigured application's few refused recipients are all logged, a
// flood at about 86,000 lines a day (one a second).
type lineBudget struct {
	burst, rate float64
	tokens      float64
	last        time.Time
	skipped     int // lines not let through since the last one let through
}

// refill adds the tokens earned since the last look, up to burst.
func (b *lineBudget) refill(now time.Time) {
	if b.last.IsZero() {
		b.tokens = b.burst
	} else {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
}

// everyMinute counts events said in the log at most once a minute: the
// first at once, then the next one a minute or more later, with how many
// came since the last one said.
type everyMinute struct {
	n    int
	said time.Time
}

// note counts an event at now, and reports whether to say it, with the
// count.
func (e *everyMinute) note(now time.Time) (n int, say bool) {
	e.n++
	if !e.said.IsZero() && now.Sub(e.said) < time.Minute {
		return 0, false
	}
	n, e.n, e.said = e.n, 0, now
	return n, true
}

// takeIP counts a session of ip, or reports false when ip holds
// MaxConnectionsPerIP sessions already.
func (s *Server) takeIP(ip netip.Addr) bool {
	if s.cfg.MaxConnectionsPerIP <= 0 {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perIP[ip] >= s.cfg.MaxConnectionsPerIP {
		return false
	}
	s.perIP[ip]++
	return true
}

// releaseIP ends a session counted by takeIP.
func (s *Server) releaseIP(ip netip.Addr) {
	if s.cfg.MaxConnectionsPerIP <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
}

// noteIPFull logs a connection refused over max_connections_per_ip, at
// most once a minute with the count since, as noteFull.
func (s *Server) noteIPFull(ip netip.Addr) {
	s.mu.Lock()
	n, say := s.ipRefused.note(time.Now())
	s.mu.Unlock()
	if !say {
		return
	}
	s.log.Warn("connection refused with 421: the client holds max_connections_per_ip sessions already; raise [inbound] max_connections_per_ip if it is a client that needs more at once (a gateway, a busy application server)",
		"client", ip.String(), "max_connections_per_ip", s.cfg.MaxConnectionsPerIP, "refused", n)
}

// limitListener wraps accepted connections in conn and enforces the
// connection limit: a client over it is told 421 and disconnected (go-smtp
// has no limit of its own).
type limitListener struct {
	net.Listener
	s           *Server
	implicitTLS bool
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil && clientGoneAtAccept(err) {
			// One client's reset must not end the listener: go-smtp's
			// Serve returns on any accept error it does not take for
			// temporary.
			l.s.log.Debug("a connection was reset before it was accepted", "error", err)
			continue
		}
		if err != nil {
			return nil, err
		}
		s := l.s
		if by := s.refusedBy(addrIP(nc.RemoteAddr())); by != "" {
			// The client's address as the other lines give it, and the
			// list that refused it (found from outside: IP:port, and
			// "allow_from/deny_from").
			ip := addrIP(nc.RemoteAddr())
			args := []any{"client", ip.String()}
			if hint := loopback6Hint(ip, s.cfg.AllowFrom, "allow_from"); by == "allow_from" && hint != "" {
				args = append(args, "hint", hint)
			}
			s.log.Info("connection refused by "+by, args...)
			l.refuse(nc, "554 5.7.1 "+s.cfg.Hostname+" Access denied")
			continue
		}
		ip := addrIP(nc.RemoteAddr())
		if !s.takeIP(ip) {
			s.noteIPFull(ip)
			l.refuse(nc, "421 4.7.0 "+s.cfg.Hostname+" Too many connections from your address, try again later")
			continue
		}
		if s.slots != nil {
			select {
			case s.slots <- struct{}{}:
			default:
				s.releaseIP(ip)
				// The address as the other lines give it (found from
				// outside: IP:port here alone).
				s.noteFull(ip.String())
				l.refuse(nc, "421 4.3.2 "+s.cfg.Hostname+" Too many connections, try again later")
				continue
			}
		}
		var c *conn
		c = newConn(nc, s, l.implicitTLS, func() {
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			s.releaseIP(ip)
			if s.slots != nil {
				<-s.slots
			}
		})
		s.mu.Lock()
		closing := s.closing
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		if closing {
			c.beginShutdown()
		}
		return c, nil
	}
}

// refuse answers a connection that is not let in, without holding up
// Accept.
func (l *limitListener) refuse(nc net.Conn, reply string) {
	if l.implicitTLS {
		l.s.tlsRefuse(nc, reply)
		return
	}
	s := l.s
	if !s.trackRefusal(nc) {
		go s.refuse(nc, reply, false)
		return
	}
	go func() {
		defer s.untrackRefusal(nc)
		s.refuse(nc, reply, true)
	}()
}

// trackRefusal counts a connection being refused, so that a stop closes
// it (endRefusals); false when maxTLSRefusals are under way, or the server
// is closing.
func (s *Server) trackRefusal(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || len(s.refusing) >= maxTLSRefusals {
		return false
	}
	s.refusing[nc] = struct{}{}
	s.refusals.Add(1)
	return true
}

func (s *Server) untrackRefusal(nc net.Conn) {
	s.mu.Lock()
	delete(s.refusing, nc)
	s.mu.Unlock()
	s.refusals.Done()
}

// refusedWait bounds how long a client refused with 554 is waited on for
// its QUIT, and refusedCommands how many of its commands are answered.
const (
	refusedWait     = 10 * time.Second
	refusedCommands = 20
)

// refuse answers a connection that is not let in with reply, and closes
// it. After a 554, with wait, the client's commands get 503 until its QUIT
// (RFC 5321 section 3.1: the server MUST wait for QUIT, and SHOULD answer
// other commands 503), for refusedWait at most; a 421 closes at once, as
// it says (RFC 5321 section 3.8).
func (s *Server) refuse(nc net.Conn, reply string, wait bool) {
	defer nc.Close()
	_ = nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Write([]byte(reply + "\r\n")); err != nil || !wait || !strings.HasPrefix(reply, "554 ") {
		return
	}
	_ = nc.SetDeadline(time.Now().Add(refusedWait))
	br := bufio.NewReaderSize(nc, 512)
	for range refusedCommands {
		line, err := br.ReadSlice('\n')
		for err == bufio.ErrBufferFull {
			_, err = br.ReadSlice('\n') // a line too long: one command all the same
		}
		if err != nil {
			return
		}
		if verb := bytes.ToUpper(bytes.TrimSpace(line)); bytes.Equal(verb, []byte("QUIT")) {
			_, _ = nc.Write([]byte("221 2.0.0 " + s.cfg.Hostname + " Service closing transmission channel\r\n"))
			return
		}
		if _, err := nc.Write([]byte("503 5.5.1 Bad sequence of commands\r\n")); err != nil {
			return
		}
	}
}

// maxTLSRefusals bounds the refusals of the implicit TLS port under way at
// once. Each may wait handshakeTimeout for its client: without a bound,
// clients over the connection limit that never finish a handshake would
// cost more than the limit lets sessions cost. Past it a connection is
// closed at once, which a client takes as a temporary failure too.
const maxTLSRefusals = 64

// tlsRefuse sends reply inside TLS: on a port where TLS starts with the
// first byte, everything is said inside it (RFC 8314 section 3), and a TLS
// client would read a plain-text reply as a broken handshake
// (WRONG_VERSION_NUMBER) rather than as a refusal. A client whose
// handshake fails is told nothing.
func (s *Server) tlsRefuse(nc net.Conn, reply string) {
	if !s.trackRefusal(nc) {
		nc.Close()
		return
	}
	go func() {
		defer s.untrackRefusal(nc)
		tc := tls.Server(nc, s.tlsConf)
		ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			nc.Close()
			return
		}
		s.refuse(tc, reply, true)
	}()
}

// endRefusals closes the connections of the implicit TLS port being
// refused and waits for their goroutines. s.closing is set: no refusal
// starts after it.
func (s *Server) endRefusals() {
	s.mu.Lock()
	for nc := range s.refusing {
		nc.Close()
	}
	s.mu.Unlock()
	s.refusals.Wait()
	s.flushRefusals(true)
}

// handshakeFailed logs a failed server-side TLS handshake, once, at INFO:
// the client's doing (a scanner, an old client, a plain-text client on the
// TLS port), which must not flood the warnings under internet scanning.
// A client whose highest version is below min_tls_version is told apart,
// in words ("TLS 1.0"): that one is for the administrator to decide.
//
// Two more causes are told apart, from outside: a client offering no
// cipher suite in common (the suites it offered are named, where Go's
// error has their numbers), and a client that ends the handshake once it
// has the certificate, which TLS 1.3 clients do without an alert we can
// read ("bad record MAC", EOF, a reset) when they do not trust it.
func (s *Server) handshakeFailed(msg, client string, hc *helloConn, err error) {
	var args []any
	if hc != nil && hc.maxVersion != 0 {
		args = append(args, "client_max_tls", tls.VersionName(hc.maxVersion))
		if min := s.tlsConf.MinVersion; min != 0 && hc.maxVersion < min {
			msg += fmt.Sprintf(": client offers at most %s; min_tls_version is %s", tls.VersionName(hc.maxVersion), strings.TrimPrefix(tls.VersionName(min), "TLS "))
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded) && hc != nil && hc.implicit && hc.maxVersion == 0:
		// Nothing of a ClientHello: a client set for STARTTLS or plain
		// SMTP, waiting for a greeting (found from outside: the port to
		// use instead was not named).
		msg += fmt.Sprintf(": the client sent no TLS handshake within %s; it is likely set for STARTTLS or plain SMTP and waits for a greeting: %s", handshakeTimeout, s.plainPortAdvice())
	case errors.Is(err, context.DeadlineExceeded):
		// Found from outside: "context deadline exceeded" alone.
		msg += fmt.Sprintf(": the client did not complete it within %s (a client speaking plain text, or one that stalled)", handshakeTimeout)
	case hc == nil:
	case strings.Contains(err.Error(), "no cipher suite supported by both client and server"):
		args = append(args, "client_suites", offeredSuites(hc.suites))
		if !s.cfg.RSAKeyExchange && slices.ContainsFunc(hc.suites, tlscert.IsRSAKeyExchange) {
			msg += ": the client offers only RSA key exchange, which tls_rsa_key_exchange = false refuses"
		} else {
			msg += ": no cipher suite in common with the client"
		}
	case hc.certSent && certRefused(err):
		msg += ": the client ended the handshake once it had the certificate; it may not trust it (a self-signed certificate, or an internal CA the client lacks) or its name"
	}
	s.logRefusal(client, msg, append(args, "error", err)...)
}

// certRefused reports whether a handshake error after the certificate was
// sent is how clients end one when they refuse the certificate: an alert
// saying so (TLS 1.2), or under TLS 1.3 an encrypted alert Go cannot read
// yet ("bad record MAC"), or the connection closed or reset.
func certRefused(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	t := err.Error()
	for _, s := range []string{"bad record MAC", "unknown certificate", "bad certificate", "certificate unknown", "connection reset by peer", "forcibly closed by the remote host"} {
		if strings.Contains(t, s) {
			return true
		}
	}
	return false
}

// offeredSuites names the cipher suites a client offered: suites only, not
// the signalling values (RFC 5746's renegotiation SCSV, RFC 7507's
// fallback SCSV, RFC 8701's GREASE), and with names Go does not know from
// the IANA list (found from outside: "0x1305 0x00FF").
func offeredSuites(ids []uint16) []string {
	var names []string
	for _, id := range ids {
		if id == 0x00FF || id == 0x5600 || id&0x0f0f == 0x0a0a && id>>8 == id&0xff {
			continue
		}
		names = append(names, suiteName(id))
	}
	return names
}

// suiteName is the IANA name of a cipher suite, including those Go does
// not implement that old clients offer.
func suiteName(id uint16) string {
	if name, ok := otherSuites[id]; ok {
		return name
	}
	return tls.CipherSuiteName(id)
}

// otherSuites names suites Go does not implement (RFC 8446, RFC 6655,
// RFC 5288).
var otherSuites = map[uint16]string{
	0x1304: "TLS_AES_128_CCM_SHA256", 0x1305: "TLS_AES_128_CCM_8_SHA256",
	0x009E: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", 0x009F: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
	0x0033: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", 0x0039: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
	0x0067: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", 0x006B: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
	0x003D: "TLS_RSA_WITH_AES_256_CBC_SHA256", 0xC0AC: "TLS_ECDHE_ECDSA_WITH_AES_128_CCM",
	0xC09C: "TLS_RSA_WITH_AES_128_CCM", 0xC0A0: "TLS_RSA_WITH_AES_128_CCM_8",
}

// clientGone reports whether go-smtp's error text is a client that went
// away: a reset (Linux, and Windows' WSAECONNRESET wording) or a write to a
// connection it closed.
func clientGone(detail string) bool {
	for _, s := range []string{"connection reset by peer", "broken pipe", "forcibly closed by the remote host"} {
		if strings.Contains(detail, s) {
			return true
		}
	}
	return false
}

// slogPrinter gives go-smtp's ErrorLog (connection errors, panics with their
// stack) to our structured log.
type slogPrinter struct {
	log      *slog.Logger
	mu       sync.Mutex
	fdHinted time.Time // when running out of descriptors was last said
}

func (p *slogPrinter) Printf(format string, v ...any) {
	p.print(fmt.Sprintf(format, v...))
}

func (p *slogPrinter) Println(v ...any) {
	p.print(fmt.Sprint(v...))
}

func (p *slogPrinter) print(detail string) {
	// go-smtp's "error handling 192.0.2.5:41712: ...": the client as the
	// other lines name it (found from outside: no client= field).
	var args []any
	if rest, ok := strings.CutPrefix(detail, "error handling "); ok {
		if addr, why, ok := strings.Cut(rest, ": "); ok {
			if host, _, err := net.SplitHostPort(addr); err == nil {
				args = append(args, "client", host)
				detail = why
			}
		}
	}
	args = append(args, "detail", detail)
	switch {
	case clientGone(detail):
		// A client that reset its connection: routine on the Internet,
		// and the session's own line says what became of its message
		// (found from outside: such lines came as warnings).
		p.log.Info("connection ended by the client", args...)
		return
	case strings.Contains(detail, "line too long"):
		// Refused with 500 and closed (lineTooLong): the client's doing.
		p.log.Info("connection closed: a command line too long", args...)
		return
	case strings.Contains(detail, errChunkTooBig.Error()):
		// Refused with 552 and closed (chunkTooBig): said as the other
		// refusals are (found from outside: "msg=smtp" and the error
		// alone, no reply, no word of the connection's end).
		p.log.Info("connection closed: a BDAT chunk of 4 GiB or more, larger than any max_message_size (552 5.3.4)", args...)
		return
	}
	if !strings.Contains(detail, "too many open files") {
		p.log.Warn("smtp", args...)
		return
	}
	// go-smtp says it at every accept it retries, once a second: said
	// here once a minute, with what to do.
	p.mu.Lock()
	say := p.fdHinted.IsZero() || time.Since(p.fdHinted) >= time.Minute
	if say {
		p.fdHinted = time.Now()
	}
	p.mu.Unlock()
	if say {
		p.log.Error("out of file descriptors: new connections wait until sessions end; raise the open-files limit (ulimit -n; systemd LimitNOFILE=) or lower [inbound] max_connections", "detail", detail)
	}
}
