package listener

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/testdir"
	"github.com/mailbridge/mailbridge/mailroot"
)

// A stop that comes before Serve has started (a service stopped right
// after its start) must not leave Serve accepting forever: as with
// net/http, Serve after Close or Shutdown returns ErrServerClosed at once
// and closes its listener. go-smtp's Serve, called after its Close, kept
// accepting on the new listener.
func TestServeAfterStop(t *testing.T) {
	for _, stop := range []string{"Close", "Shutdown"} {
		t.Run(stop, func(t *testing.T) {
			dir := testdir.New(t)
			l := mailroot.Layout{Pickup: filepath.Join(dir, "Pickup"), Drop: filepath.Join(dir, "Drop"), Queue: filepath.Join(dir, "Queue"),
				Badmail: filepath.Join(dir, "Badmail"), SortTemp: filepath.Join(dir, "SortTemp")}
			root, err := mailroot.Open(l)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			srv := New(Config{Hostname: "mx.test", Now: func() time.Time { return fixedNow }}, root, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if stop == "Close" {
				srv.Close()
			} else {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				srv.Shutdown(ctx)
				cancel()
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ln) }()
			select {
			case err := <-done:
				if !errors.Is(err, ErrServerClosed) {
					t.Fatalf("Serve returned %v, want ErrServerClosed", err)
				}
			case <-time.After(10 * time.Second):
				ln.Close()
				t.Fatal("Serve after " + stop + " still accepting")
			}
			if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
				c.Close()
				t.Error("the listener is still open")
			}
		})
	}
}
