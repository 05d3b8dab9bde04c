package listener

import (
	"errors"
	"fmt"
	"io"

	"github.com/emersion/go-message"
)

// errPartTooBig reports a MIME part over the attachment limit.
type errPartTooBig struct {
	name string
	size int64
}

func (e *errPartTooBig) Error() string {
	return fmt.Sprintf("part %q decodes to more than %d bytes", e.name, e.size)
}

// largestPart walks a MIME message and returns an *errPartTooBig for the
// first leaf part whose decoded body exceeds limit. A message that is not
// valid MIME is not an error: it is stored as received, as IIS did.
func largestPart(r io.Reader, limit int64) error {
	e, err := message.Read(r)
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return nil
	}
	return walkPart(e, limit, 0)
}

func walkPart(e *message.Entity, limit int64, depth int) error {
	if depth > 50 {
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
	n, _ := io.Copy(io.Discard, io.LimitReader(e.Body, limit+1))
	if n > limit {
		return &errPartTooBig{name: partName(e), size: limit}
	}
	return nil
}

// partName names a part for the reply: its file name, else its type.
func partName(e *message.Entity) string {
	if _, p, err := e.Header.ContentDisposition(); err == nil && p["filename"] != "" {
		return p["filename"]
	}
	if t, p, err := e.Header.ContentType(); err == nil {
		if p["name"] != "" {
			return p["name"]
		}
		return t
	}
	return "text/plain" // RFC 2045 section 5.2 default
}
