// Package compat reproduces the formats IIS SMTP wrote, byte for byte, so
// that programs written against IIS (AccuRoute, SharePoint, CDO scripts)
// read mailbridge's files unchanged:
//
//   - the envelope block of Drop and Queue files: "x-sender: ADDR" and one
//     "x-receiver: ADDR" per recipient, lowercase names, CRLF (ReadPickup
//     reads it back, case-insensitively, as IIS read Pickup files);
//   - the Received header IIS prepended, folded with CRLF TAB SPACE, the day
//     of month not zero-padded, "over TLS secured channel" for TLS sessions;
//   - X-OriginalArrivalTime with its FILETIME in [LOW32:HIGH32] form;
//   - the message part of a Drop file (DropWriter): CRLF line ends, a
//     Message-ID and X-OriginalArrivalTime added at the end of the header
//     block when missing, every other byte as received;
//   - the greeting and the "Queued mail for delivery" reply texts;
//   - IIS's configuration: ParseMetabase reads an IIS 6-format MetaBase.xml
//     as real files write it, DecodeIPSecList its RelayIpList/IPSecurity
//     blobs, and ImportIIS turns one SMTP virtual server into a commented
//     mailbridge configuration that config.Load accepts.
//   - Pickup files as IIS read them (ParsePickup): the leading X-Sender /
//     X-Receiver block, recipients from To/Cc/Bcc otherwise, dot-stuffing
//     per SmtpDotStuffPickupDirFiles, the default domain for bare names;
//     unlike IIS, Bcc header fields are removed (StripBcc) wherever the
//     recipients come from;
//   - non-delivery and delay reports (RFC 3464 multipart/report) for the
//     senders of mail that Badmail receives.
package compat

import (
	"fmt"
	"strings"
	"time"
)

// CRLF ends every line IIS wrote.
const CRLF = "\r\n"

// Envelope writes the leading envelope block of a Drop or Queue file. A null
// sender (MAIL FROM:<>) is written as "x-sender: " with an empty value.
func Envelope(from string, to []string) string {
	var b strings.Builder
	b.WriteString("x-sender: ")
	b.WriteString(from)
	b.WriteString(CRLF)
	for _, rcpt := range to {
		b.WriteString("x-receiver: ")
		b.WriteString(rcpt)
		b.WriteString(CRLF)
	}
	return b.String()
}

// ReceivedInfo describes one inbound SMTP transaction for its trace header.
type ReceivedInfo struct {
	Helo     string    // the client's HELO/EHLO argument
	ClientIP string    // without brackets
	Server   string    // our FQDN
	TLS      bool      // the session was encrypted
	Product  string    // "Microsoft SMTPSVC"
	Version  string    // "10.0.17763.1697"
	Time     time.Time // arrival, printed in its own zone
}

// rfc5322Date is IIS's date: day of month not zero-padded.
const rfc5322Date = "Mon, 2 Jan 2006 15:04:05 -0700"

// Received returns the trace header IIS prepended to every message, with its
// CRLF:
//
//	Received: from HELO ([IP]) by FQDN with Microsoft SMTPSVC(10.0.17763.1697);
//	<TAB><SPACE>Mon, 2 Jan 2006 15:04:05 -0700
func Received(r ReceivedInfo) string {
	by := r.Server
	if r.TLS {
		by += " over TLS secured channel"
	}
	return fmt.Sprintf("Received: from %s ([%s]) by %s with %s(%s);%s\t %s%s",
		r.Helo, r.ClientIP, by, r.Product, r.Version, CRLF, r.Time.Format(rfc5322Date), CRLF)
}

// PickupReceived returns the trace header IIS prepended to a message it
// took from Pickup, with its CRLF:
//
//	Received: from mail pickup service by FQDN with Microsoft SMTPSVC;
//	<TAB><SPACE>Tue, 28 May 2013 14:38:59 -0500
//
// No client and no version: so it reads in IIS-relayed Pickup mail, from
// Hotmail's of 2003-2006 to an IIS web server's of 2013 (the fold and the
// date as in Received).
func PickupReceived(server, product string, t time.Time) string {
	return fmt.Sprintf("Received: from mail pickup service by %s with %s;%s\t %s%s",
		server, product, CRLF, t.Format(rfc5322Date), CRLF)
}

// DateHeader returns a Date header line for t, with its CRLF, in IIS's
// date format (RFC 5322 section 3.3).
func DateHeader(t time.Time) string {
	return "Date: " + t.Format(rfc5322Date) + CRLF
}

// ticksTo1970 is the number of 100 ns intervals from 1601-01-01 (the FILETIME
// epoch) to 1970-01-01.
const ticksTo1970 = 116444736000000000

// OriginalArrivalTime returns the header IIS added near the end of the
// header block, with its CRLF:
//
//	X-OriginalArrivalTime: 01 Dec 2008 23:49:35.0618 (UTC) FILETIME=[77199E20:01C9540F]
//
// The day is zero-padded, the time is UTC with milliseconds as four digits,
// and FILETIME is the same instant truncated to the millisecond, as 100 ns
// ticks since 1601, printed LOW32:HIGH32 in uppercase hex.
func OriginalArrivalTime(t time.Time) string {
	t = t.UTC().Truncate(time.Millisecond)
	ft := uint64(t.UnixMilli())*10000 + ticksTo1970
	return fmt.Sprintf("X-OriginalArrivalTime: %s.%04d (UTC) FILETIME=[%08X:%08X]%s",
		t.Format("02 Jan 2006 15:04:05"), t.Nanosecond()/int(time.Millisecond),
		uint32(ft), uint32(ft>>32), CRLF)
}

// Greeting is IIS's 220 banner text (without the code). IIS put two spaces
// after "at" and a trailing space after the date.
func Greeting(fqdn, version string, now time.Time) string {
	return fmt.Sprintf("%s Microsoft ESMTP MAIL Service, Version: %s ready at  %s ", fqdn, version, now.Format(rfc5322Date))
}

// MessageID returns a Message-ID value (with angle brackets) in the form IIS
// generated: <HOST-NAME + unique part + @FQDN>.
func MessageID(unique, fqdn string) string {
	short := fqdn
	if i := strings.IndexByte(short, '.'); i > 0 {
		short = short[:i]
	}
	return "<" + strings.ToUpper(short) + unique + "@" + fqdn + ">"
}
