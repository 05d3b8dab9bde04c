package bridge

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mailbridge/mailbridge/compat"
	"github.com/mailbridge/mailbridge/mailroot"
	"github.com/mailbridge/mailbridge/sender"
)

// state is NAME.state: what the Queue knows about a message besides the
// message itself. It is written (atomically) only once an attempt leaves
// work to do; a message without one has not been tried yet.
type state struct {
	// Queued is when the message entered the Queue (expiration and delay
	// notice count from it).
	Queued time.Time `json:"queued"`
	// Attempts made so far.
	Attempts int `json:"attempts"`
	// Next is the time of the next attempt.
	Next time.Time `json:"next"`
	// Done lists recipients the smart host accepted: never sent again.
	Done []string `json:"done,omitempty"`
	// Failed lists recipients refused permanently, with the reply.
	Failed []failure `json:"failed,omitempty"`
	// LastReply is the last transient reply per recipient still pending,
	// and LastDiag the same without our advice (sender.Error.Line), for a
	// report's Diagnostic-Code.
	LastReply map[string]string `json:"last_reply,omitempty"`
	LastDiag  map[string]string `json:"last_diag,omitempty"`
	// DelayNotified is set once the delay notice is queued.
	DelayNotified bool `json:"delay_notified,omitempty"`
	// Expires, when set, is when the message is given up, in place of
	// Queued plus expiration: a delay notice's is its message's
	// ("Delivery will be retried until" that time). Found from outside:
	// a notice still queued was sent after its message had failed, and
	// its report had gone, and was retried past the time it gave.
	Expires time.Time `json:"expires,omitzero"`
	// Source is the Pickup file name, for the Badmail reason.
	Source string `json:"source,omitempty"`
	// Recipients are the message's recipients as first queued, set once
	// the Queue file lists only those still pending (checkpoint), for the
	// Badmail reason.
	Recipients []string `json:"recipients,omitempty"`
	// ReportFor is, for a report (non-delivery or delay), the Queue id of
	// the message it is about: its own Badmail line names it (found from
	// outside: a report that expired into Badmail named only itself).
	ReportFor string `json:"report_for,omitempty"`
	// DelayNotice is set for a delay notice (a report too).
	DelayNotice bool `json:"delay_notice,omitempty"`
	// Finished is set when the message is done with (delivered, refused
	// recipients reported and in Badmail) but its Queue file could not be
	// removed: only the removal is left, tried again until it succeeds,
	// and never a delivery. Found from outside: such a file was sent
	// again at the next start.
	Finished bool `json:"finished,omitempty"`
	// Settled is set, and saved, once every recipient is done or refused
	// for good, before the Badmail copy and the report are written: a
	// stop meanwhile sends nothing again, and the next start finishes
	// them. Found from outside: killed while they were written, the
	// message was sent again to the recipients who had it.
	Settled bool `json:"settled,omitempty"`
	// Badmailed is set, and saved, once the Badmail copy is written: the
	// next start does not write a second one.
	Badmailed bool `json:"badmailed,omitempty"`
	// ReportID is, for a settled message, the Queue id of its
	// non-delivery report, recorded before the report is written.
	ReportID string `json:"report_id,omitempty"`
}

// what names the message of st in the log and in reasons: "message",
// or, for a report mailbridge made, "delay notice" or "non-delivery
// report".
func (st *state) what() string {
	switch {
	case st.DelayNotice:
		return "delay notice"
	case st.ReportFor != "":
		return "non-delivery report"
	}
	return "message"
}

type failure struct {
	Rcpt  string `json:"rcpt"`
	Reply string `json:"reply"`
	// Diag is Reply without our advice, for a report (see state.LastDiag);
	// empty in state files written before it, where Reply serves.
	Diag string `json:"diag,omitempty"`
	// Reported is set once a non-delivery report names the recipient.
	Reported bool `json:"reported,omitempty"`
}

// message is a queued message; only the worker that popped its id touches
// it.
type message struct {
	source string
	st     state
	// intake is the claimed file (Queue/ID.in) while its Queue file is
	// not written yet; intakeTries counts the failed tries.
	intake      string
	intakeTries int
	// removeTries counts the failed removals of a finished message's
	// Queue file (finish).
	removeTries int
	finishSaved bool // its .state records that it is finished
	awayLogged  bool // its Queue folder's absence is logged
	// drop marks the job, queued as ID.todrop, of moving a message's copy
	// for its local recipients (dropTo) into Drop (finishDrop), tried
	// again while Drop cannot take it; intakeTries counts the tries.
	drop   bool
	dropTo []string
	// report names the copy for Drop when it is a report to a local
	// sender ("non-delivery report", "delay notice"; "report" when found
	// at start, by its null sender), for the log; "" for a Pickup
	// message's copy.
	report string
	// dropAfter is the claimed file (ID.in) to remove, durably, before
	// the copy may go into Drop: its removal failed at the claim's end
	// (a file held on Windows).
	dropAfter string
	// grown, for a file claimed after the quiet period, tells whether its
	// writer went on after the claim (see putBack).
	grown func() error
}

func (b *Bridge) queuePath(id, ext string) string {
	return filepath.Join(b.root.Layout().Queue, id+ext)
}

// stagePath is where message id's copy for Drop waits: ID.todrop in
// Queue, or in SortTemp when Drop is on a volume of its own (the copy
// enters Drop by one rename: mailroot's DropStage).
func (b *Bridge) stagePath(id string) string {
	return filepath.Join(b.root.DropStage(), id+".todrop")
}

func (b *Bridge) enqueue(id string, m *message, due time.Time) {
	b.mu.Lock()
	b.msgs[id] = m
	b.mu.Unlock()
	b.queue.Push(id, due)
}

func (b *Bridge) msg(id string) *message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.msgs[id]
}

// recoverQueue reloads the Queue folder: finishes claims a crash
// interrupted (.in), queues every message (.eml) with its state, and
// removes state files whose message is gone (moved back to Pickup by an
// administrator, for example).
func (b *Bridge) recoverQueue() error {
	dir := b.root.Layout().Queue
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	// Not of ours: never sent from here, so said, with what it is.
	foreign, more := foreignEntries(dir, entries)
	for _, f := range foreign {
		b.log.Warn(f.what, "path", f.path)
	}
	if more > 0 {
		b.log.Warn(fmt.Sprintf("and %d more files in Queue that mailbridge did not queue, left alone (its own are named with 28 hexadecimal digits)", more), "folder", dir)
	}
	have := map[string]bool{}
	for _, e := range entries {
		have[e.Name()] = true
	}
	// Copies for Drop wait in Queue, or in SortTemp when Drop is on a
	// volume of its own (DropStage). Both are read: the folders may have
	// been moved since the copies were written, either way.
	dirs := make([]string, len(entries)) // each entry's folder
	for i := range dirs {
		dirs[i] = dir
	}
	if sortTemp := b.root.Layout().SortTemp; filepath.Clean(sortTemp) != filepath.Clean(dir) {
		more, err := os.ReadDir(sortTemp)
		if err != nil {
			return err
		}
		for _, e := range more {
			if filepath.Ext(e.Name()) == ".todrop" {
				entries = append(entries, e)
				dirs = append(dirs, sortTemp)
			}
		}
	}
	stage := b.root.DropStage()
	now := time.Now()
	var todrop []string
	defer func() {
		if len(todrop) == 0 {
			return
		}
		// The .in files removed above durable first (see finishDrop).
		if err := b.root.SyncDir(dir); err != nil {
			b.log.Warn("cannot sync the Queue folder", "error", err)
		}
		for _, id := range todrop {
			b.enqueue(id+".todrop", &message{drop: true}, now)
		}
	}()
	for i, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !queueOwn(name) {
			continue
		}
		ext := filepath.Ext(name)
		id := strings.TrimSuffix(name, ext)
		switch ext {
		case ".in":
			if have[id+".eml"] {
				os.Remove(filepath.Join(dir, name))
				continue
			}
			// A worker reads and queues it (deliver), as a claim whose
			// Queue file could not be written.
			b.log.Info("finishing a claim interrupted by a stop", "id", id)
			b.enqueue(id, &message{intake: filepath.Join(dir, name), st: state{Queued: now}}, now)
		case ".eml":
			m := &message{}
			raw, err := os.ReadFile(filepath.Join(dir, id+".state"))
			switch {
			case err == nil:
				if err := json.Unmarshal(raw, &m.st); err != nil {
					b.log.Warn("unreadable Queue state file: the message is retried as new", "path", filepath.Join(dir, id+".state"), "error", err)
					m.st = state{}
				}
			case !errors.Is(err, fs.ErrNotExist):
				b.log.Warn("cannot read Queue state file", "path", filepath.Join(dir, id+".state"), "error", err)
			}
			if m.st.Queued.IsZero() {
				if fi, err := e.Info(); err == nil {
					m.st.Queued = fi.ModTime()
				} else {
					m.st.Queued = now
				}
			}
			m.st.Queued = anchored(m.st.Queued, now)
			m.source = m.st.Source
			if nid := m.st.ReportID; m.st.Settled && nid != "" && b.reportWritten(nid) {
				// Its report was written before the stop (its id is
				// recorded first): looked for now, before a worker may
				// send it and take it out of Queue, and not written
				// again (found from outside: two reports after a kill).
				for i := range m.st.Failed {
					m.st.Failed[i].Reported = true
				}
				b.log.Info("non-delivery report written before the stop: not written again", "id", nid, "for", id)
			}
			// Due now, whatever its next retry time: IIS retried queued
			// mail at a service restart, and administrators restart it to
			// flush the queue (iis-reference.md section 4). The attempt
			// count and the recipients done stay as they were.
			b.enqueue(id, m, now)
		case ".state":
			if !have[id+".eml"] {
				os.Remove(filepath.Join(dir, name))
			}
		case ".todrop":
			// A copy for Drop (finishDrop). With its claim's .in and no
			// Queue file, the claim was cut short: the copy was never in
			// Drop, and the claim, converted again, writes it again.
			// Otherwise it is whole, and goes into Drop now.
			at := dirs[i]
			path := filepath.Join(at, name)
			if filepath.Clean(at) != filepath.Clean(stage) {
				// Left where it waited before the folders moved: copied
				// to where it can enter Drop by one rename.
				if _, err := os.Lstat(b.stagePath(id)); err == nil || have[id+".in"] && !have[id+".eml"] {
					os.Remove(path) // copied already (its copy is met too), or cut short
					continue
				}
				if _, err := b.root.CopyFile(path, stage, name); err != nil {
					b.log.Error("cannot copy a message for Drop to where it can enter Drop; it stays where it is: move it into Drop by hand, named ID.eml", "path", path, "to", stage, "error", err)
					continue
				}
				os.Remove(path)
				path = b.stagePath(id)
			}
			if have[id+".in"] && !have[id+".eml"] {
				os.Remove(path)
				continue
			}
			todrop = append(todrop, id)
		}
	}
	return nil
}

// deliverLoop is one worker with its own connection to the smart host;
// rec's line slot is its own.
func (b *Bridge) deliverLoop(ctx context.Context, rec *sendingRecord, slot int) {
	s := sender.NewSession(b.cfg.Sender)
	b.slots.add(s)
	held := false // this worker counts in b.slots
	defer func() {
		s.Close()
		if held {
			b.slots.release()
		}
	}()
	for {
		// An idle connection is closed after a short while; the smart host
		// would time it out anyway.
		id, ok := b.queue.Pop(ctx, 2*time.Second)
		if !ok {
			if ctx.Err() != nil {
				return
			}
			s.Close()
			if held {
				b.slots.release()
				held = false
			}
			id, ok = b.queue.Pop(ctx, 0)
			if !ok {
				return
			}
		}
		if !held && b.cfg.Sender.Host != "" {
			if !b.slots.take(time.Now()) {
				// At the smart host's limit: the message goes over a
				// connection that is open, and this worker waits.
				b.queue.Done(id, time.Now())
				if !b.slots.wait(ctx) {
					return
				}
				continue
			}
			held = true
		}
		rec.set(slot, id)
		next := b.deliver(ctx, s, id)
		rec.set(slot, "")
		b.queue.Done(id, next)
		if held && !s.Open() {
			b.slots.release()
			held = false
		}
		if next.IsZero() {
			b.mu.Lock()
			delete(b.msgs, id)
			b.mu.Unlock()
		}
	}
}

// wakeSpacing spaces the retries that a delivery success brings forward
// (wakeUnreachable), per connection: at most 20 messages a second over
// each of [outbound] connections, so that a backlog does not crowd out new
// mail (which waits behind the messages due before it). Found from
// outside: 20 a second in all took 41 minutes for 50,000 messages that
// a restart sent in one.
const wakeSpacing = 50 * time.Millisecond

// unreachable reports whether an attempt failed only because the smart
// host could not be reached (connection refused, timed out, no route) or
// said at its greeting that it is not available (421, RFC 5321 section
// 3.1: an Exchange server in maintenance, a host shutting down, or one
// whose connections other clients hold), rather than by a reply to the
// message. Found from outside: a host answering 421 at its greeting got a
// warning per message, 100,000 of them, and the messages it deferred were
// not retried when it came back. A 421 that refuses this client as one
// connection too many while others of ours are open is neither (see
// connSlots and hostDown).
func unreachable(results []sender.Result) bool {
	for _, r := range results {
		if r.Err == nil {
			return false
		}
		down := r.Err.Stage == "connect" && r.Err.Code == 0
		busy := r.Err.Stage == "greeting" && r.Err.Code == 421
		if !down && !busy {
			return false
		}
	}
	return len(results) > 0
}

// hostDown is unreachable for the attempt of session s, save that a 421
// at the greeting while other connections of ours to the smart host are
// open says the host is up, and refuses this one connection: found from
// outside, a connection limit in words not known as one, taken for the
// host being away, had each delivery bring every refused message
// forward again, in a storm of connections and attempts.
func (b *Bridge) hostDown(s *sender.Session, results []sender.Result) bool {
	if !unreachable(results) {
		return false
	}
	return results[0].Err.Stage != "greeting" || !b.slots.othersOpen(s)
}

// wakeUnreachable brings forward the retries of the messages deferred
// because the smart host could not be reached: with one smart host, a
// delivery that succeeds proves it is back, and without this old mail
// would wait up to the last retry interval (IIS: 240 minutes) while new
// mail flows. They become due from now on, wakeSpacing apart.
func (b *Bridge) wakeUnreachable(now time.Time) {
	b.mu.Lock()
	down, deferring, quiet := b.unreachableSaid, b.deferSaid, b.quietDeferrals
	b.unreachableSaid = false // reached: a new outage warns again
	b.deferSaid = false       // and a new run of deferrals
	b.quietDeferrals = 0
	ids := make([]string, 0, len(b.unreachable))
	for id := range b.unreachable {
		ids = append(ids, id)
	}
	clear(b.unreachable)
	b.mu.Unlock()
	if len(ids) == 0 {
		// The end of what was warned about is said too, with nothing to
		// bring forward, where deferrals were logged at INFO meanwhile:
		// found from outside (QA100), one message retried alone (its
		// attempt takes it out of the set), or a smart host back but
		// answering 451 for a while, left the warning without an end.
		// (A warning and a delivery in turn, as when the smart host
		// refuses some of our connections, need none.)
		switch {
		case quiet == 0:
		case down:
			b.log.Info("the Outbound Server accepts mail again (it could not be reached, or was not available)", "server", b.cfg.Sender.Addr(), "deferrals_logged_at_info", quiet)
		case deferring:
			// Not brought forward: a 4xx reply may be about the message
			// or its recipient, not the server.
			b.log.Info("the Outbound Server accepts mail again after deferring messages: those it deferred are retried at their next retry time", "server", b.cfg.Sender.Addr(), "deferrals_logged_at_info", quiet)
		}
		return
	}
	slices.Sort(ids) // names sort by arrival: the oldest first
	b.log.Info("the Outbound Server accepts mail again: retrying the messages deferred while it could not be reached or was not available",
		"server", b.cfg.Sender.Addr(), "messages", len(ids), "over", time.Duration(len(ids)-1)*b.wakeSpacing())
	spacing := b.wakeSpacing()
	for i, id := range ids {
		b.queue.Push(id, now.Add(time.Duration(i)*spacing))
	}
}

// wakeSpacing is wakeSpacing over the connections that share the backlog.
func (b *Bridge) wakeSpacing() time.Duration {
	return wakeSpacing / time.Duration(max(b.cfg.Connections, 1))
}

// authHold returns the failure for a delivery not tried because the smart
// host refused our user name or password (535) and no retry interval has
// passed since: each message tried in turn would fail the same way, and
// as many failed logins in a second lock the account out (Active
// Directory's lockout threshold, Microsoft 365's smart lockout), for
// every other use of it too. One delivery a first retry interval tries
// (nil: go ahead), while the others keep their own retry times.
//
// Until a first attempt has ended (authKnown), one delivery at a time
// tries, and the others wait here for its outcome: at a start with mail
// queued and a wrong password, every connection logged in at once, and an
// administrator restarting the service while looking for the cause added
// as many failed logins each time. Once an attempt got past AUTH, or
// ended before it, they go together again; after a 535 the hold above
// takes over.
func (b *Bridge) authHold(ctx context.Context, now time.Time) *sender.Error {
	if b.cfg.Sender.Username == "" {
		return nil
	}
	for {
		b.mu.Lock()
		switch {
		case b.authRefused != nil:
			defer b.mu.Unlock()
			if !b.authProbing && now.Sub(b.authAt) >= b.cfg.Retry[0] {
				b.authProbing = true
				return nil
			}
			r := *b.authRefused
			r.Note = "" // its advice is this reply's too: said once
			// The advice in the note: a report's Diagnostic-Code, for
			// the sender, leaves it out (found from outside: the
			// administrator's settings in reports to end users).
			return &sender.Error{Stage: r.Stage, Host: r.Host,
				Reply: fmt.Sprintf("not tried: the smart host refused the user name or the password at %s (%s)",
					b.authAt.Format("Mon, 2 Jan 2006 15:04:05 -0700"), r.Line()),
				Note: "one message a retry interval tries again, so that the account is not locked out: check [outbound] username and password (or password_file, password_env)"}
		case b.authKnown:
			b.mu.Unlock()
			return nil
		case !b.authProbing:
			b.authProbing = true
			b.mu.Unlock()
			return nil
		}
		wait := b.authChange
		b.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return &sender.Error{Stage: "connect", Host: b.cfg.Sender.Addr(), Reply: "not tried: mailbridge is stopping"}
		}
		now = time.Now()
	}
}

// authOutcome records what an attempt says of our credentials: a 535
// holds further attempts (authHold); an attempt that got past AUTH (a
// reply to MAIL, RCPT or the data, or a delivery) lifts the hold.
func (b *Bridge) authOutcome(results []sender.Result, now time.Time) {
	var refused *sender.Error
	past := false
	for _, r := range results {
		switch {
		case r.Err == nil:
			past = true
		case r.Err.Code == 535 && strings.HasPrefix(r.Err.Stage, "AUTH"):
			refused = r.Err
		case r.Err.Stage == "MAIL FROM" || r.Err.Stage == "RCPT TO" || r.Err.Stage == "DATA" || r.Err.Stage == "end of data":
			past = true
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.authProbing = false
	close(b.authChange) // the deliveries waiting in authHold look again
	b.authChange = make(chan struct{})
	switch {
	case refused != nil:
		b.authKnown = false
		if b.authRefused == nil {
			b.log.Error("the Outbound Server refused mailbridge's user name or password: messages are held, and a login is tried again no more often than the first retry interval (the first value of [outbound] retry), with the first message then due, so that the account is not locked out; check [outbound] username and password",
				"server", b.cfg.Sender.Addr(), "reply", refused.ReplyLine())
		}
		b.authRefused, b.authAt = refused, now
	case past:
		b.authKnown = true
		if b.authRefused != nil {
			b.log.Info("the Outbound Server accepts mailbridge's user name and password again", "server", b.cfg.Sender.Addr())
			b.authRefused = nil
		}
	default:
		// Ended before AUTH said anything (the smart host unreachable,
		// silent, or offering no AUTH): no failed login to fear from
		// the others, which need not wait out one such attempt each.
		b.authKnown = true
	}
}

// retryAfter returns the wait before the next attempt after attempts
// attempts, with up to 10% added at random so that messages deferred
// together do not all come back in the same second.
func (b *Bridge) retryAfter(attempts int) time.Duration {
	r := b.cfg.Retry
	d := r[min(max(attempts-1, 0), len(r)-1)]
	if j := int64(d / 10); j > 0 {
		n, err := rand.Int(rand.Reader, big.NewInt(j))
		if err == nil {
			d += time.Duration(n.Int64())
		}
	}
	return d
}

// deliver makes one attempt; it returns the next attempt's time, or zero
// when the message has left the Queue.
func (b *Bridge) deliver(ctx context.Context, s *sender.Session, id string) time.Time {
	m := b.msg(id)
	if m == nil {
		return time.Time{}
	}
	if m.drop {
		return b.retryDrop(strings.TrimSuffix(id, ".todrop"), m)
	}
	b.mu.Lock()
	delete(b.unreachable, id) // this attempt says anew
	b.mu.Unlock()
	if m.intake != "" {
		f, err := mailroot.OpenRegular(m.intake)
		if errors.Is(err, fs.ErrNotExist) {
			// With its whole folder, its volume unmounted, say (found
			// from outside: forgotten until a restart).
			if next, away := b.whileAway(m, "claimed Pickup file out of reach, with its Queue folder: tried again until it is back", "file", m.source, "path", m.intake); away {
				return next
			}
		}
		if errors.Is(err, fs.ErrNotExist) {
			return time.Time{} // taken away by an administrator
		}
		if err != nil && outOfFiles(err) {
			return b.outOfFilesWait(id, err)
		}
		if err != nil {
			m.intakeTries++
			// Said when first met and then hourly (retries come a minute
			// apart): a file whose permissions changed after its claim,
			// or met again at a start, is not retried in silence.
			lvl := slog.LevelDebug
			if m.intakeTries%60 == 1 {
				lvl = slog.LevelError
			}
			args := []any{"path", m.intake, "tries", m.intakeTries, "error", err}
			if m.source != "" { // unknown for a claim found at start
				args = append([]any{"file", m.source}, args...)
			}
			b.log.Log(ctx, lvl, "cannot read claimed file; it stays in Queue and is tried again: give the account mailbridge runs as read access to it", args...)
			return time.Now().Add(intakeRetry(m.intakeTries))
		}
		due := b.intake(id, m, f)
		f.Close()
		if due.IsZero() || m.intake != "" {
			return due
		}
	}
	if b.cfg.Sender.Host == "" {
		// No Outbound Server: the message waits in Queue, and is read
		// from there at the start that has one.
		return time.Time{}
	}
	path := b.queuePath(id, ".eml")
	if m.st.Finished {
		return b.finish(id, m, path)
	}
	pm, size, err := b.readQueueFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		// The whole Queue folder is away, its volume unmounted, say:
		// the message is there when it comes back (found from outside:
		// it was dropped, and sent only after a restart).
		if next, away := b.whileAway(m, "Queue file out of reach, with its folder: tried again until it is back", "id", id, "path", path); away {
			return next
		}
	}
	if errors.Is(err, fs.ErrNotExist) {
		// Moved away (back to Pickup, say) by an administrator.
		os.Remove(b.queuePath(id, ".state"))
		b.log.Info("Queue file gone (moved back to Pickup or deleted by hand): no more attempts from Queue", "id", id, "path", path)
		return time.Time{}
	}
	if err != nil && outOfFiles(err) {
		return b.outOfFilesWait(id, err)
	}
	if err != nil && !unreadable(err) {
		return b.cannotRead(id, m, path, err)
	}
	// The message stays in its file: it is read again for each
	// transaction and for any rewrite, never held whole (a 60 MB message
	// was held up to five times over).
	open := func() (io.ReadCloser, error) { return b.openMessage(path) }
	if err != nil && markedFinished(path) {
		m.st.Finished = true
		return b.finish(id, m, path)
	}
	if err != nil {
		info := mailroot.BadInfo{Name: id, Source: m.source, Time: time.Now(), Queued: m.st.Queued, Attempts: m.st.Attempts, Unread: true, Empty: errors.Is(err, compat.ErrEmpty),
			Problem: fmt.Sprintf("the Queue file cannot be read as a message: %v", err), PickupPath: b.root.Layout().Pickup}
		bad, merr := b.root.MoveToBadmail(info, path)
		if merr != nil {
			b.log.Error("cannot move Queue file to Badmail", "id", id, "error", merr)
			return time.Now().Add(b.retryAfter(m.st.Attempts + 1))
		}
		os.Remove(b.queuePath(id, ".state"))
		b.log.Warn("Queue file moved to Badmail", "id", id, "reason", err, "badmail", bad)
		return time.Time{}
	}
	if m.st.Settled {
		// Every recipient was done or refused before a stop: the Badmail
		// copy and the report are what is left, and nothing is sent.
		return b.endSettled(id, m, pm, path, open, time.Now())
	}
	pending := m.pending(pm.To)
	var results []sender.Result
	stirred := false          // moved back into Pickup during the attempt: see takeBack
	var early map[string]bool // recipients recorded during the attempt (settled), made there
	if len(pending) > 0 {
		if held := b.authHold(ctx, time.Now()); held != nil {
			results = make([]sender.Result, len(pending))
			for i, r := range pending {
				results[i] = sender.Result{Rcpt: r, Err: held}
			}
		} else {
			b.holdSending(id, path)
			results = s.SendContent(ctx, pm.From, pending, sender.Content{Size: size, Header: pm.Message, Open: open,
				Settled: func(rs []sender.Result) {
					if early == nil {
						early = map[string]bool{}
					}
					b.settled(id, m, pm, open, rs, early)
				}})
			stirred = b.takeBack(id, path)
			b.authOutcome(results, time.Now())
		}
	}
	now := time.Now()
	st := &m.st
	var replies []string // distinct replies, in recipient order
	addReply := func(r string) {
		if !slices.Contains(replies, r) {
			replies = append(replies, r)
		}
	}
	if ctx.Err() != nil && !allSent(results) {
		// Stopping: keep what was accepted, try the rest at the next start.
		// (An attempt that the stop let finish, every recipient accepted,
		// ends below like any other: the message leaves Queue now.)
		var sent, cut []string
		for _, r := range results {
			if r.Err == nil {
				st.Done = appendNew(st.Done, r.Rcpt)
				sent = append(sent, r.Rcpt)
				continue
			}
			if early[r.Rcpt] {
				continue // refused, and recorded (settled)
			}
			cut = append(cut, r.Rcpt)
			addReply(r.Err.ReplyLine())
		}
		if len(sent) > 0 {
			// Said now: after the restart the attempt finds nobody left
			// for these recipients.
			b.log.Info("delivery during the stop", "id", id, "from", pm.From, "to", sent, "server", b.cfg.Sender.Addr(), "result", "sent")
		}
		if len(cut) > 0 {
			// The stop (shutdown_timeout) ended the attempt: the reply says
			// whether the smart host may have the message already, which
			// the next start then sends again.
			b.log.Warn("delivery cut short by the stop; tried again at the next start", "id", id, "from", pm.From, "to", cut, "server", b.cfg.Sender.Addr(), "reply", strings.Join(replies, " | "), "result", "deferred")
		}
		if len(st.Done) > 0 || st.Attempts > 0 || m.source != "" {
			// Saved for a first attempt too: the state names the Pickup
			// file, which the log and a Badmail reason give after the
			// restart (found from outside: lost).
			b.checkpoint(id, m, pm, open)
		}
		return now
	}
	if err := localShortage(results); err != nil {
		return b.outOfFilesWait(id, err)
	}
	if b.oneTooMany(s, id, results, now) {
		return now
	}
	st.Attempts++
	var sent, deferred, refused []string
	if st.LastReply == nil {
		st.LastReply = map[string]string{}
	}
	for _, r := range results {
		switch {
		case r.Err == nil:
			sent = append(sent, r.Rcpt)
			st.Done = appendNew(st.Done, r.Rcpt)
			delete(st.LastReply, r.Rcpt)
			delete(st.LastDiag, r.Rcpt)
			addReply(r.Reply)
		case r.Err.Permanent:
			refused = append(refused, r.Rcpt)
			if !early[r.Rcpt] { // else recorded during the attempt (settled)
				st.Failed = append(st.Failed, failure{Rcpt: r.Rcpt, Reply: refusal(r.Err, pm.From), Diag: r.Err.Line()})
			}
			delete(st.LastReply, r.Rcpt)
			delete(st.LastDiag, r.Rcpt)
			addReply(r.Err.ReplyLine())
		default:
			deferred = append(deferred, r.Rcpt)
			st.LastReply[r.Rcpt] = r.Err.ReplyLine()
			if st.LastDiag == nil {
				st.LastDiag = map[string]string{}
			}
			st.LastDiag[r.Rcpt] = r.Err.Line()
			addReply(r.Err.ReplyLine())
		}
	}
	if len(sent) > 0 {
		b.wakeUnreachable(now)
	}
	expired := len(deferred) > 0 && !now.Before(b.expiresAt(st))
	if expired {
		for _, r := range deferred {
			st.Failed = append(st.Failed, failure{Rcpt: r, Reply: st.LastReply[r] + b.expired(st), Diag: st.LastDiag[r]})
		}
		deferred = nil
	}
	var next time.Time
	if len(deferred) > 0 {
		next = now.Add(b.retryAfter(st.Attempts))
		if stirred {
			next = now // what moving it into Pickup asked for
		}
		// An attempt when the delay notice falls due, whose outcome it
		// reports (none if that attempt delivers): found from outside,
		// the notice waited for the next retry, up to 4 hours late with
		// IIS's schedule, and never came when no retry fell between it
		// and the expiration.
		if d := b.cfg.DelayNotification; d > 0 && !st.DelayNotified && pm.From != "" {
			if due := st.Queued.Add(d); due.After(now) && next.After(due) {
				next = due
			}
		}
		// The last attempt is made at the expiration time, not after it.
		if exp := b.expiresAt(st); next.After(exp) {
			next = exp
		}
		st.Next = next
	}
	result := "sent"
	switch {
	case len(deferred) > 0 && len(sent)+len(refused) > 0:
		result = "partly deferred"
	case len(deferred) > 0:
		result = "deferred"
	case expired:
		result = "expired"
	case len(refused) > 0 && len(sent) > 0:
		result = "partly refused"
	case len(refused) > 0:
		result = "refused"
	}
	args := append(m.logID(id), "from", pm.From, "to", pending, "server", b.cfg.Sender.Addr(), "reply", strings.Join(replies, " | "), "result", result, "attempt", st.Attempts)
	if v, verified := s.TLSState(); v != "" {
		// Whether the message went encrypted, and to an authenticated
		// smart host: what an auditor asks of a relay.
		args = append(args, "tls", v)
		if v != "none" {
			args = append(args, "tls_verified", verified)
		}
	}
	if conv, kept, folded := s.Downgraded(); conv+kept+folded > 0 {
		// Parts were re-encoded (8-bit ones for a smart host without
		// 8BITMIME, RFC 6152; lines too long for SMTP) or header lines
		// folded: what was changed is said, since a DKIM signature over
		// a converted part (or a folded header, in "simple"
		// canonicalization) no longer verifies; signed parts
		// (multipart/signed) went as they were.
		if conv+kept > 0 {
			args = append(args, "converted_to_quoted_printable", conv)
		}
		if kept > 0 {
			args = append(args, "signed_8bit_parts_sent_unchanged", kept)
		}
		if folded > 0 {
			args = append(args, "header_lines_folded", folded)
		}
	}
	if !next.IsZero() {
		args = append(args, "next", next.Format(time.RFC3339))
	}
	if len(refused) > 0 {
		args = append(args, "refused", refused)
	}
	if len(deferred) > 0 && len(sent)+len(refused) > 0 {
		// Found from outside: in a "partly deferred" line the distinct
		// replies do not line up with the recipients.
		args = append(args, "deferred", deferred)
	}
	// What the attempt did is recorded before it is logged: found from
	// outside, kill -9 just after a "delivery" line had the message sent
	// again to the recipients the line said had it. A message with
	// recipients still to try keeps those done in its state; one whose
	// recipients are all done leaves Queue; one with some refused is
	// settled (its Badmail copy and report follow, below).
	var ended bool
	var endNext time.Time
	switch {
	case len(deferred) > 0:
		if len(sent) > 0 {
			_ = b.saveState(id, m) // logged; the checkpoint follows
		}
	case len(st.Failed) > 0:
		st.Settled = true
		_ = b.saveState(id, m) // logged
	default:
		m.st.Finished = true
		endNext, ended = b.finish(id, m, path), true
	}
	// Looked at once: the connections open may change between two looks.
	down := len(deferred) > 0 && b.hostDown(s, results)
	switch {
	case down:
		// Said as a warning once, with what to check; the messages
		// deferred for the same reason while it lasts go at INFO (found
		// from outside: 1500 queued messages and a 20 s outage made 3559
		// identical warnings).
		// The message joins the unreachable set (as below) in the same
		// step as the look at it, so that of two workers failing at once
		// one warns (found from outside: the warning came twice).
		// unreachableSaid keeps a message retried alone from warning
		// at each retry (its attempt takes it out of the set first).
		b.mu.Lock()
		known := len(b.unreachable) > 0 || b.unreachableSaid
		b.unreachable[id] = true
		b.unreachableSaid = true
		if known {
			b.quietDeferrals++
		}
		b.mu.Unlock()
		if known {
			b.log.Info("delivery", args...)
			break
		}
		b.log.Warn("delivery", args...)
		if results[0].Err.ConnectionLimit {
			// None of ours was open (else connSlots would have
			// handed the message over): other clients hold the
			// smart host's connections. Found from outside: a
			// warning per message, each waiting its whole retry
			// interval, where a delivery that gets in could take
			// them all.
			b.log.Warn("the Outbound Server refuses connections as too many while none of mailbridge's is open: other clients hold its connections; messages are deferred and retried, all of them as soon as one is delivered, and the messages deferred for this meanwhile are logged at INFO; if this lasts, raise the smart host's limit for this client or for all",
				"server", b.cfg.Sender.Addr(), "reply", results[0].Err.ReplyLine())
			break
		}
		if results[0].Err.Stage == "greeting" {
			b.log.Warn("the Outbound Server is not available: it answers 421 at its greeting (maintenance, or shutting down); messages are deferred and retried, all of them as soon as one is delivered, and the messages deferred for this meanwhile are logged at INFO",
				"server", b.cfg.Sender.Addr(), "reply", results[0].Err.ReplyLine())
			break
		}
		b.log.Warn("the Outbound Server cannot be reached: check that its SMTP service runs, that [outbound] server and port name it, and that no firewall is in the way; the messages deferred for this meanwhile are logged at INFO",
			"server", b.cfg.Sender.Addr())
	case len(deferred) > 0 && unreachable(results):
		// A 421 at the greeting while others of ours are open: this
		// connection was refused, not the host (hostDown), nor the
		// message; not part of a run of deferrals by reply, whose end
		// is said.
		b.log.Warn("delivery", args...)
	case len(deferred) > 0:
		// The first deferral by the smart host's reply warns; those that
		// follow, until a delivery succeeds, go at INFO: found from
		// outside (QA95), a smart host answering 451 in phases made 3,047
		// identical warnings in 68 minutes, every retry of every message,
		// where one said it. A delivery in between warns anew (a message
		// deferred between deliveries, a mailbox over its quota, is worth
		// a look at each retry; its retries are minutes to hours apart).
		b.mu.Lock()
		said := b.deferSaid
		b.deferSaid = true
		if said {
			b.quietDeferrals++
		}
		b.mu.Unlock()
		if said {
			b.log.Info("delivery", args...)
			break
		}
		b.log.Warn("delivery", append(args, "then", "the deferrals that follow are logged at INFO until a message is delivered")...)
	case len(pending) > 0:
		b.log.Info("delivery", args...)
	default:
		// Every recipient was done before a stop (logged then).
		b.log.Debug("nothing left to send", "id", id)
	}

	if len(deferred) > 0 {
		// Every refusal not yet reported: this attempt's, and one
		// recorded between transactions before a crash (found from
		// outside: marked reported here, it was never told).
		var unreported []string
		for _, f := range st.Failed {
			if !f.Reported {
				unreported = append(unreported, f.Rcpt)
			}
		}
		if len(unreported) > 0 && pm.From != "" {
			// The sender learns now of the recipients refused for good,
			// not when the others are delivered or expire, up to
			// expiration (48 hours) later; the final report leaves them
			// out.
			b.report(id, pm, unreported, false, now)
			for i := range st.Failed {
				st.Failed[i].Reported = true
			}
		}
		if b.cfg.DelayNotification > 0 && !st.DelayNotified && now.Sub(st.Queued) >= b.cfg.DelayNotification && pm.From != "" {
			st.DelayNotified = true
			b.report(id, pm, deferred, true, now)
		}
		// The message joined the unreachable set when its attempt was
		// looked at (above), not again here: a delivery that succeeded
		// meanwhile has brought it forward already, and a second entry
		// made another catch-up at the next success (found in CI: two
		// "accepts mail again" for one outage).
		b.checkpoint(id, m, pm, open)
		return next
	}
	if ended {
		return endNext
	}
	// Settled above, before the Badmail copy and the report, several
	// writes to disk: a stop meanwhile does not send the message again
	// to the recipients who have it.
	return b.endSettled(id, m, pm, path, open, now)
}

// endSettled ends a message whose recipients are all done or refused for
// good, some refused: its Badmail copy and report, then its removal. A
// Badmail folder that cannot take the copy has it tried again later.
func (b *Bridge) endSettled(id string, m *message, pm *compat.PickupMessage, path string, open func() (io.ReadCloser, error), now time.Time) time.Time {
	if err := b.badmail(id, m, pm, now, open); err != nil {
		b.log.Error("cannot write Badmail; retrying later", "id", id, "error", err)
		_ = b.saveState(id, m) // logged
		return now.Add(b.retryAfter(m.st.Attempts))
	}
	m.st.Finished = true
	return b.finish(id, m, path)
}

// cannotRead is the next time to try message id, whose Queue file at path
// cannot be read (err): its next retry, not counted as an attempt, with
// what to do when access is denied. Past expiration the file goes to
// Badmail (a rename, which needs no access to the file itself) rather than
// being tried for ever. Found from outside: a Queue file restored by root
// was tried every 15 minutes for ever, an ERROR each time, without advice.
func (b *Bridge) cannotRead(id string, m *message, path string, err error) time.Time {
	now := time.Now()
	msg := "cannot read Queue file; tried again at its next retry, and moved to Badmail once it expires"
	if errors.Is(err, fs.ErrPermission) {
		msg = "cannot read Queue file: mailbridge may not read it (restored or copied there by another account?); give the account mailbridge runs as read and write access to it. Tried again at its next retry, and moved to Badmail once it expires"
	}
	if now.Before(b.expiresAt(&m.st)) {
		next := now.Add(b.retryAfter(m.st.Attempts + 1))
		if exp := b.expiresAt(&m.st); next.After(exp) {
			next = exp
		}
		b.log.Error(msg, "id", id, "path", path, "error", err, "next", next.Format(time.RFC3339))
		return next
	}
	info := mailroot.BadInfo{Name: id, Source: m.source, Time: now, Queued: m.st.Queued, Attempts: m.st.Attempts, Unread: true,
		Problem: fmt.Sprintf("the Queue file could not be read until the message expired (%s): %v", b.lifetime(&m.st), err), PickupPath: b.root.Layout().Pickup}
	bad, merr := b.root.MoveToBadmail(info, path)
	if merr != nil {
		next := now.Add(b.retryAfter(m.st.Attempts + 1))
		b.log.Error("cannot read Queue file, expired, and it cannot be moved to Badmail either; tried again at its next retry", "id", id, "path", path, "error", err, "badmail_error", merr, "next", next.Format(time.RFC3339))
		return next
	}
	os.Remove(b.queuePath(id, ".state"))
	b.log.Error("Queue file moved to Badmail: it could not be read until the message expired; no report was sent to its sender, whom mailbridge could not read", "id", id, "error", err, "badmail", bad)
	return time.Time{}
}

// localShortage returns the error when every recipient failed only
// because this machine is out of file descriptors (see outOfFiles): no
// socket for the connection, no descriptor to read the message with.
func localShortage(results []sender.Result) error {
	for _, r := range results {
		if r.Err == nil || !outOfFiles(r.Err) {
			return nil
		}
	}
	if len(results) == 0 {
		return nil
	}
	return results[0].Err
}

// outOfFilesWait is the time to try message id again when this machine is
// out of file descriptors, a shortage of its own: not an attempt, not the
// smart host's doing, so the message keeps its retry schedule and waits
// seconds, not a retry interval. Found from outside: with ulimit -n 256
// under load, a message used three attempts in 130 ms and waited an hour,
// and the log said the Outbound Server could not be reached. Said once a
// minute, with what to do.
func (b *Bridge) outOfFilesWait(id string, err error) time.Time {
	b.mu.Lock()
	say := b.filesSaid.IsZero() || time.Since(b.filesSaid) >= time.Minute
	if say {
		b.filesSaid = time.Now()
	}
	b.mu.Unlock()
	lvl := slog.LevelDebug
	if say {
		lvl = slog.LevelError
	}
	b.log.Log(context.Background(), lvl, "out of file descriptors: messages wait, tried again within seconds and not counted as attempts; raise the open-files limit (ulimit -n; systemd LimitNOFILE=) or lower [inbound] max_connections or [outbound] connections",
		"id", id, "error", err)
	return time.Now().Add(b.filesRetry)
}

// whileAway is, for message m whose Queue file is missing, the time to
// try again when the whole Queue folder is out of reach (away true),
// logged once as msg with args: the file is there when the folder is back.
func (b *Bridge) whileAway(m *message, msg string, args ...any) (next time.Time, away bool) {
	err := b.queueAway()
	if err == nil {
		return time.Time{}, false
	}
	if !m.awayLogged {
		m.awayLogged = true
		b.log.Warn(msg, append(args, "error", err)...)
	}
	return time.Now().Add(b.awayRetry()), true
}

// awayRetry is how soon a Queue folder out of reach is looked at again:
// as a queued message is retried, at least every finishRetry.
func (b *Bridge) awayRetry() time.Duration { return min(finishRetry, b.retryAfter(1)) }

// queueAway returns why the Queue folder is out of reach, if it is: gone
// with its volume, or missing (until the mail root's mend makes it again).
func (b *Bridge) queueAway() error {
	if err := b.root.VolumeGone(); err != nil {
		return err
	}
	if _, err := os.Stat(b.root.Layout().Queue); err != nil {
		return err
	}
	return nil
}

// anchored is t, a time read back from disk, which has no monotonic clock
// reading, as a time of this run: now less its age by the wall clock, no
// age when it is in the future (a clock that was ahead). Its expiration
// and its delay notice are then measured by the monotonic clock, as those
// of a message queued in this run (found from outside: after a restart, a
// step of the wall clock, from NTP or a VM restored, sent messages loaded
// from Queue to Badmail at once, and a step back held every retry in the
// queue behind the expiration time of one of them). A clock that stepped
// while mailbridge was stopped is taken for time gone by, as IIS took it.
func anchored(t, now time.Time) time.Time {
	age := now.Round(0).Sub(t) // by the wall clock
	if age < 0 {
		age = 0
	}
	return now.Add(-age)
}

// writeState writes m's .state file, durably and atomically.
func (b *Bridge) writeState(id string, m *message) error {
	m.st.Source = m.source
	raw, err := json.MarshalIndent(m.st, "", "  ")
	if err == nil {
		err = b.root.WriteFile(b.root.Layout().Queue, id+".state", raw)
	}
	return err
}

// saveFinished records that a message is finished, so that it is never
// sent again, wherever its Queue file goes (found from outside: after a
// deferral, moved into Pickup with the rest of the Queue, it was sent
// again; and where no file could be created, at the next start). The
// Queue file itself, done with (delivered, or in Badmail), is rewritten
// in place to say so alone; where it cannot be written (a scanner holds
// it), its .state records it, atomically, else rewritten in place.
func (b *Bridge) saveFinished(id string, m *message) error {
	if err := mailroot.Truncate(b.queuePath(id, ".eml"), []byte(finishedMark+id+"\r\n")); err == nil {
		b.log.Info("recorded that the message is finished in its Queue file, rewritten in place to say so alone", "id", id)
		return nil
	}
	err := b.writeState(id, m)
	if err == nil {
		return nil
	}
	raw, merr := json.MarshalIndent(m.st, "", "  ")
	if merr != nil {
		return err
	}
	if oerr := mailroot.Overwrite(b.queuePath(id, ".state"), raw); oerr != nil {
		return err
	}
	b.log.Info("recorded that the message is finished in its .state file, rewritten in place", "id", id)
	return nil
}

// finishedMark starts a Queue file rewritten to record that its message is
// finished (saveFinished): it is removed, never sent.
const finishedMark = "x-mailbridge-finished: "

// maxFinishedRecord bounds the size of such a file.
const maxFinishedRecord = 128

// finishedRecord is the whole of such a file.
var finishedRecord = regexp.MustCompile(`^x-mailbridge-finished: [0-9A-Za-z]+\r\n$`)

// markedFinished reports whether the Queue file at path is such a record.
func markedFinished(path string) bool {
	f, err := mailroot.OpenRegular(path)
	if err != nil {
		return false
	}
	defer f.Close()
	return fileMarkedFinished(f)
}

// fileMarkedFinished is markedFinished for a file open as f, read where
// it is (ReadAt: its offset is left alone). The whole file must be the
// record (found from outside: a message that merely began with the mark
// was taken for one).
func fileMarkedFinished(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil || fi.Size() > maxFinishedRecord {
		return false
	}
	buf := make([]byte, fi.Size())
	n, _ := f.ReadAt(buf, 0)
	return finishedRecord.Match(buf[:n])
}

// finishRetry is how often the removal of a finished message's Queue file
// is tried again.
const finishRetry = 30 * time.Second

// finish removes the Queue file of a message done with, then its state.
// A file that cannot be removed (held by a scanner beyond remove's
// retries, a folder made read-only) is tried again every finishRetry,
// its state saying that it is finished, so that neither this run nor the
// next sends it again.
func (b *Bridge) finish(id string, m *message, path string) time.Time {
	err := remove(path)
	retry := finishRetry
	if err == nil {
		if away := b.queueAway(); away != nil {
			// remove takes a missing file for a removed one; with its
			// whole folder out of reach (its volume unmounted during
			// the attempt) the file is still there (found from outside:
			// sent again at the next start). Tried again as a queued
			// message is, until the folder is back.
			err = fmt.Errorf("the Queue folder is out of reach: %w", away)
			retry = b.awayRetry()
		}
	}
	if err == nil {
		if m.removeTries > 0 {
			b.log.Info("finished message removed from Queue at last", "id", id, "path", path, "tries", m.removeTries+1)
		}
		remove(b.queuePath(id, ".state"))
		return time.Time{}
	}
	m.removeTries++
	if !m.finishSaved {
		// Until it is recorded: the folder may take it later.
		m.finishSaved = b.saveFinished(id, m) == nil
		if m.finishSaved && m.removeTries > 1 {
			b.log.Info("recorded at last that the message is done with, in its .state file: it is not sent again", "id", id)
		}
	}
	if m.removeTries == 1 {
		if !m.finishSaved {
			b.log.Error("cannot remove a message done with from Queue, nor record that it is done: both tried again, at least every 30 seconds; should mailbridge stop before either is done, it will be sent again at the next start unless removed by hand", "id", id, "path", path, "error", err)
		} else {
			b.log.Error("cannot remove a message done with from Queue: tried again, at least every 30 seconds; it is recorded as done, so it is not sent again", "id", id, "path", path, "error", err)
		}
	} else if m.removeTries%120 == 0 {
		b.log.Error("still cannot remove a message done with from Queue", "id", id, "path", path, "tries", m.removeTries, "error", err)
	}
	return time.Now().Add(retry)
}

// refusal is the reply line of a recipient refused for good, for the
// Badmail reason. A refusal of MAIL FROM refuses every recipient, but is
// about the sender: found from outside, "replied 553 5.1.3 malformed
// address for <rcpt>" blamed the recipient for a bad sender.
// Only a reply about an address (X.1.x, X.7.x, or no enhanced code) is
// said to be about the sender: found from outside, a message too large
// for the host's SIZE, refused by mailbridge before MAIL FROM was sent,
// or refused with 552 5.3.4 at MAIL FROM, blamed the sender too.
func refusal(e *sender.Error, from string) string {
	if e.Stage != "MAIL FROM" || e.Code == 0 {
		return e.ReplyLine()
	}
	// Without an enhanced code, the reply codes that refuse an address
	// (RFC 5321 section 4.2.3); 552 is a limit, and a relay refusal is
	// about this server (both found from outside).
	subject := "" // ".1." of "5.1.7"
	if len(e.Enhanced) >= 4 {
		subject = e.Enhanced[1:4]
	}
	byAddress := subject == ".1." || subject == ".7." || e.Enhanced == "" && (e.Code == 501 || e.Code == 550 || e.Code == 553)
	if byAddress && !strings.Contains(strings.ToLower(e.Reply), "relay") {
		return e.ReplyLine() + " (the reply to MAIL FROM: the sender <" + from + "> was refused, not the recipient)"
	}
	return e.ReplyLine() + " (the reply to MAIL FROM, for the whole message)"
}

// allSent reports whether the smart host accepted every recipient of an
// attempt (none: nothing was left to send).
func allSent(results []sender.Result) bool {
	for _, r := range results {
		if r.Err != nil {
			return false
		}
	}
	return true
}

// readQueueFile reads the envelope and header block of a Queue file and
// the size of its message (read through, not kept). The file is opened
// never through a link (claims take only regular files; this keeps it so
// whatever else changes the Queue).
func (b *Bridge) readQueueFile(path string) (*compat.PickupMessage, int64, error) {
	f, err := b.openQueue(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	pm, err := compat.ReadPickup(f, b.cfg.Pickup)
	if err != nil {
		return pm, 0, err
	}
	n, err := io.Copy(io.Discard, pm.Body)
	if err != nil {
		return nil, 0, fmt.Errorf("reading %s: %w", path, err)
	}
	pm.Body = nil
	return pm, int64(len(pm.Message)) + n, nil
}

// openMessage opens the message of a Queue file: what goes after DATA.
func (b *Bridge) openMessage(path string) (io.ReadCloser, error) {
	f, err := mailroot.OpenRegular(path)
	if err != nil {
		return nil, err
	}
	pm, err := compat.ReadPickup(f, b.cfg.Pickup)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(pm.Message), pm.Body), f}, nil
}

func (b *Bridge) saveState(id string, m *message) error {
	err := b.writeState(id, m)
	if err != nil {
		b.log.Error("cannot save Queue state: a restart may resend to recipients already done", "id", id, "error", err)
	}
	return err
}

// sendingFile is a Queue file being sent (Bridge.sending).
type sendingFile struct {
	f    *os.File    // the file, open for the attempt
	fi   os.FileInfo // and its identity
	seen string      // its name in Pickup, once the watcher met it there
}

// holdSending opens the Queue file at path for the attempt about to be
// made, and registers it: on Windows the open file cannot be moved
// (Go opens without FILE_SHARE_DELETE), as IIS's files could not while
// it sent them; where it can (Linux), a move back into Pickup is caught
// (inFlight, takeBack). A file that cannot be opened is not held.
func (b *Bridge) holdSending(id, path string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return
	}
	b.mu.Lock()
	b.sending[id] = &sendingFile{f: f, fi: fi}
	b.mu.Unlock()
}

// inFlight reports whether the Pickup file name (at path) is a Queue file
// being sent, moved back into Pickup by an administrator during the
// attempt ("stirring" the queue, iis-reference.md section 4): it must not
// be claimed as a new message, or its recipients get it twice (found from
// outside). The attempt takes it back when it ends (takeBack).
func (b *Bridge) inFlight(name, path string) bool {
	b.mu.Lock()
	none := len(b.sending) == 0
	b.mu.Unlock()
	if none {
		return false
	}
	fi, err := os.Lstat(path) // not under mu, which every claim and attempt takes
	if err != nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, sf := range b.sending {
		if os.SameFile(fi, sf.fi) {
			sf.seen = name
			return true
		}
	}
	return false
}

// takeBack ends the hold of holdSending. When the Queue file was moved
// away during the attempt and is in Pickup, it is taken back into Queue:
// the attempt's outcome stands for it (a recipient who has the message
// does not get it again), and the recipients left are tried at once, as
// the move asked. It reports whether it took the file back.
func (b *Bridge) takeBack(id, path string) bool {
	b.mu.Lock()
	sf := b.sending[id]
	b.mu.Unlock()
	if sf == nil {
		return false // not held (holdSending)
	}
	defer func() {
		b.mu.Lock()
		delete(b.sending, id)
		b.mu.Unlock()
		sf.f.Close() // held, or the file opened again after a rewrite (settled)
	}()
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		return false
	}
	b.mu.Lock()
	hfi, seen := sf.fi, sf.seen
	b.mu.Unlock()
	pickup := b.root.Layout().Pickup
	names := []string{seen, id + ".eml"}
	if entries, err := os.ReadDir(pickup); err == nil {
		for _, e := range entries {
			names = append(names, e.Name())
		}
	}
	for _, name := range names {
		fi, err := os.Lstat(filepath.Join(pickup, name))
		if name == "" || err != nil || !os.SameFile(fi, hfi) {
			continue
		}
		if _, err := b.root.Move(filepath.Join(pickup, name), b.root.Layout().Queue, id+".eml"); err != nil {
			b.log.Error("a Queue file moved into Pickup while it was being sent cannot be taken back into Queue: it will be sent again as a new message", "id", id, "file", name, "error", err)
			return false
		}
		for _, dir := range []string{b.root.Layout().Queue, pickup} {
			if err := b.root.SyncDir(dir); err != nil {
				b.log.Warn("cannot sync a folder", "path", dir, "error", err)
			}
		}
		b.log.Info("Queue file moved into Pickup while it was being sent: taken back into Queue, so that no recipient gets it twice; the recipients left, if any, are tried again now", "id", id, "file", name)
		return true
	}
	return false
}

// settled records, durably, the recipients that a transaction of an
// attempt still under way delivered to or had refused for good
// (sender.Content.Settled): a message of more recipients than one
// transaction takes (SharePoint's alerts to a few hundred people) was
// recorded only when the attempt ended, and a crash in its second
// transaction sent it again to those of the first (found from outside:
// 200 of 250 twice after a SIGKILL). The state is written, then the
// Queue file rewritten to list only the recipients left, as at the end
// of an attempt (checkpoint): a Queue file moved into Pickup after a
// crash is then sent to those only (found from outside). early collects
// the recipients recorded, for the attempt's end.
func (b *Bridge) settled(id string, m *message, pm *compat.PickupMessage, open func() (io.ReadCloser, error), rs []sender.Result, early map[string]bool) {
	for _, r := range rs {
		early[r.Rcpt] = true
		if r.Err == nil {
			m.st.Done = appendNew(m.st.Done, r.Rcpt)
			continue
		}
		m.st.Failed = append(m.st.Failed, failure{Rcpt: r.Rcpt, Reply: refusal(r.Err, pm.From), Diag: r.Err.Line()})
	}
	b.mu.Lock()
	sf := b.sending[id]
	b.mu.Unlock()
	if sf != nil && sf.f != nil {
		// Windows cannot replace a file held open without sharing its
		// deletion: the hold is let go for the rewrite, and taken again.
		sf.f.Close()
	}
	b.checkpoint(id, m, pm, open)
	if sf != nil {
		if f, err := os.Open(b.queuePath(id, ".eml")); err == nil {
			if fi, err := f.Stat(); err == nil {
				b.mu.Lock()
				sf.f, sf.fi = f, fi
				b.mu.Unlock()
			} else {
				f.Close()
			}
		}
	}
}

// logID is the start of a log line about message id: its id, and the
// Pickup file's name where it is known, as the "queued" line gave it: what
// an administrator searching for an application's message knows (found
// from outside: delivery lines had only the id). Unknown for a message
// found in Queue at a start without a state.
func (m *message) logID(id string) []any {
	args := []any{"id", id}
	if m.source != "" {
		args = append(args, "file", m.source)
	}
	if m.st.ReportFor != "" {
		// A report's lines name its message (found from outside,
		// QA100: its delivery lines said only from="").
		args = append(args, "report_for", m.st.ReportFor)
	}
	return args
}

// appendNew appends r to list unless it holds it already.
func appendNew(list []string, r string) []string {
	if slices.Contains(list, r) {
		return list
	}
	return append(list, r)
}

// checkpoint records an attempt that left work to do: the state, then the
// Queue file rewritten (atomically, durably) to list only the recipients
// still pending. Administrators "stir" a queue by moving its files back
// into Pickup (iis-reference.md section 4), where the .state file does not
// follow: the Queue file alone must say whom to try, or a stirred file
// resends to recipients who have the message and reports the refused ones
// twice. The state is written first: a crash between the two leaves the
// old Queue file, which the state still filters.
func (b *Bridge) checkpoint(id string, m *message, pm *compat.PickupMessage, open func() (io.ReadCloser, error)) {
	left := m.unreported(pm.To)
	rewrite := len(left) > 0 && len(left) < len(pm.To)
	if rewrite && len(m.st.Recipients) == 0 {
		m.st.Recipients = pm.To
	}
	if b.saveState(id, m) != nil || !rewrite {
		return
	}
	// Written from the Queue file itself, which the rename replaces.
	err := b.writeFrom(b.root.Layout().Queue, id+".eml", pm.From, left, open)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Moved away by hand during the attempt (found from outside: an
		// ERROR for a queue stirred as IIS's was): taken back from
		// Pickup when the attempt ends (takeBack), else dropped.
		b.log.Info("Queue file not rewritten for the recipients still pending: it was moved away during the attempt", "id", id)
	case err != nil:
		b.log.Error("cannot rewrite the Queue file for the recipients still pending: moved back into Pickup, it would resend to all", "id", id, "error", err)
	}
}

// writeFrom writes dir/name durably and atomically (replacing it, for a
// checkpoint): a Queue file for from and to holding the message that open
// reads.
func (b *Bridge) writeFrom(dir, name, from string, to []string, open func() (io.ReadCloser, error)) error {
	return b.root.WriteFileFrom(dir, name, func(w io.Writer) error {
		msg, err := open()
		if err != nil {
			return err
		}
		defer msg.Close()
		return writeQueueFile(w, from, to, msg, b.cfg.Pickup.DotStuffed)
	})
}

// unreported returns the recipients of to that are not done, and not
// failed with a report sent: the Queue file lists them (checkpoint), so
// that a refusal recorded between transactions and not yet reported is
// still known from the file alone, moved into Pickup after a crash, and
// reported then (found from outside: it was never reported).
func (m *message) unreported(to []string) []string { return m.left(to, true) }

// pending returns the recipients of to that are neither done nor failed.
func (m *message) pending(to []string) []string { return m.left(to, false) }

// left returns the recipients of to that are not done nor failed, a
// failed one kept while unreported when keepUnreported is set.
func (m *message) left(to []string, keepUnreported bool) []string {
	settled := map[string]bool{}
	for _, r := range m.st.Done {
		settled[strings.ToLower(r)] = true
	}
	for _, f := range m.st.Failed {
		if f.Reported || !keepUnreported {
			settled[strings.ToLower(f.Rcpt)] = true
		}
	}
	var left []string
	for _, r := range to {
		if !settled[strings.ToLower(r)] {
			left = append(left, r)
		}
	}
	return left
}

// expired ends the reply kept for a recipient of st given up at
// expiration.
func (b *Bridge) expired(st *state) string {
	return "; gave up after " + b.expiration(st)
}

// expiration is how long the message of st was tried, and why, for a
// reason: "48h0m0s (expiration)", or for a delay notice, which is given
// up with its message (st.Expires), "40s (until its message's
// expiration)": found from outside, its own short time read as the
// expiration.
func (b *Bridge) expiration(st *state) string {
	if st.DelayNotice {
		return b.lifetime(st).String() + " (until its message's expiration)"
	}
	return b.lifetime(st).String() + " (expiration)"
}

// givenUp reports whether the reason kept for a recipient says it was
// given up at expiration (expired).
func givenUp(reply string) bool { return strings.HasSuffix(reply, "expiration)") }

// expiresAt is when the message of st is given up: its queueing plus
// expiration, or its own time (st.Expires).
func (b *Bridge) expiresAt(st *state) time.Time {
	if !st.Expires.IsZero() {
		return st.Expires
	}
	return st.Queued.Add(b.cfg.Expiration)
}

// lifetime is how long the message of st is tried: expiration, or less
// for one with its own time (st.Expires).
func (b *Bridge) lifetime(st *state) time.Duration {
	if st.Expires.IsZero() {
		return b.cfg.Expiration
	}
	return st.Expires.Sub(st.Queued).Round(time.Second)
}

// badmail writes the message (for its refused recipients) and the reason to
// Badmail and queues a non-delivery report to its sender.
func (b *Bridge) badmail(id string, m *message, pm *compat.PickupMessage, now time.Time, open func() (io.ReadCloser, error)) error {
	st := m.st
	all := pm.To // the Queue file lists only those pending since a checkpoint
	if len(st.Recipients) > 0 {
		all = st.Recipients
	}
	var failed []mailroot.BadRecipient
	var rcpts, unreported []string
	expired := 0
	for _, f := range st.Failed {
		failed = append(failed, mailroot.BadRecipient{Addr: f.Rcpt, Reply: f.Reply})
		rcpts = append(rcpts, f.Rcpt)
		if !f.Reported {
			unreported = append(unreported, f.Rcpt)
		}
		if givenUp(f.Reply) {
			expired++
		}
	}
	problem := b.problem(&st, failed, len(all), expired)
	// Found from outside: a message from <> that is no report (a Pickup
	// file with an empty X-Sender) was said to be one.
	ndr := "none: the sender is the null sender <>, to whom no report is sent (RFC 5321 section 4.5.5)"
	if st.ReportFor != "" {
		ndr = "none: this is itself a report, about message " + st.ReportFor + " (its sender is the null sender <>)"
	}
	how := "queued to <" + pm.From + ">"
	if b.local.Listed() && b.local.Has(pm.From) {
		how = "written for Drop, to <" + pm.From + "> (a local sender)"
	}
	switch {
	case pm.From == "":
	case len(unreported) == len(rcpts):
		ndr = how
	case len(unreported) == 0:
		ndr = how + " after the attempt that refused them"
	default:
		ndr = how + ": for " + strings.Join(unreported, ", ") + " now, for the others after the attempt that refused them"
	}
	info := mailroot.BadInfo{
		Name: id, Source: m.source, Problem: problem, Server: b.cfg.Sender.Addr(),
		From: pm.From, To: all, Failed: failed, Queued: st.Queued, Time: now, Attempts: st.Attempts,
		NDR: ndr, PickupPath: b.root.Layout().Pickup,
		// A settled message's files under its own id are its own, from a
		// write that a stop may have cut short: replaced.
		Again: st.Settled,
	}
	if st.DelayNotice {
		info.DelayNoticeFor = st.ReportFor
	}
	if !st.Badmailed {
		// .BAD holds the message for the refused recipients only: copying
		// it back into Pickup resends to them and not to those who have
		// it.
		bad, err := b.root.BadmailFrom(info, func(w io.Writer) error {
			msg, err := open()
			if err != nil {
				return err
			}
			defer msg.Close()
			return writeQueueFile(w, pm.From, rcpts, msg, b.cfg.Pickup.DotStuffed)
		})
		if err != nil {
			return err
		}
		// Said as it is: a message that reached some recipients was not
		// "moved" away from them.
		msg := "not delivered: moved to Badmail"
		if st.ReportFor != "" {
			// Found from outside (QA95): a delay notice given up was
			// read as a message of the same sender.
			msg = st.what() + " " + msg
		}
		if len(rcpts) < len(all) {
			msg = "not delivered to some recipients (the others have it): a copy for them is in Badmail"
		}
		args := append(m.logID(id), "from", pm.From, "failed", rcpts, "problem", problem, "badmail", bad)
		b.log.Warn(msg, args...)
		if m.st.Settled {
			// Recorded, so that a stop before the end does not have the
			// next start write a second copy (found from outside: ID.BAD
			// and ID-2.BAD for one message); with the id of the report
			// to come (see below), in the same write.
			m.st.Badmailed = true
			if pm.From != "" && len(unreported) > 0 && m.st.ReportID == "" {
				m.st.ReportID = b.root.NewName()
			}
			_ = b.saveState(id, m) // logged
		}
	}
	if pm.From != "" && len(unreported) > 0 {
		if !m.st.Settled {
			b.report(id, pm, unreported, false, now)
			return nil
		}
		// Likewise, so that the sender is not told twice: the report's
		// id is recorded before it is written, and a start after a stop
		// between the two looks for it before writing it (found from
		// outside: two reports for one message after a kill).
		// (One written before the stop was looked for at the start,
		// before any worker could send it: see recoverQueue.)
		if m.st.ReportID == "" {
			m.st.ReportID = b.root.NewName()
			_ = b.saveState(id, m) // logged
		}
		b.reportAs(m.st.ReportID, id, pm, unreported, false, now)
		for i := range m.st.Failed {
			m.st.Failed[i].Reported = true
		}
		_ = b.saveState(id, m) // logged
	}
	return nil
}

// reportWritten reports whether the report nid is in Queue, waiting for
// Drop, or in Drop.
func (b *Bridge) reportWritten(nid string) bool {
	for _, p := range []string{b.queuePath(nid, ".eml"), b.stagePath(nid), filepath.Join(b.root.Layout().Drop, nid+".eml")} {
		if _, err := os.Lstat(p); err == nil {
			return true
		}
	}
	return false
}

// problem is the headline of a .BDR: why the failed recipients (expired of
// them given up at expiration, the others refused) of total were not
// delivered. A reason that is not an SMTP reply ("5.3.4 not sent: ...",
// a lost connection) was decided here, or is what happened without a
// reply, and is not worded as the Outbound Server's reply.
func (b *Bridge) problem(st *state, failed []mailroot.BadRecipient, total, expired int) string {
	server := b.cfg.Sender.Addr()
	refused, ours := len(failed)-expired, 0
	for _, f := range failed {
		if !givenUp(f.Reply) && !isReply(f.Reply) {
			ours++
		}
	}
	// refusedText says who refused the refused recipients.
	var refusedText string
	switch {
	case ours == 0:
		refusedText = fmt.Sprintf("the Outbound Server %s refused %d of %d recipients", server, refused, total)
	case ours == refused:
		refusedText = fmt.Sprintf("mailbridge itself did not send the message for %d of %d recipients (the Outbound Server %s was not asked)", ours, total, server)
	default:
		refusedText = fmt.Sprintf("the Outbound Server %s refused %d of %d recipients, and mailbridge itself did not send the message for %d more (the Outbound Server was not asked)", server, refused-ours, total, ours)
	}
	same := true
	for _, f := range failed {
		same = same && f.Reply == failed[0].Reply
	}
	switch {
	case expired == 0 && len(failed) == 1 && ours == 0:
		return fmt.Sprintf("the Outbound Server %s replied %q for <%s>", server, failed[0].Reply, failed[0].Addr)
	case expired == 0 && ours == 0 && same && len(failed) == total:
		// One reply for every recipient: most often the message refused
		// at the end of its data (a content filter), which "refused 3 of
		// 3 recipients" misread (found from outside).
		return fmt.Sprintf("the Outbound Server %s refused the message for all %d recipients, replying %q", server, total, failed[0].Reply)
	case expired == 0 && len(failed) == 1:
		return fmt.Sprintf("mailbridge itself did not send the message for <%s> (the Outbound Server %s was not asked): %s", failed[0].Addr, server, failed[0].Reply)
	case expired == 0:
		return refusedText
	case refused == 0:
		last := strings.TrimSuffix(failed[len(failed)-1].Reply, b.expired(st))
		said := "last reply from the Outbound Server " + server
		if !isReply(last) {
			said = "last attempt at the Outbound Server " + server + ", without a reply"
		}
		return fmt.Sprintf("the %s could not be delivered within %s; %s: %s", st.what(), b.expiration(st), said, last)
	}
	return fmt.Sprintf("%s, and %d could not be delivered within %s", refusedText, expired, b.expiration(st))
}

// isReply reports whether reason is an SMTP reply ("550 5.1.1 ..."): it
// starts with a three-digit code (RFC 5321 section 4.2), which no failure
// of ours does (sender.Error.ReplyLine).
func isReply(reason string) bool {
	return len(reason) >= 3 && reason[0] >= '2' && reason[0] <= '5' &&
		reason[1] >= '0' && reason[1] <= '9' && reason[2] >= '0' && reason[2] <= '9' &&
		(len(reason) == 3 || reason[3] == ' ' || reason[3] == '-')
}

// report queues a non-delivery report (or a delay notice) for rcpts to the
// sender of pm, from the null sender.
func (b *Bridge) report(id string, pm *compat.PickupMessage, rcpts []string, delay bool, now time.Time) {
	b.reportAs("", id, pm, rcpts, delay, now)
}

// reportAs is report under the Queue id nid ("": a new one).
func (b *Bridge) reportAs(nid, id string, pm *compat.PickupMessage, rcpts []string, delay bool, now time.Time) {
	m := b.msg(id)
	r := compat.Report{
		Hostname: b.cfg.Hostname, To: pm.From, Delay: delay, Date: now,
		Arrival: m.st.Queued, Original: pm.Message,
	}
	for _, rc := range rcpts {
		// The status is decided on the reply as logged (an expiration
		// is said there); the Diagnostic-Code gives the reply without
		// our advice, which is for the administrator, not the sender.
		diag, text := m.st.LastReply[rc], m.st.LastDiag[rc]
		for _, f := range m.st.Failed {
			if f.Rcpt == rc {
				diag, text = f.Reply, f.Diag
			}
		}
		if text == "" {
			text = diag // a state file from before Diag
		}
		rr := compat.ReportRecipient{Addr: rc, Diagnostic: text, LastAttempt: now}
		if isReply(diag) {
			// Remote-MTA is the MTA that gave the diagnostic (RFC 3464
			// section 2.3.5): none when the smart host never replied
			// (not reached, or our own refusal, as SIZE or SMTPUTF8).
			rr.RemoteMTA = strings.Trim(b.cfg.Sender.Host, "[]")
			if ip, err := netip.ParseAddr(rr.RemoteMTA); err == nil {
				// An address is no DNS name: in brackets, as an address
				// literal (RFC 5321 section 4.1.3), which is how postfix
				// and Exchange write one there.
				rr.RemoteMTA = "[" + ip.String() + "]"
			}
		}
		rr.Status = statusOf(diag, delay)
		if delay {
			rr.WillRetryUntil = b.expiresAt(&m.st)
		}
		r.Recipients = append(r.Recipients, rr)
	}
	if nid == "" {
		nid = b.root.NewName()
	}
	r.MessageID = compat.MessageID(nid, b.cfg.Hostname)
	var rb [8]byte
	rand.Read(rb[:])
	r.Boundary = "=_mailbridge_" + hex.EncodeToString(rb[:])
	dsn := compat.DSN(r) // the original's header block only: small
	kind := "non-delivery report"
	if delay {
		kind = "delay notice"
	}
	if b.local.Listed() && b.local.Has(pm.From) {
		// For a sender of a local domain: delivered to Drop, as IIS
		// delivered mail for its local domains, not sent to the
		// Outbound Server (which may not take mail for them).
		if err := b.dropReport(nid, pm.From, dsn, now); err != nil {
			b.log.Error("cannot write the "+kind+" for a local sender", "id", id, "to", pm.From, "error", err)
			return
		}
		path, err := b.finishDrop(nid)
		if err != nil {
			b.dropLater(nid, "", kind, []string{pm.From}, err)
			return
		}
		b.log.Info(kind+" delivered to Drop (local sender)", "id", nid, "for", id, "to", pm.From, "drop_file", path)
		return
	}
	err := b.writeFrom(b.root.Layout().Queue, nid+".eml", "", []string{pm.From}, func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(dsn)), nil
	})
	if err != nil {
		b.log.Error("cannot queue "+kind, "id", id, "to", pm.From, "error", err)
		return
	}
	b.log.Info("queued "+kind, "id", nid, "for", id, "to", pm.From)
	st := state{Queued: now, ReportFor: id, DelayNotice: delay}
	if delay {
		st.Expires = b.expiresAt(&m.st)
	}
	b.enqueue(nid, &message{st: st}, now)
}

// retryDrop is a worker's try of finishDrop for message id (m.drop). It
// returns when to try again, zero when done.
func (b *Bridge) retryDrop(id string, m *message) time.Time {
	if m.dropTo == nil {
		// Found at start: its recipients, for the log, from its
		// envelope; a report by its null sender (it was logged as a
		// Pickup message's local delivery).
		var from string
		var ok bool
		if from, m.dropTo, ok = b.envelope(b.stagePath(id)); ok && from == "" {
			m.report = "report"
		}
	}
	var dst string
	err := b.removeClaim(m)
	if err == nil {
		dst, err = b.finishDrop(id)
	}
	if err != nil {
		m.intakeTries++
		lvl := slog.LevelDebug
		if m.intakeTries%10 == 1 {
			lvl = slog.LevelError // at once, then every ten tries
		}
		b.logDropWait(lvl, id, m, err)
		return time.Now().Add(intakeRetry(m.intakeTries))
	}
	args := []any{"id", id, "drop_file", dst, "to", m.dropTo}
	if m.intakeTries > 0 {
		args = append(args, "tries", m.intakeTries+1)
	}
	if m.report != "" {
		b.log.Info(m.report+" delivered to Drop (local sender)", args...)
		return time.Time{}
	}
	b.log.Info("delivered to Drop (local domain)", args...)
	return time.Time{}
}

// removeClaim removes m.dropAfter, the claimed file whose removal failed,
// and makes that durable (see retryDrop).
func (b *Bridge) removeClaim(m *message) error {
	if m.dropAfter == "" {
		return nil
	}
	if err := remove(m.dropAfter); err != nil {
		return fmt.Errorf("the claimed file %s must go first: %w", m.dropAfter, err)
	}
	if err := b.root.SyncDir(b.root.Layout().Queue); err != nil {
		return err
	}
	m.dropAfter = ""
	return nil
}

// envelope returns the sender and recipients of the envelope block that
// starts the file at path; ok is false when it cannot be read.
func (b *Bridge) envelope(path string) (from string, to []string, ok bool) {
	f, err := mailroot.OpenRegular(path)
	if err != nil {
		return "", nil, false
	}
	defer f.Close()
	pm, err := compat.ReadPickup(f, compat.PickupOptions{})
	if err != nil {
		return "", nil, false
	}
	return pm.From, pm.To, true
}

// dropReport writes a report (from the null sender, with its own Date and
// Message-ID) for rcpt as a Drop file, durably, as NID.todrop (stagePath),
// for finishDrop: the envelope, the report, X-OriginalArrivalTime.
func (b *Bridge) dropReport(nid, rcpt string, dsn []byte, now time.Time) error {
	f, err := b.root.Create(b.root.DropStage(), nid+".todrop")
	if err != nil {
		return err
	}
	defer f.Abort()
	bw := bufio.NewWriter(f)
	_, _ = bw.WriteString(compat.Envelope("", []string{rcpt}))
	dw := compat.NewDropWriter(bw, func() string { return compat.MessageID(nid, b.cfg.Hostname) }, compat.OriginalArrivalTime(now), false)
	_, err = dw.Write(dsn)
	if err == nil {
		err = dw.Close()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		_, err = f.Commit()
	}
	return err
}

// statusOf picks the RFC 3463 status of a recipient from its last reply
// ("550 5.1.1 text", "451 text", or a connection failure).
func statusOf(reply string, delay bool) string {
	code, enh := 0, ""
	if len(reply) >= 3 {
		if n, err := strconv.Atoi(reply[:3]); err == nil {
			code = n
			if f := strings.Fields(reply[3:]); len(f) > 0 && strings.Count(f[0], ".") == 2 && f[0][0] == reply[0] {
				enh = f[0]
			}
		} else if f := strings.Fields(reply); len(f) > 0 && strings.Count(f[0], ".") == 2 && (f[0][0] == '4' || f[0][0] == '5') {
			// Our own failure with a status, no reply: "5.3.4 not sent: ..."
			// (sender.Error.ReplyLine).
			enh = f[0]
		}
	}
	if !delay && givenUp(reply) {
		// Given up: a failed action's status is permanent (RFC 3464
		// section 2.3.3, RFC 3463 class 5), X.4.7 "delivery time
		// expired"; the smart host's last transient reply stays in the
		// Diagnostic-Code.
		return "5.4.7"
	}
	return compat.StatusFor(code, enh)
}
