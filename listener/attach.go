package listener

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-message"
	"github.com/mailbridge/mailbridge/compat"
)

// errPartTooBig reports an attachment over the attachment limit. Its name
// is the part's own, as the log shows it; replyName is the form for the
// reply.
type errPartTooBig struct {
	name string
	size int64
}

func (e *errPartTooBig) Error() string {
	return fmt.Sprintf("attachment %s decodes to more than %d bytes", e.name, e.size)
}

// replyName is the name with every character that is not printable US-ASCII
// replaced by '?': reply text is printable US-ASCII (RFC 5321 section 4.2,
// textstring). RFC 6531 section 3.7.4.1 lets replies in a transaction
// begun with SMTPUTF8 hold UTF-8, but the reply stays ASCII there too: a
// client's log or error dialog may take the bytes for another charset.
func (e *errPartTooBig) replyName() string {
	return strings.Map(func(r rune) rune {
		if r < 32 || r > 126 {
			return '?'
		}
		return r
	}, e.name)
}

// maxDepth bounds how deep largestPart follows nested multiparts and
// forwarded messages; what is deeper is measured whole, as one attachment
// (no mail client nests so deep: such a message is built to slip past a
// filter).
const maxDepth = 50

// largestPart walks a MIME message and returns an *errPartTooBig for the
// first attachment whose decoded body exceeds limit. A message that is not
// valid MIME is not an error: it is stored as received, as IIS did.
//
// An attachment is what a mail client shows as a file: every leaf part
// except a text part that is neither marked "attachment" nor named (the
// message's own text, whose size max_message_size governs). A forwarded
// message (message/rfc822) is walked into, so that its attachments are
// measured one by one, as they were in the original message.
func largestPart(r io.Reader, limit int64) error {
	e, err := message.Read(r)
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return nil
	}
	return walkPart(e, limit, 0)
}

func walkPart(e *message.Entity, limit int64, depth int) error {
	if depth > maxDepth {
		n, _ := io.Copy(io.Discard, io.LimitReader(e.Body, limit+1))
		if n > limit {
			return &errPartTooBig{name: fmt.Sprintf("(nested more than %d levels deep)", maxDepth), size: limit}
		}
		return nil
	}
	if mr := e.MultipartReader(); mr != nil {
		for {
			p, err := mr.NextPart()
			if err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				if message.IsUnknownCharset(err) || message.IsUnknownEncoding(err) {
					if p == nil {
						continue
					}
				} else {
					return nil
				}
			}
			if err := walkPart(p, limit, depth+1); err != nil {
				return err
			}
		}
	}
	t, _, _ := e.Header.ContentType()
	if strings.EqualFold(t, "message/rfc822") || strings.EqualFold(t, "message/global") {
		// RFC 2046 section 5.2.1 (and RFC 6532 section 3.5 for
		// message/global): the body is a whole message.
		inner, err := message.Read(e.Body)
		if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
			return nil
		}
		return walkPart(inner, limit, depth+1)
	}
	name, isAttachment := attachmentName(e)
	if !isAttachment {
		return nil
	}
	n, _ := io.Copy(io.Discard, io.LimitReader(e.Body, limit+1))
	if n > limit {
		return &errPartTooBig{name: name, size: limit}
	}
	return nil
}

// attachmentName names a leaf part for the log and the reply (its file
// name, else its type in parentheses) and tells whether it is an
// attachment.
func attachmentName(e *message.Entity) (name string, ok bool) {
	disp, dp, derr := e.Header.ContentDisposition()
	t, tp, terr := e.Header.ContentType()
	if terr != nil || t == "" {
		t = "text/plain" // RFC 2045 section 5.2 default
	}
	switch {
	case derr == nil && dp["filename"] != "":
		name = dp["filename"]
	case terr == nil && tp["name"] != "":
		name = tp["name"]
	}
	ok = name != "" || strings.EqualFold(disp, "attachment") || !strings.HasPrefix(strings.ToLower(t), "text/")
	// The name goes into the log and, made ASCII, into the 552 reply:
	// one line, bounded. A name of nothing but control characters and
	// invalid UTF-8 would leave the reply naming nothing: the type names
	// the part then.
	name = compat.ReplyText(name)
	if name == "" {
		name = "(" + strings.ToLower(t) + ")"
	}
	if r := []rune(name); len(r) > 100 {
		name = string(r[:100]) + "..."
	}
	return name, ok
}
