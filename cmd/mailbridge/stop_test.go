package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/config"
	"github.com/mailbridge/mailbridge/internal/smtpsink"
	"github.com/mailbridge/mailbridge/internal/testtool"
)

// A stop while the smart host holds its reply to the final "." waits for
// that reply (within shutdown_timeout): after the restart the message is
// not sent a second time (RFC 5321 section 6.1).
func TestStopDuringDeliverySendsOnce(t *testing.T) {
	dotSeen := make(chan struct{}, 1)
	sink := smtpsink.Start(t, smtpsink.Hooks{Data: func(string, []string, []byte) error {
		select {
		case dotSeen <- struct{}{}:
			time.Sleep(time.Second)
		default:
		}
		return nil
	}})
	port := testtool.FreePort(t)
	dir := testDir(t)
	conf := filepath.Join(dir, "mailbridge.toml")
	text := fmt.Sprintf("hostname = \"mail.test\"\n[mailroot]\nroot = %q\n[inbound]\nbind = \"127.0.0.1\"\nport = %d\nshutdown_timeout = \"10s\"\n[outbound]\nserver = \"127.0.0.1\"\nport = %d\ntls = \"none\"\n",
		filepath.Join(dir, "mailroot"), port, sink.Port)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := func() (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- run(ctx, cfg, log) }()
		return func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("run did not return after the stop")
			}
		}
	}
	stop := start()
	os.MkdirAll(cfg.Mailroot.Pickup, 0o755)
	if err := os.WriteFile(filepath.Join(cfg.Mailroot.Pickup, "m.eml"), []byte("X-Sender: a@x.test\r\nX-Receiver: b@y.test\r\n\r\nSubject: once\r\n\r\nbody\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case <-dotSeen:
	case <-time.After(30 * time.Second):
		t.Fatal("no delivery")
	}
	stop() // while the sink holds its reply to the final "."
	// The message was delivered during the stop: it is done with, not left
	// in Queue, where an administrator who stirs the queue (moves its
	// files back to Pickup) would send it again.
	if left, _ := filepath.Glob(filepath.Join(cfg.Mailroot.Queue, "*")); len(left) > 1 {
		t.Fatalf("after the stop Queue holds %v, want only its lock", left)
	}

	stop = start()
	defer stop()
	deadline := time.Now().Add(15 * time.Second)
	for {
		left, _ := filepath.Glob(filepath.Join(cfg.Mailroot.Queue, "*.eml"))
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Queue still holds %v", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(sink.Messages()); n != 1 {
		t.Fatalf("the smart host got the message %d times, want once", n)
	}
}
