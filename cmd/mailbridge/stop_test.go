package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/config"
	"github.com/mailbridge/mailbridge/internal/smtpsink"
	"github.com/mailbridge/mailbridge/internal/testlog"
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
	cfg := stopConfig(t, sink.Port, "10s")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := func() func() { return startRun(t, cfg, log) }
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

// When the smart host's reply to the final "." takes longer than a stop
// waits for it (shutdown_timeout, and at least the sender's 10 seconds of
// grace for that reply), the stop cuts the delivery and says which message
// may be sent twice.
func TestStopTimeoutCutsDeliveryWithWord(t *testing.T) {
	dotSeen := make(chan struct{}, 1)
	sink := smtpsink.Start(t, smtpsink.Hooks{Data: func(string, []string, []byte) error {
		select {
		case dotSeen <- struct{}{}:
			time.Sleep(12 * time.Second)
		default:
		}
		return nil
	}})
	cfg := stopConfig(t, sink.Port, "1s")
	var logs testlog.Buffer
	stop := startRun(t, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	os.MkdirAll(cfg.Mailroot.Pickup, 0o755)
	if err := os.WriteFile(filepath.Join(cfg.Mailroot.Pickup, "m.eml"), []byte("X-Sender: a@x.test\r\nX-Receiver: b@y.test\r\n\r\nSubject: cut\r\n\r\nbody\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case <-dotSeen:
	case <-time.After(30 * time.Second):
		t.Fatal("no delivery")
	}
	stop()
	out := logs.String()
	if !strings.Contains(out, "delivery cut short by the stop") || !strings.Contains(out, "to=[b@y.test]") || !strings.Contains(out, "it may have taken the message") {
		t.Fatalf("no word of the cut delivery:\n%s", out)
	}
	left, _ := filepath.Glob(filepath.Join(cfg.Mailroot.Queue, "*.eml"))
	if len(left) != 1 {
		t.Fatalf("Queue holds %v, want the message", left)
	}
	// Its state is saved, first attempt though it was: it names the
	// Pickup file for the log after the restart (found from outside: lost).
	if st, err := os.ReadFile(strings.TrimSuffix(left[0], ".eml") + ".state"); err != nil || !strings.Contains(string(st), `"source": "m.eml"`) {
		t.Fatalf("state after the stop: %v\n%s", err, st)
	}
}

// stopConfig is a configuration for the stop tests: a mail root of its
// own, a free inbound port, the smart host on 127.0.0.1:sinkPort.
func stopConfig(t *testing.T, sinkPort int, shutdownTimeout string) *config.Config {
	t.Helper()
	return loadTestConfig(t, `hostname = "mail.test"`,
		fmt.Sprintf("shutdown_timeout = %q\n[outbound]\nserver = \"127.0.0.1\"\nport = %d\ntls = \"none\"\n", shutdownTimeout, sinkPort))
}

// startRun runs mailbridge on cfg until the returned stop is called.
func startRun(t *testing.T, cfg *config.Config, log *slog.Logger) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, log, nil) }()
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
