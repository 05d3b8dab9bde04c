package mailroot

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Badmail files, as IIS wrote them for each message it gave up on
// (iis-reference.md section 5):
//
//	NAME.BAD  the message as queued: envelope block and message, so that
//	          copying it back into Pickup resends it
//	NAME.BDR  why, in words: "Unable to deliver this message because the
//	          following error was encountered: ...", with the smart host's
//	          reply per recipient, the time and the attempts
//	NAME.BDP  the envelope as text (IIS wrote undocumented binary there)
//
// The .BDR and .BDP files are written first and .BAD last, so a .BAD file
// never lacks its reason.

// BadRecipient is one recipient that was not delivered.
type BadRecipient struct {
	Addr string
	// Reply is the smart host's reply ("550 5.1.1 no such user") or what
	// went wrong without one ("connection refused").
	Reply string
}

// BadInfo describes a message given up on.
type BadInfo struct {
	// Name is the base name of the three files.
	Name string
	// Source is the file's name in Pickup, "" when unknown.
	Source string
	// Problem completes "the following error was encountered: ".
	Problem string
	// Server is the Outbound Server (host:port), "" when none was involved.
	Server string
	// SentCut is set for a file kept whole whose message was sent only in
	// part (a Pickup file ended early): the reason then says so, rather
	// than that it was not delivered.
	SentCut bool
	// Unread is set when the file could not be read as a message: its
	// sender and recipients are unknown, and From is not the null sender.
	Unread bool
	// Empty is set for a file that holds nothing to send: the reason
	// does not ask to send it again (found from outside: it did, for an
	// empty .BAD).
	Empty bool
	// DelayNoticeFor is set, to its message's id, for a delay notice
	// given up with its message: the reason does not ask to send it again
	// (found from outside: it did, and a resent notice would reach the
	// sender after the report that the message failed).
	DelayNoticeFor string
	From           string
	To             []string
	Failed         []BadRecipient
	Queued         time.Time
	Time           time.Time
	Attempts       int
	NDR            string // what happened to the non-delivery report
	PickupPath     string // the Pickup folder, for the resend advice
	// Again is set when an earlier write of this message's files under
	// Name may have been cut short (a stop during it): they are replaced,
	// not kept beside the new ones as Name-2 (found from outside: killed
	// during the write, a restart left ID.BDR alone and a whole ID-2 set).
	// Only for a Name that is the message's own (its Queue id).
	Again bool
}

const badDate = "Mon, 2 Jan 2006 15:04:05 -0700"

// BDR returns the text of NAME.BDR.
func (b BadInfo) BDR() string {
	var s strings.Builder
	w := func(format string, a ...any) {
		fmt.Fprintf(&s, format, a...)
		s.WriteString("\r\n")
	}
	if b.SentCut {
		// Sent, or delivered to Drop for local recipients: "taken"
		// (found from outside: "sent" and "Queued" for a message that
		// went to Drop alone).
		w("This message was taken only in part because the following error was encountered: %s.", strings.TrimSuffix(oneLine(b.Problem), "."))
	} else {
		w("Unable to deliver this message because the following error was encountered: %s.", strings.TrimSuffix(oneLine(b.Problem), "."))
	}
	w("")
	w("Message:     %s", b.Name+".BAD")
	if b.Source != "" {
		w("Pickup file: %s", fileName(b.Source))
	}
	if b.Unread {
		w("Sender:      unknown (the file could not be read as a message)")
	} else {
		w("Sender:      <%s>", oneLine(b.From))
	}
	if b.Server != "" {
		w("Server:      %s (Outbound Server)", oneLine(b.Server))
	}
	if !b.Queued.IsZero() {
		w("Queued:      %s", b.Queued.Format(badDate))
	}
	if b.SentCut {
		w("Taken:       %s (the part before the error, to be sent or delivered to Drop)", b.Time.Format(badDate))
	} else {
		w("Given up:    %s", b.Time.Format(badDate))
		w("Attempts:    %d", b.Attempts)
	}
	if len(b.Failed) > 0 {
		w("")
		w("Recipients not delivered:")
		for _, f := range b.Failed {
			w("  <%s>: %s", oneLine(f.Addr), oneLine(f.Reply))
		}
	}
	if b.NDR != "" {
		w("")
		w("Non-delivery report: %s", oneLine(b.NDR))
	}
	w("")
	if b.Empty {
		w("The file holds nothing to send: delete %s and the files of its name here.", b.Name+".BAD")
		return s.String()
	}
	if b.DelayNoticeFor != "" {
		w("This is the delay notice about message %s, given up when that message was: its sender gets the report of that message's outcome instead, and this notice need not be sent again.", oneLine(b.DelayNoticeFor))
		return s.String()
	}
	w("To send it again once the problem is fixed, copy %s into the Pickup folder%s.", b.Name+".BAD", inFolder(b.PickupPath))
	return s.String()
}

func inFolder(p string) string {
	if p == "" {
		return ""
	}
	return " (" + oneLine(p) + ")"
}

// oneLine makes s fit on one line of a .BDR or .BDP file, whose readers
// take each line for a field: a line break (a multi-line reply's, which
// go-smtp joins with LF) becomes a space, and what some readers take for
// one (a CR alone, NEL, the Unicode line and paragraph separators), other
// control characters and invalid UTF-8 go. Found from outside: a smart
// host's reply of "550-...", "550-", "550-Final-Recipient: rfc822;x"
// wrote an empty line and a field of its own into the .BDR.
func oneLine(s string) string {
	clean := true
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == 0x2028 || r == 0x2029 || r == utf8.RuneError {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	space := false // a space was just written for a line break or a TAB
	for _, r := range s {
		switch {
		case r == '\r' || r == '\n' || r == '\t' || r == 0x85 || r == 0x2028 || r == 0x2029:
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == utf8.RuneError:
		default:
			b.WriteRune(r)
		}
		space = false
	}
	return b.String()
}

// fileName is a Pickup file's name for a .BDR or .BDP line: as it is, or,
// when it holds what oneLine would change (a CR or LF, which a file name
// may hold outside Windows), quoted with Go's escapes, so that the file
// can still be found by it (found from outside: a name of
// "bad\r\nFailed-Recipient: <forged@x.test>" added a line to the .BDP).
func fileName(name string) string {
	if oneLine(name) == name {
		return name
	}
	return strconv.Quote(name)
}

// BDP returns the text of NAME.BDP: the envelope, one field a line. A
// recipient who has the message (some others were refused) is a
// Delivered-Recipient: the .BAD file is for the others only, and a
// "Recipient" line read as one it would go to again (found from outside).
func (b BadInfo) BDP() string {
	var s strings.Builder
	if !b.Unread {
		fmt.Fprintf(&s, "Sender: <%s>\r\n", oneLine(b.From))
	}
	failed := map[string]bool{}
	for _, f := range b.Failed {
		failed[f.Addr] = true
	}
	for _, r := range b.To {
		field := "Recipient"
		if len(b.Failed) > 0 && !failed[r] {
			field = "Delivered-Recipient"
		}
		fmt.Fprintf(&s, "%s: <%s>\r\n", field, oneLine(r))
	}
	for _, f := range b.Failed {
		fmt.Fprintf(&s, "Failed-Recipient: <%s>\r\n", oneLine(f.Addr))
	}
	if b.Source != "" {
		fmt.Fprintf(&s, "Pickup-File: %s\r\n", fileName(b.Source))
	}
	return s.String()
}

// Badmail writes NAME.BDR and NAME.BDP, then NAME.BAD holding message, all
// durably, in the Badmail folder. It returns the name of the .BAD file:
// NAME-2.BAD and so on when NAME's files are there already (freeName),
// for the log to name what the administrator will find.
func (r *Root) Badmail(info BadInfo, message []byte) (string, error) {
	info.Name = r.freeName(info.Name)
	if err := r.badmailReason(info); err != nil {
		return "", err
	}
	return info.Name + ".BAD", r.WriteFile(r.layout.Badmail, info.Name+".BAD", message)
}

// BadmailFrom is Badmail for a message that write writes, so that a large
// one is copied through, not held in memory.
func (r *Root) BadmailFrom(info BadInfo, write func(io.Writer) error) (string, error) {
	if !info.Again {
		info.Name = r.freeName(info.Name)
	}
	if err := r.badmailReason(info); err != nil {
		return "", err
	}
	return info.Name + ".BAD", r.WriteFileFrom(r.layout.Badmail, info.Name+".BAD", write)
}

// MoveToBadmail writes NAME.BDR and NAME.BDP, then moves src (a file the
// caller owns, in Queue) to Badmail as NAME.BAD with one rename. It
// returns the .BAD file's name, as Badmail.
func (r *Root) MoveToBadmail(info BadInfo, src string) (string, error) {
	info.Name = r.freeName(info.Name)
	if err := r.badmailReason(info); err != nil {
		return "", err
	}
	_, err := r.Claim(src, r.layout.Badmail, info.Name+".BAD")
	return info.Name + ".BAD", err
}

// freeName returns name, or name-2, name-3 ... where a NAME.BAD, .BDR or
// .BDP is in Badmail already: a new message never replaces a file kept
// there (IIS's own, under an IIS Queue file's name; found from outside,
// its .BAD, .BDR and .BDP were replaced, and then a .BDR whose .BAD had
// been moved into Pickup).
func (r *Root) freeName(name string) string {
	for i, n := 1, name; ; i++ {
		taken := false
		for _, ext := range []string{".BAD", ".BDR", ".BDP"} {
			if _, err := os.Lstat(filepath.Join(r.layout.Badmail, n+ext)); err == nil {
				taken = true
				break
			}
		}
		if !taken || i > 1000 {
			return n
		}
		n = fmt.Sprintf("%s-%d", name, i+1)
	}
}

func (r *Root) badmailReason(info BadInfo) error {
	if err := r.WriteFile(r.layout.Badmail, info.Name+".BDR", []byte(info.BDR())); err != nil {
		return fmt.Errorf("writing Badmail reason: %w", err)
	}
	if err := r.WriteFile(r.layout.Badmail, info.Name+".BDP", []byte(info.BDP())); err != nil {
		return fmt.Errorf("writing Badmail envelope: %w", err)
	}
	return nil
}
