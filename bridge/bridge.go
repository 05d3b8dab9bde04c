// Package bridge moves mail from the Pickup folder to the Outbound Server,
// as IIS SMTP did (iis-reference.md sections 3 to 5), and to Drop for the
// recipients in LocalDomains, as IIS delivered mail for its local domains
// (section 1).
//
// Pickup: change notifications are hints. A full scan runs at start, every
// Rescan, and at once after a watcher error or event overflow (the watcher
// is then recreated). A watch follows the folder, not its path: when the
// Pickup folder is removed or renamed (the event, or a rescan that finds
// another folder at its path) the folder at the path is watched again. Any file name counts, except those that match Ignore:
// the names writers give files they have not finished (a temporary name,
// renamed when the file is complete). A file is claimed only when its
// writer is done (Linux: a write lease; Windows: an open that denies write
// sharing; elsewhere: size and modification time unchanged for
// QuietPeriod), then moved into Queue with one rename. What cannot be
// claimed is not sent: that is what prevents duplicates.
//
// Local recipients: when LocalDomains is set, a claimed file's recipients
// in those domains (or at Hostname) get one Drop file, NAME.eml, written
// as IIS wrote Pickup mail into Drop: the envelope of those recipients,
// a "Received: from mail pickup service" header, a Message-ID and
// X-OriginalArrivalTime when missing. Only the other recipients are
// queued. The Drop copy is written durably as NAME.todrop, in Queue (in
// SortTemp when Drop is on a volume of its own), with the Queue file, and renamed into Drop only once the claim is finished
// (its .in removed, durably): whenever a crash comes, the copy is either
// not in Drop yet and written again with the claim, or whole and renamed
// in at start, never in Drop twice. While Drop cannot take it, it waits
// there and is tried again; the other recipients do not wait.
//
// Every message taken from Pickup gets what IIS added, as IIS-relayed mail
// shows: a "Received: from mail pickup service" header first, and a
// Message-ID and X-OriginalArrivalTime when missing.
//
// Queue: each message is NAME.eml, readable as a message with its envelope
// as leading x-sender/x-receiver lines, plus NAME.state, rewritten
// atomically, once a first attempt left work to do (attempts, next try,
// recipients done or refused). After such an attempt NAME.eml too is
// rewritten atomically to list only the recipients still pending, so that
// moving it back to Pickup (iis-reference.md section 4) resends to those
// and to nobody who has the message or was refused it. Crash
// semantics: a claimed file is first NAME.in (the Pickup file as written),
// then NAME.eml is written durably and NAME.in removed; at start every .in
// without its .eml is converted again and every .eml is queued. A recipient
// is recorded as done only after the smart host accepted it; a crash after
// the acceptance but before the state write resends to it (the lost-reply
// window), nothing else is resent and nothing is lost.
//
// Retries follow Retry (IIS: 15, 30, 60, then every 240 minutes) with up to
// 10% jitter; 4xx replies and connection failures are transient, 5xx
// permanent, per recipient. Two events bring retries forward: a start
// (every queued message is due at once, as IIS retried its queue at a
// service restart), and a delivery that succeeds, which retries the
// messages deferred because the smart host could not be reached, at most
// 20 a second. After Expiration, or when every recipient is
// done or refused and some were refused, the message goes to Badmail and
// its sender gets a non-delivery report (RFC 3464) from <> through the same
// smart host; a message from <> (such as a report) stays in Badmail. One
// delay notice goes out after DelayNotification.
//
// With no smart host configured, files are still claimed into Queue, and
// wait there.
package bridge

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailbridge/mailbridge/compat"
	"github.com/mailbridge/mailbridge/mailroot"
	"github.com/mailbridge/mailbridge/sender"
)

// Config is the bridge's behaviour; zero values are documented per field.
type Config struct {
	// Hostname is our FQDN: the reports come from postmaster@Hostname.
	Hostname string
	// LocalDomains are the local and alias domains: a Pickup file's
	// recipients in them (or at Hostname) get their copy in Drop, as IIS
	// delivered them, and only the others go to the Outbound Server.
	// Empty: every recipient goes to the Outbound Server.
	LocalDomains []string
	// Product is the token in the Received header of those Drop files
	// ("with Microsoft SMTPSVC;"); "" means "Microsoft SMTPSVC".
	Product string
	// Sender is the smart host; Sender.Host "" means no Outbound Server:
	// mail is queued and not sent.
	Sender sender.Config
	// Connections is the number of parallel connections (workers); 0 means 4.
	Connections int
	// Retry intervals: the first, second ..., then every last one. Empty
	// means IIS's 15m, 30m, 60m, 240m.
	Retry []time.Duration
	// Expiration: a message not delivered after this long goes to Badmail;
	// 0 means 48h.
	Expiration time.Duration
	// DelayNotification: one delay notice after this long; 0 means never.
	DelayNotification time.Duration
	// Pickup says how Pickup (and Queue) files are read.
	Pickup compat.PickupOptions
	// Rescan is the interval of full Pickup scans; 0 means 60s.
	Rescan time.Duration
	// QuietPeriod applies where the OS cannot tell whether a writer is
	// done: how long a file must stay unchanged; 0 takes it at first
	// sight (README allows "0s"), negative means 2s.
	QuietPeriod time.Duration
	// Ignore lists the file name patterns (path.Match syntax, matched
	// without regard to case, as Windows compares names) of Pickup files
	// that are never taken: writers that write a file under a temporary
	// name and rename it when it is complete. nil takes every file, as IIS
	// did.
	Ignore []string
}

func (c Config) withDefaults() Config {
	if c.Connections <= 0 {
		c.Connections = 4
	}
	if len(c.Retry) == 0 {
		c.Retry = []time.Duration{15 * time.Minute, 30 * time.Minute, 60 * time.Minute, 240 * time.Minute}
	}
	if c.Expiration <= 0 {
		c.Expiration = 48 * time.Hour
	}
	if c.Rescan <= 0 {
		c.Rescan = time.Minute
	}
	if c.QuietPeriod < 0 { // "0s" is a setting: take files at first sight
		c.QuietPeriod = 2 * time.Second
	}
	if c.Hostname == "" {
		c.Hostname = "localhost"
	}
	if c.Product == "" {
		c.Product = "Microsoft SMTPSVC"
	}
	return c
}

// claimers is the number of goroutines that claim Pickup files and write
// Queue files. Their folder syncs are grouped (mailroot), so a few in
// parallel drain a burst several times faster than one.
const claimers = 8

// Bridge runs the Pickup watcher and the Queue.
type Bridge struct {
	cfg   Config
	root  *mailroot.Root
	log   *slog.Logger
	local *compat.LocalDomains // cfg.LocalDomains

	pickup *timeQueue // Pickup file names waiting to be claimed
	queue  *timeQueue // Queue ids waiting for delivery

	// openIfDone tells whether a Pickup file's writer is done (the
	// platform's readiness check; tests replace it to exercise the
	// quiet-period fallback).
	openIfDone func(path string) (*os.File, readiness, error)
	// openQueue opens a Queue file to read it (mailroot.OpenRegular;
	// tests running as root, who reads any file, replace it to deny
	// access).
	openQueue func(path string) (*os.File, error)
	// quietSaid: the warning that files are taken after the quiet period
	// because no lease can tell was given (once a run).
	quietSaid atomic.Bool
	// noServerSaid: mail from Pickup waits for want of an Outbound Server,
	// and a warning said so (once a run).
	noServerSaid atomic.Bool
	// afterRead, for tests, runs once a claimed file is read and before
	// it is checked for growth (see putBack).
	afterRead func(path string)
	// warnAfter is how long a Pickup file may stay busy or unreadable
	// before a warning says so (a minute; tests shorten it).
	warnAfter time.Duration
	// unfinishedQuiet is how long, at least, a Pickup file that looks
	// unfinished waits where only the quiet period tells (looksUnfinished):
	// a minute; tests shorten it.
	unfinishedQuiet time.Duration

	// ignoredWarned holds the ignored Pickup files already warned about
	// (watch goroutine only).
	ignoredWarned map[string]bool

	// watched is the Pickup folder the watcher watches, and watchFailing
	// is set while it cannot be watched (watch goroutine only).
	watched      os.FileInfo
	watchFailing bool

	// irregularWarned holds the Pickup entries that are not regular
	// files already warned about (under mu).
	irregularWarned map[string]bool

	mu    sync.Mutex
	files map[string]*pickupFile // by Pickup name
	msgs  map[string]*message    // by Queue id
	// sending holds the Queue files being sent, by id: a Pickup file that
	// is one of them (moved back during the attempt) waits (inFlight).
	sending map[string]*sendingFile
	// unreachable holds the Queue ids deferred by their last attempt
	// because the smart host could not be reached (wakeUnreachable).
	unreachable map[string]bool
	// unreachableSaid: the warning that the smart host cannot be reached
	// was logged, and no delivery has succeeded since.
	unreachableSaid bool
	// deferSaid: a message deferred by the smart host's reply (4xx to
	// MAIL, RCPT or the data) was logged as a warning, and no delivery
	// has succeeded since: the deferrals that follow go at INFO.
	deferSaid bool
	// quietDeferrals counts the deferrals logged at INFO for either
	// reason since its warning: the end of a run is said only when lines
	// were kept from WARN (wakeUnreachable).
	quietDeferrals int
	// filesSaid is when the shortage of file descriptors was last logged
	// (outOfFilesWait), once a minute at most; filesRetry is how soon a
	// message waits then: sessions ending free some within seconds.
	filesSaid  time.Time
	filesRetry time.Duration
	// authRefused is the smart host's last refusal of our user name or
	// password (535), at authAt, until an attempt gets past AUTH; while
	// it stands, one delivery a first retry interval tries (authProbing),
	// the others are deferred untried (see authHold).
	authRefused *sender.Error
	authAt      time.Time
	authProbing bool
	// authKnown is set once an attempt ended without a 535 (since the
	// start, or since the last 535): until then one connection at a time
	// logs in, and the others wait for its outcome (authChange, closed
	// and made anew at each outcome).
	authKnown  bool
	authChange chan struct{}

	// slots keeps the workers' connections under a limit the smart host
	// showed (connSlots).
	slots *connSlots
}

// New returns a bridge over root's Pickup, Queue and Badmail folders.
func New(cfg Config, root *mailroot.Root, log *slog.Logger) *Bridge {
	cfg = cfg.withDefaults()
	return &Bridge{
		cfg:     cfg,
		root:    root,
		log:     log,
		local:   compat.NewLocalDomains(cfg.Hostname, cfg.Pickup.DefaultDomain, cfg.LocalDomains),
		pickup:  newTimeQueue(),
		queue:   newTimeQueue(),
		files:   map[string]*pickupFile{},
		msgs:    map[string]*message{},
		sending: map[string]*sendingFile{},

		irregularWarned: map[string]bool{},
		unreachable:     map[string]bool{},
		authChange:      make(chan struct{}),
		slots:           newConnSlots(),

		openIfDone:      openIfDone,
		openQueue:       mailroot.OpenRegular,
		warnAfter:       time.Minute,
		unfinishedQuiet: time.Minute,
		filesRetry:      10 * time.Second,
	}
}

// Run recovers the Queue, watches Pickup and delivers until ctx is done. It
// returns when every goroutine it started has finished: nil after ctx is
// done, or the error that kept it from starting.
func (b *Bridge) Run(ctx context.Context) error {
	if err := b.recoverQueue(); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("reading the Queue folder: %w", err)
		}
		// Made by mailroot.Open moments ago and deleted since: nothing
		// to recover. mailbridge makes it again (mailroot's Mend), and
		// until then Pickup files wait where they are.
		b.log.Warn("the Queue folder is missing: there is nothing in it to send", "queue", b.root.Layout().Queue, "error", err)
	}
	w, err := b.newWatcher()
	if err != nil {
		return err
	}
	if b.cfg.Sender.Host == "" {
		// A warning when mail waits: a receive-only server (the sample
		// configuration) was warned at every start for nothing (found
		// from outside).
		lvl := slog.LevelInfo
		if b.queue.Len() > 0 {
			lvl = slog.LevelWarn
		}
		b.log.Log(context.Background(), lvl, "no Outbound Server: Pickup files are claimed into Queue and wait there; nothing is sent until [outbound] server is set",
			"queue", b.root.Layout().Queue, "queued", b.queue.Len())
	} else {
		b.log.Info("relaying Pickup through the Outbound Server", "server", b.cfg.Sender.Addr(),
			"connections", b.cfg.Connections, "queued", b.queue.Len(), "pickup", b.root.Layout().Pickup, "ignore", b.cfg.Ignore)
	}
	if b.local.Listed() {
		// Mail an administrator may expect at the Outbound Server.
		msg := "Pickup mail for local domains is delivered to Drop, as IIS did; only other recipients are relayed"
		if b.cfg.Sender.Host == "" {
			msg = "Pickup mail for local domains is delivered to Drop, as IIS did; other recipients wait in Queue"
		}
		// The default domain is local too (found from outside: check
		// named it, the start did not).
		var domains []string
		for _, d := range append([]string{b.cfg.Hostname, b.cfg.Pickup.DefaultDomain}, b.cfg.LocalDomains...) {
			if d != "" && !slices.ContainsFunc(domains, func(s string) bool { return strings.EqualFold(s, d) }) { // found from outside: named twice
				domains = append(domains, d)
			}
		}
		b.log.Info(msg, "local_domains", domains, "drop", b.root.Layout().Drop)
	}
	if pickup := b.root.Layout().Pickup; mailroot.IsNetworkPath(pickup) {
		// Shares deliver no change notifications we can rely on
		// (iis-reference section 10): the periodic rescan finds the files.
		b.log.Warn("Pickup is on a network share: it is polled every rescan interval, not watched; lower [pickup] rescan for quicker pickup",
			"pickup", pickup, "rescan", b.cfg.Rescan)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		b.watch(ctx, w)
	}()
	for i := 0; i < claimers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.claimLoop(ctx)
		}()
	}
	workers := b.cfg.Connections
	if b.cfg.Sender.Host == "" {
		// One worker still finishes claims whose Queue file could not
		// be written at first (a full disk): see deliver.
		workers = 1
	}
	queue := b.root.Layout().Queue
	rec, cut, err := openSendingRecord(queue, workers, func(f *os.File) error { return b.root.CheckPlaced(f, queue) })
	if err != nil {
		b.log.Warn("cannot keep the record of the messages being sent in Queue: after a crash, a message sent again will not be said to be possibly sent twice", "error", err)
	}
	defer rec.close()
	for _, id := range cut {
		if m := b.msg(id); m != nil {
			if m.st.Settled {
				// Stopped while its Badmail copy and report were
				// written: its recipients were all done or refused
				// already (found from outside: said to be sent again,
				// and it was).
				b.log.Info("the last run ended while this message's Badmail copy and non-delivery report were being written: every recipient was done or refused already, and it is not sent again; they are finished now", m.logID(id)...)
				continue
			}
			// The attempt cut short counts (found from outside: the
			// resend was logged as attempt=1). No worker runs yet.
			m.st.Attempts++
			b.log.Warn("the last run ended while this message was being sent (mailbridge was killed, or the machine stopped): the Outbound Server may have it already, and it is sent again now, so its recipients may get it twice", append(m.logID(id), "attempts", m.st.Attempts)...)
		}
	}
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.deliverLoop(ctx, rec, i)
		}()
	}
	wg.Wait()
	b.logUnfinished()
	if n := b.queue.Len(); n > 0 {
		// As the start says how many it found (found from outside,
		// QA100: the stop said nothing of the mail left).
		b.log.Info("stopped with messages waiting in Queue: they are tried again at the next start", "queued", n, "queue", queue)
	}
	return nil
}

// logUnfinished names, at a stop, the messages done with whose Queue file
// could neither be removed nor marked as done (a volume away, a folder
// made read-only): the next start sends them again unless they are
// removed by hand (found from outside: the stop said nothing of them).
func (b *Bridge) logUnfinished() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, m := range b.msgs {
		if m.removeTries > 0 && !m.finishSaved {
			b.log.Error("stopping with a message done with still in Queue, not marked as done: it is sent again at the next start unless its Queue file is removed by hand first",
				"id", id, "path", b.queuePath(id, ".eml"), "file", m.source)
		}
	}
}
