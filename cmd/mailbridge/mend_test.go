package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/testlog"
	"github.com/mailbridge/mailbridge/mailroot"
)

// SortTemp and Queue deleted while running (a clean-up of temporary
// folders) are created again, and said so; a second instance is still
// kept out. Found from outside: nothing was stored or claimed after that
// until an administrator made the folders again, and a second instance
// could start.
func TestRunMendsDeletedFolders(t *testing.T) {
	cfg := loadTestConfig(t, `hostname = "mb.test"`, "")
	conf, root := cfg.File, filepath.Dir(cfg.Mailroot.Queue)
	var logs testlog.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		done <- runWith(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)), func() { close(ready) }, runOptions{now: time.Now, certPoll: time.Hour, mendEvery: 50 * time.Millisecond})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	<-ready
	// The bridge has read Queue once it says what it relays.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "no Outbound Server"); {
		if time.Now().After(deadline) {
			t.Fatalf("the bridge did not start:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, name := range []string{"SortTemp", "Queue"} {
		if err := os.RemoveAll(filepath.Join(root, name)); err != nil {
			t.Skipf("cannot delete a folder holding an open lock file here (as on Windows): %v", err)
		}
	}
	// A Pickup file claimed while Queue is missing waits in Pickup, and is
	// claimed once Queue is back (it was forgotten).
	if err := os.WriteFile(filepath.Join(root, "Pickup", "m.eml"), []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nbody\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		queued, _ := filepath.Glob(filepath.Join(root, "Queue", "*.eml"))
		if len(queued) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Pickup file was not claimed once Queue was back:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for strings.Count(logs.String(), "created again") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the folders were not created again:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, name := range []string{"SortTemp", "Queue"} {
		if _, err := os.Stat(filepath.Join(root, name, "mailbridge.lock")); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The port is still known as the running instance's (found from
	// outside: the new lock file lacked the note, and check took the port
	// for another program's).
	want := fmt.Sprintf("note: inbound.port %d is held by the mailbridge running with this mail root", cfg.Inbound.Port)
	if code, out, errs := runCmd(t, "check", "--config", conf); code != 0 || !strings.Contains(out, "note: a mailbridge is running with this mail root; a second one could not start beside it") || !strings.Contains(out, want) {
		t.Fatalf("check beside the running instance: exit %d\n%s%s", code, out, errs)
	}
}

// When another instance took the mail root while its lock files were
// gone, this one stops (gracefully): two instances on one Queue would
// send its messages twice. Found from outside: both kept running.
func TestRunStopsWhenAnotherTakesTheRoot(t *testing.T) {
	cfg := loadTestConfig(t, `hostname = "mb.test"`, "")
	var logs testlog.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		done <- runWith(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)), func() { close(ready) }, runOptions{now: time.Now, certPoll: time.Hour, mendEvery: 300 * time.Millisecond})
	}()
	// Stopped before the folders are removed, when the test ends without
	// its stopping by itself (a skip, a failure): its lock files, held
	// open, cannot be deleted on Windows.
	returned := false
	defer func() {
		if !returned {
			cancel()
			<-done
		}
	}()
	<-ready
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "no Outbound Server"); {
		if time.Now().After(deadline) {
			t.Fatalf("the bridge did not start:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, dir := range []string{cfg.Mailroot.SortTemp, cfg.Mailroot.Queue} {
		if err := os.RemoveAll(dir); err != nil {
			t.Skipf("cannot delete a folder holding an open lock file here (as on Windows): %v", err)
		}
	}
	other, err := mailroot.Open(layout(cfg))
	if err != nil {
		t.Skipf("the running instance mended the folders first: %v", err)
	}
	defer other.Close()
	select {
	case err := <-done:
		returned = true
		if err == nil || !strings.Contains(err.Error(), "another mailbridge running on this mail root") {
			t.Fatalf("run returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("still running beside the other instance:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "another mailbridge has taken this mail root: stopping") {
		t.Fatalf("log:\n%s", logs.String())
	}
}
