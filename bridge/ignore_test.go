package bridge

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/smtpsink"
)

// defaultIgnore is config's default [pickup] ignore; withTmp adds what an
// administrator whose writers rename NAME.tmp files adds.
var (
	defaultIgnore = []string{".*", "*.part", "*.filepart", "desktop.ini", "Thumbs.db"}
	withTmp       = append(slices.Clip(defaultIgnore), "*.tmp")
)

// Writers that write under a temporary name in Pickup and rename the file
// when it is complete (rsync, a script's NAME.tmp, WinSCP's .filepart):
// where the system cannot tell that the writer is done (the quiet-period
// fallback: a share, another user's file), a pause in the writing longer
// than the quiet period let the half-written file be sent, and the
// writer's rename then failed. The temporary name is never taken; the
// message is sent once, whole, under its final name.
func TestTemporaryNamesNotTaken(t *testing.T) {
	for _, tt := range []struct{ temp, final string }{
		{".msg.eml.Xa81Qz", "msg.eml"},  // rsync
		{"msg.tmp", "msg.eml"},          // a script, .NET's Path.GetTempFileName (with "*.tmp" added)
		{"MSG.TMP", "MSG.EML"},          // Windows names ignore case
		{"msg.eml.filepart", "msg.eml"}, // WinSCP
		{"msg.part", "msg.txt"},
	} {
		t.Run(tt.temp, func(t *testing.T) {
			sink := smtpsink.Start(t, smtpsink.Hooks{})
			l := testLayout(t)
			cfg := baseConfig(sink)
			cfg.QuietPeriod = 200 * time.Millisecond
			cfg.Ignore = withTmp
			runFallback(t, l, cfg)

			temp := filepath.Join(l.Pickup, tt.temp)
			f, err := os.Create(temp)
			if err != nil {
				t.Fatal(err)
			}
			head := "From: a@x.test\r\nTo: b@y.test\r\nSubject: whole\r\n\r\n"
			f.WriteString(head)
			time.Sleep(4 * cfg.QuietPeriod) // the writer pauses
			f.WriteString("the rest of the body\r\n")
			f.Close()
			if err := os.Rename(temp, filepath.Join(l.Pickup, tt.final)); err != nil {
				t.Fatalf("the writer's rename failed: %v", err)
			}
			m := sink.WaitFor(t, wait, "the message", count(1))
			waitEmpty(t, l)
			if len(m) != 1 || string(unstamped(m[0].Data)) != head+"the rest of the body\r\n" {
				t.Fatalf("sent %d message(s), first %q", len(m), m[0].Data)
			}
		})
	}
}

// An ignored file that stays is logged once, with the pattern, so that a
// writer that gives finished files such a name is noticed; renamed, it is
// sent. Without patterns every file is taken, as IIS did.
func TestIgnoredFileReported(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	l := testLayout(t)
	cfg := baseConfig(sink)
	cfg.Rescan = 100 * time.Millisecond
	cfg.Ignore = withTmp
	h := start(t, l, cfg)
	msg := []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nbody\r\n")
	drop(t, l, "radB0A2D.tmp", msg) // FileSystemObject.GetTempName()
	drop(t, l, "sent.eml", msg)
	sink.WaitFor(t, wait, "sent.eml", count(1))
	old := time.Now().Add(-2 * ignoredWarnAfter)
	os.Chtimes(filepath.Join(l.Pickup, "radB0A2D.tmp"), old, old)
	deadline := time.Now().Add(wait)
	for !strings.Contains(h.logs.String(), "file=radB0A2D.tmp pattern=*.tmp") {
		if time.Now().After(deadline) {
			t.Fatalf("no warning about radB0A2D.tmp:\n%s", h.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(5 * cfg.Rescan)
	if n := strings.Count(h.logs.String(), "file=radB0A2D.tmp pattern="); n != 1 {
		t.Fatalf("warned %d times", n)
	}
	if _, err := os.Stat(filepath.Join(l.Pickup, "radB0A2D.tmp")); err != nil || len(sink.Messages()) != 1 {
		t.Fatalf("the ignored file was taken (%v, %d messages)", err, len(sink.Messages()))
	}
	os.Rename(filepath.Join(l.Pickup, "radB0A2D.tmp"), filepath.Join(l.Pickup, "radB0A2D.eml"))
	sink.WaitFor(t, wait, "the renamed file", count(2))
	waitEmpty(t, l)
	h.stop()

	cfg.Ignore = nil
	start(t, l, cfg)
	drop(t, l, ".hidden.eml", msg)
	drop(t, l, "x.tmp", msg)
	sink.WaitFor(t, wait, "every file", count(4))
	waitEmpty(t, l)
}

// Explorer leaves desktop.ini (a customised folder) and Thumbs.db (a
// thumbnail view) in folders an administrator browses: by default they are
// not taken for mail, so they do not land in Badmail.
func TestExplorerFilesIgnored(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	l := testLayout(t)
	cfg := baseConfig(sink)
	cfg.Rescan = 100 * time.Millisecond
	cfg.Ignore = defaultIgnore
	h := start(t, l, cfg)
	drop(t, l, "desktop.ini", []byte("[.ShellClassInfo]\r\nIconResource=C:\\Windows\\System32\\imageres.dll,-3\r\n"))
	drop(t, l, "THUMBS.DB", []byte{0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1})
	drop(t, l, "sent.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nbody\r\n"))
	sink.WaitFor(t, wait, "sent.eml", count(1))
	old := time.Now().Add(-2 * ignoredWarnAfter) // as if there for long
	for _, n := range []string{"desktop.ini", "THUMBS.DB"} {
		os.Chtimes(filepath.Join(l.Pickup, n), old, old)
	}
	time.Sleep(5 * cfg.Rescan)
	if strings.Contains(h.logs.String(), "Pickup file not sent") {
		t.Errorf("Explorer's files are warned about:\n%s", h.logs.String())
	}
	for _, n := range []string{"desktop.ini", "THUMBS.DB"} {
		if _, err := os.Stat(filepath.Join(l.Pickup, n)); err != nil {
			t.Errorf("%s was taken: %v", n, err)
		}
	}
	if bad, _ := os.ReadDir(l.Badmail); len(bad) != 0 {
		t.Errorf("Badmail holds %d files", len(bad))
	}
}
