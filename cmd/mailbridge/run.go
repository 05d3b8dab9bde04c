package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/mailbridge/mailbridge/bridge"
	"github.com/mailbridge/mailbridge/compat"
	"github.com/mailbridge/mailbridge/config"
	"github.com/mailbridge/mailbridge/listener"
	"github.com/mailbridge/mailbridge/mailroot"
	"github.com/mailbridge/mailbridge/sender"
)

func layout(cfg *config.Config) mailroot.Layout {
	m := cfg.Mailroot
	return mailroot.Layout{Pickup: m.Pickup, Drop: m.Drop, Queue: m.Queue, Badmail: m.Badmail, SortTemp: m.SortTemp}
}

// bridgeConfig maps [outbound] and [pickup] onto the bridge.
func bridgeConfig(cfg *config.Config) bridge.Config {
	o, p := cfg.Outbound, cfg.Pickup
	return bridge.Config{
		Hostname: cfg.Hostname,
		Sender: sender.Config{
			Host: o.Server, Port: o.Port, Hostname: cfg.Hostname,
			ConnectTimeout: o.ConnectTimeout, CommandTimeout: o.CommandTimeout,
			MaxRecipients: o.MaxRecipientsPerMessage, MaxMessages: o.MaxMessagesPerConnection,
		},
		Connections:       o.Connections,
		Retry:             o.Retry,
		Expiration:        o.Expiration,
		DelayNotification: o.DelayNotification,
		Pickup:            compat.PickupOptions{DotStuffed: p.DotStuffed, StripBcc: p.StripBcc, DefaultDomain: p.DefaultDomain},
		Rescan:            p.Rescan,
		QuietPeriod:       p.QuietPeriod,
	}
}

// run wires the parts and runs until ctx is cancelled.
func run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	log.Info("mailbridge starting", "version", version, "config", cfg.File,
		"hostname", cfg.Hostname, "listen", cfg.Addr(),
		"pickup", cfg.Mailroot.Pickup, "drop", cfg.Mailroot.Drop, "queue", cfg.Mailroot.Queue,
		"badmail", cfg.Mailroot.Badmail, "sorttemp", cfg.Mailroot.SortTemp,
		"max_message_size", cfg.Inbound.MaxMessageSize, "max_attachment_size", cfg.Inbound.MaxAttachmentSize,
		"max_recipients", cfg.Inbound.MaxRecipients, "max_connections", cfg.Inbound.MaxConnections)
	root, err := mailroot.Open(layout(cfg))
	if err != nil {
		return fmt.Errorf("mail root: %w", err)
	}
	l, err := net.Listen("tcp", cfg.Addr())
	if err != nil {
		return fmt.Errorf("inbound port: %w", explainListen(err, cfg.Inbound.Port))
	}
	srv := listener.New(listener.Config{
		Hostname:          cfg.Hostname,
		Product:           cfg.Compat.Product,
		Version:           cfg.Compat.Version,
		MaxMessageSize:    cfg.Inbound.MaxMessageSize,
		MaxAttachmentSize: cfg.Inbound.MaxAttachmentSize,
		MaxRecipients:     cfg.Inbound.MaxRecipients,
		MaxConnections:    cfg.Inbound.MaxConnections,
		CommandTimeout:    cfg.Inbound.CommandTimeout,
		DataTimeout:       cfg.Inbound.DataTimeout,
	}, root, log)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(l) }()
	log.Info("listening", "addr", l.Addr().String())

	// The bridge (Pickup -> Queue -> Outbound Server) stops with bctx.
	bctx, stopBridge := context.WithCancel(context.Background())
	defer stopBridge()
	bridgeErr := make(chan error, 1)
	go func() { bridgeErr <- bridge.New(bridgeConfig(cfg), root, log).Run(bctx) }()

	select {
	case err := <-serveErr:
		stopBridge()
		<-bridgeErr
		return fmt.Errorf("inbound listener: %w", err)
	case err := <-bridgeErr:
		if err != nil {
			srv.Close()
			<-serveErr
			return fmt.Errorf("outbound: %w", err)
		}
		bridgeErr <- nil
	case <-ctx.Done():
	}
	stopBridge()
	log.Info("stopping: finishing messages in flight", "timeout", cfg.Inbound.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Inbound.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("stopped before every session finished", "error", err)
	}
	<-serveErr
	<-bridgeErr
	log.Info("mailbridge stopped")
	return nil
}

// explainListen turns a listen error into advice.
func explainListen(err error, port int) error {
	switch {
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("%w: ports below 1024 need privileges; run as root or Administrator, grant CAP_NET_BIND_SERVICE (setcap cap_net_bind_service=+ep mailbridge), or set [inbound] port to 1024 or above", err)
	case strings.Contains(err.Error(), "address already in use") || strings.Contains(err.Error(), "Only one usage"):
		return fmt.Errorf("%w: another program holds port %d (on Windows the IIS SMTP Service, SMTPSVC, often does: sc stop smtpsvc & sc config smtpsvc start= disabled); stop it or set [inbound] port", err, port)
	}
	return err
}

// check validates the machine for cfg and prints every problem.
func check(cfg *config.Config, stdout, stderr io.Writer) int {
	problems := 0
	fail := func(format string, a ...any) {
		problems++
		fmt.Fprintf(stderr, "problem: "+format+"\n", a...)
	}
	src := cfg.File
	if src == "" {
		src = "built-in defaults"
	}
	fmt.Fprintf(stdout, "configuration: %s\nhostname: %s\nlisten: %s\n", src, cfg.Hostname, cfg.Addr())
	for _, f := range layout(cfg).Folders() {
		fmt.Fprintf(stdout, "%-9s %s\n", f.Name+":", f.Path)
		if err := checkFolder(f.Path); err != nil {
			fail("%s folder %s: %v", f.Name, f.Path, err)
		}
	}
	if problems == 0 {
		l := layout(cfg)
		if err := mailroot.SameVolume(l.SortTemp, l.Drop); err != nil {
			fail("SortTemp and Drop: %v", err)
		}
		if err := mailroot.SameVolume(l.Pickup, l.Queue); err != nil {
			fail("Pickup and Queue: %v", err)
		}
	}
	if l, err := net.Listen("tcp", cfg.Addr()); err != nil {
		fail("inbound port %s: %v", cfg.Addr(), explainListen(err, cfg.Inbound.Port))
	} else {
		l.Close()
	}
	if cfg.Outbound.Server == "" {
		fmt.Fprintln(stdout, "note: no [outbound] server: Pickup files are queued but not sent")
	}
	if problems > 0 {
		fmt.Fprintf(stderr, "%d problem(s) found\n", problems)
		return 1
	}
	fmt.Fprintln(stdout, "ok: no problems found")
	return 0
}

// checkFolder makes sure dir exists (creating it as run would) and that a
// file can be created in it.
func checkFolder(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot be created: %w", err)
	}
	f, err := os.CreateTemp(dir, ".mailbridge-check-*")
	if err != nil {
		return fmt.Errorf("not writable: %w", err)
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("a test file could not be removed: %w", err)
	}

	return nil
}
