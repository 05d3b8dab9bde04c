package mailroot

import (
	"fmt"
	"io"
	"strings"
	"time"
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
	Unread     bool
	From       string
	To         []string
	Failed     []BadRecipient
	Queued     time.Time
	Time       time.Time
	Attempts   int
	NDR        string // what happened to the non-delivery report
	PickupPath string // the Pickup folder, for the resend advice
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
		w("This message was sent only in part because the following error was encountered: %s.", strings.TrimSuffix(b.Problem, "."))
	} else {
		w("Unable to deliver this message because the following error was encountered: %s.", strings.TrimSuffix(b.Problem, "."))
	}
	w("")
	w("Message:     %s", b.Name+".BAD")
	if b.Source != "" {
		w("Pickup file: %s", b.Source)
	}
	if b.Unread {
		w("Sender:      unknown (the file could not be read as a message)")
	} else {
		w("Sender:      <%s>", b.From)
	}
	if b.Server != "" {
		w("Server:      %s (Outbound Server)", b.Server)
	}
	if !b.Queued.IsZero() {
		w("Queued:      %s", b.Queued.Format(badDate))
	}
	if b.SentCut {
		w("Queued:      %s (the part before the error)", b.Time.Format(badDate))
	} else {
		w("Given up:    %s", b.Time.Format(badDate))
		w("Attempts:    %d", b.Attempts)
	}
	if len(b.Failed) > 0 {
		w("")
		w("Recipients not delivered:")
		for _, f := range b.Failed {
			w("  <%s>: %s", f.Addr, f.Reply)
		}
	}
	if b.NDR != "" {
		w("")
		w("Non-delivery report: %s", b.NDR)
	}
	w("")
	w("To send it again once the problem is fixed, copy %s into the Pickup folder%s.", b.Name+".BAD", inFolder(b.PickupPath))
	return s.String()
}

func inFolder(p string) string {
	if p == "" {
		return ""
	}
	return " (" + p + ")"
}

// BDP returns the text of NAME.BDP: the envelope, one field a line. A
// recipient who has the message (some others were refused) is a
// Delivered-Recipient: the .BAD file is for the others only, and a
// "Recipient" line read as one it would go to again (found from outside).
func (b BadInfo) BDP() string {
	var s strings.Builder
	if !b.Unread {
		fmt.Fprintf(&s, "Sender: <%s>\r\n", b.From)
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
		fmt.Fprintf(&s, "%s: <%s>\r\n", field, r)
	}
	for _, f := range b.Failed {
		fmt.Fprintf(&s, "Failed-Recipient: <%s>\r\n", f.Addr)
	}
	if b.Source != "" {
		fmt.Fprintf(&s, "Pickup-File: %s\r\n", b.Source)
	}
	return s.String()
}

// Badmail writes NAME.BDR and NAME.BDP, then NAME.BAD holding message, all
// durably, in the Badmail folder.
func (r *Root) Badmail(info BadInfo, message []byte) error {
	if err := r.badmailReason(info); err != nil {
		return err
	}
	return r.WriteFile(r.layout.Badmail, info.Name+".BAD", message)
}

// BadmailFrom is Badmail for a message that write writes, so that a large
// one is copied through, not held in memory.
func (r *Root) BadmailFrom(info BadInfo, write func(io.Writer) error) error {
	if err := r.badmailReason(info); err != nil {
		return err
	}
	return r.WriteFileFrom(r.layout.Badmail, info.Name+".BAD", write)
}

// MoveToBadmail writes NAME.BDR and NAME.BDP, then moves src (a file the
// caller owns, in Queue) to Badmail as NAME.BAD with one rename.
func (r *Root) MoveToBadmail(info BadInfo, src string) error {
	if err := r.badmailReason(info); err != nil {
		return err
	}
	_, err := r.Claim(src, r.layout.Badmail, info.Name+".BAD")
	return err
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
