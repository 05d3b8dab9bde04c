package bridge

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/mailbridge/mailbridge/mailroot"
)

// queueOwn reports whether name, an entry of the Queue folder, is one of
// mailbridge's own: its lock or temporary file, or a message's file
// (.eml, .in, .state, .todrop) under a name it gave (mailroot.IsName).
func queueOwn(name string) bool {
	if mailroot.Internal(name) {
		return true
	}
	ext := filepath.Ext(name)
	switch ext {
	case ".eml", ".in", ".state", ".todrop":
		return mailroot.IsName(strings.TrimSuffix(name, ext))
	}
	return false
}

// foreignQueueEntry says what e, an entry of the Queue folder dir that is
// not mailbridge's own (queueOwn), is, and what to do with it; "" for
// Explorer's files, which go unsaid. Found from outside: every file left
// in Queue by IIS was said to be sent by moving it into Pickup, also an
// empty one, and one without envelope lines, which Pickup sends to the
// addresses of its header (IIS kept a queued message's envelope outside
// its file, in an NTFS stream that a copy loses). Explorer's files are
// not asked about (foreignEntries).
func foreignQueueEntry(dir string, e fs.DirEntry) string {
	name := e.Name()
	path := filepath.Join(dir, name)
	if e.IsDir() {
		return "a folder in Queue, left alone: mailbridge does not look into folders there; to send the messages in it, move them into Pickup"
	}
	if !e.Type().IsRegular() {
		return fmt.Sprintf("%v: left alone", mailroot.NotRegular(path, e.Type()))
	}
	f, err := mailroot.OpenRegular(path)
	if err != nil {
		return fmt.Sprintf("a file in Queue that mailbridge did not queue, left alone; it cannot be read (%v)", err)
	}
	defer f.Close()
	head := make([]byte, 8<<10) // a header block, most often
	n, err := io.ReadFull(f, head)
	head = head[:n]
	switch {
	case n == 0 && err != nil && err != io.EOF:
		return fmt.Sprintf("a file in Queue that mailbridge did not queue, left alone; it cannot be read (%v)", err)
	case len(bytes.TrimSpace(head)) == 0:
		return "a file in Queue that mailbridge did not queue, left alone: it is empty, with nothing to send; delete it"
	case hasReceivers(head):
		return "a file in Queue that mailbridge did not queue (only files it named are sent from Queue), left alone: to send it, move it into Pickup, which sends it to the recipients of its x-receiver lines"
	case !headerFirst(head):
		return "a file in Queue that mailbridge did not queue (only files it named are sent from Queue), left alone: it does not start as a message does (header fields), so it is not one to send; look at it, and delete it or move it elsewhere"
	case !hasRecipientField(head):
		return "a file in Queue that mailbridge did not queue (only files it named are sent from Queue), left alone: it has neither x-receiver lines nor To, Cc or Bcc fields (IIS kept a queued message's envelope outside its file), so it cannot be sent as it is; look at it, and delete it or move it elsewhere"
	}
	return "a file in Queue that mailbridge did not queue (only files it named are sent from Queue), left alone: it has no x-receiver lines (IIS kept a queued message's envelope outside its file), so moved into Pickup it would go to every address of its To, Cc and Bcc fields, some of whom may have had it already; check them before moving it"
}

// hasReceivers reports whether head, a file's first bytes, starts with an
// envelope block (x-sender and x-receiver lines, as Queue and Badmail
// files do) that holds an x-receiver line: found from outside, a file
// with an x-sender line alone was said to go to its x-receiver lines,
// where Pickup sends it to its header's addresses.
func hasReceivers(head []byte) bool {
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	for len(head) > 0 {
		line, rest, _ := bytes.Cut(head, []byte("\n"))
		name, _, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return false
		}
		switch strings.ToLower(string(name)) {
		case "x-receiver":
			return true
		case "x-sender":
		default:
			return false
		}
		head = rest
	}
	return false
}

// hasRecipientField reports whether the header block at the start of
// head (as far as head goes) has a To, Cc or Bcc field.
func hasRecipientField(head []byte) bool {
	for _, line := range bytes.Split(head, []byte("\n")) {
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			return false // the end of the header block
		}
		name, _, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		switch strings.ToLower(string(name)) {
		case "to", "cc", "bcc":
			return true
		}
	}
	return false
}

// headerFirst reports whether head starts with a header field ("Name:"),
// as a message does.
func headerFirst(head []byte) bool {
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	line, _, _ := bytes.Cut(head, []byte("\n"))
	name, _, ok := bytes.Cut(line, []byte(":"))
	return ok && len(name) > 0 && !bytes.ContainsAny(name, " \t")
}

// maxForeignSaid bounds the files in Queue not of mailbridge's said one by
// one, at start and by check (foreignEntries): an IIS queue
// left behind may hold thousands.
const maxForeignSaid = 20

// ForeignQueueFiles says what of the Queue folder dir mailbridge did not
// put there, for check, each as its path and what it is (foreignEntries):
// found from outside, a mail root full of IIS's leftovers passed with
// "ok: no problems found".
func ForeignQueueFiles(dir string) (said []string, more int, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, 0, err
	}
	files, more := foreignEntries(dir, entries)
	for _, f := range files {
		said = append(said, f.path+": "+f.what)
	}
	return said, more, nil
}

// foreignFile is an entry of Queue that is not mailbridge's own, and what
// foreignQueueEntry says of it.
type foreignFile struct{ path, what string }

// foreignEntries returns, of the entries of the Queue folder dir, those
// that are not mailbridge's own: the first maxForeignSaid, and how many
// more there are (counted, not read: found from outside, an IIS queue
// left behind gave 3001 lines at each start). Explorer's files are
// neither said nor counted.
func foreignEntries(dir string, entries []fs.DirEntry) (files []foreignFile, more int) {
	for _, e := range entries {
		if queueOwn(e.Name()) && e.Type().IsRegular() || explorerFile(e.Name()) {
			continue
		}
		if len(files) == maxForeignSaid {
			more++
			continue
		}
		files = append(files, foreignFile{filepath.Join(dir, e.Name()), foreignQueueEntry(dir, e)})
	}
	return files, more
}
