//go:build windows

package mailroot

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/windows"

	"github.com/mailbridge/mailbridge/internal/testdir"

	"github.com/mailbridge/mailbridge/internal/testlog"
)

// hold opens path the way an on-access scanner does: without sharing, so
// that renames and deletes fail with a sharing violation until release.
func hold(t *testing.T, path string) (release func()) {
	t.Helper()
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ, 0, nil, windows.OPEN_EXISTING, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		t.Fatalf("holding %s: %v", path, err)
	}
	var once sync.Once
	release = func() { once.Do(func() { windows.CloseHandle(h) }) }
	t.Cleanup(release)
	return release
}

func openLogged(t *testing.T) (*Root, *testlog.Buffer) {
	t.Helper()
	var buf testlog.Buffer
	r, err := Open(layoutUnder(testdir.New(t)), WithLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, &buf
}

func pickupFile(t *testing.T, r *Root) string {
	t.Helper()
	src := filepath.Join(r.Layout().Pickup, "held.eml")
	if err := os.WriteFile(src, []byte("Subject: x\r\n\r\nx\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return src
}

func TestClaimRetriesWhileAnotherProgramHoldsTheFile(t *testing.T) {
	r, logs := openLogged(t)
	src := pickupFile(t, r)
	release := hold(t, src)
	time.AfterFunc(150*time.Millisecond, release)

	dst, err := r.Claim(src, r.Layout().Queue, "q.eml")
	if err != nil {
		t.Fatalf("Claim while held for 150ms: %v", err)
	}
	if _, err := os.Stat(dst); err != nil {
		t.Errorf("claimed file: %v", err)
	}
	if _, err := os.Stat(src); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Pickup file still there after Claim: %v", err)
	}
	got := logs.String()
	// Information, not a warning: a scanner holding a file for a moment
	// is routine, and nothing failed.
	if !strings.Contains(got, "level=INFO") || !strings.Contains(got, "rename retried") || !strings.Contains(got, "result=done") || strings.Contains(got, "level=WARN") || strings.Contains(got, "level=ERROR") {
		t.Errorf("log = %q; want one info line about the retried rename", got)
	}
}

func TestClaimGivesUpWithoutLosingTheFile(t *testing.T) {
	r, logs := openLogged(t)
	r.retryDelays = []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}
	src := pickupFile(t, r)
	hold(t, src)

	_, err := r.Claim(src, r.Layout().Queue, "q.eml")
	if !errors.Is(err, windows.ERROR_SHARING_VIOLATION) && !errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		t.Fatalf("Claim of a held file = %v; want a sharing violation or access denied", err)
	}
	if _, err := os.Stat(src); err != nil {
		t.Errorf("the held file left Pickup: %v", err)
	}
	if _, err := os.Stat(filepath.Join(r.Layout().Queue, "q.eml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a copy reached Queue: %v", err)
	}
	if !errors.Is(err, ErrHeld) {
		t.Errorf("Claim of a held file = %v; want it to match ErrHeld", err)
	}
	// The caller decides whether giving up is an error (a 451 to an SMTP
	// client) or a wait (a Pickup file claimed later): the Application
	// Event Log, which gets every error, must not fill with the second.
	if got := logs.String(); !strings.Contains(got, "level=DEBUG") || !strings.Contains(got, "attempts=4") || !strings.Contains(got, "gave up") || strings.Contains(got, "level=ERROR") {
		t.Errorf("log = %q; want a debug line after 4 attempts, no error", got)
	}
}

func TestRemoveRetriesWhileAnotherProgramHoldsTheFile(t *testing.T) {
	r, logs := openLogged(t)
	src := pickupFile(t, r)
	release := hold(t, src)
	time.AfterFunc(150*time.Millisecond, release)

	if err := r.Remove(src); err != nil {
		t.Fatalf("Remove while held for 150ms: %v", err)
	}
	if _, err := os.Stat(src); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("file still there after Remove: %v", err)
	}
	if got := logs.String(); !strings.Contains(got, "delete retried") {
		t.Errorf("log = %q; want a warning about the retried delete", got)
	}
}
