package listener

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mailbridge/mailbridge/compat"
)

// maxCommandLine bounds one command line. RFC 5321 section 4.5.3.1.4 sets
// 512 octets; clients send longer ones (long parameter lists), so allow far
// more, but never an unbounded line in memory. Message data is not limited:
// it is streamed to disk.
const maxCommandLine = 64 << 10

// maxBadCommands is how many unrecognised or malformed commands a client may
// send before the connection is closed with 421.
const maxBadCommands = 3

// maxJunkCommands is how many NOOP, RSET, VRFY and HELP commands (and
// commands out of sequence, greetings, commands not implemented,
// recipients named again and other refusals, see junkLimit) a client may
// send between two messages before each further one counts as a bad
// command, as postfix's smtpd_junk_command_limit (100) does. Found from
// outside: a client pipelining NOOPs for 5 seconds grew the W3C log by 60
// MB while holding its connection; then, with EHLO, EXPN or one RCPT
// repeated, 73 MB in 20 seconds.
const maxJunkCommands = 100

// maxOvershoot is how many recipients may be refused (452 over
// max_recipients, 550 not relayed for, 501 for an address that does not
// parse) since the last message stored before each further one counts
// toward maxJunkCommands, as postfix's smtpd_recipient_overshoot_limit
// (1000). Not per transaction: found from outside, a client sending 1,100
// recipients and RSET, over and over, had 112,000 commands answered (12
// MB of W3C log) on one connection.
const maxOvershoot = 1000

// tinyChunk is the size under which a BDAT chunk that is not the last
// counts toward maxJunkCommands.
const tinyChunk = 512

// handshakeTimeout bounds a TLS handshake; a client that speaks plain text
// to the TLS port and waits for a greeting is let go after it. It is not
// CommandTimeout (IIS's ConnectionTimeout, 600 s by default): a handshake
// takes a few round trips, and one stalled would hold a connection slot
// that long. README's limits table documents it.
const handshakeTimeout = 30 * time.Second

var errLineTooLong = errors.New("command line too long")

// errChunkTooBig stops the scanner at a BDAT whose chunk is 4 GiB or more
// (see hugeChunk).
var errChunkTooBig = errors.New("BDAT chunk of 4 GiB or more")

// conn sits between go-smtp and the network. go-smtp fixes several things
// that IIS's clients and administrators see differently, and conn adjusts
// them where they cross the wire:
//
//   - reply texts and enhanced codes are IIS's (rewrite);
//   - every read gets a fresh deadline: the command timeout between commands
//     and the data timeout while a message is being received, so a slow but
//     steady upload never times out (go-smtp's ReadTimeout would bound the
//     whole DATA phase);
//   - command lines are bounded while message lines are not;
//   - go-smtp gets a command line only whole, once conn has checked it,
//     however the client's writes cut it (scan);
//   - the third bad command closes the connection with 421;
//   - TLS: conn does the implicit TLS handshake and STARTTLS (RFC 3207)
//     itself, so that go-smtp, which only ever sees plain text, keeps IIS's
//     replies and these limits on encrypted sessions too.
type conn struct {
	srv      *Server
	clientIP string
	release  func()

	mu           sync.Mutex
	nc           net.Conn // the current connection: the raw one, or TLS over it
	raw          net.Conn
	hello        *helloConn // under the implicit TLS handshake: the client's versions
	tls          bool       // nc is TLS
	handshook    bool
	handshakeErr error // the implicit handshake failed (see handshake)
	offerTLS     bool  // STARTTLS may be offered on this connection
	inject       []byte
	swallow      int  // replies of go-smtp not to send (to the injected RSET)
	data         bool // a 354 was sent: message data until the next reply
	shutdown     bool
	badCmds      int
	mailOK       bool   // the transaction's MAIL was accepted (see rewrite)
	overshoot    int    // recipients refused since the last message (junkLimit)
	bdatTooBig   bool   // a BDAT chunk of the transaction was refused for its size
	junk         int    // commands that carry no mail since the last message (junkLimit)
	dupRcpt      bool   // the RCPT being answered named a recipient again (junkLimit)
	tinyChunks   int    // BDAT chunks under tinyChunk octets, not LAST, not yet answered (junkLimit)
	ehloJunk     bool   // an EHLO reply is being written, to count at its end (junkLimit)
	pending      []byte // an incomplete reply line
	held         []byte // lines of a multi-line reply not yet sent
	closeOnce    sync.Once
	// vrfyBare holds, for each VRFY command go-smtp has still to answer,
	// in order, whether it came without an argument (see smtpCommand).
	vrfyBare []bool
	// heloLong holds, for each HELO or EHLO command go-smtp gets without
	// its argument, in order, whether the argument was refused for its
	// length alone (see greetingWithControl): its 501 says so.
	heloLong []bool
	// startTLSArgs holds, for each STARTTLS command go-smtp has still to
	// answer, in order, whether it is a syntax error: parameters, where
	// this server has STARTTLS.
	startTLSArgs []bool
	// utf8Tx: the transaction began with MAIL ... SMTPUTF8, so its
	// replies may echo UTF-8 addresses (RFC 6531 section 3.7.4.1).
	utf8Tx bool

	// cmds: the commands waiting for their reply, in order, for the W3C
	// log and for the log line of a refused command (noteRefusal).
	cmds []pendingCmd
	// W3C log (nil Config.CommandLog: off)
	helo        string
	msgID       string // of the message just stored, for the DATA line
	started     time.Time
	bytesIn     int64
	bytesOut    int64
	dataBytes   int64
	replyOut    int64 // bytes of the reply being sent (multi-line, 354)
	closeLogged bool  // the session's closing line (240) is written
	gone        bool  // the client went away, or fail closed: replies go nowhere
	peerGone    bool  // gone because the client went away (see repliesGone)
	// notReceived: the message being read was not received whole (the
	// client left or stalled inside it), so go-smtp's reply to it
	// answers no message the client sent: not logged when the client
	// has left (see replies).
	notReceived bool
	// refused holds refusals of a greeting or an address to log once the
	// reply is written (noteRefusal), outside mu.
	refused    [][]any
	tooMany    []any  // likewise, a session closed for its errors
	ended      bool   // this server closed the session (a 421, 500 or 552 that says so): no message is stored any more
	endedIdle  bool   // ... with go-smtp's 421 4.4.2 for a client idle over command_timeout
	aborted    bool   // a stop's 421 is going out: no message is stored any more
	committing bool   // a message is being stored; its reply is not yet written
	abortReply string // a stop's 421 waiting for that reply (see abort)
	cut        bool   // the connection ended inside a BDAT chunk
	cutIdle    bool   // ... because the client sent nothing for data_timeout
	needHello  bool   // STARTTLS succeeded: the client must greet again
	inEHLO     bool   // the lines of an EHLO reply are being written
	chunk      bool   // the bytes of a BDAT chunk are due
	bdatOpen   bool   // a BDAT chunk without LAST was sent: more will follow
	// For noteLeftWithoutTLS: an EHLO was accepted (ehloOK), and the
	// client sent a command other than EHLO and QUIT (otherCmd, written
	// by command() alone).
	ehloOK, otherCmd bool

	// read side; touched by go-smtp's goroutine alone (dotReader and
	// upgrade run on it too)
	stash    []byte // read from the client, not yet scanned (or, in DATA, not yet handed over)
	searched int    // how much of stash, a line's start, is known to hold no LF
	ready    []byte // scanned, for go-smtp: whole command lines and chunk bytes
	readErr  error  // a read error, held until go-smtp has read what came before
	startTLS bool   // a STARTTLS command waits for go-smtp's next Read
	bdatSkip int64  // bytes of a BDAT chunk still to come
	longHead []byte // the start of a line refused as too long (logTooLong)
	longLen  int    // and its length as far as it was read
	// lineSince is when the read side began to wait for the end of the
	// command line in stash (zero: none waits); see Read.
	lineSince time.Time
	// lastCmd is when the last command line was scanned; keepAlives
	// counts the NOOP and RSET commands that came keepAliveGap or more
	// after the one before, not yet answered (junkLimit; under mu).
	lastCmd    time.Time
	keepAlives int
}

// keepAliveGap is the quiet before a NOOP or RSET that makes it a
// keep-alive, which maxJunkCommands does not count: found from outside, a
// connection pool that sent NOOP every 30 seconds on an idle connection
// was cut off with 421 after 100 of them. A loop sending them faster
// still counts.
const keepAliveGap = 10 * time.Second

// helloConn is the connection under a server-side TLS handshake: it
// keeps the highest TLS version the client offered, for the log when the
// handshake fails (see Server.handshakeFailed).
type helloConn struct {
	net.Conn
	// Set during the handshake, read after it.
	maxVersion uint16   // the highest version the client offered
	suites     []uint16 // the cipher suites it offered
	certSent   bool     // the certificate was chosen for it
	implicit   bool     // on the port where TLS starts with the first byte
}

// handshakeErr is what conn's Read returns after a failed handshake,
// already logged by handshakeFailed: it matches net.ErrClosed (the
// connection is closed), which go-smtp's server takes for a session that
// ended, without logging it again in its error log.
func handshakeErr(err error) error {
	return fmt.Errorf("%w: TLS handshake failed: %w", net.ErrClosed, err)
}

func newConn(nc net.Conn, s *Server, implicitTLS bool, release func()) *conn {
	ip := nc.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(ip); err == nil {
		ip = host
	}
	c := &conn{srv: s, clientIP: ip, release: release, nc: nc, raw: nc, started: time.Now()}
	if s.cfg.TLSConfig != nil {
		if implicitTLS {
			c.hello = &helloConn{Conn: nc, implicit: true}
			c.nc, c.tls = tls.Server(c.hello, s.tlsConf), true
		} else {
			c.offerTLS = s.cfg.StartTLS
		}
	}
	return c
}

func (c *conn) current() net.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nc
}

// isTLS reports whether the session is encrypted now.
func (c *conn) isTLS() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tls
}

func (c *conn) LocalAddr() net.Addr                { return c.raw.LocalAddr() }
func (c *conn) RemoteAddr() net.Addr               { return c.raw.RemoteAddr() }
func (c *conn) SetDeadline(t time.Time) error      { return c.current().SetDeadline(t) }
func (c *conn) SetReadDeadline(t time.Time) error  { return c.current().SetReadDeadline(t) }
func (c *conn) SetWriteDeadline(t time.Time) error { return c.current().SetWriteDeadline(t) }

// handshake completes the implicit TLS handshake before the greeting.
func (c *conn) handshake() error {
	c.mu.Lock()
	tc, ok := c.nc.(*tls.Conn)
	need := ok && !c.handshook
	c.handshook = true
	failed := c.handshakeErr
	c.mu.Unlock()
	if !need {
		// After a failure, every read and write gets its error: the
		// tls.Conn's own would reach go-smtp's error log, a second line.
		return failed
	}
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		c.srv.handshakeFailed("TLS handshake failed", c.clientIP, c.hello, err)
		var rhe tls.RecordHeaderError
		if errors.As(err, &rhe) && rhe.Conn != nil {
			// The client spoke plain text to the TLS port: tell it so in
			// plain text.
			_ = rhe.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			_, _ = rhe.Conn.Write([]byte("421 4.7.0 " + c.srv.cfg.Hostname + " This port requires TLS from the first byte, closing transmission channel\r\n"))
		}
		c.Close()
		err = handshakeErr(err)
		c.mu.Lock()
		c.handshakeErr = err
		c.mu.Unlock()
		return err
	}
	return nil
}

var errPanicked = errors.New("listener: session ended after an internal error")

// errTLSOnPlain ends a session whose client began a TLS handshake on a
// port without implicit TLS (see Read): net.ErrClosed, which go-smtp ends
// the session on without a line of its own (Read logged it).
var errTLSOnPlain = fmt.Errorf("%w: a TLS handshake on a port without implicit TLS", net.ErrClosed)

// recoverPanic ends the session, not the daemon, when conn itself fails:
// go-smtp recovers panics in command handlers but not in its read loop.
func (c *conn) recoverPanic(err *error) {
	if r := recover(); r != nil {
		c.srv.log.Error("internal error, session closed", "client", c.clientIP, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		*err = errPanicked
		c.Close()
	}
}

func (c *conn) Read(p []byte) (n int, err error) {
	defer c.recoverPanic(&err)
	if err := c.handshake(); err != nil {
		return 0, err
	}
	for {
		c.mu.Lock()
		if len(c.inject) > 0 {
			n := copy(p, c.inject)
			c.inject = c.inject[n:]
			c.mu.Unlock()
			return n, nil
		}
		nc, data, shutdown, inMessage := c.nc, c.data, c.shutdown, c.inMessage()
		c.mu.Unlock()
		if len(c.ready) > 0 {
			n := copy(p, c.ready)
			c.ready = c.ready[n:]
			return n, nil
		}
		if c.startTLS {
			// go-smtp has answered every command before STARTTLS: it
			// reads only when it has no whole line left.
			c.startTLS = false
			if err := c.upgrade(); err != nil {
				return 0, err
			}
			continue
		}
		if data && len(c.stash) > 0 {
			// Message bytes already read (and counted) from the network:
			// dotReader's, as they are.
			n := copy(p, c.stash)
			c.stash = c.stash[n:]
			c.mu.Lock()
			c.dataBytes += int64(n)
			c.mu.Unlock()
			return n, nil
		}
		if !data {
			c.scan()
			if len(c.ready) > 0 || c.startTLS {
				continue
			}
		}
		if err := c.readErr; err != nil {
			// What came before the error has been read: now the error.
			c.readErr = nil
			if errors.Is(err, errLineTooLong) {
				return 0, c.lineTooLong()
			}
			if errors.Is(err, errChunkTooBig) {
				return 0, c.chunkTooBig()
			}
			c.readFailed(err, data, shutdown)
			return 0, err
		}

		d := c.srv.cfg.CommandTimeout
		if data || c.bdatSkip > 0 {
			// A BDAT chunk is message data too.
			d = c.srv.cfg.DataTimeout
		}
		if shutdown && !inMessage {
			// Between messages during a shutdown: end the session now, as
			// an idle timeout, which go-smtp answers with 421.
			_ = nc.SetReadDeadline(time.Now())
		} else if d > 0 {
			deadline := time.Now().Add(d)
			if !data && c.bdatSkip == 0 && len(c.stash) > 0 {
				// The start of a command line waits for its end: the
				// whole line gets the command timeout, not each byte.
				// Found from outside: a byte every 5 seconds, never an
				// LF, held a connection slot for hours (up to the 64 KB
				// line limit), and 200 such clients every slot.
				if c.lineSince.IsZero() {
					c.lineSince = time.Now()
				}
				deadline = c.lineSince.Add(d)
			}
			_ = nc.SetReadDeadline(deadline)
		}
		n, err := nc.Read(p)
		c.mu.Lock()
		c.bytesIn += int64(n)
		if data {
			c.dataBytes += int64(n)
		}
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			// The client is gone (or the connection broke): what go-smtp
			// answers now reaches nobody, and is not logged as sent.
			c.gone, c.peerGone = true, true
		}
		silent := c.bytesIn == 0
		first := c.bytesIn == int64(n) && !c.tls
		// 0x16 opens a TLS record; no command starts with it (a
		// ClientHello sent a byte at a time, found from outside, was
		// missed when its next byte was looked for too).
		hello := first && n >= 1 && p[0] == 0x16
		if hello {
			// A TLS record (a ClientHello) as the first byte on a
			// port where TLS, if any, starts with STARTTLS: the client
			// is set for implicit TLS ("SSL" in an application's
			// settings) and pointed at the wrong port. Said once, in
			// words; found from outside: three "too many bad
			// commands" lines and a write failure for one connection.
			c.gone = true
		}
		c.mu.Unlock()
		if hello {
			what := c.srv.tlsPortAdvice()
			c.srv.logRefusal(c.clientIP, "connection closed: the client began a TLS handshake on a port where TLS is not spoken from the first byte; it is set for implicit TLS (SSL): "+what)
			c.Close()
			return 0, errTLSOnPlain
		}
		if err != nil && silent && resetByClient(err) {
			// A client that reset its connection without sending a
			// byte: a load balancer's or a monitor's TCP check, every
			// few seconds. It ends as a close does, quietly (found from
			// outside: an INFO line each time).
			c.srv.log.Debug("connection reset before any command: a port probe", "client", c.clientIP)
			err = io.EOF
		}
		if n == 0 && err == nil {
			continue
		}
		if data {
			// Message data goes to dotReader as it comes.
			if err != nil && c.readFailed(err, data, shutdown) {
				return 0, err
			}
			return n, err
		}
		// Command mode: go-smtp gets nothing the scanner has not seen
		// whole. An error waits until go-smtp has read what came before.
		if err != nil {
			c.readErr = err
		}
		if n > 0 && len(c.stash) == 0 && c.bdatSkip > 0 {
			// The common case inside a chunk: its bytes go to go-smtp
			// from where they were read.
			k := c.skipChunk(int64(n))
			c.stash = append(c.stash, p[k:n]...)
			return k, nil
		}
		c.stash = append(c.stash, p[:n]...)
	}
}

// readFailed notes what a read error means before go-smtp sees it: a
// BDAT chunk cut short, or a message stalled mid-transfer, which ends the
// session (stalled true).
func (c *conn) readFailed(err error, data, shutdown bool) (stalled bool) {
	var ne net.Error
	timeout := errors.As(err, &ne) && ne.Timeout()
	if c.bdatSkip > 0 {
		// The connection ended inside a BDAT chunk. go-smtp hands the
		// message on as if the chunk were whole (its reader ends at the
		// connection's end): the message must not be stored.
		c.mu.Lock()
		c.cut = true
		// Kept once set: the 421 closes the connection, and the read
		// after it fails as closed.
		c.cutIdle = c.cutIdle || timeout && !shutdown
		// go-smtp's reply to the chunk it takes for whole answers
		// nothing the client sent: found from outside, logged in the W3C
		// log as "BDAT 250" (or 554) for a chunk the client cut.
		c.notReceived = c.notReceived || !timeout
		c.mu.Unlock()
	}
	if !shutdown && (data || c.bdatSkip > 0) && timeout {
		// A message stalled mid-transfer: go-smtp would answer with a
		// permanent 554 carrying the error text; the client must see a
		// transient timeout, and nothing is stored.
		c.fail("421 4.4.2 " + c.srv.cfg.Hostname + " Timeout waiting for client input, closing transmission channel")
		return true
	}
	return false
}

// lineTooLong refuses a command line over maxCommandLine and closes the
// connection; go-smtp gets the error.
func (c *conn) lineTooLong() error {
	const reply = "500 5.5.2 Line too long, closing transmission channel"
	c.writeLine(reply)
	c.mu.Lock()
	c.logTooLong(int64(len(reply) + 2))
	// As after fail: what go-smtp answers to the read error that follows
	// goes nowhere, and is not logged as sent.
	c.gone, c.ended = true, true
	c.mu.Unlock()
	c.closeDraining()
	return errLineTooLong
}

// chunkTooBig refuses a BDAT whose chunk is 4 GiB or more and closes the
// connection: found from outside, go-smtp answered "501 Malformed size
// argument" and read the chunk's bytes as commands. The size is valid
// syntax (RFC 3030 section 2: any number of octets), only too big for any
// max_message_size; the chunk follows the command whatever the reply, and
// skipping it would mean reading gigabytes, so the connection ends.
func (c *conn) chunkTooBig() error {
	const reply = "552 5.3.4 Message size exceeds fixed maximum message size, closing transmission channel"
	c.writeLine(reply)
	c.mu.Lock()
	c.logReply(552, int64(len(reply)+2))
	c.gone, c.ended = true, true
	c.mu.Unlock()
	c.closeDraining()
	return errChunkTooBig
}

// hugeChunk reports whether BDAT's argument arg is well formed but sizes
// a chunk of 4 GiB or more, which go-smtp takes for a malformed size.
func hugeChunk(arg string) bool {
	size, _, ok := bdatArgs(arg)
	_, err := strconv.ParseUint(size, 10, 32)
	return ok && errors.Is(err, strconv.ErrRange) // digits, past 32 bits
}

// bdatArgs splits BDAT's argument as go-smtp does: a size, then LAST or
// nothing; ok is false for any other shape.
func bdatArgs(arg string) (size string, last, ok bool) {
	args := strings.Fields(arg)
	if len(args) == 0 || len(args) > 2 || len(args) == 2 && !strings.EqualFold(args[1], "LAST") {
		return "", false, false
	}
	return args[0], len(args) == 2, true
}

// body returns a reader for the message after a 354 reply, or nil where
// go-smtp reads the message itself (BDAT).
func (c *conn) body(limit int64) *dotReader {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.data {
		return nil
	}
	return &dotReader{c: c, limited: limit > 0, n: limit, lfEnds: c.srv.cfg.BareLFEnd, tail: startTail()}
}

// endData takes back what the client sent after the end of the message,
// for go-smtp to read as commands, and gives go-smtp's own message reader
// the end-of-data line it waits for.
func (c *conn) endData(rest []byte) {
	c.stash = append(append([]byte(nil), rest...), c.stash...)
	c.searched = 0
	c.mu.Lock()
	c.dataBytes -= int64(len(rest))
	c.inject = append(c.inject, ".\r\n"...)
	c.mu.Unlock()
}

// scan moves what go-smtp may read from stash to ready: whole command
// lines, each checked (command) and rewritten where needed, and the bytes
// of a BDAT chunk as they come. A line is held back until its end has
// arrived, however the client's writes were cut: go-smtp reads a line
// only when it has none left, so waiting for the end is what it would do
// itself, and no check can be sidestepped by sending a line in pieces.
// scan stops after a DATA command (what follows is the message, or, if
// DATA is refused, the next commands: go-smtp's answer tells which) and at
// a STARTTLS command to carry out. A line over maxCommandLine stops it
// with readErr set.
func (c *conn) scan() {
	for len(c.stash) > 0 {
		if c.bdatSkip > 0 {
			k := c.skipChunk(int64(len(c.stash)))
			c.ready = append(c.ready, c.stash[:k]...)
			c.stash = c.stash[k:]
			continue
		}
		i := bytes.IndexByte(c.stash[c.searched:], '\n')
		if i < 0 {
			// Only the start of a line: remember how far it has no end,
			// so that a line typed one byte at a time is searched once.
			c.searched = len(c.stash)
			if len(c.stash) > maxCommandLine {
				c.tooLong(c.stash)
			}
			return
		}
		end := c.searched + i + 1
		c.searched = 0
		c.lineSince = time.Time{}
		line := c.stash[:end]
		c.stash = c.stash[end:]
		if len(line) > maxCommandLine {
			c.tooLong(line)
			return
		}
		if c.command(line) {
			return
		}
	}
}

// tooLong stops the scanner at line, the whole or the start of a command
// line over maxCommandLine: go-smtp gets errLineTooLong once it has read
// the lines before it.
func (c *conn) tooLong(line []byte) {
	c.longHead = append(c.longHead[:0], line[:min(len(line), logHead)]...)
	c.longLen = len(line)
	c.stash, c.searched = nil, 0
	c.readErr = errLineTooLong
}

// skipChunk passes up to n bytes of the BDAT chunk being received and
// returns how many.
func (c *conn) skipChunk(n int64) int {
	k := min(n, c.bdatSkip)
	c.bdatSkip -= k
	c.mu.Lock()
	if c.bdatSkip == 0 {
		c.chunk = false
	}
	if len(c.cmds) > 0 {
		// The BDAT command waiting for its reply is the last one: its
		// bytes are the chunk's bytes received, not declared.
		c.cmds[len(c.cmds)-1].n += int(k)
	}
	c.mu.Unlock()
	return int(k)
}

// command checks one whole command line and queues it for go-smtp, or
// what go-smtp gets instead: a recipient go-smtp would refuse but RFC 5321
// requires, and a greeting go-smtp would accept but must not, are
// rewritten (see rewriteCommand); a STARTTLS command to carry out is
// withheld, with anything the client sent after it (RFC 3207 section
// 4.2: data sent before the handshake completes must be discarded). It
// reports whether scanning stops here.
func (c *conn) command(line []byte) (stop bool) {
	// Kept whether or not the W3C log is on: a refused command's log line
	// names it (found from outside, QA97: "501 5.1.3 Bad recipient
	// address syntax" alone did not say which of a client's recipients).
	head := line[:min(len(line), logHead)]
	c.mu.Lock()
	// A BDAT command's bytes grow with its chunk's (skipChunk), as DATA's
	// with its message. Nothing is queued once replies go nowhere
	// (writeFailed), but to a client that went away: what it sent is
	// carried out and logged.
	if !c.gone || c.peerGone {
		c.cmds = append(c.cmds, pendingCmd{line: strings.TrimRight(string(head), "\r\n"), at: time.Now(), n: len(line)})
	}
	c.mu.Unlock()
	long := false
	if r := c.rewriteCommand(line); r != nil {
		long = greetingTooLong(line, r)
		line = r
	}
	// What follows is decided by what go-smtp makes of the line it gets.
	verb, arg := smtpCommand(line)
	if verb != "EHLO" && verb != "QUIT" && !c.otherCmd {
		c.mu.Lock()
		c.otherCmd = true
		c.mu.Unlock()
	}
	now := time.Now()
	if (verb == "NOOP" || verb == "RSET") && !c.lastCmd.IsZero() && now.Sub(c.lastCmd) >= c.srv.keepAliveGap {
		c.mu.Lock()
		c.keepAlives++
		c.mu.Unlock()
	}
	c.lastCmd = now
	c.bdatSkip = 0
	if verb == "BDAT" && hugeChunk(arg) {
		// Its chunk follows, and cannot be read past: the connection
		// ends with the refusal (chunkTooBig), once go-smtp has read
		// the lines before it.
		c.stash, c.searched = nil, 0
		c.readErr = errChunkTooBig
		return true
	}
	if verb == "BDAT" {
		// Only a chunk go-smtp reads is message data: after a BDAT it
		// refuses as malformed come commands, which must be checked as
		// commands.
		c.bdatSkip, _, _ = bdatChunk(arg)
	}
	c.trackBDAT(verb, arg)
	if verb == "BDAT" {
		if n, last, ok := bdatChunk(arg); ok && !last && n < tinyChunk {
			c.mu.Lock()
			c.tinyChunks++
			c.mu.Unlock()
		}
	}
	if verb == "VRFY" {
		c.mu.Lock()
		c.vrfyBare = append(c.vrfyBare, arg == "")
		c.mu.Unlock()
	}
	if (verb == "HELO" || verb == "EHLO") && arg == "" {
		c.mu.Lock()
		c.heloLong = append(c.heloLong, long)
		c.mu.Unlock()
	}
	if verb == "STARTTLS" {
		c.mu.Lock()
		offered := c.offerTLS && !c.tls
		if arg == "" && offered {
			c.mu.Unlock()
			c.startTLS = true
			// Sent before the handshake: discarded too.
			c.stash, c.searched, c.readErr = nil, 0, nil
			return true
		}
		// go-smtp answers it "TLS not supported" (see rewrite).
		c.startTLSArgs = append(c.startTLSArgs, arg != "" && (c.offerTLS || c.tls))
		c.mu.Unlock()
	}
	c.ready = append(c.ready, line...)
	// After DATA the scanner waits for go-smtp's answer to it.
	return verb == "DATA"
}

// trackBDAT notes, for a shutdown, whether a message sent with BDAT is on
// its way: a chunk's bytes are due (chunk), or a chunk without LAST came
// and the rest of the message will follow (bdatOpen). A shutdown lets such
// a message finish, as it lets a DATA upload finish. As in go-smtp, RSET,
// QUIT and a greeting it accepts end a BDAT transaction whatever its
// state; MAIL does not (go-smtp refuses it inside one), nor does a BDAT
// go-smtp refuses as malformed.
func (c *conn) trackBDAT(verb, arg string) {
	open := c.bdatOpen // written by this goroutine alone: read without the lock
	switch verb {
	case "BDAT":
		if _, last, ok := bdatChunk(arg); ok {
			open = !last
		}
	case "HELO", "EHLO":
		if arg != "" {
			open = false
		}
	case "RSET", "QUIT":
		open = false
	}
	chunk := c.bdatSkip > 0
	if open == c.bdatOpen && chunk == c.chunk {
		return // the common case: no lock for a command that changes nothing
	}
	c.mu.Lock()
	c.bdatOpen, c.chunk = open, chunk
	c.mu.Unlock()
}

// smtpCommand returns the command go-smtp (v0.25.1, parseCmd) runs for a
// whole command line, in capitals, and its argument without surrounding
// blanks; the command is "" for an empty line or one go-smtp refuses as
// malformed. conn decides what a line is by it (a BDAT's chunk, VRFY,
// DATA, STARTTLS): were conn and go-smtp to disagree, bytes go-smtp takes
// for commands could pass as chunk data, unchecked. go-smtp runs STARTTLS
// for any line that starts with it, in any case, and ignores the rest;
// the argument is that rest here (RFC 3207 section 4 allows none).
func smtpCommand(line []byte) (verb, arg string) {
	s := strings.TrimRight(string(line), "\r\n")
	// go-smtp upper-cases the whole line, rune by rune ("\u017ftarttls"
	// is STARTTLS): the first eight runes decide, and they lie within
	// the first 32 bytes.
	head := s[:min(len(s), 8*utf8.UTFMax)]
	if strings.HasPrefix(strings.ToUpper(head), "STARTTLS") {
		rest := s
		for range 8 {
			_, w := utf8.DecodeRuneInString(rest)
			rest = rest[w:]
		}
		return "STARTTLS", strings.TrimSpace(rest)
	}
	switch {
	case len(s) < 4, len(s) == 5:
		return "", ""
	case len(s) == 4:
		return strings.ToUpper(s), ""
	case s[4] != ' ':
		return "", ""
	}
	return strings.ToUpper(s[:4]), strings.TrimSpace(s[5:])
}

// bdatChunk returns the size of the chunk go-smtp (v0.25.1, handleBdat)
// reads after a BDAT command with argument arg, and whether it is the
// last; ok is false where go-smtp refuses the command as malformed (501)
// and reads no chunk: no size, more than two arguments, a second other
// than LAST, or a size that is not a decimal of at most 32 bits. A BDAT
// go-smtp parses is always followed by its chunk, which it reads even
// when it refuses the command for the session's state (no MAIL or RCPT
// yet) or its size (over max_message_size): RFC 3030 section 2 has the
// server read and discard the chunk of a failed BDAT.
func bdatChunk(arg string) (size int64, last, ok bool) {
	s, last, ok := bdatArgs(arg)
	n, err := strconv.ParseUint(s, 10, 32)
	if !ok || err != nil {
		return 0, false, false
	}
	return int64(n), last, true
}

// inMessage reports whether a message is being received (DATA or BDAT).
// It runs with c.mu held.
func (c *conn) inMessage() bool {
	return c.data || c.chunk || c.bdatOpen
}

// rewriteCommand returns the line go-smtp gets in place of the complete
// command line line, or nil to pass it on as it is.
func (c *conn) rewriteCommand(line []byte) []byte {
	if at, postmaster := unqualifiedAt(line); at >= 0 {
		domain := c.srv.cfg.DefaultDomain
		if domain == "" || postmaster {
			// RFC 5321 section 4.5.1: a server must accept the reserved
			// mailbox postmaster without a domain; it is this server's
			// own (its hostname, always a local domain): the message goes
			// to Drop with x-receiver: postmaster@<hostname>.
			domain = c.srv.cfg.Hostname
		}
		return append(append(append([]byte(nil), line[:at]...), "@"+domain...), line[at:]...)
	}
	if i, j := hugeSize(line); i >= 0 {
		return append(append(append([]byte(nil), line[:i]...), maxSizeParam...), line[j:]...)
	}
	if verb, ok := greetingWithControl(line); ok {
		// go-smtp takes any bytes as the client's name, and the name goes
		// into the Received header: without its argument the command gets
		// go-smtp's 501 (worded in rewrite).
		return append([]byte(verb), "\r\n"...)
	}
	return nil
}

// greetingTooLong reports whether rewriteCommand took the argument of the
// greeting line for its length alone (r is what it made of line).
func greetingTooLong(line, r []byte) bool {
	if len(r) != 6 { // "HELO\r\n"
		return false
	}
	arg := bytes.TrimSpace(line[5:])
	return len(arg) > 255 && !hasControl(string(bytes.ReplaceAll(arg, []byte("\t"), []byte(" ")))) && !bytes.ContainsRune(arg, '\t')
}

// greetingWithControl reports whether line is a HELO or EHLO command whose
// argument holds a control character (a CR alone, NUL, ...; see
// hasControl) or invalid UTF-8, is longer than a domain can be, or is
// blanks alone, and returns the verb as sent. RFC 5321 section 4.1.1.1: the argument is a
// domain or an address literal; a CR in it would split the Received
// header of the Drop file for readers that take a CR alone as a line end.
func greetingWithControl(line []byte) (string, bool) {
	if len(line) < 5 || !(bytes.EqualFold(line[:4], []byte("HELO")) || bytes.EqualFold(line[:4], []byte("EHLO"))) ||
		(line[4] != ' ' && line[4] != '\t') {
		return "", false
	}
	arg := bytes.TrimSuffix(bytes.TrimSuffix(line[5:], []byte("\n")), []byte("\r"))
	if len(bytes.TrimSpace(arg)) == 0 {
		// Blanks alone: no name, as for "HELO" alone (found from outside:
		// go-smtp took "HELO " for a mangled command, 500, where "HELO"
		// got 501).
		return string(line[:4]), true
	}
	if len(bytes.TrimSpace(arg)) > 255 {
		// A domain is at most 255 octets (RFC 5321 section 4.5.3.1.2);
		// a longer name would make a Received line past RFC 5322's 998.
		return string(line[:4]), true
	}
	if hasControl(string(bytes.ReplaceAll(arg, []byte("\t"), []byte(" ")))) {
		return string(line[:4]), true
	}
	// A TAB between the ends is refused too: go-smtp takes the name up to
	// the first space, TABs and all, and the Received header would carry
	// them. Found from outside: "EHLO x<TAB>([10.9.9.9])<TAB>by<TAB>
	// trusted.example ..." made a Received line that a parser reads as
	// from 10.9.9.9.
	if bytes.ContainsRune(bytes.Trim(arg, " \t"), '\t') {
		return string(line[:4]), true
	}
	return "", false
}

// maxSizeParam is the largest SIZE value go-smtp parses (32 bits).
const maxSizeParam = "4294967295"

// hugeSize returns where the value of a MAIL command's SIZE parameter
// begins and ends when it is above what go-smtp parses, or -1, -1. go-smtp
// answers such a value with "501 5.5.4 Unable to parse SIZE", where RFC
// 1870 section 6.1 has the server refuse a message larger than it accepts
// with 552 5.3.4: conn passes the largest value go-smtp parses instead,
// which it then refuses as over max_message_size (or, with no limit,
// accepts, as the declared size would be).
func hugeSize(line []byte) (int, int) {
	if i := argAt(line, "MAIL"); i < 0 || len(line)-i < 5 || !bytes.EqualFold(line[i:i+5], []byte("FROM:")) {
		return -1, -1
	}
	// Parameters follow the path; a quoted local part may hold anything,
	// so look only after the path's last '>'.
	i := bytes.LastIndexByte(line, '>')
	if i < 0 {
		return -1, -1
	}
	for i < len(line) {
		for i < len(line) && line[i] != ' ' && line[i] != '\t' {
			i++
		}
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if len(line)-i < 5 || !bytes.EqualFold(line[i:i+5], []byte("SIZE=")) {
			continue
		}
		v := i + 5
		j := v
		for j < len(line) && line[j] >= '0' && line[j] <= '9' {
			j++
		}
		if j == v || (j < len(line) && line[j] != ' ' && line[j] != '\t' && line[j] != '\r' && line[j] != '\n') {
			return -1, -1 // not a number: go-smtp's 501 is right
		}
		if n, err := strconv.ParseUint(string(line[v:j]), 10, 64); err == nil && n <= 1<<32-1 {
			return -1, -1
		}
		return v, j
	}
	return -1, -1
}

// unqualifiedAt returns where "@" and a domain go in a command line
// go-smtp takes for MAIL FROM or RCPT TO (in any case, with blanks where
// go-smtp allows them) whose address has no domain ("MAIL
// FROM:<scanner>", "RCPT TO:admin"), or -1, and whether it is RCPT
// TO:<postmaster>, which gets the server's own name (see rewriteCommand).
// go-smtp refuses an address without a domain (501). IIS gave such an
// address its default domain, and devices (scanners, printers) send them:
// found from outside, go-smtp's 501 for the sender had such a device's
// pipelined transaction refused whole, and its mail lost. Only a local
// part that is a dot-atom of ASCII (RFC 5322 section 3.2.3) is taken:
// anything else is left to go-smtp, which refuses it.
func unqualifiedAt(line []byte) (at int, postmaster bool) {
	i := argAt(line, "MAIL")
	prefix := "FROM:"
	if i < 0 {
		i, prefix = argAt(line, "RCPT"), "TO:"
	}
	if i < 0 || len(line)-i < len(prefix) || !bytes.EqualFold(line[i:i+len(prefix)], []byte(prefix)) {
		return -1, false
	}
	// go-smtp trims blanks after "FROM:" and "TO:" too.
	rest := bytes.TrimRight(line, "\r\n")
	i = len(rest) - len(bytes.TrimLeftFunc(rest[i+len(prefix):], unicode.IsSpace))
	bracket := i < len(rest) && rest[i] == '<'
	if bracket {
		i++
	}
	j := i
	for j < len(rest) && isAtext(rest[j]) {
		j++
	}
	local := rest[i:j]
	if len(local) == 0 || local[0] == '.' || local[len(local)-1] == '.' || bytes.Contains(local, []byte("..")) {
		return -1, false
	}
	switch {
	case bracket && j < len(rest) && rest[j] == '>':
	case !bracket && (j == len(rest) || rest[j] == ' '):
	default:
		return -1, false
	}
	return j, prefix == "TO:" && bytes.EqualFold(local, []byte("postmaster"))
}

// isAtext reports whether b may stand in a dot-atom (RFC 5322 section
// 3.2.3: atext, and the dot).
func isAtext(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' ||
		strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", b) >= 0
}

// argAt returns where the argument of a whole command line begins, as
// go-smtp (parseCmd) finds it, if the line is the command verb: after the
// verb, a space and any blanks (Unicode's, as strings.TrimSpace's). It
// returns -1 for another command, or none.
func argAt(line []byte, verb string) int {
	s := bytes.TrimRight(line, "\r\n")
	if len(s) < 6 || s[4] != ' ' || !bytes.EqualFold(s[:4], []byte(verb)) {
		return -1
	}
	return len(s) - len(bytes.TrimLeftFunc(s[5:], unicode.IsSpace))
}

// upgrade answers STARTTLS and runs the handshake. go-smtp then gets an RSET
// whose reply is not sent: RFC 3207 section 4.2 has the server forget
// everything the client said before TLS.
func (c *conn) upgrade() error {
	c.writeLine("220 2.0.0 SMTP server ready")
	c.mu.Lock()
	c.logReply(220, int64(len("220 2.0.0 SMTP server ready\r\n")))
	c.mu.Unlock()
	hello := &helloConn{Conn: c.raw}
	tc := tls.Server(hello, c.srv.tlsConf)
	// The handshake gets its own deadline, not what is left of the reply's.
	_ = c.raw.SetDeadline(time.Now().Add(handshakeTimeout))
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		c.srv.handshakeFailed("STARTTLS handshake failed", c.clientIP, hello, err)
		c.Close()
		return handshakeErr(err)
	}
	c.mu.Lock()
	c.nc, c.tls, c.handshook = tc, true, true
	c.needHello = true
	// The RSET ends a BDAT transaction too (trackBDAT never sees it).
	c.bdatOpen = false
	c.inject = append(c.inject[:0], "RSET\r\n"...)
	c.swallow++
	c.mu.Unlock()
	return nil
}

// logHead is how much of a command line the W3C log keeps.
const logHead = 1024

// pendingCmd is a command line waiting for its reply.
type pendingCmd struct {
	line string
	at   time.Time
	n    int   // bytes of the command line
	sc   int64 // bytes of intermediate replies (354)
}

// logReply pairs a final reply with the oldest command waiting for one and
// writes IIS's W3C log line (iis-reference section 9). It runs with c.mu
// held.
func (c *conn) logReply(code int, replyBytes int64) {
	if len(c.cmds) == 0 {
		return
	}
	cmd := c.cmds[0]
	if code == 354 {
		// DATA is logged once, with the reply to the message.
		c.cmds[0].sc += replyBytes
		return
	}
	c.cmds = c.cmds[1:]
	if c.srv.cfg.CommandLog == nil {
		return
	}
	e := c.w3cEntry(cmd, code, replyBytes)
	switch e.Method {
	case "EHLO", "HELO":
		if code == 250 {
			c.helo = strings.TrimSpace(e.Query)
		}
		e.User = c.helo
	case "DATA":
		e.Query, e.CSBytes = c.msgID, int64(cmd.n)+c.dataBytes
		c.dataBytes, c.msgID = 0, ""
	case "BDAT":
		// The last chunk stores the message: its line names it, as DATA's.
		if c.msgID != "" {
			e.Query, c.msgID = c.msgID, ""
		}
	case "QUIT":
		c.closeLogged = true
		c.sessionTotals(&e, replyBytes)
	}
	c.logEntry(e)
}

// w3cEntry is the W3C log line of cmd answered with code: the command's
// first word is the method, the rest the query. It runs with c.mu held.
func (c *conn) w3cEntry(cmd pendingCmd, code int, replyBytes int64) compat.W3CEntry {
	method, query, _ := strings.Cut(cmd.line, " ")
	if query != "" {
		query = " " + query // IIS kept the separating space: "+FROM:<a@b>"
	}
	return compat.W3CEntry{
		Time: time.Now(), ClientIP: c.clientIP, User: c.helo, Computer: computerName(c.srv.cfg.Hostname),
		ServerIP: addrIP(c.raw.LocalAddr()).String(), Method: strings.ToUpper(method), Query: query, Status: code,
		SCBytes: cmd.sc + replyBytes, CSBytes: int64(cmd.n), TimeTaken: time.Since(cmd.at),
	}
}

// logEntry writes e to the W3C log; a failure is ours to log, not the
// client's.
func (c *conn) logEntry(e compat.W3CEntry) {
	if err := c.srv.cfg.CommandLog.Log(e); err != nil {
		c.srv.log.Warn("W3C log not written", "error", err)
	}
}

// logTooLong writes the W3C line of a command line refused as too long,
// with the 500 sent for it: go-smtp never gets the line, so no reply of
// its is paired with it (logReply). The line is known by its start
// (longHead, as much as a complete line keeps for the log) and its length
// so far: the method is its first word if the start shows where that word
// ends, "-" otherwise, and the query the rest of the start, as for a line
// that was not too long. It runs with c.mu held, on go-smtp's goroutine
// (longHead is that goroutine's).
func (c *conn) logTooLong(replyBytes int64) {
	if c.srv.cfg.CommandLog == nil {
		return
	}
	line := strings.TrimRight(string(c.longHead), "\r\n")
	if !strings.Contains(line, " ") {
		line = "" // the first word goes on past the start: unknown
	}
	c.logEntry(c.w3cEntry(pendingCmd{line: line, at: time.Now(), n: c.longLen}, 500, replyBytes))
}

// sessionTotals makes e the line that closes a session: IIS's status 240
// with the session's totals.
func (c *conn) sessionTotals(e *compat.W3CEntry, replyBytes int64) {
	e.Query, e.Status, e.Win32 = c.helo, 240, time.Since(c.started).Milliseconds()
	e.SCBytes, e.CSBytes, e.TimeTaken = c.bytesOut+replyBytes, c.bytesIn, time.Since(c.started)
}

// logClose writes the closing line of a session that ended without QUIT
// (a timeout, too many errors, a shutdown, the client gone): its totals
// must reach the log too. IIS's method for such a line is not known
// (iis-reference section 9 shows QUIT only), so the method is "-": the
// status 240 still marks the session's end. A connection that never sent
// a byte (a port probe) is not logged.
func (c *conn) logClose() {
	log := c.srv.cfg.CommandLog
	c.mu.Lock()
	defer c.mu.Unlock()
	if log == nil || c.closeLogged || c.bytesIn == 0 {
		return
	}
	c.closeLogged = true
	e := compat.W3CEntry{Time: time.Now(), ClientIP: c.clientIP, User: c.helo, Computer: computerName(c.srv.cfg.Hostname),
		ServerIP: addrIP(c.raw.LocalAddr()).String()}
	c.sessionTotals(&e, 0)
	c.logEntry(e)
}

// computerName is IIS's s-computername: the host's first label, in capitals.
func computerName(fqdn string) string {
	name, _, _ := strings.Cut(fqdn, ".")
	return strings.ToUpper(name)
}

// helloNeeded reports whether the client has not greeted since STARTTLS.
func (c *conn) helloNeeded() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.needHello
}

// repliesGone reports whether replies go nowhere any more because this
// server is closing the session (a 421 went out, a stop, a client that
// does not read its replies). A transaction that go-smtp still reads from
// what the client had pipelined is not carried out then: found from
// outside, a message pipelined behind the 421 that closes a session for
// its errors was stored, its 250 never sent, so that its client sent it
// again. A client that went away is another matter (peerGone): what it
// sent whole before it left is carried out, as for a client that sends
// its message and leaves without waiting for the 250 (beginCommit).
func (c *conn) repliesGone() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gone && !c.peerGone
}

// endedByServer reports whether this server closed the session with a
// reply that says so (421 for the client's errors, a line too long, a
// chunk too big): see beginCommit. (A timeout is read as such.)
func (c *conn) endedByServer() (ended, idle bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ended, c.endedIdle
}

// bdatRefused reports whether the transaction's BDAT chunks went past
// max_message_size: go-smtp then ends it, and Data's reader fails as if
// the client had.
func (c *conn) bdatRefused() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bdatTooBig
}

// chunkCut says why the connection ended inside a BDAT chunk, for the
// log; "" when it did not. Found from outside: a client that stalled
// there was said to have disconnected.
func (c *conn) chunkCut() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.cutIdle:
		return fmt.Sprintf("the client sent nothing for data_timeout (%s) inside a BDAT chunk: it was told 421 4.4.2", c.srv.cfg.DataTimeout)
	case c.cut:
		return "the client disconnected inside a BDAT chunk"
	}
	return ""
}

// noteNotReceived records that the message being read was not received
// whole (see conn.notReceived).
func (c *conn) noteNotReceived() {
	c.mu.Lock()
	c.notReceived = true
	c.mu.Unlock()
}

// stopCut reports whether a stop ended the session (abort): a message
// still arriving then was cut by us, not by the client.
func (c *conn) stopCut() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.aborted
}

// setUTF8 records whether the transaction began with SMTPUTF8.
func (c *conn) setUTF8(on bool) {
	c.mu.Lock()
	c.utf8Tx = on
	c.mu.Unlock()
}

// inUTF8 reports whether the transaction began with SMTPUTF8.
func (c *conn) inUTF8() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.utf8Tx
}

// echoAddr is addr as a reply echoes it: printable ASCII (RFC 5321
// section 4.2), save in a transaction begun with SMTPUTF8. Found from
// outside: "250 2.1.5 üser@bücher.example" in raw UTF-8 to a client that
// had not asked for it. It runs with c.mu held.
func (c *conn) echoAddr(addr string) string {
	addr = compat.QuoteLocal(addr)
	if c.utf8Tx {
		return addr
	}
	return printableASCII(addr)
}

// printableASCII replaces each character of s that is not printable
// US-ASCII with '?', for reply text (RFC 5321 section 4.2, textstring).
func printableASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 32 || r > 126 {
			return '?'
		}
		return r
	}, s)
}

// noteDuplicateRcpt says that the RCPT being answered named a recipient
// of the transaction again (junkLimit).
func (c *conn) noteDuplicateRcpt() {
	c.mu.Lock()
	c.dupRcpt = true
	c.mu.Unlock()
}

// setMessageID records the stored message's ID for the DATA log line.
func (c *conn) setMessageID(id string) {
	c.mu.Lock()
	c.msgID = id
	c.mu.Unlock()
}

// Write receives go-smtp's replies, one line per call, and sends IIS's.
func (c *conn) Write(p []byte) (n int, err error) {
	defer c.recoverPanic(&err)
	if err := c.handshake(); err != nil {
		return 0, err
	}
	out, closeAfter, nc, replied := c.replies(p)
	if replied {
		// The reply to a message being stored (or nowhere to send it).
		defer c.endCommit()
	}
	c.mu.Lock()
	refused, tooMany := c.refused, c.tooMany
	c.refused, c.tooMany = nil, nil
	// Idle between commands: said in the log (found from outside, QA95:
	// in the W3C log alone); inside a message the session's "message not
	// received" line says it. closeAfter comes once, with the last reply.
	idle := closeAfter && c.endedIdle && !c.inMessage()
	c.mu.Unlock()
	for _, args := range refused {
		if args[1] == noTLSReply {
			// Out of c.mu: the hint reads the server's ports.
			args = append(args, "hint", c.srv.startTLSHint())
		}
		c.srv.logRefusal(c.clientIP, "command refused", args...)
	}
	if tooMany != nil {
		c.srv.logRefusal(c.clientIP, "connection closed: too many bad commands", tooMany...)
	}
	if idle {
		c.srv.log.Info("connection closed: the client sent no complete command within command_timeout", "client", c.clientIP, "command_timeout", c.srv.cfg.CommandTimeout, "reply", "421 4.4.2")
	}
	if len(out) > 0 {
		if d := c.srv.cfg.CommandTimeout; d > 0 {
			_ = nc.SetWriteDeadline(time.Now().Add(d))
		}
		if _, err := nc.Write(out); err != nil {
			if c.writeFailed(err) {
				// The client left: go-smtp goes on with what it sent
				// before, its writes taken (and dropped, see replies),
				// not failed, for a failed write stays failed in its
				// buffered writer, and no later reply would come here.
				return len(p), nil
			}
			return 0, err
		}
	}
	if closeAfter {
		c.closeDraining()
	}
	return len(p), nil
}

// replies turns complete reply lines in p into what goes on the wire.
func (c *conn) replies(p []byte) (out []byte, closeAfter bool, nc net.Conn, replied bool) {
	// Unlock by defer: a panic in here must not leave c.mu held for
	// recoverPanic's Close.
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone && !c.peerGone {
		return nil, false, c.nc, c.committing
	}
	// A client that went away (peerGone) has its replies followed all the
	// same, for what they change (a 354 begins the message's text), and
	// sent nowhere: found from outside, with that skipped, the second
	// message a client had sent before it left was read as commands.
	defer func() {
		if c.peerGone {
			c.bytesOut -= int64(len(out)) // not sent (found from outside: counted in the W3C log)
			out = nil
		}
	}()
	c.pending = append(c.pending, p...)
	for {
		i := bytes.Index(c.pending, []byte("\r\n"))
		if i < 0 {
			break
		}
		line := string(c.pending[:i])
		c.pending = c.pending[i+2:]
		if c.swallow > 0 {
			c.swallow--
			continue
		}
		bad, text, inTx := c.badCmds, c.data, c.mailOK
		lines, last := c.rewrite(line)
		lines, last = c.junkLimit(line, lines, last, c.badCmds != bad || text)
		if len(lines) > 0 && !text && !c.peerGone {
			c.noteRefusal(lines[0], inTx)
		}
		if n := len(lines); last && n > 0 && strings.Contains(lines[n-1], " Too many errors on this connection") {
			// Said in the log, not in the W3C log alone (found from
			// outside): a client cut off for its errors is worth a look.
			// With the last command, within the client's budget of
			// refusal lines, in Write (found from outside, QA100: a line
			// once a minute for all clients named one, and no command).
			args := []any{"reply", lines[n-1]}
			if len(c.cmds) > 0 {
				args = append(args, "last_command", c.cmds[0].line)
			}
			c.tooMany = args
		}
		for i, l := range lines {
			c.held = append(c.held, l...)
			c.held = append(c.held, "\r\n"...)
			c.replyOut += int64(len(l) + 2)
			if len(l) >= 4 && l[3] == ' ' {
				code, _ := strconv.Atoi(l[:3])
				// The 421 sent after the reply to the last bad command
				// answers no command: paired with one pipelined behind
				// it, it was logged as that command's reply (found from
				// outside).
				// A reply to a client that went away (peerGone) is
				// logged, with no bytes sent: found from outside, a
				// scanner that sends its whole transaction and hangs up
				// had its message stored and not one W3C line, where an
				// administrator looks for it. Not the reply go-smtp made
				// to a message cut by the client's leaving (found by
				// CI: a DATA 554 for a message the client never ended).
				unsolicited := last && i > 0 && strings.Contains(l, " Too many errors on this connection")
				switch {
				case unsolicited, c.peerGone && c.notReceived:
				case c.peerGone:
					c.logReply(code, 0)
				default:
					c.logReply(code, c.replyOut)
				}
				c.replyOut, c.notReceived = 0, false
				replied = replied || c.committing
				// A reply goes out whole, in one write: go-smtp flushes
				// every line, and an EHLO reply would cost eight.
				out = append(out, c.held...)
				c.held = c.held[:0]
			}
		}
		if last {
			// What go-smtp answers after this (commands the client had
			// pipelined behind) goes nowhere, and is neither logged as
			// answered nor said as a failed write: found from outside,
			// W3C lines after the 421 with replies of other commands,
			// and "a reply could not be written" for a client that read
			// every reply.
			closeAfter, c.gone, c.ended, c.cmds = true, true, true, nil
			c.endedIdle = len(lines) > 0 && strings.HasPrefix(lines[len(lines)-1], "421 4.4.2 ")
			c.pending = c.pending[:0]
			break
		}
	}
	c.bytesOut += int64(len(out))
	return out, closeAfter, c.nc, replied
}

// noTLSReply answers STARTTLS where TLS is not configured (go-smtp's).
const noTLSReply = "502 5.5.1 TLS not supported"

// noteRefusal notes reply, the reply to a command (not to a message's
// text), for the log when it refuses a greeting, a sender or a recipient
// for its form, or a sender for its SIZE (a 552 outside a transaction,
// inTx false: in one, it refuses a BDAT chunk, which the session logs),
// or STARTTLS where TLS is not configured: found from outside, such
// refusals left no line, and an administrator whose scanner could not
// send saw only "too many bad commands" (QA97: a client that requires
// TLS said "STARTTLS not supported", and the log nothing). The line
// names the command (c.cmds) and is within the client's budget of
// refusal lines (logRefusal). It runs with c.mu held.
func (c *conn) noteRefusal(reply string, inTx bool) {
	if !strings.HasPrefix(reply, "501 5.1.7 ") && !strings.HasPrefix(reply, "501 5.1.3 ") &&
		!(strings.HasPrefix(reply, "552 5.3.4 ") && !inTx) && !strings.HasPrefix(reply, "501 5.5.4 EHLO and HELO ") && reply != noTLSReply {
		return
	}
	args := []any{"reply", reply}
	if len(c.cmds) > 0 {
		args = append(args, "command", c.cmds[0].line)
	}
	c.refused = append(c.refused, args)
}

// junkLimit counts, since the last message stored, the replies to
// commands that carry no mail (NOOP, RSET, VRFY with an argument, HELP and
// the other commands not implemented, EHLO and HELO, a recipient named
// again, a BDAT chunk under tinyChunk octets that is not the last; line
// is go-smtp's reply), to commands out of sequence (503), to recipients
// refused past maxOvershoot, and every other refusal but those exempt:
// one rewrite counted as a bad command, the refusal of a message's text
// after DATA (the client sent it whole, which is no cheap loop, and a
// client such as Python's smtplib follows each with RSET, which counts),
// and 421 and 451, which say that the fault is this server's. Past
// maxJunkCommands each counts as a bad command, and the third closes the
// session with 421 (lines and last are rewrite's). It runs with c.mu
// held.
func (c *conn) junkLimit(line string, lines []string, last, exempt bool) ([]string, bool) {
	code := ""
	if len(lines) > 0 && len(lines[len(lines)-1]) >= 4 {
		code = lines[len(lines)-1][:4]
	}
	switch {
	case strings.HasPrefix(line, "250 2.6.0 "):
		// A message stored: as postfix's smtpd_hard_error_limit, errors
		// count while a client delivers no mail. Found from outside: a
		// client that sent a stray empty line after each message's dot
		// was cut off after its third message.
		c.junk, c.overshoot, c.tinyChunks, c.badCmds = 0, 0, 0, 0
		return lines, last
	case (line == "250 2.0.0 Session reset" || line == "250 2.0.0 I have successfully done nothing") && c.keepAlives > 0:
		c.keepAlives-- // see keepAliveGap
		return lines, last
	case line == "250 2.0.0 Session reset", line == "250 2.0.0 I have successfully done nothing",
		strings.HasPrefix(line, "502 5.5.1 ") && strings.HasSuffix(line, " command not implemented"), // HELP, EXPN, ETRN, TURN ...
		strings.HasPrefix(line, "252 "),
		strings.HasPrefix(line, "250 2.0.0 Hello "): // HELO
	case strings.HasPrefix(line, "250-Hello "):
		// EHLO: counted at its reply's last line, after which a 421 may
		// follow (not within the reply).
		c.ehloJunk = true
		return lines, last
	case c.ehloJunk && len(line) >= 4 && line[3] == ' ':
		c.ehloJunk = false
	case line == "250 2.0.0 Continue" && c.tinyChunks > 0:
		// A BDAT chunk of a few bytes, not the last: found from outside,
		// "BDAT 0" repeated had 300,000 chunks answered, each a W3C
		// line, the message never growing. Chunks of real messages are
		// larger (they count toward max_message_size).
		c.tinyChunks--
	case c.dupRcpt && strings.HasPrefix(line, "250 2.0.0 I'll make sure <"):
		// A recipient named again in the transaction: accepted (see
		// session.Rcpt), and no mail moves.
		c.dupRcpt = false
	case code == "452 ", code == "550 ", strings.HasPrefix(line, "501 5.1.3 "):
		// Recipients refused (over max_recipients, not relayed for, an
		// address that does not parse): a client sends all of a
		// message's recipients, refused or not, before its data, and
		// the message goes to those accepted (found from outside:
		// counted from the first, 203 recipients lost the message for
		// all). As postfix's smtpd_recipient_overshoot_limit (1000),
		// only those past maxOvershoot count.
		if c.overshoot++; c.overshoot <= maxOvershoot {
			return lines, last
		}
	case code == "503 ":
		// Out of sequence: not a bad command (pipelining, RFC 2920), but
		// no mail moves; a client repeating it would grow the W3C log as
		// freely as with NOOPs.
	case exempt, code == "421 ", code == "451 ", code == "" || code[0] != '4' && code[0] != '5':
		return lines, last
	default:
		// Any other refusal: found from outside, "MAIL FROM:<a@x>
		// SIZE=999999999" (552) and STARTTLS where TLS is not configured
		// (502), over and over, had one connection grow the W3C log by
		// about 5 MB a second.
	}
	if c.junk++; c.junk <= maxJunkCommands || last {
		return lines, last
	}
	if c.badCmds++; c.badCmds < maxBadCommands {
		return lines, last
	}
	return append(lines, "421 4.7.0 "+c.srv.cfg.Hostname+" Too many errors on this connection, closing transmission channel"), true
}

// writeFailed ends a session whose reply could not be written: the client
// stopped reading (the write timed out) or the connection broke. go-smtp
// keeps a failed write's error in its buffered writer and carries on
// reading and answering into it; found from outside, a client that
// pipelined commands and never read its replies was served at full speed
// after the first timeout, holding its connection slot, and with the W3C
// log on each command waited for its reply in memory (1.6 GB in 3 s).
// Closing makes go-smtp's next read fail, which ends the session.
//
// A write that failed because the client went away (its reset, not a
// timeout) does not close the connection: what the client sent before it
// left, still to be read, is carried out, replies going nowhere, and the
// read after it fails. Found from outside: a scanner that sent its whole
// transaction and closed without reading the replies had its message,
// whole in this server's buffers, dropped with the session; it took its
// mail for sent.
func (c *conn) writeFailed(err error) (left bool) {
	var ne net.Error
	left = !(errors.As(err, &ne) && ne.Timeout())
	c.mu.Lock()
	gone := c.gone
	c.gone = true
	left = left && !c.ended
	c.peerGone = c.peerGone || left
	if !c.peerGone {
		c.cmds = nil // never answered: not logged one by one
	}
	probe := c.bytesIn == 0
	c.mu.Unlock()
	switch {
	case gone:
	case probe:
		// A client that sent nothing and closed before the greeting went
		// out: a load balancer's or a monitor's TCP check, every few
		// seconds (found from outside: an INFO line each time).
		c.srv.log.Debug("connection closed before the greeting: a port probe", "client", c.clientIP, "error", err)
	case left:
		c.srv.log.Info("the client went away: replies to what it sent before are not written, and what it sent whole is carried out", "client", c.clientIP, "error", err)
	default:
		c.srv.log.Info("connection closed: a reply could not be written (the client does not read its replies)", "client", c.clientIP, "error", err)
	}
	if !left {
		c.Close()
	}
	return left
}

// writeLine sends a reply of our own, outside go-smtp's flow.
func (c *conn) writeLine(s string) {
	nc := c.current()
	_ = nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = nc.Write([]byte(s + "\r\n"))
}

// abort ends a session that outlasted a shutdown: a last reply, sent in
// one write (whole, even between the lines of a reply of go-smtp's) with
// a short deadline, since the client may not be reading; then the close.
//
// A session storing a message is not cut: the client must get the reply
// that says whether it was stored, or it sends the message again and a
// stored one is there twice (RFC 5321 section 6.1). Such a session gets
// the 421 right after that reply (endCommit); Shutdown waits for it.
func (c *conn) abort(reply string) {
	c.mu.Lock()
	if c.committing {
		c.abortReply = reply
		c.mu.Unlock()
		return
	}
	c.aborted = true
	c.mu.Unlock()
	nc := c.current()
	_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = nc.Write([]byte(reply + "\r\n"))
	c.mu.Lock()
	c.logReply(421, int64(len(reply)+2))
	c.gone = true
	c.mu.Unlock()
	c.Close()
}

// beginCommit is called by Data before it stores a message received whole:
// false when a stop has already told the client 421, or this server
// ended the session otherwise (endedByServer): nothing may be stored
// then, since the client sends it again. Found from outside: a BDAT
// transaction begun before the 421 that closed a session for its errors
// had its LAST chunk, pipelined behind, read from go-smtp's buffer, and
// the message stored. (A client that sent its message whole and left
// without waiting for the 250 still has it stored, as before: some
// devices do so, and never send again.) Until the reply to the message is
// written (endCommit), abort leaves the session alone.
func (c *conn) beginCommit() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.aborted || c.ended {
		return false
	}
	c.committing = true
	c.srv.commits.Add(1)
	return true
}

// endCommit ends what beginCommit began, once the reply is written (or
// cannot be), and sends a stop's 421 that waited for it.
func (c *conn) endCommit() {
	c.mu.Lock()
	if !c.committing {
		c.mu.Unlock()
		return
	}
	c.committing = false
	reply := c.abortReply
	c.abortReply = ""
	c.mu.Unlock()
	if reply != "" {
		c.abort(reply)
	}
	c.srv.commits.Done()
}

// fail sends a last reply of our own and closes the connection; whatever
// go-smtp writes after it is lost with the connection.
func (c *conn) fail(reply string) {
	c.writeLine(reply)
	c.mu.Lock()
	code, _ := strconv.Atoi(reply[:3])
	c.logReply(code, int64(len(reply)+2))
	c.gone = true
	c.mu.Unlock()
	c.Close()
}

// drainTime and drainBytes bound how long, and how much, closeDraining
// reads from a client that is still sending.
const (
	drainTime  = 2 * time.Second
	drainBytes = 32 << 20
)

// closeDraining closes a connection the client may still be sending on (a
// command line too long, commands pipelined after the last bad one). A
// close with unread input makes the system reset the connection, and a
// client still writing sees the reset, not the reply: the reply was sent
// first, so the write side is shut (FIN) and input is read and dropped,
// for a bounded time, before the close.
func (c *conn) closeDraining() {
	nc := c.current()
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = nc.SetReadDeadline(time.Now().Add(drainTime))
	_, _ = io.Copy(io.Discard, io.LimitReader(nc, drainBytes))
	c.Close()
}

// rfcReplies corrects go-smtp replies whose codes say something else than
// RFC 5321 means, where IIS's own texts are not known (iis-reference.md
// gives none): clients act on codes. A command out of sequence is 503, not
// 502 ("not implemented": a client may conclude that the server has no
// RCPT at all); an unknown command is 500 5.5.1; an unknown MAIL or RCPT
// parameter is 555 (section 4.1.1.11); AUTH, which this server never
// offers, is refused alike with or without TLS, not with "523 TLS is
// required", which would promise it over TLS.
var rfcReplies = map[string]string{
	"502 5.5.1 Please introduce yourself first.":         "503 5.5.1 Please introduce yourself first.",
	"502 5.5.1 MAIL not allowed during message transfer": "503 5.5.1 MAIL not allowed during message transfer",
	"502 5.5.1 Missing MAIL FROM command.":               "503 5.5.1 Missing MAIL FROM command.",
	"502 5.5.1 RCPT not allowed during message transfer": "503 5.5.1 RCPT not allowed during message transfer",
	"502 5.5.1 DATA not allowed during message transfer": "503 5.5.1 DATA not allowed during message transfer",
	"502 5.5.1 Missing RCPT TO command.":                 "503 5.5.1 Missing RCPT TO command.",
	"501 5.5.2 Bad command":                              "500 5.5.1 Unrecognized command",
	// An empty line: found from outside, answered in other words and
	// with another enhanced code than any other line that is no command.
	"500 5.5.2 Error: bad syntax":                         "500 5.5.1 Unrecognized command",
	"500 5.5.4 Unknown MAIL FROM argument":                "555 5.5.4 Unknown MAIL FROM argument",
	"500 5.5.4 Unknown RCPT TO argument":                  "555 5.5.4 Unknown RCPT TO argument",
	"523 5.7.10 TLS is required":                          "502 5.7.0 Authentication not supported",
	"501 5.5.2 Domain/address argument required for HELO": "501 5.5.4 EHLO and HELO need the client's domain name or address literal, in printable characters",
	// Parameters of extensions not advertised (REQUIRETLS, BINARYMIME):
	// unknown to this server, so 555 (RFC 5321 section
	// 4.1.1.11), not 504.
	"504 5.5.4 REQUIRETLS is not implemented": "555 5.5.4 REQUIRETLS is not implemented",
	"504 5.5.4 BINARYMIME is not implemented": "555 5.5.4 BINARYMIME is not implemented",
}

// rewrite maps one go-smtp reply line to IIS's (iis-reference section 8).
// It returns the lines to send, and true when the connection must close
// after them. It runs with c.mu held.
func (c *conn) rewrite(line string) ([]string, bool) {
	fqdn := c.srv.cfg.Hostname
	code := ""
	if len(line) >= 3 {
		code = line[:3]
	}
	wasData := c.data
	c.data = false
	// Whether a MAIL of this transaction was accepted, as go-smtp has it
	// (fromReceived): its DATA and BDAT say "Missing RCPT TO" with or
	// without one. Found from outside: DATA right after EHLO, or after a
	// refused message, was told to send RCPT.
	switch {
	case strings.HasPrefix(line, "250 2.0.0 Roger, accepting mail from <"):
		c.mailOK, c.bdatTooBig = true, false
	case line == "552 5.3.4 Max message size exceeded":
		// A chunk past max_message_size: go-smtp ends the transaction,
		// and a BDAT message's Data sees it reset, as by RSET
		// (bdatRefused).
		c.bdatTooBig, c.mailOK = true, false
	case wasData, strings.HasPrefix(line, "250 2.6.0 "), line == "250 2.0.0 Session reset",
		strings.HasPrefix(line, "250-Hello "), strings.HasPrefix(line, "250 2.0.0 Hello "):
		c.mailOK = false // the transaction is over, or reset
	case line == "502 5.5.1 Missing RCPT TO command." && !c.mailOK:
		line, code = "503 5.5.1 Missing MAIL FROM command.", "503"
	}
	if line == "501 5.5.2 Domain/address argument required for HELO" && len(c.heloLong) > 0 {
		long := c.heloLong[0]
		c.heloLong = c.heloLong[1:]
		if long {
			// Found from outside: a printable name of 304 characters was
			// told it was not printable.
			line, code = "501 5.5.4 EHLO and HELO take a domain name of at most 255 characters", "501"
		}
	}
	if fixed, ok := rfcReplies[line]; ok {
		line, code = fixed, fixed[:3]
	} else if strings.HasPrefix(line, "500 5.5.2 Syntax errors, ") && strings.HasSuffix(line, " command unrecognized") {
		line = rfcReplies["501 5.5.2 Bad command"]
	}
	if code == "252" && len(c.vrfyBare) > 0 {
		// go-smtp answers every VRFY with 252 (its only 252), argument or
		// none. RFC 5321 section 4.1.1.6 makes the argument required:
		// without one it is a syntax error, and is counted below as other
		// 501s are.
		bare := c.vrfyBare[0]
		c.vrfyBare = c.vrfyBare[1:]
		if bare {
			line, code = "501 5.5.4 Syntax: VRFY <address>", "501"
		}
	}
	if line == noTLSReply && len(c.startTLSArgs) > 0 {
		// go-smtp has no TLS of its own (conn carries STARTTLS out) and
		// takes any line starting "STARTTLS" for the command. RFC 3207
		// section 4: STARTTLS takes no parameters, and a server that
		// offers it answers one with parameters 501. (Where TLS is not
		// configured, the command is not implemented: 502 stands.)
		args := c.startTLSArgs[0]
		c.startTLSArgs = c.startTLSArgs[1:]
		if args {
			line, code = "501 5.5.4 Syntax error, STARTTLS takes no parameters", "501"
		}
	}
	one := func(s string) ([]string, bool) { return []string{s}, false }
	switch {
	case code == "220" && strings.HasSuffix(line, " ESMTP Service Ready"):
		return one("220 " + compat.Greeting(fqdn, c.srv.cfg.Version, c.srv.cfg.Now()))
	case strings.HasPrefix(line, "250-Hello "):
		// The client has greeted again since STARTTLS once go-smtp has
		// accepted the greeting, not when the scanner reads it: a MAIL
		// pipelined before it is still refused (helloNeeded).
		c.needHello, c.inEHLO, c.ehloOK = false, true, true
		lines := []string{"250-" + fqdn + " Hello [" + c.clientIP + "]"}
		if c.offerTLS && !c.tls {
			lines = append(lines, "250-STARTTLS")
		}
		if n := c.srv.cfg.MaxRecipients; n > 0 {
			// LIMITS (RFC 9422): the limit the session enforces. go-smtp
			// advertises it only with a limit of its own, which counts a
			// recipient given twice twice (see tooManyRcpts).
			lines = append(lines, "250-LIMITS RCPTMAX="+strconv.Itoa(n))
		}
		return lines, false
	case c.inEHLO && line == "250-DSN":
		// Its parameters are taken, not acted on (see New): not offered.
		return nil, false
	case c.inEHLO && strings.HasPrefix(line, "250 "):
		// IIS ends its EHLO reply with "250 OK" after the last keyword
		// (iis-reference.md section 8); a client takes OK for an
		// extension it does not know, and ignores it (RFC 5321 section
		// 4.1.1.1).
		c.inEHLO = false
		return []string{"250-" + line[4:], "250 OK"}, false
	case strings.HasPrefix(line, "250 2.0.0 Hello "):
		c.needHello = false
		return one("250 " + fqdn + " Hello [" + c.clientIP + "]")
	case strings.HasPrefix(line, "250 2.0.0 Roger, accepting mail from <"):
		addr := strings.TrimSuffix(strings.TrimPrefix(line, "250 2.0.0 Roger, accepting mail from <"), ">")
		return one("250 2.1.0 " + c.echoAddr(addr) + "....Sender OK")
	case strings.HasPrefix(line, "250 2.0.0 I'll make sure <") && strings.HasSuffix(line, "> gets this"):
		addr := strings.TrimSuffix(strings.TrimPrefix(line, "250 2.0.0 I'll make sure <"), "> gets this")
		return one("250 2.1.5 " + c.echoAddr(addr))
	case code == "354":
		c.data = true
		return one("354 Start mail input; end with <CRLF>.<CRLF>")
	case line == noTLSReply && c.tls:
		// STARTTLS on a session already encrypted (the implicit-TLS
		// port, or a second STARTTLS): out of sequence, not unknown.
		return one("503 5.5.1 TLS already active")
	case line == "250 2.0.0 Session reset":
		return one("250 2.0.0 Resetting")
	case line == "250 2.0.0 I have successfully done nothing":
		// go-smtp's NOOP text; OK is what servers commonly say (RFC 5321
		// section 4.1.1.9 leaves the text free).
		return one("250 2.0.0 OK")
	case line == "221 2.0.0 Bye":
		return one("221 2.0.0 " + fqdn + " Service closing transmission channel")
	case line == "552 5.3.4 Max message size exceeded", line == "552 5.3.4 Maximum message size exceeded":
		return one("552 5.3.4 Message size exceeds fixed maximum message size")
	case strings.HasPrefix(line, "421 4.4.2 Idle timeout"):
		// Closed draining (last): a client that has just sent its next
		// command (postfix's MAIL FROM at a stop) would otherwise get a
		// reset for the unread command and report "lost connection"
		// instead of this reply.
		if c.shutdown {
			return []string{"421 4.3.2 " + fqdn + " Service shutting down, closing transmission channel"}, true
		}
		return []string{"421 4.4.2 " + fqdn + " Timeout waiting for client input, closing transmission channel"}, true
	case line == "502 5.5.1 HELP command not implemented":
		// RFC 5321 section 4.1.1.8: servers SHOULD support HELP.
		cmds := "214 2.0.0 HELO EHLO MAIL RCPT DATA BDAT RSET NOOP VRFY HELP QUIT"
		if c.offerTLS && !c.tls {
			cmds = "214 2.0.0 HELO EHLO STARTTLS MAIL RCPT DATA BDAT RSET NOOP VRFY HELP QUIT"
		}
		return []string{"214-2.0.0 This server supports the following commands:", cmds}, false
	case code == "502" && strings.HasSuffix(line, " command not implemented"),
		line == noTLSReply:
		// EXPN, TURN, SEND, SOML, SAML: commands RFC 5321 names, which
		// this server does not carry out; a client asking is not in error.
		// Nor is one asking for STARTTLS (RFC 3207) where TLS is not
		// configured (found from outside: three closed the session).
		return one(line)
	case strings.HasPrefix(line, "500 5.5.1 Too many errors"):
		return one("421 4.7.0 " + fqdn + " Too many errors on this connection, closing transmission channel")
	case strings.HasPrefix(line, "501 5.1.3 "):
		// A recipient whose address does not parse is refused on its
		// own, as one not relayed for is (junkLimit): a client sends all
		// of a message's recipients before its data, and the message
		// goes to the others. Found from outside: three mistyped
		// addresses closed the session, and the message reached none of
		// its recipients, at every try.
		return one(line)
	case (code >= "500" && code <= "502" || code == "504" || code == "555") && !wasData:
		// A command out of sequence (503) is not counted: after a refused
		// MAIL, a pipelining client's RCPT and DATA get 503 through no
		// fault of their own (RFC 2920 section 3.1).
		c.badCmds++
		if c.badCmds >= maxBadCommands {
			return []string{line, "421 4.7.0 " + fqdn + " Too many errors on this connection, closing transmission channel"}, true
		}
	}
	return one(line)
}

// beginShutdown ends the session at its next command; a message being
// received is finished first.
func (c *conn) beginShutdown() {
	c.mu.Lock()
	c.shutdown = true
	busy, nc := c.inMessage(), c.nc
	c.mu.Unlock()
	if !busy {
		_ = nc.SetReadDeadline(time.Now())
	}
}

func (c *conn) Close() error {
	err := c.current().Close()
	c.closeOnce.Do(func() {
		c.logClose()
		// Left by the client (QUIT, or gone), not ended by this server
		// (a timeout, a stop).
		c.mu.Lock()
		left := c.ehloOK && !c.otherCmd && !c.offerTLS && !c.tls && !c.ended && !c.shutdown && !c.aborted
		c.mu.Unlock()
		if left {
			c.srv.noteLeftWithoutTLS(c.clientIP)
		}
		if c.release != nil {
			c.release()
		}
	})
	return err
}
