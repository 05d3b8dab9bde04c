// Package msg is the contract between the power-cut test's two sides: the
// client in the guest, which sends messages and records each one mailbridge
// acknowledged, and the replayer on the host, which reads the disk a power
// cut would leave and checks Drop against those records.
//
// A message is a pure function of its token (q<run>-s<session>-n<index>),
// so the checker rebuilds every expected byte instead of keeping a copy of
// what was sent. Tokens are never reused: a message that was not
// acknowledged is not resent under the same token, so a token in Drop twice
// is a duplicate, never a retry.
//
// The ack file holds one token per line, each line appended and fsynced
// after the 250 (or, for the reference writers, after the file is in
// Drop). A token in a durable ack line must be in Drop exactly once, as a
// whole, byte-exact message; CheckDrop states the rules.
package msg

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// alphabet is base64's, so bodies look like attachments and never hold a
// line that starts with a dot (no dot-stuffing to undo when checking).
const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// Message sizes are log-uniform between these, as mail is: mostly small,
// a few large enough to span many extents.
const (
	minSize = 2 << 10
	maxSize = 300 << 10
)

var (
	tokenRE  = regexp.MustCompile(`^q[0-9]+-s[0-9]+-n[0-9]+$`)
	tokenHdr = regexp.MustCompile(`(?m)^X-QA-Token: (\S+)\r$`)
)

// Token names message n of session sess in run run.
func Token(run, sess, n int) string { return fmt.Sprintf("q%d-s%d-n%d", run, sess, n) }

// ValidToken reports whether s has the form Token makes.
func ValidToken(s string) bool { return tokenRE.MatchString(s) }

// Body returns the message body for token: CRLF lines, no line starting
// with a dot, between 2 and 300 KB.
func Body(token string) []byte {
	h := fnv.New64a()
	h.Write([]byte(token))
	r := rand.New(rand.NewPCG(h.Sum64(), 0))
	size := int(math.Exp(math.Log(minSize) + r.Float64()*(math.Log(maxSize)-math.Log(minSize))))
	var b bytes.Buffer
	b.Grow(size + 200)
	b.WriteString("token: " + token + "\r\n")
	line := make([]byte, 76)
	for b.Len() < size {
		for i := range line {
			line[i] = alphabet[r.IntN(len(alphabet))]
		}
		b.Write(line)
		b.WriteString("\r\n")
	}
	b.WriteString("end: " + token + "\r\n")
	return b.Bytes()
}

// Header returns the message's own header lines (without the empty line
// that ends them); they carry the body's length and SHA-256 so that a file
// found elsewhere (lost+found) can be identified by eye.
func Header(token string, body []byte) []byte {
	sum := sha256.Sum256(body)
	return fmt.Appendf(nil, "From: qa@powercut.test\r\nTo: drop@powercut.test\r\nSubject: %s\r\n"+
		"Message-ID: <%s@powercut.test>\r\nX-QA-Token: %s\r\nX-QA-Len: %d\r\nX-QA-Sum: %s\r\n",
		token, token, token, len(body), hex.EncodeToString(sum[:]))
}

// Message returns the message as sent in DATA, before the final dot.
func Message(token string) []byte {
	body := Body(token)
	m := append(Header(token, body), "\r\n"...)
	return append(m, body...)
}

// Check checks one Drop file: it must start with mailbridge's envelope
// ("x-sender:"), hold the message's own header lines verbatim, and its body
// (after the first empty line) must be exactly the token's body. It returns
// the token found ("" if none) and the problem ("" if the file is whole).
func Check(file []byte) (token, problem string) {
	if len(file) == 0 {
		return "", "empty file"
	}
	i := bytes.Index(file, []byte("\r\n\r\n"))
	if i < 0 {
		return "", fmt.Sprintf("no end of header (%d bytes, starting %q)", len(file), head(file))
	}
	hdr := file[:i+2]
	m := tokenHdr.FindSubmatch(hdr)
	if m == nil {
		return "", fmt.Sprintf("no X-QA-Token header (%d bytes, starting %q)", len(file), head(file))
	}
	token = string(m[1])
	if !ValidToken(token) {
		return token, "foreign token"
	}
	if !bytes.HasPrefix(file, []byte("x-sender:")) {
		return token, "does not start with x-sender:"
	}
	body := Body(token)
	if !bytes.Contains(hdr, Header(token, body)) {
		return token, "own header lines not found verbatim"
	}
	got := file[i+4:]
	if !bytes.Equal(got, body) {
		n := 0
		for n < len(got) && n < len(body) && got[n] == body[n] {
			n++
		}
		return token, fmt.Sprintf("body differs: %d bytes, want %d, first difference at body offset %d", len(got), len(body), n)
	}
	return token, ""
}

func head(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// ParseAcks returns the tokens in an ack file. A last line without its
// newline was cut by the power cut and does not count (its fsync had not
// returned, so its message was not yet promised); neither does a line that
// is not a token (a block of zeros when the size was durable before the
// data). Both are returned as notes, not errors: they are the file
// system's business, not mailbridge's.
func ParseAcks(b []byte) (acked map[string]bool, notes []string) {
	acked = map[string]bool{}
	lines := bytes.Split(b, []byte("\n"))
	for i, l := range lines {
		if i == len(lines)-1 {
			if len(l) > 0 {
				notes = append(notes, fmt.Sprintf("ack file ends in a partial line %q (not counted)", trunc(string(l))))
			}
			break
		}
		if ValidToken(string(l)) {
			acked[string(l)] = true
		} else {
			notes = append(notes, fmt.Sprintf("ack file line %d is not a token %q (not counted)", i+1, trunc(string(l))))
		}
	}
	return acked, notes
}

// DropReport is what CheckDrop found.
type DropReport struct {
	Files      int      // regular .eml files in Drop
	Violations []string // each prefixed with the rule it breaks
}

// CheckDrop checks the Drop folder dir against the acknowledged tokens.
// The rules:
//
//	(a) every acknowledged token is in Drop exactly once, whole and
//	    byte-exact (a token twice is a violation whether acknowledged or
//	    not: a message is never sent twice);
//	(b) no empty, partial or foreign .eml file: a reader of Drop takes
//	    every .eml there as a message to deliver;
//	(c) Drop holds nothing but regular .eml files.
//
// Unacknowledged messages may be present (whole) or absent: the client
// never heard the 250, and its sender would retry.
func CheckDrop(dir string, acked map[string]bool) (DropReport, error) {
	var r DropReport
	ents, err := os.ReadDir(dir)
	if err != nil {
		if len(acked) > 0 || !os.IsNotExist(err) {
			return r, fmt.Errorf("read Drop with %d acknowledged: %w", len(acked), err)
		}
	}
	seen := map[string][]string{}
	for _, e := range ents {
		name := e.Name()
		info, err := e.Info()
		if err != nil {
			return r, fmt.Errorf("stat Drop/%s: %w", name, err)
		}
		if !strings.HasSuffix(name, ".eml") {
			r.Violations = append(r.Violations, fmt.Sprintf("(c) entry that is not .eml: Drop/%s (%v, %d bytes)", name, info.Mode(), info.Size()))
			continue
		}
		if !info.Mode().IsRegular() {
			r.Violations = append(r.Violations, fmt.Sprintf("(c) .eml that is not a regular file: Drop/%s (%v)", name, info.Mode()))
			continue
		}
		r.Files++
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return r, fmt.Errorf("read Drop/%s: %w", name, err)
		}
		tok, prob := Check(b)
		if prob != "" {
			note := ""
			if acked[tok] {
				note = " [acknowledged]"
			}
			r.Violations = append(r.Violations, fmt.Sprintf("(b) Drop/%s (token %q, %d bytes): %s%s", name, tok, len(b), prob, note))
			continue
		}
		seen[tok] = append(seen[tok], name)
	}
	var dups, missing []string
	for tok, names := range seen {
		if len(names) > 1 {
			sort.Strings(names)
			dups = append(dups, fmt.Sprintf("(a) token %s in Drop %d times: %s", tok, len(names), strings.Join(names, " ")))
		}
	}
	for tok := range acked {
		if len(seen[tok]) == 0 {
			missing = append(missing, fmt.Sprintf("(a) acknowledged token %s has no whole file in Drop", tok))
		}
	}
	sort.Strings(dups)
	sort.Strings(missing)
	r.Violations = append(append(r.Violations, dups...), missing...)
	return r, nil
}

func trunc(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
