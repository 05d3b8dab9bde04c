//go:build windows

package bridge

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/windows"

	"github.com/mailbridge/mailbridge/internal/smtpsink"
	"github.com/mailbridge/mailbridge/internal/testlog"
	"github.com/mailbridge/mailbridge/mailroot"
)

// A Pickup file that an antivirus or backup agent reads without allowing
// its deletion cannot be renamed into Queue until the reader lets go. That
// is routine: the file is sent once released, and nothing is logged as an
// error (the service copies every error into the Application Event Log),
// though mailroot gives up its rename retries at least once meanwhile.
func TestHeldPickupFileIsNoError(t *testing.T) {
	if testing.Short() {
		t.Skip("holds a file longer than mailroot's rename retries (about 5 s)")
	}
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	l := testLayout(t)
	cfg := baseConfig(sink)
	cfg.QuietPeriod = 0
	logs := &testlog.Buffer{}
	log := slog.New(slog.NewTextHandler(io.MultiWriter(logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	root, err := mailroot.Open(l, mailroot.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	path := filepath.Join(l.Pickup, "held.eml")
	drop(t, l, "held.eml", []byte("From: app@x.test\r\nTo: held@y.test\r\nSubject: held\r\n\r\nbody\r\n"))
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		t.Fatal(err)
	}
	// As a scanner reads: others may read, not write nor delete.
	h, err := windows.CreateFile(p, windows.GENERIC_READ, windows.FILE_SHARE_READ, nil, windows.OPEN_EXISTING, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		t.Fatal(err)
	}
	release := time.AfterFunc(6*time.Second, func() { windows.CloseHandle(h) })
	defer func() {
		if release.Stop() {
			windows.CloseHandle(h)
		}
	}()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(cfg, root, log).Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	sink.WaitFor(t, 30*time.Second, "the held file, once released", count(1))

	got := logs.String()
	if !strings.Contains(got, "gave up") {
		t.Errorf("mailroot never gave up a rename (the test holds the file too briefly?):\n%s", got)
	}
	if strings.Contains(got, "level=ERROR") {
		t.Errorf("a held file that was sent in the end was logged as an error:\n%s", got)
	}
	if n := strings.Count(got, "Pickup file held by another program"); n != 1 {
		t.Errorf("the hold was reported %d times, want once:\n%s", n, got)
	}
}
