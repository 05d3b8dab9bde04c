package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/idna"

	"github.com/mailbridge/mailbridge/bridge"
	"github.com/mailbridge/mailbridge/compat"
	"github.com/mailbridge/mailbridge/config"
	"github.com/mailbridge/mailbridge/listener"
	"github.com/mailbridge/mailbridge/mailroot"
	"github.com/mailbridge/mailbridge/portowner"
	"github.com/mailbridge/mailbridge/sender"
	"github.com/mailbridge/mailbridge/tlscert"
)

func layout(cfg *config.Config) mailroot.Layout {
	m := cfg.Mailroot
	return mailroot.Layout{Pickup: m.Pickup, Drop: m.Drop, Queue: m.Queue, Badmail: m.Badmail, SortTemp: m.SortTemp}
}

// bridgeConfig maps [outbound] and [pickup] onto the bridge.
func bridgeConfig(cfg *config.Config, w3c sender.CommandLog) bridge.Config {
	o, p := cfg.Outbound, cfg.Pickup
	return bridge.Config{
		Hostname:     cfg.Hostname,
		LocalDomains: cfg.Inbound.LocalDomains,
		Product:      cfg.Compat.Product,
		Sender: sender.Config{
			Host: o.Server, Port: o.Port, Hostname: cfg.Hostname,
			ConnectTimeout: o.ConnectTimeout, CommandTimeout: o.CommandTimeout,
			MaxRecipients: o.MaxRecipientsPerMessage, MaxMessages: o.MaxMessagesPerConnection,
			TLS: o.TLS, ServerName: o.ServerName, RootCAs: o.CAs, InsecureSkipVerify: !o.VerifyCertificate,
			RSAKeyExchange: o.RSAKeyExchange,
			Username:       o.Username, Password: o.Password,
			CommandLog: w3c,

			// A message whose final "." is sent when the stop comes gets
			// its reply, as a message being received gets its 250.
			StopTimeout: cfg.Inbound.ShutdownTimeout,
		},
		Connections:       o.Connections,
		Retry:             o.Retry,
		Expiration:        o.Expiration,
		DelayNotification: o.DelayNotification,
		Pickup:            compat.PickupOptions{DotStuffed: p.DotStuffed, StripBcc: p.StripBcc, DefaultDomain: p.DefaultDomain},
		Rescan:            p.Rescan,
		QuietPeriod:       p.QuietPeriod,
		Ignore:            p.Ignore,
	}
}

// runOptions are what tests change in run: the clock the certificate's
// expiry is judged by, and how often the PFX file is polled.
type runOptions struct {
	now      func() time.Time
	certPoll time.Duration
	// mendEvery is how often folders deleted while running are looked
	// for (mendFolders); 0 means 2 seconds.
	mendEvery time.Duration
}

// run wires the parts and runs until ctx is cancelled. It calls ready
// (when not nil) once it has opened everything it needs (the mail root
// and its locks, the certificate, the W3C log, the ports) and serves: a
// caller that reports "started" (the Windows service) waits for it, and
// an error returned before it is a failure to start.
func run(ctx context.Context, cfg *config.Config, log *slog.Logger, ready func()) error {
	return runWith(ctx, cfg, log, ready, runOptions{now: time.Now, certPoll: 10 * time.Second})
}

// runWith is run with opts.
func runWith(ctx context.Context, cfg *config.Config, log *slog.Logger, ready func(), opts runOptions) error {
	log.Info("mailbridge starting", "version", version, "config", cfg.File,
		"hostname", cfg.Hostname, "listen", cfg.Addr(),
		"pickup", cfg.Mailroot.Pickup, "pickup_ignore", cfg.Pickup.Ignore, "drop", cfg.Mailroot.Drop, "queue", cfg.Mailroot.Queue,
		"badmail", cfg.Mailroot.Badmail, "sorttemp", cfg.Mailroot.SortTemp,
		"max_message_size", cfg.Inbound.MaxMessageSize, "max_attachment_size", cfg.Inbound.MaxAttachmentSize,
		"max_recipients", cfg.Inbound.MaxRecipients, "max_connections", cfg.Inbound.MaxConnections, "max_connections_per_ip", cfg.Inbound.MaxConnectionsPerIP,
		"outbound", cfg.Outbound.Server, "outbound_port", cfg.Outbound.Port, "outbound_tls", cfg.Outbound.TLS,
		"outbound_verify_certificate", verifyText(cfg.Outbound), "outbound_auth", cfg.Outbound.Username != "")
	// The rest of the effective configuration, for an administrator who
	// checks a migration: who may relay, what is local, how Pickup files
	// are read, when mail is retried and given up.
	in := cfg.Inbound
	// An empty list means everything for these two, as the README's
	// defaults say it.
	orAll := func(n int, v any, all string) any {
		if n == 0 {
			return all
		}
		return v
	}
	log.Info("configuration", "tls", in.TLS, "tls_port", in.TLSPort, "tls_rsa_key_exchange", in.RSAKeyExchange,
		"local_domains", orAll(len(in.LocalDomains), displayDomains(in.LocalDomains), "every domain"), "relay_from", in.RelayFrom, "intercept", in.Intercept,
		"allow_from", orAll(len(in.AllowFrom), in.AllowFrom, "everyone"), "deny_from", in.DenyFrom,
		"command_timeout", in.CommandTimeout, "data_timeout", in.DataTimeout, "bare_lf_end", in.BareLFEnd, "shutdown_timeout", in.ShutdownTimeout,
		"dot_stuffed", cfg.Pickup.DotStuffed, "strip_bcc", cfg.Pickup.StripBcc, "default_domain", cfg.Pickup.DefaultDomain,
		"quiet_period", cfg.Pickup.QuietPeriod,
		"retry", cfg.Outbound.Retry, "expiration", cfg.Outbound.Expiration, "delay_notification", cfg.Outbound.DelayNotification)
	if cfg.Outbound.ClearTextAuth() {
		log.Warn(clearTextAuthWarning)
	}
	limit, known := openFileLimit()
	warnings := []string{openRelayWarning(cfg.Inbound.RelayFrom), denyAllWarning(cfg.Inbound.DenyFrom), delayNotificationWarning(cfg.Outbound), fileLimitWarning(cfg, limit, known), interceptWarning(cfg.Inbound), timeZoneWarning(os.Getenv("TZ")), secretsReadableWarning(cfg)}
	warnings = append(warnings, folderAccessWarnings(layout(cfg), os.Geteuid(), accountGroups(), nil)...)
	warnings = append(warnings, dropReadWarnings(cfg.Mailroot.Drop, accountGroups(), os.Getegid(), processUmask())...)
	for _, w := range warnings {
		if w != "" {
			log.Warn(w)
		}
	}
	if msg, warn := hostnameNotice(cfg); warn {
		log.Warn(msg)
	} else if msg != "" {
		log.Info(msg)
	}
	if n := interceptNote(cfg); n != "" {
		log.Info(n)
	}
	existed := map[string]bool{}
	for _, f := range layout(cfg).Folders() {
		_, err := os.Stat(f.Path)
		existed[f.Path] = err == nil
	}
	if p := ownListenerProblem(cfg, net.InterfaceAddrs, lookupHost); p != "" {
		return errors.New(p)
	}
	root, err := mailroot.Open(layout(cfg), mailroot.WithLogger(log))
	if fe := (*mailroot.FolderError)(nil); errors.As(err, &fe) {
		// Named by its key and line, as check names it.
		return fmt.Errorf("%s", folderProblem(cfg, fe.Folder, fe.Err))
	}
	if le := (*mailroot.LayoutError)(nil); errors.As(err, &le) {
		return errors.New(layoutProblem(cfg, err))
	}
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		// Its lock file, in SortTemp or Queue, that it may not write: the
		// file when it is there (left by a run under another account),
		// else its folder.
		at := pe.Path
		if _, serr := os.Stat(at); serr != nil {
			at = filepath.Dir(at)
		}
		if advice := mailroot.AccessAdvice(at, err); advice != "" {
			return fmt.Errorf("mail root: %w%s", err, advice)
		}
	}
	if err != nil {
		return fmt.Errorf("mail root: %w", err)
	}
	defer root.Close()
	for _, f := range layout(cfg).Folders() {
		if !existed[f.Path] {
			// Found from outside: not said, where a folder of another
			// spelling held the mail (see CaseTwins).
			log.Info("folder created", "folder", f.Name, "path", f.Path)
		}
	}
	for _, w := range mailroot.CaseTwins(layout(cfg)) {
		log.Warn(w)
	}
	// Open made the folders and wrote its locks in SortTemp and Queue;
	// the others are written later. Found from outside: with Drop,
	// Pickup and Badmail not writable, run started without a word, and
	// the administrator learnt of it from stalled mail; check said it.
	for _, f := range layout(cfg).Folders() {
		if err := writableErr(f.Path, mailroot.CanAddFiles(f.Path)); err != nil {
			return fmt.Errorf("%s", folderProblem(cfg, f, err))
		}
	}
	logVolumeWarnings(cfg, log)
	var tlsConf *tls.Config
	stopWatch := make(chan struct{})
	defer close(stopWatch)
	if opts.mendEvery <= 0 {
		opts.mendEvery = 2 * time.Second
	}
	lostRoot := make(chan error, 1)
	go mendFolders(root, log, stopWatch, opts.mendEvery, lostRoot)
	if cfg.Inbound.TLSEnabled() {
		store, err := tlscert.NewStore(cfg.Inbound.PFXPath, cfg.Inbound.PFXPassword, cfg.Inbound.PFXPasswordFile, log, tlscert.Options{Now: opts.now, Hostname: cfg.Hostname})
		if err != nil {
			return fmt.Errorf("inbound TLS: %w", err)
		}
		log.Info("certificate loaded", "file", cfg.Inbound.PFXPath, "certificate", store.Info().String())
		if w := store.Info().NameWarning(cfg.Hostname); w != "" {
			log.Warn(w, "file", cfg.Inbound.PFXPath)
		}
		// An expired certificate is served all the same (see NewStore),
		// with an error now and every day until it is replaced; one that
		// expires soon is warned of daily.
		store.CheckExpiry()
		go store.Watch(stopWatch, opts.certPoll)
		tlsConf = &tls.Config{GetCertificate: store.GetCertificate, MinVersion: cfg.Inbound.MinTLSVersion}
	}
	if w := unusedPFXWarning(cfg); w != "" {
		log.Warn(w)
	}
	var cmdLog listener.CommandLog
	var outLog sender.CommandLog
	if cfg.Log.W3CDir != "" {
		w3c, err := compat.NewW3CLog(cfg.Log.W3CDir, w3cSiteName(cfg.Log.W3CDir), cfg.Log.W3CMaxSize)
		if err != nil {
			msg := err.Error()
			if ferr := mailroot.MakeFolder(cfg.Log.W3CDir); ferr != nil {
				msg = ferr.Error() // in plain words, as check says it
			}
			return fmt.Errorf("%s", cfg.KeyProblem("log.w3c_dir", cfg.Log.W3CDir, msg))
		}
		defer w3c.Close()
		cmdLog, outLog = w3c, w3c
	}
	// No TCP keep-alive: SMTP sessions are short and have their own
	// timeouts, and it would cost three system calls per connection.
	lc := net.ListenConfig{KeepAlive: -1}
	l, err := lc.Listen(context.Background(), "tcp", cfg.Addr())
	if err != nil {
		// Named by its key and line, as check names it.
		return fmt.Errorf("%s", listenProblem(cfg, "port", cfg.Inbound.Port, cfg.Addr(), explainListen(err, cfg.Inbound.Port, "port")))
	}
	var tl net.Listener
	if cfg.Inbound.TLSPort != 0 {
		if tl, err = lc.Listen(context.Background(), "tcp", cfg.TLSAddr()); err != nil {
			l.Close()
			return fmt.Errorf("%s", listenProblem(cfg, "tls_port", cfg.Inbound.TLSPort, cfg.TLSAddr(), explainListen(err, cfg.Inbound.TLSPort, "tls_port")))
		}
	}
	srv := listener.New(listener.Config{
		Hostname:            cfg.Hostname,
		DefaultDomain:       cfg.Pickup.DefaultDomain,
		Product:             cfg.Compat.Product,
		Version:             cfg.Compat.Version,
		MaxMessageSize:      cfg.Inbound.MaxMessageSize,
		MaxAttachmentSize:   cfg.Inbound.MaxAttachmentSize,
		MaxRecipients:       cfg.Inbound.MaxRecipients,
		MaxConnections:      cfg.Inbound.MaxConnections,
		MaxConnectionsPerIP: cfg.Inbound.MaxConnectionsPerIP,
		CommandTimeout:      cfg.Inbound.CommandTimeout,
		DataTimeout:         cfg.Inbound.DataTimeout,
		BareLFEnd:           cfg.Inbound.BareLFEnd,
		TLSConfig:           tlsConf,
		StartTLS:            cfg.Inbound.TLS == "starttls",
		RSAKeyExchange:      cfg.Inbound.RSAKeyExchange,
		LocalDomains:        cfg.Inbound.LocalDomains,
		RelayFrom:           cfg.Inbound.RelayFrom,
		Intercept:           cfg.Inbound.Intercept,
		RelayDir:            cfg.Mailroot.Pickup,
		RelayDotStuffed:     cfg.Pickup.DotStuffed,
		AllowFrom:           cfg.Inbound.AllowFrom,
		DenyFrom:            cfg.Inbound.DenyFrom,
		CommandLog:          cmdLog,
	}, root, log)
	serveErr := make(chan error, 2)
	listeners := 1
	if cfg.Inbound.TLS == "implicit" {
		go func() { serveErr <- srv.ServeTLS(l) }()
	} else {
		go func() { serveErr <- srv.Serve(l) }()
	}
	log.Info("listening", "addr", l.Addr().String(), "tls", cfg.Inbound.TLS)
	addrs := []string{l.Addr().String()}
	if tl != nil {
		listeners++
		go func() { serveErr <- srv.ServeTLS(tl) }()
		log.Info("listening", "addr", tl.Addr().String(), "tls", "implicit")
		addrs = append(addrs, tl.Addr().String())
	}
	if err := root.NoteListening(addrs); err != nil {
		// Only check's notes depend on it.
		log.Debug("cannot note the addresses listened on in the lock file", "error", err)
	}

	// The bridge (Pickup -> Queue -> Outbound Server) stops with bctx.
	bctx, stopBridge := context.WithCancel(context.Background())
	defer stopBridge()
	bridgeErr := make(chan error, 1)
	bc := bridgeConfig(cfg, outLog)
	// The sender's warnings (opportunistic TLS that fell back to plain
	// text) go to the same log as the deliveries they concern.
	bc.Sender.Log = log
	go func() { bridgeErr <- bridge.New(bc, root, log).Run(bctx) }()
	if ready != nil {
		ready()
	}

	var lostErr error
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
	case err := <-lostRoot:
		// Stopped gracefully, as for a signal: the messages in flight
		// finish, and the Queue is the other instance's.
		log.Error("another mailbridge has taken this mail root: stopping", "error", err)
		lostErr = fmt.Errorf("mail root: %w", err)
	case <-ctx.Done():
	}
	stopBridge()
	log.Info("stopping: finishing messages in flight", "timeout", cfg.Inbound.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Inbound.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("stopped before every session finished", "error", err)
	}
	for ; listeners > 0; listeners-- {
		<-serveErr
	}
	<-bridgeErr
	if lostErr != nil {
		return lostErr
	}
	log.Info("mailbridge stopped")
	return nil
}

// mendFolders creates again, every period, the mail root's folders that
// were deleted while mailbridge runs (mailroot's Mend): mailbridge's own
// SortTemp and Queue above all, which a clean-up of temporary folders may
// take, and without which nothing is stored or claimed. What it cannot
// mend is logged when it starts and when it changes, not every period.
// A lock that another instance took meanwhile (its lock file went with
// the folder) is sent on lost, and mendFolders returns: two instances on
// one Queue would send its messages twice, and the newer one holds the
// locks.
func mendFolders(root *mailroot.Root, log *slog.Logger, stop <-chan struct{}, every time.Duration, lost chan<- error) {
	t := time.NewTicker(every)
	defer t.Stop()
	last := ""
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		created, err := root.Mend()
		for _, f := range created {
			log.Warn("folder deleted or moved away while mailbridge runs: created again; if it was moved (renamed), files in it are where it went: move any mail among them back (Pickup and Queue files into the new Pickup); if other programs use it (writers of Pickup, readers of Drop), check that they still have access to it",
				"folder", f.Name, "path", f.Path)
		}
		if errors.Is(err, mailroot.ErrInUse) {
			lost <- err
			return
		}
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if msg != last {
			if err != nil {
				log.Error("mail root folder missing or out of reach", "error", err)
			} else {
				log.Info("mail root folders in place again")
			}
			last = msg
		}
	}
}

// logVolumeWarnings logs at start what check warns of about the volumes
// of Drop and Queue (found from outside: said by check alone, where a
// service is started without it): a volume too full for a message, and a
// folder held in memory (tmpfs), whose mail a restart loses. A full
// volume does not stop the start: every message gets 451 until space is
// freed, and Pickup mail waits.
func logVolumeWarnings(cfg *config.Config, log *slog.Logger) {
	for _, f := range layout(cfg).Folders() {
		low, _, inMemory := volumeState(cfg, f)
		if low != "" {
			log.Warn(low, "folder", f.Name)
		}
		if inMemory {
			log.Warn("folder on a file system held in memory (tmpfs): its files are lost when the machine restarts, mail acknowledged with 250 too", "folder", f.Name, "path", f.Path)
		}
	}
	for _, w := range journalWarnings(cfg) {
		log.Warn(w)
	}
}

// journalWarnings says which folders (all but SortTemp, whose files are
// made again) are on a file system without a journal, one warning per
// kind of file system: there a power cut can lose mail acknowledged with
// 250, whatever mailbridge flushes (see mailroot.Unjournaled). Found by a
// power-cut test: nothing said it, and this very machine's disk is one.
func journalWarnings(cfg *config.Config) []string {
	var kinds []string
	folders := map[string][]string{}
	for _, f := range layout(cfg).Folders() {
		if f.Name == "SortTemp" {
			continue
		}
		if fs := mailroot.Unjournaled(f.Path); fs != "" {
			if folders[fs] == nil {
				kinds = append(kinds, fs)
			}
			folders[fs] = append(folders[fs], f.Name)
		}
	}
	var out []string
	for _, fs := range kinds {
		names := folders[fs]
		subject, them := names[0]+" is", "it"
		if n := len(names); n > 1 {
			subject, them = strings.Join(names[:n-1], ", ")+" and "+names[n-1]+" are", "them"
		}
		fix := "an NTFS volume"
		switch {
		case strings.HasPrefix(fs, "ext4"):
			fix = "a journaled file system: give ext4 its journal (`tune2fs -O has_journal DEVICE`, while it is unmounted), or use XFS"
		case runtime.GOOS != "windows":
			fix = "a journaled file system (ext4 with its journal, XFS)"
		}
		out = append(out, fmt.Sprintf("%s on %s: a power cut can undo changes to folders there, and mail acknowledged with 250 is then found by fsck in lost+found, or not at all; put %s on %s", subject, fs, them, fix))
	}
	return out
}

// volumeState is what check and run say of folder f's volume: for Drop
// and Queue, too little space (mailroot.LowSpace: full when no message
// fits at all; Drop measured by max_message_size, Queue by nothing, as
// Pickup files have no size limit), and for every folder but SortTemp,
// whether it is held in memory.
func volumeState(cfg *config.Config, f mailroot.Folder) (low string, full, inMemory bool) {
	switch f.Name {
	case "Drop":
		low, full = mailroot.LowSpace(f.Path, cfg.Inbound.MaxMessageSize)
	case "Queue":
		low, full = mailroot.LowSpace(f.Path, 0)
	}
	return low, full, f.Name != "SortTemp" && mailroot.InMemory(f.Path)
}

// explainListen turns a listen error into advice: who holds the port and
// how to free it, or how to get the privileges a low port needs. key is
// the [inbound] key that set the port ("port", "tls_port"): the advice to
// change it names that key.
func explainListen(err error, port int, key string) error {
	return explainListenWith(err, port, key, portowner.Listeners)
}

// explainListenWith is explainListen with the port owner lookup passed in.
func explainListenWith(err error, port int, key string, lookup func(port int) ([]portowner.Owner, error)) error {
	switch {
	case errors.Is(err, os.ErrPermission):
		return &listenError{cause(err) + ": ports below 1024 need privileges; run as root or Administrator, grant CAP_NET_BIND_SERVICE (setcap cap_net_bind_service=+ep mailbridge), or set [inbound] " + key + " to 1024 or above", err}
	case addrInUse(err) || strings.Contains(err.Error(), "address already in use") || strings.Contains(err.Error(), "Only one usage"):
		owners, lerr := lookup(port)
		return &listenError{cause(err) + ": " + portTaken(port, key, owners, lerr), err}
	case addrNotHere(err):
		// import-iis copies the old server's binding: on the new one the
		// address is often not there (found from outside).
		return &listenError{cause(err) + `: the address is not one of this machine's: set [inbound] bind to one of its addresses, or to "" for all of them`, err}
	}
	return err
}

// listenProblem is a listen failure (explained by explainListen) as a
// problem of the key that caused it: bind's when the address is not one
// of this machine's, the port's (key "port" or "tls_port") otherwise.
// Found from outside: `bind = "10.9.9.9"` was reported as a problem of
// inbound.port, on port's line.
func listenProblem(cfg *config.Config, key string, port int, addr string, err error) config.Problem {
	if addrNotHere(err) {
		// Without the port: the same for every port (check says it once).
		return cfg.KeyProblem("inbound.bind", cfg.Inbound.Bind, err.Error())
	}
	return cfg.KeyProblem("inbound."+key, port, addr+": "+err.Error())
}

// listenError is a listen error with its advice; its text leaves out
// what the problem's line says already (found from outside: the address
// three times in "127.0.0.1:25: listen tcp 127.0.0.1:25: bind: ...").
type listenError struct {
	msg string
	err error
}

func (e *listenError) Error() string { return e.msg }
func (e *listenError) Unwrap() error { return e.err }

// cause is the system's own words for a listen error, without the
// operation and address that net.OpError puts before them.
func cause(err error) string {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err.Error()
	}
	return err.Error()
}

// portTaken says which program holds port (set by [inbound] key) and how
// to free it. The IIS SMTP Service is named with the commands that stop it
// for good: it is what holds port 25 on a server being migrated, and it
// restarts with Windows.
func portTaken(port int, key string, owners []portowner.Owner, lookupErr error) string {
	const iisAdvice = "stop and disable it from an elevated prompt: `sc stop smtpsvc` and `sc config smtpsvc start= disabled` (PowerShell: `Stop-Service SMTPSVC; Set-Service SMTPSVC -StartupType Disabled`), then start mailbridge again"
	for _, o := range owners {
		if o.IsIISSMTP() {
			return fmt.Sprintf("port %d is held by %s, the IIS SMTP Service (SMTPSVC) that mailbridge replaces; %s", port, o, iisAdvice)
		}
	}
	var known, hidden []string
	for _, o := range owners {
		s := fmt.Sprintf("%s on %s", o, o.Addr)
		if o.PID == 0 {
			hidden = append(hidden, s)
			continue
		}
		if isMailbridge(o.Name) {
			s = fmt.Sprintf("another mailbridge (PID %d) on %s, which is already running", o.PID, o.Addr)
		}
		known = append(known, s)
	}
	switch {
	case len(known) > 0:
		return fmt.Sprintf("port %d is held by %s; stop that program, or set [inbound] %s to a free port", port, strings.Join(known, ", "), key)
	case len(hidden) > 0:
		how := fmt.Sprintf("as root, `ss -ltnp 'sport = :%d'` names it", port)
		if runtime.GOOS == "windows" {
			how = fmt.Sprintf("as Administrator, `netstat -abno | findstr :%d` names it", port)
		}
		return fmt.Sprintf("port %d is held by %s, which this user may not inspect; %s; stop it, or set [inbound] %s to a free port", port, strings.Join(hidden, ", "), how, key)
	}
	why := ""
	if lookupErr != nil {
		why = fmt.Sprintf(" (it could not be identified: %v)", lookupErr)
	}
	return fmt.Sprintf("another program holds port %d%s; on Windows the IIS SMTP Service often does: %s; otherwise stop that program, or set [inbound] %s to a free port", port, why, iisAdvice, key)
}

// ownListenerProblem says, when [outbound] server is one of this
// machine's addresses (addrs lists them), or a name that resolves to one
// (lookup), on which the inbound listener takes the outbound port, that
// the Outbound Server is mailbridge itself: config refuses loopback
// addresses, localhost and hostname, and this the others (found from
// outside: a LAN address passed, and so did a name in DNS or /etc/hosts
// for this machine). Pickup mail would be "delivered" into Drop, with
// no error anywhere. "" when it is not, or when the name does not
// resolve now (the delivery attempts say so). The cases config refuses
// (loopback, localhost, hostname, bind) are said here too: the caller
// asks only when config found nothing wrong with [outbound].
func ownListenerProblem(cfg *config.Config, addrs func() ([]net.Addr, error), lookup func(host string) ([]netip.Addr, error)) string {
	o, in := cfg.Outbound, cfg.Inbound
	if !cfg.OutboundOnInboundPort() {
		return ""
	}
	host := strings.Trim(o.Server, "[]")
	named := false
	candidates := []netip.Addr{}
	if ip, err := netip.ParseAddr(host); err == nil {
		candidates = append(candidates, ip.Unmap())
	} else if ips, err := lookup(host); err == nil {
		named = true
		for _, ip := range ips {
			candidates = append(candidates, ip.Unmap())
		}
	}
	var bound netip.Addr // invalid: every address
	if strings.EqualFold(in.Bind, "localhost") {
		bound = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	} else if b, err := netip.ParseAddr(in.Bind); err == nil && !b.IsUnspecified() {
		bound = b.Unmap()
	}
	var mine []netip.Addr
	if !bound.IsValid() {
		list, _ := addrs()
		for _, a := range list {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok {
					mine = append(mine, ip.Unmap())
				}
			}
		}
	}
	for _, ip := range candidates {
		own := ip == bound
		if !bound.IsValid() {
			// A listener on every address takes the whole loopback
			// range (127.0.1.1, which Debian gives the host's name).
			own = ip.IsLoopback() || slices.Contains(mine, ip)
		}
		if !own {
			continue
		}
		if named {
			return cfg.KeyProblem("outbound.server", o.Server, fmt.Sprintf("resolves to %s, an address of this machine: with outbound.port %d it is this mailbridge's own inbound listener, so Pickup mail would come back into Drop, or go round in a loop; set the smart host's name or address and port", ip, o.Port)).String()
		}
		return cfg.KeyProblem("outbound.server", o.Server, fmt.Sprintf("with outbound.port %d is this mailbridge's own inbound listener (an address of this machine): Pickup mail would come back into Drop, or go round in a loop; set the smart host's address and port", o.Port)).String()
	}
	return ""
}

// lookupHost resolves an Outbound Server's name for ownListenerProblem,
// waiting at most 3 seconds: a start must not hang on a DNS server that
// does not answer.
func lookupHost(host string) ([]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// isMailbridge reports whether a process name is mailbridge's.
func isMailbridge(name string) bool {
	return strings.EqualFold(strings.TrimSuffix(strings.ToLower(name), ".exe"), "mailbridge")
}

// unusedPFXWarning returns a warning when [inbound] pfx_path is set but
// nothing uses it (tls = "none", no tls_port): an administrator who set
// it expects TLS, and would otherwise learn from a client that there is
// none.
func unusedPFXWarning(cfg *config.Config) string {
	if cfg.Inbound.PFXPath == "" || cfg.Inbound.TLSEnabled() {
		return ""
	}
	return fmt.Sprintf(`[inbound] pfx_path is set (%s) but the certificate is not used: tls = "none" and no tls_port; set [inbound] tls = "starttls" (STARTTLS on port) or "implicit", or tls_port (465, say) to turn TLS on`, cfg.Inbound.PFXPath)
}

const clearTextAuthWarning = `[outbound] tls = "none" with a username and password: AUTH sends the password in clear text to the smart host; use tls = "starttls" (port 587) or "implicit" (port 465) if the smart host offers it`

// check validates the machine for cfg and prints every problem.
//
// With the configuration's problems (cfgProblems, already printed), it
// checks what the sections without problems name, and says what it
// leaves out: a section with a problem may name a folder or a port other
// than the one meant.
func check(cfg *config.Config, stdout, stderr io.Writer, cfgProblems config.Errors) int {
	warned := &warningCount{w: stdout}
	stdout = warned
	problems := len(cfgProblems)
	fail := func(format string, a ...any) {
		problems++
		fmt.Fprintf(stderr, "problem: "+format+"\n", a...)
	}
	// ok tells whether no problem of the configuration is in section (a
	// [section], or "hostname"): a key of it, or one written outside it
	// that belongs there ("port" above every section, [Inbound]). Found
	// from outside: a stray "port = 25" at the top stopped every check.
	ok := func(section string) bool {
		for _, p := range cfgProblems {
			sec, _, nested := strings.Cut(p.Key, ".")
			if sec == section || !nested && slices.Contains(config.SectionsOf(p.Key), section) {
				return false
			}
		}
		return true
	}
	var skipped []string
	skip := func(what, section string) bool {
		if ok(section) {
			return false
		}
		skipped = append(skipped, what+" (["+section+"])")
		return true
	}
	src := cfg.File
	if src == "" {
		src = "built-in defaults"
	}
	fmt.Fprintf(stdout, "configuration: %s\n", src)
	if ok("hostname") {
		// Not the machine's name beside a problem of the one set (found
		// from outside: "hostname: vm" above hostname's problem).
		fmt.Fprintf(stdout, "hostname: %s\n", cfg.Hostname)
	}
	if ok("inbound") {
		// Not the default's, where [inbound] has a problem (found from
		// outside: "listen: :25" under a misspelt [Inbound]).
		fmt.Fprintf(stdout, "listen: %s\n", listenAddrs(cfg))
	}
	folders := !skip("the folders", "mailroot")
	running := false // a mailbridge runs with this mail root (its lock)
	var madeByRoot []string
	_, rootErr := os.Stat(cfg.Mailroot.Root)
	rootMissing := cfg.Mailroot.Root != "" && rootErr != nil
	seen := map[string]bool{}
	unwritable := map[string]bool{} // folders with a problem, which names the account's access
	for _, f := range layout(cfg).Folders() {
		if !folders {
			break
		}
		fmt.Fprintf(stdout, "%-9s %s\n", f.Name+":", f.Path)
		probe := checkFolder
		if f.Name == "Drop" || f.Name == "Pickup" {
			// The program polling Drop must only ever see whole
			// messages, not a probe file; and a running mailbridge
			// would take a probe file in Pickup for a message (found
			// from outside, with ignore = []: in Badmail, with a
			// reason asking to resend it).
			probe = checkFolderAccess
		}
		_, serr := os.Stat(f.Path)
		// Made as run makes it (its mode: mailroot.FolderMode).
		err := probe(f.Path, mailroot.FolderMode(f.Name))
		if serr != nil && err == nil && os.Geteuid() == 0 {
			madeByRoot = append(madeByRoot, f.Path)
		}
		var inMemory bool
		if err == nil {
			var low string
			var full bool
			switch low, full, inMemory = volumeState(cfg, f); {
			case full:
				fail("%s", low)
			case low != "":
				fmt.Fprintln(stdout, "warning: "+low)
			}
		}
		if err == nil && f.Name == "Queue" {
			// What a start leaves alone there, said before it.
			foreign, more, _ := bridge.ForeignQueueFiles(f.Path) // a folder not read is said above
			for _, what := range foreign {
				fmt.Fprintln(stdout, "warning: "+what)
			}
			if more > 0 {
				fmt.Fprintf(stdout, "warning: and %d more such files in Queue\n", more)
			}
		}
		if inMemory {
			// Found from outside: passed without a word.
			fmt.Fprintf(stdout, "warning: %s is on a file system held in memory (tmpfs): its files are lost when the machine restarts, mail acknowledged with 250 too\n", f.Name)
		}
		if err != nil {
			unwritable[f.Path] = true
			// A root that cannot be made is one problem, not one per
			// folder in it (found from outside: five lines for one
			// mistyped share).
			if p := folderProblem(cfg, f, err).String(); !seen[p] {
				seen[p] = true
				fail("%s", p)
			}
		}
	}
	if folders {
		for _, w := range mailroot.CaseTwins(layout(cfg)) {
			fmt.Fprintln(stdout, "warning: "+w)
		}
		for _, w := range journalWarnings(cfg) {
			fmt.Fprintln(stdout, "warning: "+w)
		}
	}
	if _, err := os.Stat(cfg.Mailroot.Root); rootMissing && err == nil && os.Geteuid() == 0 {
		// Made with the folders: named with them (found from outside:
		// a chown of the folders alone left the mail root root's, where
		// a folder deleted could not be made again).
		madeByRoot = append([]string{cfg.Mailroot.Root}, madeByRoot...)
	}
	if len(madeByRoot) > 0 {
		// Found from outside: `sudo mailbridge check` said ok, and the
		// service, under its own account, could not start in them.
		fmt.Fprintf(stdout, "warning: check runs as root and created %s, owned by root: if mailbridge runs under another account, give it them (chown ACCOUNT:GROUP on each), or run check as that account, as the README shows\n", strings.Join(madeByRoot, ", "))
	}
	if folders && problems == len(cfgProblems) {
		l := layout(cfg)
		for _, err := range append(mailroot.CheckDistinct(l), mailroot.CheckVolumes(l)...) {
			fail("%v", layoutProblem(cfg, err))
		}
		switch err := mailroot.CheckLocks(l); {
		case errors.Is(err, mailroot.ErrInUse):
			// The service being checked before its restart, most
			// likely (found from outside: check always failed while
			// it ran, so `check && restart` never restarted).
			running = true
			if other := otherInstance(cfg, mailroot.Listening(l)); other != "" {
				// Found from outside: a second configuration on the same
				// mail root (another port) was "ok", and its run failed.
				fmt.Fprintf(stdout, "warning: another mailbridge is running with this mail root, listening on %s, not where this configuration listens: `mailbridge run` with this configuration cannot start while it runs (the mail root is locked); if this is to be that one's new configuration, restart it with this one, otherwise give this one a mail root of its own ([mailroot] root)\n", other)
				break
			}
			fmt.Fprintln(stdout, "note: a mailbridge is running with this mail root; a second one could not start beside it: restart that one to apply this configuration")
		case err != nil:
			fail("mail root: %v", err)
		}
	}
	if ok("outbound") {
		if p := ownListenerProblem(cfg, net.InterfaceAddrs, lookupHost); p != "" {
			fail("%s", p)
		}
	}
	inbound := !skip("the ports and the certificate", "inbound")
	if inbound {
		var listening []string // the running instance's (its lock file)
		if running {
			listening = mailroot.Listening(layout(cfg))
		}
		for _, p := range takenPorts(cfg) {
			port := map[string]int{"port": cfg.Inbound.Port, "tls_port": cfg.Inbound.TLSPort}[p.key]
			if slices.ContainsFunc(listening, func(a string) bool { return strings.HasSuffix(a, ":"+strconv.Itoa(port)) }) {
				fmt.Fprintf(stdout, "note: inbound.%s %d is held by the mailbridge running with this mail root; it is free again when that one stops\n", p.key, port)
				continue
			}
			// One bind not on this machine is one problem, not one per
			// port (found from outside: "2 problem(s)" for one value).
			if p := listenProblem(cfg, p.key, port, p.addr, p.err).String(); !seen[p] {
				seen[p] = true
				fail("%s", p)
			}
		}
	}
	if inbound && cfg.Inbound.TLSEnabled() {
		// config.Load has read the PFX and reported its problems with
		// their lines; it is read again to describe the certificate (and
		// fails here only if the file changed since).
		_, info, err := tlscert.LoadPFX(cfg.Inbound.PFXPath, cfg.Inbound.PFXPassword, time.Now())
		if !info.NotAfter.IsZero() { // decoded (a subject may be empty)
			fmt.Fprintf(stdout, "certificate: %s\n  subject: %s\n  names:   %s\n  issuer:  %s\n  expires: %s\n",
				cfg.Inbound.PFXPath, info.Subject, info.Names(), info.Issuer, info.NotAfter.UTC().Format(time.RFC3339))
		}
		why := ""
		if err != nil {
			// The key's value names the file already ("PFX file X: ...",
			// "PFX file X cannot be read: ...", tlscert's words).
			why = strings.TrimLeft(strings.TrimPrefix(err.Error(), "PFX file "+cfg.Inbound.PFXPath), ": ")
		}
		switch {
		case errors.Is(err, tlscert.ErrValidity):
			// run starts with it all the same (see tlscert.NewStore), but
			// TLS fails for the clients that check it.
			// Named by its key and line as every other problem (found
			// from outside: "problem: inbound TLS: ..." alone).
			fail("%s", cfg.KeyProblem("inbound.pfx_path", cfg.Inbound.PFXPath, why+" (mailbridge run starts with it, serving it, so that plain-text mail and Pickup relaying go on, but clients that check certificates refuse it; the renewed file is picked up without a restart)"))
		case err != nil:
			fail("%s", cfg.KeyProblem("inbound.pfx_path", cfg.Inbound.PFXPath, why))
		case time.Until(info.NotAfter) < tlscert.ExpiryWarning:
			fmt.Fprintf(stdout, "warning: the certificate expires in %s: renew it\n", tlscert.TimeLeft(time.Until(info.NotAfter)))
		}
		if w := info.NameWarning(cfg.Hostname); w != "" && !info.NotAfter.IsZero() {
			fmt.Fprintln(stdout, "warning: "+w)
		}
	}
	if w := unusedPFXWarning(cfg); w != "" && inbound {
		fmt.Fprintln(stdout, "warning: "+w)
	}
	// The log file and the W3C log folder: run fails at start when it
	// cannot open them.
	logs := !skip("the log files", "log")
	if logs {
		for _, p := range logsInPickup(cfg) {
			fail("%s", p)
			logs = false
		}
	}
	if f := cfg.Log.File; f != "" && logs {
		fmt.Fprintf(stdout, "log:      %s\n", f)
		if err := checkLogFile(f); err != nil {
			fail("%s", cfg.KeyProblem("log.file", f, err.Error()))
		}
	}
	if d := cfg.Log.W3CDir; d != "" && logs {
		fmt.Fprintf(stdout, "w3c log:  %s\n", d)
		if err := checkFolder(d, 0o777); err != nil {
			fail("%s", cfg.KeyProblem("log.w3c_dir", d, err.Error()))
		}
	}
	outbound := !skip("the Outbound Server's settings", "outbound")
	if n := interceptNote(cfg); n != "" && outbound && ok("inbound") {
		fmt.Fprintln(stdout, "note: "+n)
	}
	if o := cfg.Outbound; outbound && o.Server == "" {
		fmt.Fprintln(stdout, "note: no [outbound] server: Pickup files are queued but not sent")
	} else if outbound {
		auth := "no AUTH"
		if o.Username != "" {
			// As the file has it: 'FABRIKAM\svc-relay', not Go's doubled
			// backslash (found from outside).
			auth = "AUTH as " + config.Quote(o.Username)
		}
		fmt.Fprintf(stdout, "outbound: %s port %d, tls %s, verify_certificate %v, %s\n", o.Server, o.Port, o.TLS, verifyText(o), auth)
	}
	if cfg.Outbound.ClearTextAuth() && outbound {
		fmt.Fprintln(stdout, "warning: "+clearTextAuthWarning)
	}
	if in := cfg.Inbound; len(in.LocalDomains) > 0 && inbound && outbound {
		// What an administrator who set local_domains for inbound SMTP
		// may not expect: IIS's routing of Pickup mail too.
		rest := "only other recipients go to the Outbound Server"
		if cfg.Outbound.Server == "" {
			rest = "only other recipients are queued"
		}
		fmt.Fprintf(stdout, "note: Pickup mail for %s is delivered to Drop, as IIS did; %s\n",
			strings.Join(displayDomains(append([]string{cfg.Hostname, cfg.Pickup.DefaultDomain}, in.LocalDomains...)), ", "), rest)
	}
	limit, known := openFileLimit()
	warnings := []string{timeZoneWarning(os.Getenv("TZ")), secretsReadableWarning(cfg)}
	if folders {
		uid := os.Geteuid()
		warnings = append(warnings, folderAccessWarnings(layout(cfg), uid, accountGroups(), func(path string) bool {
			return uid == 0 || unwritable[path]
		})...)
		warnings = append(warnings, dropReadWarnings(cfg.Mailroot.Drop, accountGroups(), os.Getegid(), processUmask())...)
	}
	if inbound {
		warnings = append(warnings, openRelayWarning(cfg.Inbound.RelayFrom), denyAllWarning(cfg.Inbound.DenyFrom), fileLimitWarning(cfg, limit, known), interceptWarning(cfg.Inbound))
	}
	if outbound {
		warnings = append(warnings, delayNotificationWarning(cfg.Outbound))
	}
	for _, w := range warnings {
		if w != "" {
			fmt.Fprintln(stdout, "warning: "+w)
		}
	}
	if msg, warn := hostnameNotice(cfg); ok("hostname") && warn {
		fmt.Fprintln(stdout, "warning: "+msg)
	} else if ok("hostname") && msg != "" {
		fmt.Fprintln(stdout, "note: "+msg)
	}
	// The warning is about the smart host's certificate: without
	// [outbound] server there is none. Opportunistic TLS without AUTH is
	// unverified by design (config's verifyByDefault, RFC 7435): whoever
	// could pose as the smart host could as well strip its STARTTLS, so a
	// check adds nothing there and the default would warn for nothing.
	// It matters where TLS is required, and where a password goes out.
	if o := cfg.Outbound; outbound && o.Server != "" && !o.VerifyCertificate &&
		(o.TLS == "starttls" || o.TLS == "implicit" || (o.TLS == "opportunistic" && o.Username != "")) {
		fmt.Fprintln(stdout, "warning: [outbound] verify_certificate = false: the smart host's certificate is not checked, so the connection is encrypted but anyone on the path can pose as the smart host")
	}
	if w := ipServerWarning(cfg.Outbound); w != "" && outbound {
		fmt.Fprintln(stdout, "warning: "+w)
	}
	if w := unresolvedServerWarning(cfg.Outbound); w != "" && outbound {
		fmt.Fprintln(stdout, "warning: "+w)
	}
	if outbound {
		for _, w := range caFileWarnings(cfg.Outbound, time.Now()) {
			fmt.Fprintln(stdout, "warning: "+w)
		}
	}
	if len(skipped) > 0 {
		fmt.Fprintf(stderr, "not checked until the configuration's problems in their sections are fixed: %s\n", strings.Join(skipped, ", "))
	}
	if problems > 0 {
		fmt.Fprintf(stderr, "%d problem(s) found\n", problems)
		return 1
	}
	if warned.n > 0 {
		// Found from outside: a warning that run would fail, then "ok"
		// alone, read as all clear.
		fmt.Fprintf(stdout, "ok: no problems found, but %d warning(s) above\n", warned.n)
		return 0
	}
	fmt.Fprintln(stdout, "ok: no problems found")
	return 0
}

// warningCount passes check's output on, counting its warnings: lines
// that start with "warning: ", each written whole.
type warningCount struct {
	w io.Writer
	n int
}

func (c *warningCount) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, []byte("warning: ")) {
		c.n++
	}
	return c.w.Write(p)
}

// portProblem is an inbound port that another program holds.
type portProblem struct {
	key, addr string // "port" or "tls_port", and the address tried
	err       error  // why, and what holds it (explainListen)
}

// takenPorts tries the inbound ports cfg listens on (check, and service
// status for a stopped service) and returns those taken.
func takenPorts(cfg *config.Config) []portProblem {
	var taken []portProblem
	for _, p := range []struct {
		key, addr string
		port      int
	}{{"port", cfg.Addr(), cfg.Inbound.Port}, {"tls_port", cfg.TLSAddr(), cfg.Inbound.TLSPort}} {
		if p.port == 0 {
			continue
		}
		l, err := net.Listen("tcp", p.addr)
		if err != nil {
			taken = append(taken, portProblem{p.key, p.addr, explainListen(err, p.port, p.key)})
			continue
		}
		l.Close()
	}
	return taken
}

// openRelayWarning is check's warning for a relay_from that holds every
// IPv4 or every IPv6 address ("0.0.0.0/0", "::/0", or ranges adding up to
// them): any client there may relay, which is an open relay, the setting
// the IIS importer refuses to carry over. It is a warning, not a problem:
// a closed network may want it, and check cannot tell.
func openRelayWarning(relayFrom []netip.Prefix) string {
	if all := everyAddress(relayFrom); all != "" {
		return fmt.Sprintf("[inbound] relay_from holds every %s address: any client that can connect may relay mail to any domain (an open relay); list only the clients that may relay", all)
	}
	return ""
}

// delayNotificationWarning is check's and the start log's warning for a
// delay_notification that is not shorter than expiration (and not "0s"):
// the message goes to Badmail first, so the delay notice the key asks for
// is never sent, and nothing else would say so. It is a warning, not a
// problem: mail flows, and the non-delivery report still goes out.
func delayNotificationWarning(o config.Outbound) string {
	if !o.DelayNoticeNeverSent() {
		return ""
	}
	return fmt.Sprintf(`[outbound] delay_notification = %q is not shorter than expiration = %q: a message not delivered by then goes to Badmail, with a non-delivery report to its sender, before its delay notice is due, so no delay notice is ever sent; set delay_notification below expiration (IIS had "12h" and "48h"), or to "0s" for no delay notice`,
		config.FormatDuration(o.DelayNotification), config.FormatDuration(o.Expiration))
}

// verifyText is verify_certificate as the start log and check show it:
// with tls = "none" there is no certificate to verify, whatever the key
// says (found from outside: "verify_certificate=true" beside tls=none).
func verifyText(o config.Outbound) any {
	if o.TLS == "none" {
		return "n/a (tls none)"
	}
	return o.VerifyCertificate
}

// ipServerWarning is check's warning for a smart host named by its IP
// address whose certificate is checked without server_name: the
// certificate must then list that address, which few do, and every
// message is deferred (found from outside: check said "ok" for such a
// configuration, which import-iis makes from SmartHost "[10.0.0.5]" and
// AlwaysUseSsl, and the first message told).
func ipServerWarning(o config.Outbound) string {
	ip := strings.TrimSuffix(strings.TrimPrefix(o.Server, "["), "]")
	if o.TLS == "none" || !o.VerifyCertificate || o.ServerName != "" || net.ParseIP(ip) == nil {
		return ""
	}
	return fmt.Sprintf("[outbound] server = %q is an IP address, and the smart host's certificate is checked (verify_certificate): it must list that address, which few certificates do, or every message is deferred; set server_name to the name the certificate is for", o.Server)
}

// caFileWarnings are check's warnings for certificates in ca_file that
// fail every delivery (see sender.CAFileWarnings), where the smart host's
// certificate is checked at all.
func caFileWarnings(o config.Outbound, now time.Time) []string {
	if o.CAFile == "" || o.Server == "" || o.TLS == "none" || !o.VerifyCertificate {
		return nil
	}
	data, err := os.ReadFile(o.CAFile)
	if err != nil {
		return nil // a problem of config.Load's already
	}
	name := o.ServerName
	if name == "" {
		name = strings.TrimSuffix(strings.TrimPrefix(o.Server, "["), "]")
	}
	return sender.CAFileWarnings(data, name, now)
}

// unresolvedServerWarning is check's warning for a smart host whose name
// is not found in DNS (found from outside: check said "ok" for
// "smarthost.invalid", and every message was deferred). A warning, not a
// problem: DNS may be down, or differ where mailbridge will run.
func unresolvedServerWarning(o config.Outbound) string {
	host := strings.TrimSuffix(strings.TrimPrefix(o.Server, "["), "]")
	if host == "" || net.ParseIP(host) != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := net.DefaultResolver.LookupHost(ctx, host)
	var dnsErr *net.DNSError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return fmt.Sprintf("[outbound] server = %q is not found in DNS from this machine: messages are deferred until it is; check the name, and this machine's DNS servers", o.Server)
	default:
		return fmt.Sprintf("[outbound] server = %q could not be looked up in DNS from this machine (%v)", o.Server, err)
	}
}

// secretsReadableWarning warns when the configuration file holds a
// password (the smart host's, the certificate's) and every account may
// read it: found from outside, the README's Linux steps left it 0644.
// Windows' ACLs are not read here ("" there).
func secretsReadableWarning(cfg *config.Config) string {
	keys := cfg.InlineSecrets()
	if runtime.GOOS == "windows" || cfg.File == "" || len(keys) == 0 {
		return ""
	}
	fi, err := os.Stat(cfg.File)
	if err != nil || fi.Mode().Perm()&0o004 == 0 {
		return ""
	}
	return fmt.Sprintf("the configuration file %s holds %s and every account may read it (mode %04o): chmod o-r on it (0640, with the group of mailbridge's account), or read the password from a file of its own (password_file, pfx_password_file)",
		cfg.File, strings.Join(keys, " and "), fi.Mode().Perm())
}

// folderAccessWarnings warns of mail root folders that accounts other
// than mailbridge's may change where they should not: any folder that
// every account may write, and Queue, Badmail or SortTemp that the group
// may write too (a member could rewrite queued mail, or remove the lock
// files and run a second instance). Found from outside: check was silent
// about them. A folder owned by another account than uid, the one
// mailbridge runs as, is said too, unless ownerSaid tells it is said
// otherwise (check: run by root, an administrator looking at the
// service's folders, or a folder found not writable): found from outside,
// a Queue that another account made in a mail root every account may
// write (1777) was used without a word, by a service account and by root.
// A folder with the set-group-ID bit whose group is not among groups,
// those of the account mailbridge runs as (nil: root, who may give any),
// is said too: files mailbridge renames into it (mail for local domains
// from Pickup, reports for local senders, into Drop) cannot be given its
// group, and the program reading it may not read them.
// Windows' ACLs and owners are not read here.
func folderAccessWarnings(l mailroot.Layout, uid int, groups []int, ownerSaid func(path string) bool) []string {
	if runtime.GOOS == "windows" {
		return nil
	}
	var out []string
	parents := map[string]bool{}
	for _, f := range l.Folders() {
		if parent := filepath.Dir(filepath.Clean(f.Path)); !parents[parent] {
			parents[parent] = true
			// Others could rename the folders in it, and put a link
			// to a folder of their choice in their place; not where
			// the sticky bit keeps them to their own (/tmp).
			if fi, err := os.Stat(parent); err == nil && fi.Mode().Perm()&0o002 != 0 && fi.Mode()&fs.ModeSticky == 0 {
				out = append(out, fmt.Sprintf("the folder %s, which holds the %s folder, may be written by every account (mode %s): any of them could replace the folders in it; chmod o-w on it", parent, f.Name, octalMode(fi.Mode())))
			}
		}
		fi, err := os.Stat(f.Path)
		if err != nil {
			continue
		}
		if owner, ok := mailroot.Owner(fi); ok && owner != uid && (ownerSaid == nil || !ownerSaid(f.Path)) {
			who := strconv.Itoa(owner)
			if u, err := user.LookupId(who); err == nil {
				who = u.Username + " (" + who + ")"
			}
			out = append(out, fmt.Sprintf("the %s folder %s belongs to another account than the one mailbridge runs as: %s, who may change or remove mailbridge's files there; chown it to mailbridge's account", f.Name, f.Path, who))
		}
		if gid, ok := mailroot.Group(fi); ok && groups != nil && fi.Mode()&fs.ModeSetgid != 0 && !slices.Contains(groups, gid) {
			name := strconv.Itoa(gid)
			if g, err := user.LookupGroupId(name); err == nil {
				name = g.Name
			}
			out = append(out, fmt.Sprintf("the %s folder %s gives its files its group %s (set-group-ID), which the account mailbridge runs as is not in: files that mailbridge moves there (mail for local domains from Pickup, reports for local senders) keep mailbridge's group, and the program reading the folder may not read them; add mailbridge's account to the group (usermod -aG %s ACCOUNT) and restart it", f.Name, f.Path, name, name))
		}
		perm := fi.Mode().Perm()
		switch {
		case perm&0o002 != 0:
			out = append(out, fmt.Sprintf("the %s folder %s may be written by every account (mode %s): chmod o-w on it", f.Name, f.Path, octalMode(fi.Mode())))
		case perm&0o020 != 0 && mailroot.FolderMode(f.Name)&0o020 == 0:
			out = append(out, fmt.Sprintf("the %s folder %s may be written by its group (mode %s), whose members could change mailbridge's own files there (queued mail, Badmail records, lock files): chmod 0700 on it (mailbridge makes it so)", f.Name, f.Path, octalMode(fi.Mode())))
		}
	}
	return out
}

// dropReadWarnings warns when the files mailbridge writes in Drop will not
// be readable by the folder's group, which the folder lets in (a group
// for the program reading Drop, as README sets it up): the folder lacks
// the set-group-ID bit, so that its files get mailbridge's group (egid),
// or umask (-1: not known) takes the group's read access from them.
// Found from outside: check said ok, and the router could not read a
// single message. Only for mailbridge's own account (groups not nil: not
// root, whose umask and group are not the service's).
func dropReadWarnings(drop string, groups []int, egid, umask int) []string {
	if runtime.GOOS == "windows" || groups == nil {
		return nil
	}
	fi, err := os.Stat(drop)
	if err != nil {
		return nil
	}
	gid, ok := mailroot.Group(fi)
	if !ok || fi.Mode().Perm()&0o050 == 0 {
		return nil // no group reads it
	}
	name := strconv.Itoa(gid)
	if g, err := user.LookupGroupId(name); err == nil {
		name = g.Name
	}
	setgid := fi.Mode()&fs.ModeSetgid != 0
	var out []string
	if !setgid && gid != egid {
		out = append(out, fmt.Sprintf("the Drop folder %s lets its group %s in, but has no set-group-ID bit: the files mailbridge writes there get mailbridge's own group, and the program reading Drop through %s cannot read them; chmod g+s on it (mode 2770)", drop, name, name))
	}
	if umask >= 0 && umask&0o040 != 0 && (setgid || gid != egid) {
		out = append(out, fmt.Sprintf("mailbridge's umask is %04o: the files it writes in the Drop folder %s cannot be read by the folder's group %s, the program reading Drop included; run it with umask 0007 (UMask=0007 in its systemd unit)", umask, drop, name))
	}
	return out
}

// processUmask returns this process's umask, or -1 where it cannot be read
// without changing it (Linux 4.7+ shows it in /proc/self/status).
func processUmask() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 8, 32); err == nil {
				return int(n)
			}
		}
	}
	return -1
}

// accountGroups returns the groups of the account mailbridge runs as, for
// folderAccessWarnings: nil for root, who may give a file any group, and
// where they cannot be read.
func accountGroups() []int {
	if os.Geteuid() == 0 {
		return nil
	}
	groups, err := os.Getgroups()
	if err != nil {
		return nil
	}
	return append(groups, os.Getegid())
}

// octalMode writes a file mode as chmod takes it, the set-user-ID,
// set-group-ID and sticky bits included (2770, 1777).
func octalMode(m fs.FileMode) string {
	n := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		n |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		n |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		n |= 0o1000
	}
	return fmt.Sprintf("%04o", n)
}

// timeZoneWarning is the warning for a TZ environment variable that Go
// cannot read: a POSIX rule ("EST5EDT,M3.2.0,M11.1.0"), where only zone
// names are read, leaves the local time in UTC without a word (found from
// outside: Received and Date in +0000 while date(1) said -0500). Windows
// takes its zone from the system, not from TZ.
func timeZoneWarning(tz string) string {
	name := strings.TrimPrefix(tz, ":")
	if name == "" || runtime.GOOS == "windows" {
		return ""
	}
	if strings.HasPrefix(name, "/") {
		// A file, as Go reads it (found from outside: ":/etc/localtime"
		// and ":/usr/share/zoneinfo/..." were warned of, and worked).
		if data, err := os.ReadFile(name); err == nil {
			if _, err := time.LoadLocationFromTZData(name, data); err == nil {
				return ""
			}
		}
	} else if _, err := time.LoadLocation(name); err == nil {
		return ""
	}
	return fmt.Sprintf("the environment's TZ=%q is not a time zone name that mailbridge can read (a POSIX rule, or a name missing from the zone database): its times (Received, Date, reports, the log) are in UTC; set TZ to a zone name such as America/New_York, or unset it to use the system's (/etc/localtime)", tz)
}

// fileLimitWarning is check's and the start log's warning for an
// open-files limit (ulimit -n, systemd LimitNOFILE=) too low for the
// sessions configured: an inbound session holds its socket and, while it
// stores a message, the file; an outbound connection its socket and the
// Queue file it sends; the rest (listeners, logs, locks, the Pickup
// watcher) takes a few dozen. Past the limit new connections wait unseen
// (found from outside: with ulimit -n 64, 52 of 200 sessions were greeted).
func fileLimitWarning(cfg *config.Config, limit uint64, known bool) string {
	out, outNote := 0, ""
	if cfg.Outbound.Server != "" {
		out = cfg.Outbound.Connections
		outNote = fmt.Sprintf(" (with %d outbound connections)", out)
	}
	need := uint64(2*cfg.Inbound.MaxConnections + 2*out + 64)
	if !known || limit >= need {
		return ""
	}
	return fmt.Sprintf("the open-files limit is %d, and [inbound] max_connections = %d%s may need %d: past it new connections wait; raise the limit (ulimit -n; systemd LimitNOFILE=) or lower max_connections",
		limit, cfg.Inbound.MaxConnections, outNote, need)
}

// hostnameNotice is what check and the start log say of a hostname that is
// not a fully qualified domain name ("localhost", "WEB01", an IP address):
// the name this server gives itself where receivers and spam filters look
// for one in DNS. IIS took such a name, so it is no problem. Written in
// the file, it is a warning (warn). As the default, the machine's name (a
// Windows server outside a domain, whose name IIS used all the same; a
// container), it is a note in check and an info line at start: nobody
// chose it, and a warning at every start would alarm an administrator
// for what IIS did all along.
func hostnameNotice(cfg *config.Config) (msg string, warn bool) {
	h := cfg.Hostname
	if config.IsFQDN(h) {
		return "", false
	}
	what := "is not a fully qualified domain name (it has no dot)"
	if _, err := netip.ParseAddr(h); err == nil {
		what = "is an IP address, not a fully qualified domain name"
	}
	uses := "it names this server in the greeting, in EHLO to the smart host, in Received headers and in the Message-IDs added to messages"
	if cfg.Pickup.DefaultDomain == h {
		uses += ", and as [pickup] default_domain it completes addresses written without a domain (in Pickup files, and in MAIL FROM and RCPT TO received over SMTP)"
	}
	if cfg.HostnameFromMachine {
		return fmt.Sprintf("hostname is not set, and this machine's name %q %s: %s; set hostname to this server's full name (mail.example.com) where receivers should see one", h, what, uses), false
	}
	return fmt.Sprintf("hostname %q %s: %s, where receivers and spam filters expect a name such as mail.example.com; set hostname to the full name clients know this server by", h, what, uses), true
}

// denyAllWarning is check's warning for a deny_from that refuses every
// IPv4 or IPv6 client: what the IIS importer writes where IIS restricted
// connections in a way it cannot carry over, until the administrator
// lists the clients.
func denyAllWarning(denyFrom []netip.Prefix) string {
	if all := everyAddress(denyFrom); all != "" {
		return fmt.Sprintf("[inbound] deny_from holds every %s address: every such client is refused at connect (554 5.7.1); list the clients that may connect in allow_from and remove the range from deny_from", all)
	}
	return ""
}

// displayDomains returns domains as an administrator wrote them: config
// keeps them in ASCII (A-label) form, which is not what anyone types for
// an internationalized name (RFC 5890 section 2.3.2.1). Such a name shows
// in both forms, so that either can be found in the configuration. A name
// given twice (the hostname in local_domains) shows once.
func displayDomains(domains []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, d := range domains {
		if seen[strings.ToLower(d)] {
			continue // the hostname listed in local_domains too
		}
		seen[strings.ToLower(d)] = true
		// Only a name with an A-label gets its Unicode form beside it: not
		// one that differs in case alone (found from outside:
		// "corp.example (CORP.EXAMPLE)").
		if u, err := idna.Display.ToUnicode(d); err == nil && !strings.EqualFold(u, d) {
			d = u + " (" + d + ")"
		}
		out = append(out, d)
	}
	return out
}

// interceptNote says, for check and the start log, that relay_from
// clients' mail for other domains goes to Drop (the default intercept =
// true, IIS's Email Interceptor) though an Outbound Server is set: found
// from outside, an administrator writing relay_from and server by hand
// expected it relayed, and "ok: no problems found" said nothing.
func interceptNote(cfg *config.Config) string {
	in := cfg.Inbound
	if !in.Intercept || len(in.RelayFrom) == 0 || len(in.LocalDomains) == 0 || cfg.Outbound.Server == "" {
		return ""
	}
	return "[inbound] intercept = true (IIS's Email Interceptor; the default when not set): mail that relay_from clients send to other domains goes to Drop, for the program that reads it, not to the Outbound Server; set intercept = false to relay it"
}

// interceptWarning is check's and the start log's warning for intercept =
// false that cannot take effect: without local_domains every domain is
// local, so mail from relay_from clients goes to Drop as any other, and
// none is relayed (found from outside: check said "ok").
func interceptWarning(in config.Inbound) string {
	if in.Intercept || len(in.LocalDomains) > 0 || len(in.RelayFrom) == 0 {
		return ""
	}
	return "[inbound] intercept = false relays mail for other domains from relay_from clients, but without local_domains every domain is local: all mail goes to Drop and none is relayed; list the local domains in local_domains"
}

// everyAddress names the address families ps covers entirely: "IPv4",
// "IPv6", "IPv4 and every IPv6", or "".
func everyAddress(ps []netip.Prefix) string {
	var all []string
	all4, all6 := config.CoversAll(ps)
	if all4 {
		all = append(all, "IPv4")
	}
	if all6 {
		all = append(all, "IPv6")
	}
	return strings.Join(all, " and every ")
}

// listenAddrs lists the inbound listeners for check: the port, with its
// TLS mode, and the implicit-TLS tls_port when set.
func listenAddrs(cfg *config.Config) string {
	s := cfg.Addr()
	switch cfg.Inbound.TLS {
	case "starttls":
		s += " (STARTTLS)"
	case "implicit":
		s += " (implicit TLS)"
	}
	if cfg.Inbound.TLSPort != 0 {
		s += ", " + cfg.TLSAddr() + " (tls_port, implicit TLS)"
	}
	return s
}

// otherInstance returns the addresses the instance running with cfg's
// mail root listens on (listening, from its lock file) when it listens on
// none of cfg's ports, so that it runs with another configuration than
// the one checked; "" when it listens on one of them, or nothing is known.
func otherInstance(cfg *config.Config, listening []string) string {
	if len(listening) == 0 {
		return ""
	}
	// The bind address too, where it is one (found from outside: another
	// bind address on the same port was taken for the running one's).
	bind, err := netip.ParseAddr(cfg.Inbound.Bind)
	for _, port := range []int{cfg.Inbound.Port, cfg.Inbound.TLSPort} {
		if port > 0 && slices.ContainsFunc(listening, func(a string) bool {
			ap, perr := netip.ParseAddrPort(a)
			if err != nil || perr != nil {
				return strings.HasSuffix(a, ":"+strconv.Itoa(port))
			}
			return int(ap.Port()) == port && ap.Addr().Unmap() == bind.Unmap()
		}) {
			return ""
		}
	}
	return strings.Join(listening, ", ")
}

// checkLogFile makes sure the log file can be appended to as run would
// (its folder created when missing), without writing to it.
func checkLogFile(path string) error {
	if err := checkFolder(filepath.Dir(path), 0o777); err != nil {
		return fmt.Errorf("its folder: %w", err)
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil // run creates it; the folder takes new files
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("cannot be appended to: %w", err)
	}
	return f.Close()
}

// logsInPickup finds a log destination in the Pickup folder through a
// link or another spelling, which config.Load cannot see (it compares
// paths as written): each log file closed there would be taken for a
// message, and the move to Badmail logged in turn (found from outside,
// through a symbolic link). The folders are compared as they are on disk.
func logsInPickup(cfg *config.Config) []config.Problem {
	pickup, err := os.Stat(cfg.Mailroot.Pickup)
	if err != nil {
		return nil // not there yet: no log can be in it
	}
	var ps []config.Problem
	for _, lg := range []struct{ key, path, dir string }{
		{"log.file", cfg.Log.File, filepath.Dir(cfg.Log.File)},
		{"log.w3c_dir", cfg.Log.W3CDir, cfg.Log.W3CDir},
	} {
		if lg.path == "" {
			continue
		}
		for dir := lg.dir; ; dir = filepath.Dir(dir) {
			if fi, err := os.Stat(dir); err == nil && os.SameFile(fi, pickup) {
				ps = append(ps, cfg.KeyProblem(lg.key, lg.path, "is in the Pickup folder ("+cfg.Mailroot.Pickup+"), through a link or another spelling: every log file closed there would be taken for a message and moved to Badmail, which is logged in turn; choose a folder outside Pickup"))
				break
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	return ps
}

// folderProblem names a mail root folder that cannot be made or used by
// the key that set its path (config.FolderProblem); a folder in the mail
// root by the root when the root itself cannot be made.
func folderProblem(cfg *config.Config, f mailroot.Folder, err error) config.Problem {
	if root := cfg.Mailroot.Root; root != "" && f.Path == filepath.Join(root, f.Name) {
		if rerr := mailroot.MakeFolder(root); rerr != nil {
			return cfg.RootProblem(rerr.Error())
		}
	}
	return cfg.FolderProblem(f.Name, err.Error())
}

// layoutProblem names a pair of folders the layout cannot have
// (mailroot.LayoutError) by the setting of the first that has a line of
// its own, else by the mail root's: found from outside, two folders that
// are one through a link, or on two volumes, were the only problems
// check gave without a file, line and key.
func layoutProblem(cfg *config.Config, err error) string {
	le := (*mailroot.LayoutError)(nil)
	if !errors.As(err, &le) {
		return err.Error()
	}
	p := cfg.FolderProblem(le.A.Name, le.Msg)
	if p.Key == "mailroot.root" {
		if q := cfg.FolderProblem(le.B.Name, le.Msg); q.Key != "mailroot.root" {
			p = q
		}
	}
	return p.String()
}

// checkFolderAccess makes sure dir exists (creating it as run would, with
// perm less the umask) and that this process may create files in it,
// without creating one.
func checkFolderAccess(dir string, perm fs.FileMode) error {
	if err := mailroot.MakeFolderMode(dir, perm); err != nil {
		return err
	}
	return writableErr(dir, mailroot.CanAddFiles(dir))
}

// writableErr words err, a failure to create a file in dir, with what to
// check: the share, or the account's access.
func writableErr(dir string, err error) error {
	if err == nil {
		return nil
	}
	advice := mailroot.ShareAdvice(dir)
	if advice == "" {
		advice = mailroot.AccessAdvice(dir, err)
	}
	if space := mailroot.SpaceAdvice(dir, err, 0); space != "" {
		// Found from outside: "no space left on device" alone for a
		// volume with gigabytes free and no inode left.
		advice = " (" + space + ")"
	}
	return fmt.Errorf("not writable: %w%s", err, advice)
}

// checkFolder makes sure dir exists (creating it as run would, with perm
// less the umask: found from outside, under the README's umask 0007 check
// made 0750 folders where run makes 0770, and the applications' group
// lost write) and that a file can be created in it.
func checkFolder(dir string, perm fs.FileMode) error {
	if err := mailroot.MakeFolderMode(dir, perm); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".mailbridge-check-*")
	if err != nil {
		return writableErr(dir, err)
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("a test file could not be removed: %w", err)
	}

	return nil
}

// w3cSiteName is the W3C log's s-sitename: IIS wrote its virtual server's
// instance name there, SMTPSVC1 for the first, and its logs in a folder
// of that name (LogFiles\SMTPSVC2), which import-iis keeps as w3c_dir.
// Found from outside: a second site's log said SMTPSVC1.
func w3cSiteName(dir string) string {
	base := filepath.Base(strings.ReplaceAll(dir, `\`, "/"))
	if m := siteFolder.FindStringSubmatch(base); m != nil {
		return "SMTPSVC" + m[1]
	}
	return "SMTPSVC1"
}

var siteFolder = regexp.MustCompile(`(?i)^smtpsvc([1-9][0-9]*)$`)
