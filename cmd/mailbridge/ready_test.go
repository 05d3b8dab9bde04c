package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/testlog"
	"github.com/mailbridge/mailbridge/mailroot"
)

// run calls ready once the mail root is open and the port accepts
// connections; the Windows service reports Running then, and only then.
func TestRunReadyOnceOpen(t *testing.T) {
	cfg := stopConfig(t, 1, "1s")
	log := slog.New(slog.NewTextHandler(&testlog.Buffer{}, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan error, 1)
	go func() {
		done <- run(ctx, cfg, log, func() {
			// What a client or an administrator would do on "started".
			c, err := net.DialTimeout("tcp", cfg.Addr(), 5*time.Second)
			if err == nil {
				c.Close()
				_, err = os.Stat(cfg.Mailroot.Drop)
			}
			ready <- err
		})
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Errorf("at ready: %v", err)
		}
	case err := <-done:
		t.Fatalf("run returned %v before it was ready", err)
	case <-time.After(30 * time.Second):
		t.Fatal("run not ready after 30 s")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A failure to open what run needs is an error from run, and ready is
// never called: the service reports it as a failed start, not as a
// service that started and then died.
func TestRunNotReadyWhenItCannotStart(t *testing.T) {
	tests := []struct {
		name string
		take func(t *testing.T, addr string, l mailroot.Layout)
		want string
	}{
		{"port taken", func(t *testing.T, addr string, _ mailroot.Layout) {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
		}, "inbound.port = "},
		{"mail root in use by another instance", func(t *testing.T, _ string, l mailroot.Layout) {
			r, err := mailroot.Open(l)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
		}, "mail root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := stopConfig(t, 1, "1s")
			tt.take(t, cfg.Addr(), layout(cfg))
			log := slog.New(slog.NewTextHandler(&testlog.Buffer{}, nil))
			called := false
			done := make(chan error, 1)
			go func() { done <- run(context.Background(), cfg, log, func() { called = true }) }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("run = %v; want an error about the %s", err, tt.want)
				}
				if called {
					t.Error("ready was called, then run failed")
				}
			case <-time.After(30 * time.Second):
				t.Fatal("run neither failed nor stopped")
			}
		})
	}
}
