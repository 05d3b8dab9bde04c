//go:build !windows

package bridge

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/smtpsink"
	"github.com/mailbridge/mailbridge/internal/testdir"
	"github.com/mailbridge/mailbridge/mailroot"
)

// A local user who may write to Pickup links a file only the service may
// read into it: the link is not followed, so the file is neither sent nor
// quoted (log, Badmail), and nothing in Badmail leads to it. A named pipe
// does not hang the claimers. Each stays in Pickup with one warning; the
// mail around them flows.
func TestPickupTakesOnlyRegularFiles(t *testing.T) {
	secret := filepath.Join(testdir.New(t), "secrets")
	if err := os.MkdirAll(secret, 0o700); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(secret, "junk")     // read, it would be quoted
	mail := filepath.Join(secret, "mail.eml") // read, it would be sent
	os.WriteFile(junk, []byte("TOPSECRET\r\n"), 0o600)
	os.WriteFile(mail, []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nTOPSECRET body\r\n"), 0o600)

	sink := smtpsink.Start(t, smtpsink.Hooks{})
	l := testLayout(t)
	cfg := baseConfig(sink)
	cfg.Rescan = 200 * time.Millisecond
	if err := os.MkdirAll(l.Pickup, 0o777); err != nil {
		t.Fatal(err)
	}
	// One link is there at the start (the start-up scan), the others
	// come while the bridge runs (watcher events).
	if err := os.Symlink(junk, filepath.Join(l.Pickup, "before.eml")); err != nil {
		t.Fatal(err)
	}
	h := start(t, l, cfg)
	time.Sleep(100 * time.Millisecond)
	if err := os.Symlink(junk, filepath.Join(l.Pickup, "s.eml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(mail, filepath.Join(l.Pickup, "m.eml")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(l.Pickup, "pipe.eml"), 0o666); err != nil {
		t.Fatal(err)
	}
	drop(t, l, "ok.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nfine\r\n"))
	sink.WaitFor(t, wait, "the regular file", count(1))
	time.Sleep(time.Second) // several rescans

	if n := len(sink.Messages()); n != 1 || !strings.HasSuffix(string(sink.Messages()[0].Data), "fine\r\n") {
		t.Fatalf("%d messages sent, want only the regular file", n)
	}
	for _, name := range []string{"before.eml", "s.eml", "m.eml", "pipe.eml"} {
		if _, err := os.Lstat(filepath.Join(l.Pickup, name)); err != nil {
			t.Errorf("%s is not left in Pickup: %v", name, err)
		}
	}
	for _, d := range []string{l.Badmail, l.Queue} {
		es, _ := os.ReadDir(d)
		for _, e := range es {
			if !mailroot.Internal(e.Name()) {
				t.Errorf("%s in %s", e.Name(), d)
			}
		}
	}
	logs := h.logs.String()
	if strings.Contains(logs, "TOPSECRET") {
		t.Errorf("the log quotes a linked file:\n%s", logs)
	}
	for name, what := range map[string]string{"before.eml": "symbolic link", "s.eml": "symbolic link", "m.eml": "symbolic link", "pipe.eml": "named pipe"} {
		if n := strings.Count(logs, "file="+name+" reason=\"not a regular file: it is a "+what); n != 1 {
			t.Errorf("%s: %d warnings naming it as a %s, want 1:\n%s", name, n, what, logs)
		}
	}
}

// Where the system cannot tell when a writer is done (the quiet period),
// a link is not followed either.
func TestQuietPeriodTakesOnlyRegularFiles(t *testing.T) {
	secret := filepath.Join(testdir.New(t), "mail.eml")
	os.WriteFile(secret, []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nTOPSECRET body\r\n"), 0o600)
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	l := testLayout(t)
	cfg := baseConfig(sink)
	cfg.QuietPeriod = 100 * time.Millisecond
	runFallback(t, l, cfg)
	if err := os.Symlink(secret, filepath.Join(l.Pickup, "m.eml")); err != nil {
		t.Fatal(err)
	}
	drop(t, l, "ok.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nfine\r\n"))
	sink.WaitFor(t, wait, "the regular file", count(1))
	time.Sleep(time.Second)
	if n := len(sink.Messages()); n != 1 {
		t.Fatalf("%d messages sent, want only the regular file", n)
	}
	if _, err := os.Lstat(filepath.Join(l.Pickup, "m.eml")); err != nil {
		t.Fatal(err)
	}
}
