package listener

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailbridge/mailbridge/compat"
	"github.com/mailbridge/mailbridge/mailroot"
)

var (
	// errStore is every storage failure as the client sees it: transient,
	// generic; the cause is in our log (DEVELOPERS.md, style rule 5).
	errStore = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0},
		Message: "Requested action aborted: local error in processing, try again later"}
	// errShuttingDown is Data's answer to a message that arrived whole
	// after a stop's 421 went out (conn.abort): nothing reads it, the
	// connection is closed.
	errShuttingDown = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Service shutting down"}
	errTooBig       = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4},
		Message: "Message size exceeds fixed maximum message size"}
	// errClosing answers what go-smtp still reads once the session is
	// being closed: the reply goes nowhere (conn.repliesGone).
	errClosing = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Closing transmission channel"}
)

type backend struct{ s *Server }

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	// go-smtp never wraps the connection (it has no TLSConfig): this is
	// ours.
	cc, _ := c.Conn().(*conn)
	if cc == nil {
		return nil, errors.New("listener: unexpected connection type")
	}
	return &session{s: b.s, smtp: c, conn: cc}, nil
}

// session is one SMTP session's state between MAIL and the end of DATA.
type session struct {
	s    *Server
	smtp *smtp.Conn
	conn *conn

	inTx   bool            // MAIL was accepted: a transaction is open
	seen   map[string]bool // compat.RecipientKey of the recipients accepted
	from   string
	local  []string // recipients whose mail goes to Drop
	remote []string // recipients relayed through the smart host
	// overLimit: a recipient past max_recipients was refused in the
	// transaction; limitSaid: that was logged, once a session (found from
	// outside: a line per transaction, 102 for one client's connection).
	overLimit, limitSaid bool
	// dsn lists the DSN parameters the client gave, taken and not acted
	// on (see New), for the message's log line.
	dsn []string
	// dataRan: Data was called in the transaction, and logged its end.
	dataRan bool
}

func (s *session) Reset() {
	if s.inTx && !s.dataRan && s.conn.bdatRefused() {
		// A first BDAT chunk over max_message_size: go-smtp refuses it
		// (552) and reads past it without calling Data, and ends the
		// transaction here. Found from outside: not logged at all.
		s.s.log.Info("message refused", "client", s.conn.clientIP, "helo", s.smtp.Hostname(), "from", s.from,
			"to", s.recipients(),
			"result", "552", "reason", "larger than max_message_size (BDAT chunks)", "max_message_size", s.s.cfg.MaxMessageSize)
	}
	s.inTx, s.seen, s.from, s.local, s.remote, s.overLimit, s.dsn, s.dataRan = false, nil, "", nil, nil, false, nil, false
}

// recipients lists the transaction's recipients for the log, local ones
// first.
func (s *session) recipients() string {
	return strings.Join(append(append([]string(nil), s.local...), s.remote...), ",")
}

// noteDSN records a DSN parameter given, once each.
func (s *session) noteDSN(p string) {
	if !slices.Contains(s.dsn, p) {
		s.dsn = append(s.dsn, p)
	}
}

func (s *session) Logout() error { return nil }

var (
	// errNestedMail refuses a second MAIL inside a transaction (RFC 5321
	// section 4.1.4: MAIL starts one only after RSET or the end of the
	// last); go-smtp would take it and silently drop the recipients
	// already accepted.
	errChunkCut = errors.New("the connection ended inside a BDAT chunk")
	// errHelloAfterTLS: RFC 3207 section 4.2 has the server forget the
	// client's greeting after STARTTLS; the client greets again.
	errHelloAfterTLS = &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "Send EHLO again after STARTTLS"}
	errNestedMail    = &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "Sender already specified"}
	errBadSender     = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 7},
		Message: "Bad sender address syntax: control characters and bytes that are not UTF-8 are not allowed"}
	errBadRcpt = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3},
		Message: "Bad recipient address syntax: control characters and bytes that are not UTF-8 are not allowed"}
	// RFC 5321 section 4.5.3.1.3: a path is at most 256 octets with its
	// angle brackets, and section 4.5.3.1.10 names the reply. Found from
	// outside: a 60,000-character address was accepted, echoed in a reply
	// far past 512 octets and written as an x-receiver line far past RFC
	// 5322's 998.
	errLongSender = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 7},
		Message: "Path too long: a sender address is at most 254 characters (RFC 5321)"}
	errLongRcpt = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3},
		Message: "Path too long: a recipient address is at most 254 characters (RFC 5321)"}
)

// maxAddress is the longest address in a path: 256 octets less "<" and
// ">" (RFC 5321 section 4.5.3.1.3).
const maxAddress = 254

// tooManyRcpts refuses a recipient past MaxRecipients with go-smtp's own
// reply text. The session enforces the limit, not go-smtp (Server.MaxRecipients
// stays 0): go-smtp counts every RCPT accepted, a recipient given twice
// included, where the message has one copy per distinct recipient. 452 is
// transient (RFC 5321 section 4.5.3.1.10): the client sends the rest in
// another transaction.
func tooManyRcpts(limit int) error {
	return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3},
		Message: fmt.Sprintf("Maximum limit of %d recipients reached", limit)}
}

// hasControl reports whether s holds a control character, a Unicode line
// or paragraph separator, or is not valid UTF-8. RFC 5321 section 4.1.2
// allows no control character in an address, quoted or not (nor RFC 6531
// outside printable UTF-8), and go-smtp's parser takes them: a CR in a
// quoted local part would end the x-receiver line early for readers that
// take a CR alone as a line end (NEL, U+2028 and U+2029 likewise for
// Python's splitlines), and let a client write lines of its own into the
// Drop file.
func hasControl(s string) bool {
	return compat.ReplyText(s) != s
}

// Mail accepts any sender, the null sender included (RFC 5321 section 4.5.5).
func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	if s.conn.repliesGone() {
		return errClosing
	}
	if s.conn.helloNeeded() {
		return errHelloAfterTLS
	}
	if s.inTx {
		return errNestedMail
	}
	if hasControl(from) {
		return errBadSender
	}
	if len(from) > maxAddress {
		return errLongSender
	}
	if err := s.s.root.VolumeGone(); err != nil {
		// Refused before the message is sent, not after it (found from
		// outside): nothing can be stored until the volume is back.
		s.s.log.Warn("mail refused while a mail root folder's volume is away", "result", "451", "client", s.conn.clientIP, "error", err)
		return errStore
	}
	s.inTx = true
	s.from = compat.TrimFinalDot(compat.QuoteLocal(from))
	s.seen, s.local, s.remote, s.overLimit, s.dsn = nil, nil, nil, false, nil
	s.conn.setUTF8(opts != nil && opts.UTF8)
	if opts != nil && opts.Return != "" {
		s.noteDSN("RET=" + string(opts.Return))
	}
	if opts != nil && opts.EnvelopeID != "" {
		s.noteDSN("ENVID")
	}
	return nil
}

// Rcpt sorts recipients by the relay rules (relay.go). A recipient given
// twice is accepted again but written once: a Drop consumer would deliver
// one message twice. MaxRecipients counts distinct recipients (see
// tooManyRcpts).
func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if hasControl(to) {
		return errBadRcpt
	}
	if len(to) > maxAddress {
		return errLongRcpt
	}
	to = compat.TrimFinalDot(compat.QuoteLocal(to))
	route := s.s.route(to, addrIP(s.conn.RemoteAddr()))
	if route != toDrop && route != toRelay {
		args := []any{"from", s.from, "to", to}
		if hint := loopback6Hint(addrIP(s.conn.RemoteAddr()), s.s.cfg.RelayFrom, "relay_from"); hint != "" {
			args = append(args, "hint", hint)
		}
		s.s.logRefusal(s.conn.clientIP, "relay refused", args...)
		shown := to
		if !s.conn.inUTF8() {
			shown = printableASCII(to) // as conn.echoAddr
		}
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Unable to relay for " + shown}
	}
	key := compat.RecipientKey(to)
	if s.seen[key] {
		// Even once the limit is reached: a 452 would have the client
		// send this recipient's copy again in a later transaction.
		s.conn.noteDuplicateRcpt()
		return nil
	}
	if limit := s.s.cfg.MaxRecipients; limit > 0 && len(s.seen) >= limit {
		if !s.overLimit && !s.limitSaid {
			// Said (found from outside: only the W3C log said it); the
			// client sends the rest in another transaction.
			s.limitSaid = true
			s.s.log.Info("recipient limit reached: the client is asked to send to the rest in another transaction (452 4.5.3)", "client", s.conn.clientIP, "from", s.from, "max_recipients", limit)
		}
		s.overLimit = true
		return tooManyRcpts(limit)
	}
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	s.seen[key] = true
	if opts != nil && len(opts.Notify) > 0 {
		n := make([]string, len(opts.Notify))
		for i, v := range opts.Notify {
			n[i] = string(v)
		}
		s.noteDSN("NOTIFY=" + strings.Join(n, ","))
	}
	if opts != nil && opts.OriginalRecipient != "" {
		s.noteDSN("ORCPT")
	}
	if route == toDrop {
		s.local = append(s.local, to)
	} else {
		s.remote = append(s.remote, to)
	}
	return nil
}

// output is one file the message is written to: Drop for local
// recipients, Pickup for relayed ones.
type output struct {
	f  *mailroot.File
	bw *bufio.Writer
	dw *compat.DropWriter
	to []string
	n  int // length of the envelope and Received header
}

// Data streams the message into a new Drop file (and a Pickup file for
// relayed recipients) and answers 250 only once every file is durable.
func (s *session) Data(r io.Reader) error {
	srv := s.s
	cfg := srv.cfg
	srv.receiving.begin()
	defer srv.receiving.end()
	s.dataRan = true
	body := s.conn.body(cfg.MaxMessageSize)
	if body != nil {
		// Whatever the outcome, the connection must be left at the end
		// of the message, where go-smtp reads the next command.
		defer func() { _ = body.drain() }()
		r = body
	}
	if s.conn.repliesGone() {
		// Pipelined behind the reply that closed the session: its 250
		// could not be sent (see repliesGone). Its text is read past,
		// not taken for commands (found from outside: its lines, taken
		// for bad commands, had go-smtp end the session, and every
		// command after them made it panic).
		_, _ = io.Copy(io.Discard, r)
		return errClosing
	}
	arrival := cfg.Now()
	name := srv.root.NewName()
	isTLS := s.conn.isTLS()
	// The latest HELO/EHLO name: a client may greet again after STARTTLS.
	helo := s.smtp.Hostname()
	log := srv.log.With("id", name, "client", s.conn.clientIP, "helo", helo,
		"from", s.from, "to", s.recipients())

	received := compat.Received(compat.ReceivedInfo{
		Helo: helo, ClientIP: s.conn.clientIP, Server: cfg.Hostname, TLS: isTLS,
		Product: cfg.Product, Version: cfg.Version, Time: arrival,
	})
	msgID := compat.MessageID(name, cfg.Hostname)
	oat := compat.OriginalArrivalTime(arrival)
	var outs []*output
	defer func() {
		for _, o := range outs {
			o.f.Abort()
			srv.release(o.bw)
		}
	}()
	open := func(dir string, to []string, stuff bool) error {
		f, err := srv.root.Create(dir, name+".eml")
		if err != nil {
			return err
		}
		o := &output{f: f, bw: srv.writer(f), to: to}
		head := compat.Envelope(s.from, to) + received
		o.n = len(head)
		_, _ = o.bw.WriteString(head)
		o.dw = compat.NewDropWriter(o.bw, func() string { return msgID }, oat, stuff)
		outs = append(outs, o)
		return nil
	}
	if len(s.local) > 0 {
		if err := open(srv.root.Layout().Drop, s.local, false); err != nil {
			return notStored(log, err, srv.root.Layout().Drop, 0)
		}
	}
	if len(s.remote) > 0 {
		if err := open(cfg.RelayDir, s.remote, cfg.RelayDotStuffed); err != nil {
			return notStored(log, err, cfg.RelayDir, 0)
		}
	}
	var w io.Writer = outs[0].dw
	if len(outs) == 2 {
		w = io.MultiWriter(outs[0].dw, outs[1].dw)
	}
	cr := &countingReader{r: r}
	buf := srv.copyBuf()
	_, err := io.CopyBuffer(w, cr, *buf)
	srv.copyBufs.Put(buf)
	for _, o := range outs {
		if err == nil {
			err = o.dw.Close()
		}
		if err == nil {
			err = o.bw.Flush()
		}
	}
	if err != nil {
		var se *smtp.SMTPError
		switch {
		case errors.As(err, &se) && se.Code == smtp.ErrDataTooLarge.Code:
			args := []any{"result", "552", "reason", "larger than max_message_size", "max_message_size", cfg.MaxMessageSize}
			if body != nil && body.drain() == nil {
				// Its whole size, read past before the reply: found
				// from outside, what was read before the refusal was
				// said, and was 0 when the message came in one read.
				args = append(args, "size", body.total)
			} else {
				args = append(args, "read_before_refusal", cr.n)
			}
			log.Info("message refused", args...)
			return errTooBig
		case cr.err != nil && errors.Is(cr.err, smtp.ErrDataReset) && s.conn.bdatRefused():
			// Found from outside: logged as a client that ended the
			// transaction early, where it was refused (552, by go-smtp).
			log.Info("message refused", "result", "552", "reason", "larger than max_message_size (BDAT chunks)", "max_message_size", cfg.MaxMessageSize, "read_before_refusal", cr.n)
			return cr.err
		case cr.err != nil:
			// The client went away or timed out: nothing was acknowledged.
			reason := abortReason(cr.err, cfg.DataTimeout)
			var ne net.Error
			const why = ", which does not end a message: lines end with CRLF (RFC 5321 section 2.3.8), and the message with CRLF.CRLF, so that no server reads another end than the next one does (SMTP smuggling); the client must end its messages so, or, where only such clients connect (no other server relays mail here), set [inbound] bare_lf_end = true"
			switch {
			case body == nil:
			case errors.As(cr.err, &ne) && ne.Timeout() && body.bareLFEnd():
				reason += "; the last bytes it sent were a line of a lone dot ended by a bare LF" + why
			case body.lfDotSeen():
				reason += "; what it sent held a line of a lone dot ended by a bare LF, taken for message text" + why
			}
			ours := false // the connection was closed by mailbridge
			cut := s.conn.chunkCut()
			ended, idle := s.conn.endedByServer()
			switch {
			case s.conn.stopCut():
				// Found from outside: logged as a client that hung up.
				// A client still writing may not read the 421 (found
				// from outside with curl: "Broken pipe"); either way
				// it has no 250 and sends the message again.
				reason, ours = "mailbridge stopped and shutdown_timeout ran out: the connection was closed with 421 4.3.2 (a client still sending sees a reset or a broken pipe instead); nothing of the message was stored, and the client sends it again", true
			case ended && idle:
				// Between BDAT chunks the client is read as for a
				// command (found from outside: said to be closed for its
				// errors).
				reason, ours = fmt.Sprintf("the client sent nothing for command_timeout (%s) between BDAT chunks: it was told 421 4.4.2, and sends the message again", cfg.CommandTimeout), true
			case ended:
				// Found from outside: said to be the client's doing.
				reason, ours = "mailbridge closed the session inside the message (421 for the client's errors): the client sends it again", true
			case cut != "":
				reason = cut
			}
			args := []any{"result", "aborted", "reason", reason, "size", cr.n}
			if !ours {
				// Closed by mailbridge, the read's error is its own
				// close ("use of closed network connection"), beside
				// a reason that says it (found from outside: noise).
				args = append(args, "error", cr.err)
			}
			log.Info("message not received", args...)
			s.conn.noteNotReceived()
			return cr.err
		}
		// The partial files go first, so that the free space said is
		// the volume's without them (found from outside: 37 KB of 1.1 MB).
		for _, o := range outs {
			o.f.Abort()
		}
		return notStored(log, err, srv.root.Layout().Drop, 0)
	}
	if cut := s.conn.chunkCut(); cut != "" {
		// RFC 3030 section 2: a chunk is exactly the octets its BDAT
		// command declared; fewer, and the message is not whole.
		log.Info("message not received", "result", "aborted", "reason", cut, "size", cr.n, "error", errChunkCut)
		s.conn.noteNotReceived()
		return errChunkCut
	}
	// Decoded parts can only exceed the limit when the stored message
	// does: base64 and quoted-printable never decode to more than they
	// encode. BinHex's runs do: a message that may hold it is measured
	// whatever its size (found from outside: a 24 MB file of runs in a
	// 520 KB message). See countingReader.mayExpand. The stored copy, not the message as received: its bare LFs
	// became CRLF, so it may be up to twice as long (found from outside: a
	// part of bare LFs, received under the limit, was stored twice over
	// it). Only a message over half the limit needs the file's size.
	if lim := cfg.MaxAttachmentSize; lim > 0 && (cr.n > lim/2-4096 && storedOver(outs[0], lim) || cr.mayExpand) {
		o := outs[0]
		body := io.NewSectionReader(o.f.Temp(), int64(o.n), 1<<62)
		if err := largestPart(bufio.NewReaderSize(body, 64<<10), lim); err != nil {
			var tb *errPartTooBig
			if errors.As(err, &tb) {
				log.Info("message refused", "result", "552", "reason", err.Error(), "size", cr.n)
				return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4},
					Message: fmt.Sprintf("Attachment %s exceeds the maximum attachment size of %s", tb.replyName(), humanSize(lim))}
			}
			// The spooled copy could not be read back: a message not
			// measured is not accepted (README, limits).
			log.Error("message not stored", "result", "451", "error", err)
			return errStore
		}
	}
	if cfg.atCommit != nil {
		cfg.atCommit("before")
	}
	began := s.conn.beginCommit()
	if cfg.atCommit != nil {
		cfg.atCommit("after")
	}
	if !began && s.conn.stopCut() {
		// A stop told the client 421 while the message arrived: it sends
		// the message again, so none of it may be stored.
		log.Info("message not stored", "result", "421", "reason", "mailbridge is stopping (shutdown_timeout ran out)", "size", cr.n)
		return errShuttingDown
	}
	if !began {
		log.Info("message not stored", "result", "421", "reason", "mailbridge closed the session before the message's end (421 for the client's errors): the client was not told 250, and sends the message again", "size", cr.n)
		return errClosing
	}
	var files []string
	for i, o := range outs {
		path, err := o.f.Commit()
		if err != nil {
			if i > 0 {
				// The client retries the whole message after the 451: the
				// Drop copy goes, or Drop would get it twice (found from
				// outside). It was in Drop for the moment of this commit,
				// which a reader polling every few seconds is unlikely to
				// have caught.
				if rerr := os.Remove(files[0]); rerr != nil {
					log.Error("relay copy not stored after the Drop copy was, and the Drop copy cannot be removed: the client's retry will put the message in Drop twice", "drop_file", files[0], "error", err, "remove_error", rerr)
				} else {
					log.Error("relay copy not stored after the Drop copy was: the Drop copy is removed again, for the client's retry", "drop_file", files[0], "error", err)
				}
			}
			return notStored(log, err, o.f.Dir(), cr.n)
		}
		files = append(files, path)
	}
	echo := outs[0].dw.MessageID()
	s.conn.setMessageID(outs[0].dw.LogID())
	args := []any{"result", "250", "size", cr.n, "file", strings.Join(files, ","), "message_id", outs[0].dw.LogID(), "tls", isTLS}
	if len(s.dsn) > 0 {
		// Asked for, not given: no success or relay notice is sent.
		args = append(args, "dsn_not_acted_on", strings.Join(s.dsn, " "))
	}
	log.Info("message received", args...)
	// go-smtp sends an *SMTPError as the reply: this is IIS's 250. A
	// message whose Message-ID is empty gets none added (a second field
	// would break RFC 5322's one-per-message), and its reply names none.
	msg := "Queued mail for delivery"
	if echo != "" {
		msg = echo + " " + msg
	}
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 6, 0}, Message: msg}
}

// storedOver reports whether o's message, as stored after its envelope
// lines, is longer than lim; when it cannot tell, it says so, and the
// attachment check reads the file (and reports a file it cannot read).
func storedOver(o *output, lim int64) bool {
	fi, err := o.f.Temp().Stat()
	return err != nil || fi.Size()-int64(o.n) > lim
}

// countingReader counts message bytes and keeps the reader's own error
// apart from the writer's.
type countingReader struct {
	r   io.Reader
	n   int64
	err error
	// mayExpand tells that the message may hold a part that decodes to
	// more than it takes: "binhex" (BinHex's first line, a mac-binhex40
	// type), whose run-length coding does, or "transfer-encoding" (any
	// part sent as base64 or quoted-printable, whose decoded text may
	// hold BinHex), in any letter case. Its attachments are then measured
	// whatever its size (see Data). Found from outside: BinHex in base64
	// text, or a type in mixed case, went unmeasured.
	mayExpand bool
	tail      [16]byte // the stream's last bytes, for a word across reads
	tailN     int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF {
		c.err = err
	}
	if !c.mayExpand && n > 0 {
		// The word may straddle reads, even many short ones (found from
		// outside: one byte at a time).
		var seam [32]byte
		k := copy(seam[:], c.tail[:c.tailN])
		k += copy(seam[k:], p[:min(n, 16)])
		c.mayExpand = mayExpand(seam[:k]) || mayExpand(p[:n])
		c.tailN = copy(c.tail[:], seam[max(0, k-16):k])
		if n > 16 {
			c.tailN = copy(c.tail[:], p[n-16:n])
		}
	}
	return n, err
}

// mayExpand reports whether p holds "binhex" or "transfer-encoding" in
// any letter case.
func mayExpand(p []byte) bool {
	// Pivots rare in mail text and in base64, and absent from a body of
	// one letter (smtp-source's X's made 'x' a pivot at every byte: 8 %
	// of the rate in a same-run A/B).
	return foldedAround(p, 'b', "binhex", 0) || foldedAround(p, '-', "transfer-encoding", 8)
}

// foldedAround reports whether p holds word (lower case) in any letter
// case, found through its byte at index at, pivot (a byte rare in text,
// looked for with IndexByte, in both cases when it is a letter).
func foldedAround(p []byte, pivot byte, word string, at int) bool {
	both := [2]byte{pivot, pivot}
	if 'a' <= pivot && pivot <= 'z' {
		both[1] = pivot - 'a' + 'A'
	}
	pivots := both[:]
	if both[1] == pivot {
		pivots = both[:1]
	}
	for _, c := range pivots {
		for off := 0; ; {
			j := bytes.IndexByte(p[off:], c)
			if j < 0 {
				break
			}
			j += off
			if j >= at && j-at+len(word) <= len(p) && bytes.EqualFold(p[j-at:j-at+len(word)], []byte(word)) {
				return true
			}
			off = j + 1
		}
	}
	return false
}

func humanSize(n int64) string {
	switch {
	case n%(1<<20) == 0:
		return fmt.Sprintf("%d MB", n>>20)
	case n%(1<<10) == 0:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// writer returns a 64 KB buffered writer for w from the server's pool: a
// message costs no new buffer.
func (s *Server) writer(w io.Writer) *bufio.Writer {
	if bw, ok := s.bufs.Get().(*bufio.Writer); ok {
		bw.Reset(w)
		return bw
	}
	return bufio.NewWriterSize(w, 64<<10)
}

// copyBuf returns a 32 KB buffer from the server's pool for reading a
// message: io.Copy would allocate one per message.
func (s *Server) copyBuf() *[]byte {
	if b, ok := s.copyBufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 32<<10)
	return &b
}

func (s *Server) release(bw *bufio.Writer) {
	bw.Reset(nil)
	s.bufs.Put(bw)
}

// abortReason says in words why a message stopped arriving, for its log
// line: the errors themselves ("unexpected EOF", "i/o timeout", go-smtp's
// "message transmission aborted") differ between DATA and BDAT for the
// same event.
func abortReason(err error, dataTimeout time.Duration) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Sprintf("the client sent nothing for data_timeout (%s)", dataTimeout)
	case errors.Is(err, smtp.ErrDataReset):
		// go-smtp's word for a BDAT transaction left without its LAST
		// chunk: RSET, or the connection closed or timed out between
		// chunks.
		return "the client ended the BDAT transaction before its last chunk (RSET or disconnect)"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, net.ErrClosed):
		return "the client disconnected before the end of the message"
	}
	return "the message stopped arriving"
}

// notStored logs a message not stored for err, and returns its 451, with
// what likely caused it (mailroot.StoreAdvice: a full volume, dir's, with
// what it has free; a folder missing; a folder it may not write).
func notStored(log interface{ Error(string, ...any) }, err error, dir string, size int64) error {
	args := []any{"result", "451", "error", err}
	if hint := mailroot.StoreAdvice(dir, err, size); hint != "" {
		args = append(args, "hint", hint)
	}
	log.Error("message not stored", args...)
	return errStore
}
