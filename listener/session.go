package listener

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-smtp"

	"github.com/mailbridge/mailbridge/compat"
)

var (
	// errStore is every storage failure as the client sees it: transient,
	// generic; the cause is in our log (DEVELOPERS.md, style rule 5).
	errStore = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0},
		Message: "Requested action aborted: local error in processing, try again later"}
	errTooBig = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4},
		Message: "Message size exceeds fixed maximum message size"}
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

	from string
	to   []string
}

func (s *session) Reset() {
	s.from, s.to = "", nil
}

func (s *session) Logout() error { return nil }

// Mail accepts any sender, the null sender included (RFC 5321 section 4.5.5).
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	s.to = nil
	return nil
}

// Rcpt accepts any recipient in any domain: every message goes to Drop.
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

// Data streams the message into a new Drop file and answers 250 only once
// the file is durable in Drop.
func (s *session) Data(r io.Reader) error {
	srv := s.s
	cfg := srv.cfg
	arrival := cfg.Now()
	name := srv.root.NewName()
	isTLS := s.conn.isTLS()
	// The latest HELO/EHLO name: a client may greet again after STARTTLS.
	helo := s.smtp.Hostname()
	log := srv.log.With("id", name, "client", s.conn.clientIP, "helo", helo,
		"from", s.from, "to", strings.Join(s.to, ","))

	f, err := srv.root.Create(srv.root.Layout().Drop, name+".eml")
	if err != nil {
		log.Error("message not stored", "result", "451", "error", err)
		return errStore
	}
	defer f.Abort()

	bw := bufio.NewWriterSize(f, 64<<10)
	head := compat.Envelope(s.from, s.to) + compat.Received(compat.ReceivedInfo{
		Helo: helo, ClientIP: s.conn.clientIP, Server: cfg.Hostname, TLS: isTLS,
		Product: cfg.Product, Version: cfg.Version, Time: arrival,
	})
	_, _ = bw.WriteString(head)
	dw := newDropWriter(bw, func() string { return compat.MessageID(name, cfg.Hostname) },
		compat.OriginalArrivalTime(arrival))
	cr := &countingReader{r: r}
	_, err = io.Copy(dw, cr)
	if err == nil {
		err = dw.Close()
	}
	if err != nil {
		var se *smtp.SMTPError
		switch {
		case errors.As(err, &se) && se.Code == smtp.ErrDataTooLarge.Code:
			log.Info("message refused", "result", "552", "reason", "larger than max_message_size", "size", cr.n)
			return errTooBig
		case cr.err != nil:
			// The client went away or timed out: nothing was acknowledged.
			log.Info("message not received", "result", "aborted", "size", cr.n, "error", cr.err)
			return cr.err
		}
		log.Error("message not stored", "result", "451", "error", err)
		return errStore
	}
	if err := bw.Flush(); err != nil {
		log.Error("message not stored", "result", "451", "error", err)
		return errStore
	}
	// Decoded parts can only exceed the limit when the whole message does:
	// base64 and quoted-printable never decode to more than they encode.
	if lim := cfg.MaxAttachmentSize; lim > 0 && cr.n > lim {
		body := io.NewSectionReader(f.Temp(), int64(len(head)), 1<<62)
		if err := largestPart(bufio.NewReaderSize(body, 64<<10), lim); err != nil {
			var tb *errPartTooBig
			if errors.As(err, &tb) {
				log.Info("message refused", "result", "552", "reason", err.Error(), "size", cr.n)
				return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4},
					Message: fmt.Sprintf("Attachment %s exceeds the maximum attachment size of %s", tb.name, humanSize(lim))}
			}
		}
	}
	path, err := f.Commit()
	if err != nil {
		log.Error("message not stored", "result", "451", "error", err)
		return errStore
	}
	log.Info("message received", "result", "250", "size", cr.n, "file", path,
		"message_id", dw.echoID, "tls", isTLS)
	// go-smtp sends an *SMTPError as the reply: this is IIS's 250.
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 6, 0},
		Message: dw.echoID + " Queued mail for delivery"}
}

// countingReader counts message bytes and keeps the reader's own error
// apart from the writer's.
type countingReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
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
