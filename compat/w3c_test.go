package compat

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/testdir"
)

// A field holds nothing a log reader could take for a line end: ASCII and
// C1 controls, the Unicode line and paragraph separators, invalid UTF-8.
// Spaces become "+", as IIS wrote them, Unicode white space too, and
// UTF-8 stays.
func TestW3CField(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", "-"},
		{"MAIL", "MAIL"},
		{"+FROM:<a@b.com> SIZE=5", "+FROM:<a@b.com>+SIZE=5"},
		{"a\u20282026-11-30 00:00:00 6.6.6.6 forged", "a2026-11-30+00:00:00+6.6.6.6+forged"},
		{"a\u2029b", "ab"},
		{"a\u0085b", "ab"},
		{"a\r\nb\tc\x00d\x7fe", "ab+cde"},
		{"two  spaces\ttab", "two++spaces+tab"},
		{"a\xffb", "ab"},
		{"w3c\u3000forged\u00a0x\u2003y", "w3c+forged+x+y"},
		{"jürgen@bücher.example", "jürgen@bücher.example"},
		{"\x00", "-"},
		{"\xe9", "-"},
		{"\r\x00", "-"},
	} {
		if got := w3cField(tt.in); got != tt.want {
			t.Errorf("w3cField(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// w3cClock is a W3CLog's clock that tests move.
type w3cClock struct{ t time.Time }

func (c *w3cClock) now() time.Time { return c.t }

func newTestW3C(t *testing.T, maxSize int64) (*W3CLog, *w3cClock, string) {
	t.Helper()
	dir := testdir.New(t)
	l, err := NewW3CLog(dir, "SMTPSVC1", maxSize)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	clock := &w3cClock{time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	l.now = clock.now
	return l, clock, dir
}

func w3cLine(i int) W3CEntry {
	return W3CEntry{Time: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), ClientIP: "192.0.2.1", User: "flood.test", Method: "EHLO", Query: fmt.Sprintf("flood%d.test", i), Status: 250}
}

func readW3C(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A day's file stops at w3c_max_size, with a remark; the log is told once;
// the next day's file says how many lines were not written (found from
// outside: one client grew the file 73 MB in 20 seconds).
func TestW3CLogMaxSize(t *testing.T) {
	line := len(FormatW3C(w3cLine(0), "SMTPSVC1")) + 2
	l, _, dir := newTestW3C(t, 0)
	if err := l.Log(w3cLine(0)); err != nil {
		t.Fatal(err)
	}
	header := int64(len(readW3C(t, filepath.Join(dir, "ex261201.log"))) - line)
	l.Close()
	os.Remove(filepath.Join(dir, "ex261201.log"))

	l, clock, dir := newTestW3C(t, header+int64(3*line))
	var errs []error
	for i := 0; i < 10; i++ {
		if err := l.Log(w3cLine(i)); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "reached its size limit (w3c_max_size") {
		t.Fatalf("errors: %v", errs)
	}
	got := readW3C(t, filepath.Join(dir, "ex261201.log"))
	if strings.Count(got, " EHLO ") != 3 || !strings.HasSuffix(got, "#Remark: this file reached its size limit (w3c_max_size, "+fmt.Sprint(header+int64(3*line))+" bytes) at 10:00:00 UTC: the day's further lines are not written\r\n") {
		t.Fatalf("day 1:\n%s", got)
	}
	clock.t = clock.t.Add(24 * time.Hour)
	if err := l.Log(w3cLine(10)); err != nil {
		t.Fatal(err)
	}
	got = readW3C(t, filepath.Join(dir, "ex261202.log"))
	if !strings.Contains(got, "#Fields: ") || !strings.Contains(got, "#Remark: 7 lines of the day before (ex261201.log) were not written: its file had reached w3c_max_size\r\n") || strings.Count(got, " EHLO ") != 1 {
		t.Fatalf("day 2:\n%s", got)
	}
}

// A W3C file moved or deleted while running is started anew within 5
// seconds (found from outside: a deleted file took every line, and kept
// its space, until a restart); a full file moved away makes room.
func TestW3CLogMovedOrDeleted(t *testing.T) {
	l, clock, dir := newTestW3C(t, 0)
	path := filepath.Join(dir, "ex261201.log")
	l.Log(w3cLine(1))
	if err := os.Rename(path, filepath.Join(dir, "old.log")); err != nil {
		t.Fatal(err)
	}
	clock.t = clock.t.Add(time.Second)
	l.Log(w3cLine(2)) // within 5 s: still the moved file
	clock.t = clock.t.Add(5 * time.Second)
	l.Log(w3cLine(3))
	if old, cur := readW3C(t, filepath.Join(dir, "old.log")), readW3C(t, path); !strings.Contains(old, "flood2.test") || !strings.Contains(cur, "#Fields: ") || !strings.Contains(cur, "flood3.test") {
		t.Fatalf("moved:\n%s\nnew:\n%s", old, cur)
	}
	os.Remove(path)
	clock.t = clock.t.Add(6 * time.Second)
	l.Log(w3cLine(4))
	if cur := readW3C(t, path); !strings.Contains(cur, "flood4.test") {
		t.Fatalf("after the delete:\n%s", cur)
	}
	if fi, _ := os.Stat(path); runtime.GOOS != "windows" && fi.Mode().Perm()&0o007 != 0 {
		t.Errorf("mode %v: the file holds addresses, not for every account", fi.Mode())
	}
}

// Lines that cannot be written are said once a minute at most, counted
// (found from outside: a warning per command, on a full volume, wiped the
// main log in seconds), and the file says how many once it takes lines
// again.
func TestW3CLogFailuresThrottled(t *testing.T) {
	l, clock, dir := newTestW3C(t, 0)
	path := filepath.Join(dir, "ex261201.log")
	if err := os.Mkdir(path, 0o755); err != nil { // cannot be opened as a file
		t.Fatal(err)
	}
	var errs []error
	for i := 0; i < 50; i++ {
		clock.t = clock.t.Add(time.Second)
		if err := l.Log(w3cLine(i)); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) != 1 {
		t.Fatalf("%d errors in 50 s: %v", len(errs), errs)
	}
	clock.t = clock.t.Add(time.Minute)
	err := l.Log(w3cLine(50))
	if err == nil || !strings.Contains(err.Error(), "(and 49 lines not written before this one since the last such message)") {
		t.Fatalf("a minute later: %v", err)
	}
	os.Remove(path)
	if err := l.Log(w3cLine(51)); err != nil {
		t.Fatal(err)
	}
	if got := readW3C(t, path); !strings.Contains(got, "flood51.test") || !strings.Contains(got, "#Remark: 51 lines before this one could not be written") {
		t.Fatalf("%s", got)
	}
}

// A restart on a day whose file is full already says so, in the file and
// to the log (found from outside: its lines went without a word).
func TestW3CLogFullAtStart(t *testing.T) {
	l, _, dir := newTestW3C(t, 1000)
	path := filepath.Join(dir, "ex261201.log")
	if err := os.WriteFile(path, []byte(strings.Repeat("2026-12-01 09:00:00 192.0.2.1 flood.test SMTPSVC1 - - NOOP - - 250 0 0 0 0 SMTP - - - -\r\n", 25)), 0o640); err != nil {
		t.Fatal(err)
	}
	err := l.Log(w3cLine(1))
	if err == nil || !strings.Contains(err.Error(), "reached its size limit") {
		t.Fatalf("%v", err)
	}
	if err := l.Log(w3cLine(2)); err != nil {
		t.Fatalf("said twice: %v", err)
	}
	got := readW3C(t, path)
	if !strings.Contains(got, "#Remark: this file reached its size limit") || strings.Contains(got, "flood1.test") {
		t.Fatalf("%s", got)
	}
	// Further starts say it in the log, and add nothing to the file: no
	// header that no line follows, no second remark (found from outside:
	// both were appended at every restart).
	for i := 0; i < 2; i++ {
		l.Close()
		l2, err := NewW3CLog(dir, "SMTPSVC1", 1000)
		if err != nil {
			t.Fatal(err)
		}
		l2.now = l.now
		if err := l2.Log(w3cLine(3)); err == nil || !strings.Contains(err.Error(), "reached its size limit") {
			t.Fatalf("start %d: %v", i+2, err)
		}
		l2.Close()
	}
	if again := readW3C(t, path); again != got {
		t.Fatalf("a restart added to the full file:\n%q\nafter\n%q", again[len(got):], got)
	}
}

// FuzzFormatW3C: whatever a client sends, its W3C line has IIS's 21
// fields, one line, so that a reader splitting on white space finds each
// in its column.
func FuzzFormatW3C(f *testing.F) {
	for _, s := range []string{"EHLO", "\x00", "\xe9", " x", "a\u2028b", "\t", "MAIL FROM:<a@b>"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, method, query string) {
		e := W3CEntry{Time: time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC), ClientIP: "192.0.2.1", User: query, Method: method, Query: query, Status: 500}
		line := FormatW3C(e, "SMTPSVC1")
		if n := len(strings.Fields(line)); n != 21 || strings.ContainsAny(line, "\r\n") {
			t.Fatalf("%d fields in %q", n, line)
		}
	})
}
