package compat

import (
	"bytes"
	"fmt"
	"strings"
	"time"
)

// ReportRecipient is one recipient of a delivery status notification.
type ReportRecipient struct {
	Addr string
	// Status is the RFC 3463 enhanced status code, "5.1.1".
	Status string
	// Diagnostic is the smart host's reply ("550 5.1.1 no such user"), or
	// what went wrong when there was no reply.
	Diagnostic string
	// RemoteMTA is the smart host's name, "" when unknown.
	RemoteMTA   string
	LastAttempt time.Time
	// WillRetryUntil is the expiry of a delayed message (delay notices).
	WillRetryUntil time.Time
}

// Report describes a non-delivery report or a delay notice.
type Report struct {
	// Hostname is the reporting MTA (our FQDN); the report comes from
	// postmaster@Hostname.
	Hostname string
	// To is the original envelope sender, who receives the report.
	To string
	// Delay makes a "still trying" notice instead of a failure report.
	Delay bool
	// Arrival is when the original message was queued; Date is the
	// report's date.
	Arrival, Date time.Time
	// MessageID is the report's Message-ID value with brackets; Boundary
	// its MIME boundary. Both are inputs so that reports are reproducible.
	MessageID, Boundary string
	Recipients          []ReportRecipient
	// Original is the original message; its header block is attached.
	Original []byte
}

// DSN returns the report as a message (CRLF lines) for sending from the
// null sender <> (RFC 5321 section 4.5.5): multipart/report with a
// human-readable part in IIS's wording, a message/delivery-status part
// (RFC 3464) and the original header block as text/rfc822-headers.
func DSN(r Report) []byte {
	var b bytes.Buffer
	w := func(format string, a ...any) {
		fmt.Fprintf(&b, format, a...)
		b.WriteString(CRLF)
	}
	kind, action, intro := "Failure", "failed", "Delivery to the following recipients failed."
	if r.Delay {
		kind, action, intro = "Delay", "delayed", "Delivery to the following recipients has been delayed."
	}
	w("From: postmaster@%s", r.Hostname)
	w("To: %s", r.To)
	w("Date: %s", r.Date.Format(rfc5322Date))
	w("Message-ID: %s", r.MessageID)
	w("Subject: Delivery Status Notification (%s)", kind)
	w("MIME-Version: 1.0")
	w("Content-Type: multipart/report; report-type=delivery-status;")
	w("\tboundary=\"%s\"", r.Boundary)
	// RFC 3834: machines must not answer this message.
	w("Auto-Submitted: auto-replied")
	w("")
	w("This is a MIME-formatted message.")
	w("")
	w("--%s", r.Boundary)
	w("Content-Type: text/plain; charset=us-ascii")
	w("")
	w("This is an automatically generated Delivery Status Notification.")
	w("")
	if r.Delay {
		w("THIS IS A WARNING MESSAGE ONLY.")
		w("")
		w("YOU DO NOT NEED TO RESEND YOUR MESSAGE.")
		w("")
	}
	w("%s", intro)
	w("")
	for _, rc := range r.Recipients {
		w("       %s", rc.Addr)
		if rc.Diagnostic != "" {
			w("       %s", ascii(rc.Diagnostic))
		}
		w("")
	}
	if r.Delay && len(r.Recipients) > 0 && !r.Recipients[0].WillRetryUntil.IsZero() {
		w("Delivery will be retried until %s.", r.Recipients[0].WillRetryUntil.Format(rfc5322Date))
		w("")
	}
	w("--%s", r.Boundary)
	w("Content-Type: message/delivery-status")
	w("")
	w("Reporting-MTA: dns;%s", r.Hostname)
	if !r.Arrival.IsZero() {
		w("Arrival-Date: %s", r.Arrival.Format(rfc5322Date))
	}
	for _, rc := range r.Recipients {
		w("")
		w("Final-Recipient: rfc822;%s", rc.Addr)
		w("Action: %s", action)
		w("Status: %s", rc.Status)
		if rc.RemoteMTA != "" {
			w("Remote-MTA: dns;%s", rc.RemoteMTA)
		}
		if rc.Diagnostic != "" {
			w("Diagnostic-Code: %s;%s", diagnosticType(rc.Diagnostic), ascii(rc.Diagnostic))
		}
		if !rc.LastAttempt.IsZero() {
			w("Last-Attempt-Date: %s", rc.LastAttempt.Format(rfc5322Date))
		}
		if r.Delay && !rc.WillRetryUntil.IsZero() {
			w("Will-Retry-Until: %s", rc.WillRetryUntil.Format(rfc5322Date))
		}
	}
	w("")
	w("--%s", r.Boundary)
	w("Content-Type: text/rfc822-headers")
	w("")
	b.Write(HeaderBlock(r.Original))
	w("--%s--", r.Boundary)
	return b.Bytes()
}

// HeaderBlock returns the header block of msg (up to, not including, the
// empty line), ending with CRLF.
func HeaderBlock(msg []byte) []byte {
	end := len(msg)
	if bytes.HasPrefix(msg, []byte(CRLF)) {
		return nil
	}
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		end = i + 2
	}
	h := msg[:end]
	if !bytes.HasSuffix(h, []byte(CRLF)) {
		h = append(h[:len(h):len(h)], CRLF...)
	}
	return h
}

// StatusFor returns the enhanced status code of a reply, or one derived
// from the reply code class (RFC 3463: X.0.0) when the reply had none.
func StatusFor(code int, enhanced string) string {
	switch {
	case enhanced != "":
		return enhanced
	case code >= 500:
		return "5.0.0"
	case code >= 400:
		return "4.0.0"
	}
	// No reply at all: "4.4.1 no answer from host" (RFC 3463).
	return "4.4.1"
}

// ascii keeps a diagnostic on one printable US-ASCII line, as a header
// value of message/delivery-status must be.
func ascii(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\r' || r == '\n' || r == '\t':
			b.WriteByte(' ')
		case r < 0x20 || r > 0x7e:
			b.WriteByte('?')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// diagnosticType is "smtp" for an SMTP reply and our own type for what
// happened without one (RFC 3464 section 2.3.6: "X-" types are private).
func diagnosticType(d string) string {
	if len(d) >= 3 && d[0] >= '2' && d[0] <= '5' && d[1] >= '0' && d[1] <= '9' && d[2] >= '0' && d[2] <= '9' {
		return "smtp"
	}
	return "X-mailbridge"
}
