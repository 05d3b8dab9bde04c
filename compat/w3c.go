package compat

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/mailbridge/mailbridge/logfile"
)

// W3CEntry is one line of IIS's SMTP log (W3C extended format,
// LogFiles\SMTPSVC1\exYYMMDD.log).
type W3CEntry struct {
	Time      time.Time
	ClientIP  string // c-ip
	User      string // cs-username: the HELO name, or OutboundConnectionCommand/-Response
	Computer  string // s-computername
	ServerIP  string // s-ip
	Port      int    // s-port: 0 for inbound sessions, as IIS wrote it
	Method    string // cs-method: the SMTP verb
	Query     string // cs-uri-query: the arguments, the Message-ID for DATA
	Status    int    // sc-status; 240 for QUIT with session totals
	Win32     int64  // sc-win32-status; the session's milliseconds for QUIT
	SCBytes   int64  // bytes sent
	CSBytes   int64  // bytes received
	TimeTaken time.Duration
}

// W3CFields is IIS's #Fields line for the SMTP service.
const W3CFields = "date time c-ip cs-username s-sitename s-computername s-ip s-port cs-method cs-uri-stem cs-uri-query sc-status sc-win32-status sc-bytes cs-bytes time-taken cs-version cs-host cs(User-Agent) cs(Cookie) cs(Referer)"

// w3cField prints one field: empty is "-", spaces and TABs become "+" (IIS's
// escaping, so that log parsers split on spaces), and so does Unicode white
// space. What some readers take
// for a line end is left out, as in reply text (ReplyText): ASCII and C1
// controls (NEL, U+0085), the Unicode line and paragraph separators, and
// invalid UTF-8. Found from outside: "NOOP a<U+2028>2026-11-30 ..."
// showed as a line of its own in readers that split on U+2028 (Python's
// splitlines, some viewers).
func w3cField(s string) string {
	// A TAB separates as a space does: found from outside, "two<TAB>tab"
	// was logged as "twotab".
	// Any other white space is a separator too: Python's split() and
	// PowerShell's -split '\s+' split on U+00A0 and U+3000 (found from
	// outside: "EHLO w3c<U+3000>forged" moved every field after it).
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return '+'
		}
		return r
	}, ReplyText(strings.ReplaceAll(s, "\t", " ")))
	if s == "" {
		// Nothing left (a NUL or an invalid byte alone): "-", not an
		// empty field, which would join its neighbours (found from
		// outside: a command line "\x00" took a field off its line).
		return "-"
	}
	return s
}

// FormatW3C returns e as a log line, without the line end. Times are UTC.
func FormatW3C(e W3CEntry, site string) string {
	t := e.Time.UTC()
	return strings.Join([]string{
		t.Format("2006-01-02"), t.Format("15:04:05"), w3cField(e.ClientIP), w3cField(e.User),
		w3cField(site), w3cField(e.Computer), w3cField(e.ServerIP), strconv.Itoa(e.Port),
		w3cField(e.Method), "-", w3cField(e.Query), strconv.Itoa(e.Status), strconv.FormatInt(e.Win32, 10),
		strconv.FormatInt(e.SCBytes, 10), strconv.FormatInt(e.CSBytes, 10), strconv.FormatInt(e.TimeTaken.Milliseconds(), 10),
		"SMTP", "-", "-", "-", "-",
	}, " ")
}

// W3CLog writes daily exYYMMDD.log files (UTC days, as IIS) in a folder.
// A header block opens every file and every restart, as IIS wrote it (but
// a restart on a file full already, see below). It is
// safe for concurrent use.
//
// Unlike IIS's, a day's file is bounded (maxSize): found from outside, one
// client sending commands in a loop grew it by 3 to 11 MB a second, which
// fills a volume in hours. Once a line would take it past the bound, a
// "#Remark:" line says so and the day's further lines are not written;
// the next day's file says how many were not. A file moved or deleted
// while mailbridge runs is started anew within a few seconds, as the log
// file is, so that deleting a runaway file gives its space back (found
// from outside: the deleted file took every record until a restart).
// Failed writes (a full volume) are returned once a minute at most, with
// how many lines were lost meanwhile: found from outside, a warning per
// command wiped the main log in seconds.
type W3CLog struct {
	dir, site string
	maxSize   int64 // of a day's file; 0: no bound
	now       func() time.Time
	every     time.Duration // how often, at most, a write looks whether the file was moved

	mu      sync.Mutex
	f       *os.File
	day     string
	size    int64
	checked time.Time
	full    bool // the day's file reached maxSize
	// remarked: the open file ends with the size-limit remark already
	// (written before a restart).
	remarked bool
	dropped  int64 // lines of the day not written for its size
	// failed counts lines not written for errors since the last error
	// returned (at failedAt); lost since the last line written.
	failed, lost int64
	failedAt     time.Time
}

// w3cCheckEvery is how often, at most, a write looks whether the W3C file
// was moved or deleted (logfile's checkEvery).
const w3cCheckEvery = 5 * time.Second

// NewW3CLog logs into dir for site (IIS: "SMTPSVC1"), at most maxSize bytes
// a day (0: no bound).
func NewW3CLog(dir, site string, maxSize int64) (*W3CLog, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("W3C log folder: %w", err)
	}
	return &W3CLog{dir: dir, site: site, maxSize: maxSize, now: time.Now, every: w3cCheckEvery}, nil
}

// Log appends e, switching files at midnight UTC.
func (l *W3CLog) Log(e W3CEntry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now().UTC()
	day := now.Format("060102")
	if l.f != nil && day == l.day && now.Sub(l.checked) >= l.every {
		l.checked = now
		if l.moved() {
			l.f.Close()
			l.f = nil
		}
	}
	if l.f == nil || day != l.day {
		if err := l.open(now, day); err != nil {
			return l.fail(now, err)
		}
	}
	line := FormatW3C(e, l.site) + "\r\n"
	if l.maxSize > 0 && l.size+int64(len(line)) > l.maxSize {
		l.dropped++
		if l.full {
			return nil
		}
		l.full = true
		if !l.remarked {
			l.write(fmt.Sprintf(fullRemark+" (w3c_max_size, %d bytes) at %s UTC: the day's further lines are not written\r\n",
				l.maxSize, now.Format("15:04:05")))
		}
		return fmt.Errorf("W3C log %s reached its size limit (w3c_max_size, %d bytes): the rest of the day's lines are not written; a client sending commands in a loop may be the cause (see the file's last lines), or raise [log] w3c_max_size",
			l.f.Name(), l.maxSize)
	}
	if l.lost > 0 {
		// Before the line, which follows the gap.
		if l.write(fmt.Sprintf("#Remark: %d lines before this one could not be written (see mailbridge's log)\r\n", l.lost)) == nil {
			l.lost, l.failed, l.failedAt = 0, 0, time.Time{}
		}
	}
	if err := l.write(line); err != nil {
		return l.fail(now, err)
	}
	return nil
}

// open opens the file of day, at now, with its header block.
func (l *W3CLog) open(now time.Time, day string) error {
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
	if day != l.day {
		if l.dropped > 0 && l.day != "" {
			defer l.write(fmt.Sprintf("#Remark: %d lines of the day before (ex%s.log) were not written: its file had reached w3c_max_size\r\n", l.dropped, l.day))
		}
		l.dropped = 0
	}
	l.day = day
	// Kept from other accounts, as the log file: it holds addresses and
	// clients' names (found from outside: 0644).
	f, err := logfile.OpenAppend(filepath.Join(l.dir, "ex"+day+".log"), 0o640)
	if err != nil {
		return fmt.Errorf("W3C log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("W3C log: %w", err)
	}
	l.f, l.size, l.checked = f, fi.Size(), now
	// Full or not as the next line finds it: a file full already (a
	// restart) says so again, in the file and the log (found from
	// outside: its lines went without a word).
	l.full, l.remarked = false, false
	hdr := "#Software: Microsoft Internet Information Services 10.0\r\n#Version: 1.0\r\n#Date: " +
		now.Format("2006-01-02 15:04:05") + "\r\n#Fields: " + W3CFields + "\r\n"
	if l.maxSize > 0 && l.size+int64(len(hdr)) > l.maxSize {
		// Full already: no header, which no line would follow, and one
		// remark for the day, not one more at each start (found from
		// outside: a header and a remark appended at every restart).
		l.remarked = endsWithRemark(f.Name(), l.size)
		return nil
	}
	return l.write(hdr)
}

// fullRemark begins the line that ends a day's file at its size limit.
const fullRemark = "#Remark: this file reached its size limit"

// endsWithRemark reports whether the last line of the file at path, size
// bytes long, is the size-limit remark. (The log's own descriptor is open
// for appending only.)
func endsWithRemark(path string, size int64) bool {
	const tail = 512 // longer than the remark's line
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, min(size, tail))
	if _, err := f.ReadAt(buf, size-int64(len(buf))); err != nil {
		return false
	}
	text, ok := strings.CutSuffix(string(buf), "\r\n")
	if !ok {
		return false
	}
	if i := strings.LastIndex(text, "\n"); i >= 0 {
		text = text[i+1:]
	}
	return strings.HasPrefix(text, fullRemark)
}

// write appends s to the open file.
func (l *W3CLog) write(s string) error {
	if l.f == nil {
		return errors.New("W3C log: no file open")
	}
	n, err := l.f.WriteString(s)
	if err != nil {
		if n > 0 {
			// A line cut by a full volume: taken back, or the next
			// line would be written onto it (found from outside).
			if l.f.Truncate(l.size) != nil {
				l.size += int64(n)
			}
		}
		return fmt.Errorf("W3C log: %w", err)
	}
	l.size += int64(n)
	return nil
}

// moved reports whether the open file is no longer at its path.
func (l *W3CLog) moved() bool {
	fi, err := os.Stat(l.f.Name())
	if err != nil {
		return true
	}
	cur, err := l.f.Stat()
	return err == nil && !os.SameFile(fi, cur)
}

// fail counts a line not written for err, and returns err once a minute
// at most, with the lines lost since it was last returned.
func (l *W3CLog) fail(now time.Time, err error) error {
	l.failed++
	l.lost++
	if !l.failedAt.IsZero() && now.Sub(l.failedAt) < time.Minute {
		return nil
	}
	if n := l.failed - 1; n > 0 {
		err = fmt.Errorf("%w (and %d lines not written before this one since the last such message)", err, n)
	}
	l.failed, l.failedAt = 0, now
	return err
}

// Close closes the current file.
func (l *W3CLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
