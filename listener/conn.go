package listener

import (
	"bytes"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

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

var errLineTooLong = errors.New("command line too long")

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
//   - the third bad command closes the connection with 421.
type conn struct {
	net.Conn
	srv      *Server
	clientIP string
	release  func()

	mu        sync.Mutex
	data      bool // between the 354 reply and the reply to the message
	shutdown  bool
	badCmds   int
	pending   []byte // an incomplete reply line
	closeOnce sync.Once

	// read side, command mode only
	lineLen  int
	lineHead []byte
	bdatSkip int64
}

func newConn(c net.Conn, s *Server, release func()) *conn {
	ip := c.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(ip); err == nil {
		ip = host
	}
	return &conn{Conn: c, srv: s, clientIP: ip, release: release}
}

func (c *conn) Read(p []byte) (int, error) {
	c.mu.Lock()
	data, shutdown := c.data, c.shutdown
	c.mu.Unlock()
	d := c.srv.cfg.CommandTimeout
	if data {
		d = c.srv.cfg.DataTimeout
	}
	if shutdown && !data {
		// Between messages during a shutdown: end the session now, as an
		// idle timeout, which go-smtp answers with 421.
		_ = c.Conn.SetReadDeadline(time.Now())
	} else if d > 0 {
		_ = c.Conn.SetReadDeadline(time.Now().Add(d))
	}
	n, err := c.Conn.Read(p)
	if n > 0 && !data {
		if lerr := c.checkLines(p[:n]); lerr != nil {
			c.fail("500 5.5.2 Line too long, closing transmission channel")
			return 0, lerr
		}
	}
	if err != nil && !shutdown && (data || c.bdatSkip > 0) {
		// A message stalled mid-transfer: go-smtp would answer with a
		// permanent 554 carrying the error text; the client must see a
		// transient timeout, and nothing is stored.
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.fail("421 4.4.2 " + c.srv.cfg.Hostname + " Timeout waiting for client input, closing transmission channel")
			return 0, err
		}
	}
	return n, err
}

// fail sends a last reply of our own and closes the connection; whatever
// go-smtp writes after it is lost with the connection.
func (c *conn) fail(reply string) {
	c.writeLine(reply)
	c.Close()
}

// checkLines counts command line lengths. The chunk that follows a BDAT
// command is message data and is skipped.
func (c *conn) checkLines(p []byte) error {
	for len(p) > 0 {
		if c.bdatSkip > 0 {
			k := int64(len(p))
			if k > c.bdatSkip {
				k = c.bdatSkip
			}
			c.bdatSkip -= k
			p = p[k:]
			continue
		}
		i := bytes.IndexByte(p, '\n')
		seg := p
		if i >= 0 {
			seg = p[:i+1]
		}
		c.lineLen += len(seg)
		if len(c.lineHead) < 32 {
			k := min(32-len(c.lineHead), len(seg))
			c.lineHead = append(c.lineHead, seg[:k]...)
		}
		if c.lineLen > maxCommandLine {
			return errLineTooLong
		}
		p = p[len(seg):]
		if i >= 0 {
			c.bdatSkip = bdatSize(c.lineHead)
			c.lineLen, c.lineHead = 0, c.lineHead[:0]
		}
	}
	return nil
}

// bdatSize returns the chunk size of a "BDAT n [LAST]" line, or 0.
func bdatSize(line []byte) int64 {
	s := strings.TrimSpace(string(line))
	if len(s) < 6 || !strings.EqualFold(s[:5], "BDAT ") {
		return 0
	}
	f := strings.Fields(s[5:])
	if len(f) == 0 {
		return 0
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// Write receives go-smtp's replies, one line per call, and sends IIS's.
func (c *conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.pending = append(c.pending, p...)
	var out []byte
	closeAfter := false
	for {
		i := bytes.Index(c.pending, []byte("\r\n"))
		if i < 0 {
			break
		}
		line := string(c.pending[:i])
		c.pending = c.pending[i+2:]
		line, extra := c.rewrite(line)
		out = append(out, line...)
		out = append(out, "\r\n"...)
		if extra != "" {
			out = append(out, extra...)
			out = append(out, "\r\n"...)
			closeAfter = true
		}
	}
	c.mu.Unlock()
	if len(out) > 0 {
		if d := c.srv.cfg.CommandTimeout; d > 0 {
			_ = c.Conn.SetWriteDeadline(time.Now().Add(d))
		}
		if _, err := c.Conn.Write(out); err != nil {
			return 0, err
		}
	}
	if closeAfter {
		c.Close()
	}
	return len(p), nil
}

// writeLine sends a reply of our own, outside go-smtp's flow.
func (c *conn) writeLine(s string) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.Conn.Write([]byte(s + "\r\n"))
}

// rewrite maps one go-smtp reply line to IIS's (iis-reference section 8).
// It returns a second line when the connection must close after it. It runs
// with c.mu held.
func (c *conn) rewrite(line string) (string, string) {
	fqdn := c.srv.cfg.Hostname
	code := ""
	if len(line) >= 3 {
		code = line[:3]
	}
	wasData := c.data
	c.data = false
	switch {
	case code == "220" && strings.HasSuffix(line, " ESMTP Service Ready"):
		return "220 " + compat.Greeting(fqdn, c.srv.cfg.Version, c.srv.cfg.Now()), ""
	case strings.HasPrefix(line, "250-Hello "):
		return "250-" + fqdn + " Hello [" + c.clientIP + "]", ""
	case strings.HasPrefix(line, "250 2.0.0 Hello "):
		return "250 " + fqdn + " Hello [" + c.clientIP + "]", ""
	case strings.HasPrefix(line, "250 2.0.0 Roger, accepting mail from <"):
		addr := strings.TrimSuffix(strings.TrimPrefix(line, "250 2.0.0 Roger, accepting mail from <"), ">")
		return "250 2.1.0 " + addr + "....Sender OK", ""
	case strings.HasPrefix(line, "250 2.0.0 I'll make sure <") && strings.HasSuffix(line, "> gets this"):
		addr := strings.TrimSuffix(strings.TrimPrefix(line, "250 2.0.0 I'll make sure <"), "> gets this")
		return "250 2.1.5 " + addr, ""
	case code == "354":
		c.data = true
		return "354 Start mail input; end with <CRLF>.<CRLF>", ""
	case line == "250 2.0.0 Session reset":
		return "250 2.0.0 Resetting", ""
	case line == "221 2.0.0 Bye":
		return "221 2.0.0 " + fqdn + " Service closing transmission channel", ""
	case line == "552 5.3.4 Max message size exceeded", line == "552 5.3.4 Maximum message size exceeded":
		return "552 5.3.4 Message size exceeds fixed maximum message size", ""
	case strings.HasPrefix(line, "421 4.4.2 Idle timeout"):
		if c.shutdown {
			return "421 4.3.2 " + fqdn + " Service shutting down, closing transmission channel", ""
		}
		return "421 4.4.2 " + fqdn + " Timeout waiting for client input, closing transmission channel", ""
	case strings.HasPrefix(line, "500 5.5.1 Too many errors"):
		return "421 4.7.0 " + fqdn + " Too many errors on this connection, closing transmission channel", ""
	case code >= "500" && code <= "504" && !wasData:
		c.badCmds++
		if c.badCmds >= maxBadCommands {
			return line, "421 4.7.0 " + fqdn + " Too many errors on this connection, closing transmission channel"
		}
	}
	return line, ""
}

// beginShutdown ends the session at its next command; a message being
// received is finished first.
func (c *conn) beginShutdown() {
	c.mu.Lock()
	c.shutdown = true
	data := c.data
	c.mu.Unlock()
	if !data {
		_ = c.Conn.SetReadDeadline(time.Now())
	}
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() {
		if c.release != nil {
			c.release()
		}
	})
	return err
}
