package compat

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
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
	if s == "" {
		return "-"
	}
	// A TAB separates as a space does: found from outside, "two<TAB>tab"
	// was logged as "twotab".
	// Any other white space is a separator too: Python's split() and
	// PowerShell's -split '\s+' split on U+00A0 and U+3000 (found from
	// outside: "EHLO w3c<U+3000>forged" moved every field after it).
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return '+'
		}
		return r
	}, ReplyText(strings.ReplaceAll(s, "\t", " ")))
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
// A header block opens every file and every restart, as IIS wrote it. It is
// safe for concurrent use.
type W3CLog struct {
	dir, site string
	now       func() time.Time

	mu  sync.Mutex
	f   *os.File
	day string
}

// NewW3CLog logs into dir for site (IIS: "SMTPSVC1").
func NewW3CLog(dir, site string) (*W3CLog, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("W3C log folder: %w", err)
	}
	return &W3CLog{dir: dir, site: site, now: time.Now}, nil
}

// Log appends e, switching files at midnight UTC.
func (l *W3CLog) Log(e W3CEntry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now().UTC()
	day := now.Format("060102")
	if l.f == nil || day != l.day {
		if l.f != nil {
			l.f.Close()
		}
		f, err := os.OpenFile(filepath.Join(l.dir, "ex"+day+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			l.f = nil
			return fmt.Errorf("W3C log: %w", err)
		}
		l.f, l.day = f, day
		hdr := "#Software: Microsoft Internet Information Services 10.0\r\n#Version: 1.0\r\n#Date: " +
			now.Format("2006-01-02 15:04:05") + "\r\n#Fields: " + W3CFields + "\r\n"
		if _, err := f.WriteString(hdr); err != nil {
			return fmt.Errorf("W3C log: %w", err)
		}
	}
	_, err := l.f.WriteString(FormatW3C(e, l.site) + "\r\n")
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
