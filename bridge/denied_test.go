package bridge

import (
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/smtpsink"
)

// A Pickup file that mailbridge's account may not read (an application
// that writes its files with permissions of its own) is not claimed: in
// Queue it could not be read either, and it would vanish from its writer's
// sight under a Queue name. It stays in Pickup, a warning says why and
// what to change, the files beside it go out, and once it can be read it
// is sent. Where the test runs as root (who reads any file), or on
// Windows, the refusal comes from the readiness check's seam; elsewhere
// from the file's own mode.
func TestUnreadablePickupFileStays(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	l := testLayout(t)
	cfg := baseConfig(sink)
	cfg.QuietPeriod = 50 * time.Millisecond
	real := runtime.GOOS != "windows" && os.Geteuid() != 0
	var deny atomic.Bool
	deny.Store(true)
	locked := filepath.Join(l.Pickup, "locked.eml")
	h := start(t, l, cfg, func(b *Bridge) {
		b.warnAfter = 200 * time.Millisecond
		if real {
			return
		}
		b.openIfDone = func(path string) (*os.File, readiness, error) {
			if path == locked && deny.Load() {
				return nil, denied, &fs.PathError{Op: "open", Path: path, Err: syscall.EACCES}
			}
			return openIfDone(path)
		}
	})
	if err := os.MkdirAll(l.Pickup, 0o755); err != nil {
		t.Fatal(err)
	}
	mode := os.FileMode(0o644)
	if real {
		mode = 0
	}
	if err := os.WriteFile(locked, []byte("From: app@x.test\r\nTo: locked@y.test\r\nSubject: locked\r\n\r\nbody\r\n"), mode); err != nil {
		t.Fatal(err)
	}
	drop(t, l, "ok.eml", []byte("From: app@x.test\r\nTo: ok@y.test\r\nSubject: ok\r\n\r\nbody\r\n"))
	sink.WaitFor(t, wait, "the readable file", count(1))
	const warning = "Pickup file cannot be read by mailbridge (access denied)"
	h.waitLog(warning)
	time.Sleep(300 * time.Millisecond) // more tries: still said once
	logs := h.logs.String()
	if n := strings.Count(logs, warning); n != 1 {
		t.Errorf("warned %d times, want once", n)
	}
	if !strings.Contains(logs, "file=locked.eml") || !strings.Contains(logs, "permission denied") {
		t.Errorf("the warning names neither the file nor the cause:\n%s", logs)
	}
	if _, err := os.Stat(locked); err != nil {
		t.Fatalf("the unreadable file left Pickup: %v", err)
	}
	if q, _ := filepath.Glob(filepath.Join(l.Queue, "*.in")); len(q) != 0 {
		t.Fatalf("Queue holds %q: the unreadable file was claimed", q)
	}
	if n := len(sink.Messages()); n != 1 {
		t.Fatalf("%d messages sent, want 1", n)
	}

	// Readable now: sent, at the latest after intakeRetry's longest wait.
	deny.Store(false)
	if real {
		if err := os.Chmod(locked, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	msgs := sink.WaitFor(t, 2*time.Minute, "the file once readable", count(2))
	if msgs[1].To[0] != "locked@y.test" {
		t.Fatalf("second message to %v", msgs[1].To)
	}
	waitEmpty(t, l)
}
