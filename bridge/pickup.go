package bridge

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/mailbridge/mailbridge/compat"
	"github.com/mailbridge/mailbridge/mailroot"
)

// pickupFile is what the claimers remember about a file waiting in Pickup.
type pickupFile struct {
	tries   int
	size    int64     // quiet-period fallback: last size seen
	mtime   time.Time // and modification time
	stable  time.Time // since when size and mtime have not changed
	since   time.Time // first seen
	warned  bool      // "still open" logged
	failing bool      // a claim error was logged
	held    bool      // "held by another program" logged
}

// backoff is the wait before checking a busy file again: short at first
// (most writers close within milliseconds), at most one second.
func backoff(tries int) time.Duration {
	d := 5 * time.Millisecond << min(tries, 8)
	return min(d, time.Second)
}

func (b *Bridge) newWatcher() (*fsnotify.Watcher, error) {
	pickup := b.root.Layout().Pickup
	w, err := fsnotify.NewBufferedWatcher(4096)
	if err != nil {
		return nil, fmt.Errorf("watching the Pickup folder: %w", err)
	}
	// The folder's identity is taken before the watch: if it is replaced
	// in between, the next rescan sees a different folder and watches
	// again.
	id, err := os.Stat(pickup)
	if err == nil {
		err = w.Add(pickup)
	}
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("watching the Pickup folder %s: %w", pickup, err)
	}
	b.watched = id
	return w, nil
}

// replaced reports whether the Pickup folder is no longer the one
// watched: removed, or renamed and another made in its place ("mv Pickup
// Pickup.old; mkdir Pickup"). A watch follows the folder it was set on,
// not its path, and would see nothing more. err says why the folder
// cannot be looked at, when it cannot: missing, or out of reach.
func (b *Bridge) replaced() (bool, error) {
	fi, err := os.Stat(b.root.Layout().Pickup)
	return b.watched == nil || err != nil || !os.SameFile(fi, b.watched), err
}

// watch turns change notifications and scans into Pickup candidates.
func (b *Bridge) watch(ctx context.Context, w *fsnotify.Watcher) {
	defer func() {
		if w != nil {
			w.Close()
		}
	}()
	b.scanPickup()
	tick := time.NewTicker(b.cfg.Rescan)
	defer tick.Stop()
	var events <-chan fsnotify.Event
	var errs <-chan error
	for {
		// Without a watcher (the folder is gone: being replaced, or on a
		// share that went away) try again every second, besides the scans.
		var retry <-chan time.Time
		if w != nil {
			events, errs = w.Events, w.Errors
		} else {
			events, errs = nil, nil
			retry = time.After(watchRetry)
		}
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				w.Close()
				w = b.rewatch()
				continue
			}
			if filepath.Clean(ev.Name) == filepath.Clean(b.root.Layout().Pickup) && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				b.log.Warn("the Pickup folder was removed or renamed: watching the folder at its path again", "folder", ev.Name, "event", ev.Op.String())
				w.Close()
				w = b.rewatch()
				continue
			}
			if ev.Has(fsnotify.Create) || ev.Has(fsnotify.Write) {
				name := filepath.Base(ev.Name)
				if b.ignoredBy(name) == "" {
					b.pickup.Push(name, time.Now())
				}
			}
		case err, ok := <-errs:
			if !ok {
				w.Close()
				w = b.rewatch()
				continue
			}
			// An overflow loses events; any other error may too: scan now
			// and start a fresh watcher (iis-reference.md section 10).
			b.log.Warn("Pickup watcher error: rescanning and recreating the watcher", "error", err,
				"overflow", errors.Is(err, fsnotify.ErrEventOverflow))
			w.Close()
			w = b.rewatch()
		case <-retry:
			w = b.rewatch()
		case <-tick.C:
			if w == nil {
				w = b.rewatch()
				continue
			}
			if replaced, err := b.replaced(); replaced {
				// A replacement whose event was lost (or a system that
				// sends none for the watched folder itself); or a folder
				// out of reach (found from outside: a failing volume's
				// EIO was said to be a replaced folder).
				if err != nil {
					b.log.Warn("the Pickup folder is missing or cannot be looked at: watching it again once it can", "folder", b.root.Layout().Pickup, "error", err)
				} else {
					b.log.Warn("the Pickup folder was replaced: watching the folder at its path again", "folder", b.root.Layout().Pickup)
				}
				w.Close()
				w = b.rewatch()
				continue
			}
			b.scanPickup()
		}
	}
}

// watchRetry is the wait before trying again to watch a Pickup folder that
// could not be watched.
const watchRetry = time.Second

// rewatch recreates the watcher and scans; without a watcher the periodic
// scans still find every file. A failure is logged once until a watch
// succeeds again.
func (b *Bridge) rewatch() *fsnotify.Watcher {
	w, err := b.newWatcher()
	if err != nil {
		if !b.watchFailing {
			b.log.Error("cannot watch Pickup; relying on periodic scans, and trying again every second", "error", err, "rescan", b.cfg.Rescan)
			b.watchFailing = true
			b.scanPickup() // the events lost with the watcher
		}
		return nil
	}
	if b.watchFailing {
		b.log.Info("watching Pickup again", "folder", b.root.Layout().Pickup)
		b.watchFailing = false
	}
	b.scanPickup()
	return w
}

// scanPickup makes every file in Pickup a candidate, but those Ignore
// names. An ignored file left unchanged for ignoredWarnAfter is most likely
// not a temporary file but a message named like one: it is logged once, so
// that nobody waits for mail that stays in Pickup.
func (b *Bridge) scanPickup() {
	entries, err := os.ReadDir(b.root.Layout().Pickup)
	if err != nil {
		b.log.Error("cannot read the Pickup folder", "folder", b.root.Layout().Pickup, "error", err)
		return
	}
	now := time.Now()
	warned := b.ignoredWarned
	b.ignoredWarned = map[string]bool{} // forgets the files gone
	irregular := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() {
			irregular[name] = true
			b.warnIrregular(name, mailroot.NotRegular(name, e.Type()))
			continue
		}
		pattern := b.ignoredBy(name)
		if pattern == "" {
			b.pickup.Push(name, now)
			continue
		}
		if warned[name] || explorerFile(name) {
			b.ignoredWarned[name] = true
			continue
		}
		if fi, err := e.Info(); err == nil && now.Sub(fi.ModTime()) >= ignoredWarnAfter {
			b.ignoredWarned[name] = true
			b.log.Warn("Pickup file not sent: its name is one that writers give a file they have not finished, so it is left alone; if it is a finished message, rename it (for example to NAME.eml), or remove the pattern from [pickup] ignore",
				"file", name, "pattern", pattern, "modified", fi.ModTime())
		}
	}
	// Forget the entries gone, so that one coming back is said again.
	b.mu.Lock()
	for name := range b.irregularWarned {
		if !irregular[name] {
			delete(b.irregularWarned, name)
		}
	}
	b.mu.Unlock()
}

// ignoredWarnAfter is how long an ignored file must stay unchanged before
// it is logged: a writer renames its temporary file at once when done.
const ignoredWarnAfter = time.Minute

// ignoredBy returns the Ignore pattern that name matches, or "".
func (b *Bridge) ignoredBy(name string) string {
	lower := strings.ToLower(name)
	for _, p := range b.cfg.Ignore {
		if ok, _ := path.Match(strings.ToLower(p), lower); ok {
			return p
		}
	}
	return ""
}

// claimLoop claims candidates that are due.
func (b *Bridge) claimLoop(ctx context.Context) {
	for {
		name, ok := b.pickup.Pop(ctx, 0)
		if !ok {
			return
		}
		next := b.tryClaim(name)
		b.pickup.Done(name, next)
	}
}

// tryClaim claims one Pickup file if its writer is done. It returns when
// to look at it again (zero: not again).
func (b *Bridge) tryClaim(name string) time.Time {
	now := time.Now()
	b.mu.Lock()
	pf := b.files[name]
	if pf == nil {
		pf = &pickupFile{since: now}
		b.files[name] = pf
	}
	b.mu.Unlock()
	forget := func() time.Time {
		b.mu.Lock()
		delete(b.files, name)
		b.mu.Unlock()
		return time.Time{}
	}
	path := filepath.Join(b.root.Layout().Pickup, name)
	// removeLeftover removes a file of mailbridge's own moved here from
	// Queue, what it is (queueLeftover).
	removeLeftover := func(f *os.File, what string) time.Time {
		// Found from outside: "move Queue\* Pickup", the IIS habit for a
		// stuck queue (iis-reference.md section 4), brings mailbridge's
		// own files along, and each went to Badmail with a reason that
		// told the administrator to resend it. The message's .eml is
		// claimed as a new message; these are of no use without it.
		if f != nil {
			f.Close() // on Windows a file open here cannot be removed
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			pf.tries++
			if !pf.failing {
				pf.failing = true
				b.log.Warn("cannot remove from Pickup a file of mailbridge's own moved here from Queue; retrying", "file", name, "error", err)
			}
			return now.Add(backoff(pf.tries))
		}
		b.log.Info("Pickup file removed: it is "+what, "file", name)
		return forget()
	}
	if mailroot.Internal(name) {
		// Not waited for: this process may hold it open itself (the
		// sending record, written while it runs; found from outside,
		// it stayed in Pickup, taken for a file still being written).
		return removeLeftover(nil, queueLeftover(name, nil, path))
	}
	f, st, err := b.openIfDone(path)
	if st == irregular {
		b.warnIrregular(name, err)
		return forget()
	}
	var nl *noLease
	switch {
	case errors.As(err, &nl):
		if b.quietSaid.CompareAndSwap(false, true) {
			// Said once a run: what it means for every such file.
			b.log.Warn("mailbridge cannot tell when the writer of this Pickup file is done, as "+nl.why+": such files are taken once unchanged for quiet_period, and a writer that pauses longer than that has its message sent cut short. Have applications write files elsewhere and move them into Pickup, or give mailbridge CAP_LEASE (README, On Linux, as a service), or raise quiet_period",
				"file", name, "quiet_period", b.cfg.QuietPeriod)
		}
	case err != nil && st != denied:
		b.log.Debug("Pickup file not readable yet", "file", name, "error", err)
		st = unknown
	}
	switch st {
	case gone:
		return forget()
	case busy:
		pf.tries++
		if !pf.warned && now.Sub(pf.since) > b.warnAfter {
			pf.warned = true
			// Its writer, most often; on Linux a reader too (a lease
			// waits for every other program that has it open: a backup
			// agent, a virus scanner), found from outside.
			b.log.Warn("Pickup file still open by another program (its writer, or on Linux a reader such as a backup agent); it will be sent once closed", "file", name, "since", pf.since)
		}
		return now.Add(backoff(pf.tries))
	case denied:
		// Not claimed: in Queue it could not be read either, and here its
		// writer and the administrator still see it. Said once it has
		// lasted (a pending delete or a scanner passes in seconds).
		pf.tries++
		if !pf.warned && now.Sub(pf.since) > b.warnAfter {
			pf.warned = true
			b.log.Warn("Pickup file cannot be read by mailbridge (access denied); it stays in Pickup and is tried again: "+deniedAdvice,
				"file", name, "since", pf.since, "error", reasonOf(err))
		}
		return now.Add(intakeRetry(pf.tries))
	case unknown:
		fi, err := os.Lstat(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return forget()
			}
			pf.tries++
			return now.Add(backoff(pf.tries))
		}
		if !fi.Mode().IsRegular() {
			b.warnIrregular(name, mailroot.NotRegular(name, fi.Mode()))
			return forget()
		}
		if fi.Size() != pf.size || !fi.ModTime().Equal(pf.mtime) || pf.stable.IsZero() {
			pf.size, pf.mtime, pf.stable = fi.Size(), fi.ModTime(), now
		}
		// Unchanged for the quiet period: done. Otherwise look again when it
		// would be (a write event brings that forward, and starts it over).
		quiet := b.cfg.QuietPeriod
		if looksUnfinished(path, fi.Size()) {
			quiet = max(quiet, b.unfinishedQuiet)
		}
		if wait := quiet - now.Sub(pf.stable); wait > 0 {
			return now.Add(wait)
		}
	}
	if what := queueLeftover(name, f, path); what != "" {
		return removeLeftover(f, what)
	}
	if f != nil {
		defer f.Close()
	}
	if b.inFlight(name, path) {
		// A Queue file being sent, moved back here: the attempt takes
		// it back when it ends.
		if !pf.held {
			pf.held = true
			b.log.Info("Pickup file is a Queue file being sent, moved here during its attempt: it is taken back into Queue when the attempt ends", "file", name)
		}
		return now.Add(time.Second)
	}
	// Claimed after the quiet period, the file may still have a writer
	// that only paused: what it writes after the claim goes into the
	// claimed file. Checked once the file is read (grown).
	quiet := st == unknown
	quietSize, quietMtime := pf.size, pf.mtime
	id := b.root.NewName()
	// The claim: one rename. Its folder syncs come later (intake): the
	// Queue folder's with the .eml file, Pickup's before the message is
	// queued for delivery, so that a power cut cannot bring the file back
	// into Pickup after it was sent. Until then a lost rename only means
	// the file is claimed again.
	in, err := b.root.Move(path, b.root.Layout().Queue, id+".in")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if _, serr := os.Lstat(path); errors.Is(serr, fs.ErrNotExist) {
				return forget() // claimed or deleted by someone else
			}
			// The file is there: Queue is not (deleted by hand). It is
			// created again (mailroot's Mend, which logs it); until
			// then the file waits here.
			err = fmt.Errorf("the Queue folder is missing: %w", err)
		}
		pf.tries++
		switch {
		case errors.Is(err, mailroot.ErrHeld):
			// Antivirus or a backup agent reading it: routine, and the file
			// is claimed once they let go. Said once, and again as a
			// warning if it lasts (something holds it open for good).
			if !pf.held {
				pf.held = true
				b.log.Info("Pickup file held by another program; it is claimed once released", "file", name, "error", err)
			}
			if !pf.warned && now.Sub(pf.since) > b.warnAfter {
				pf.warned = true
				b.log.Warn("Pickup file still held by another program; it is claimed once released: see which program holds it (Resource Monitor, Associated Handles); if none does, give the account mailbridge runs as the Modify permission on Pickup and Queue", "file", name, "since", pf.since, "error", err)
			}
		case !pf.failing:
			pf.failing = true
			b.log.Warn("cannot claim Pickup file; retrying", "file", name, "error", err)
		}
		return now.Add(backoff(pf.tries))
	}
	forget()
	// What was renamed must be a regular file, not a link put in its place
	// between the open and the rename. Otherwise it goes back to Pickup,
	// where it is looked at again (and left, with a warning).
	if err := regularAt(in); err != nil {
		if _, merr := b.root.Move(in, b.root.Layout().Pickup, name); merr != nil {
			b.log.Error("a Pickup file changed while it was claimed and cannot be put back; remove it from Queue", "file", name, "path", in, "error", merr)
		}
		b.log.Warn("Pickup file changed while it was claimed: put back, not sent", "file", name, "error", err)
		return now.Add(backoff(1))
	}
	if f == nil {
		if f, err = mailroot.OpenRegular(in); err == nil {
			defer f.Close()
		}
	}
	if err != nil {
		// The worker that pops it reads it again (deliver).
		due := now.Add(intakeRetry(1))
		if outOfFiles(err) {
			due = b.outOfFilesWait(id, err) // said once a minute, not per file
		} else {
			b.log.Error("cannot read claimed file; the claimed file stays in Queue and is tried again", "file", name, "path", in, "error", err)
		}
		b.enqueue(id, &message{source: name, intake: in, intakeTries: 1, st: state{Queued: now}}, due)
		return time.Time{}
	}
	// The file is read as it is copied into its Queue file, never whole:
	// Pickup files may be tens of megabytes.
	m := &message{source: name, intake: in, st: state{Queued: time.Now()}}
	if quiet {
		m.grown = func() error { return grown(f, quietSize, quietMtime) }
	}
	if due := b.intake(id, m, f); !due.IsZero() {
		b.enqueue(id, m, due)
	}
	return time.Time{}
}

// queueLeftover says what file of mailbridge's own Queue folder the Pickup
// file name is, or "" when it is none: the lock file (or a temporary file
// of mailroot's), a message's .state file, which holds the JSON record of
// its attempts (checked, so that a file a writer happened to name so is
// still sent), or a Queue file rewritten to record that its message is
// finished (saveFinished). f is the file when it is open (openIfDone), and is read
// through: on Linux it holds a lease, and opening the file again would
// wait for that lease to break, 45 seconds.
func queueLeftover(name string, f *os.File, path string) string {
	if mailroot.Internal(name) {
		return "mailbridge's lock, sending record or temporary file, moved here from Queue (move only *.eml files to resend them)"
	}
	isState := strings.HasSuffix(name, ".state")
	if !isState && !strings.HasSuffix(name, ".eml") {
		return ""
	}
	if f == nil {
		// Not opened for every message of the drain: a record is small.
		if fi, err := os.Lstat(path); err != nil || !isState && fi.Size() > maxFinishedRecord {
			return ""
		}
		var err error
		if f, err = mailroot.OpenRegular(path); err != nil {
			return ""
		}
		defer f.Close()
	}
	if !isState {
		if fileMarkedFinished(f) {
			return "the record of a message already done with (a Queue file that says " + strings.TrimSpace(finishedMark) + " alone), moved here from Queue: it is not sent again"
		}
		return ""
	}
	fi, err := f.Stat()
	if err != nil || fi.Size() > 64<<10 {
		return ""
	}
	raw, err := io.ReadAll(io.NewSectionReader(f, 0, fi.Size()))
	var st state
	if err != nil || json.Unmarshal(raw, &st) != nil || st.Queued.IsZero() {
		return ""
	}
	return "the record of a queued message's attempts (ID.state), moved here from Queue (move only *.eml files to resend them): its message, moved with it, is sent as a new one"
}

// looksUnfinished reports whether the Pickup file at path, size bytes
// long, looks like one whose writer has only begun: empty, its last line
// without a line end, or its envelope alone (compat.EnvelopeOnly). Where
// only the quiet period tells that a writer is done, such a file waits at
// least unfinishedQuiet: found from outside, a writer that created its
// file and wrote it 3 seconds later had it moved to Badmail as empty, its
// message written into the .BAD and never sent; one that paused inside
// its envelope had its message sent to a recipient's address cut short;
// one that paused after its envelope lines had it moved to Badmail as
// holding no message. A file that is whole ends with a line end, as every
// writer's in fixtures does, and holds a message: the wait costs a file
// that is none only the minute it would spend in Pickup anyway.
func looksUnfinished(path string, size int64) bool {
	if size == 0 {
		return true
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var last [1]byte
	if _, err := f.ReadAt(last[:], size-1); err != nil {
		return false
	}
	if last[0] != '\n' {
		return true
	}
	if size > envelopeOnlyMax {
		return false
	}
	data := make([]byte, size)
	if _, err := f.ReadAt(data, 0); err != nil {
		return false
	}
	return compat.EnvelopeOnly(data)
}

// envelopeOnlyMax is the largest file looksUnfinished reads whole to see
// whether it holds its envelope alone: some 1,500 X-Receiver lines.
const envelopeOnlyMax = 64 << 10

// grown reports whether the file open as f is no longer the size and
// modification time it had when the quiet period ended: its writer went on
// after a pause longer than quiet_period.
func grown(f *os.File, size int64, mtime time.Time) error {
	fi, err := f.Stat()
	if err != nil {
		return nil // not known: as read
	}
	if fi.Size() != size || !fi.ModTime().Equal(mtime) {
		return fmt.Errorf("it was %d bytes when taken, and is %d bytes now", size, fi.Size())
	}
	return nil
}

// regularAt checks that what was renamed to path is a regular file, not
// a link put in the file's place between the open and the rename. (The
// content is read from the file opened, which was regular. A different
// regular file put in its place is not compared with it: os.SameFile is
// not reliable for a handle and a path on every Windows file system, Wine
// included, and such a file is its writer's own anyway.)
func regularAt(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return mailroot.NotRegular(path, fi.Mode())
	}
	return nil
}

// warnIrregular logs, once per name, a Pickup entry that is not a regular
// file: it stays in Pickup. Following a symbolic link would have the
// service read (and send, or quote in Badmail) a file that the link's
// author may not read; a named pipe would hang a reader.
func (b *Bridge) warnIrregular(name string, why error) {
	b.mu.Lock()
	warned := b.irregularWarned[name]
	b.irregularWarned[name] = true
	b.mu.Unlock()
	if warned {
		return
	}
	b.log.Warn("Pickup entry not taken: only regular files are sent (never what a link leads to); it stays in Pickup: remove it, or put the message itself there",
		"file", name, "reason", reasonOf(why))
}

// reasonOf is err without the path, which is logged as file.
func reasonOf(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// intake turns m's claimed file (m.intake, read from r) into a queued
// message (Queue/ID.eml) or into Badmail. It returns when
// the message is due: now once it is queued; later when a file could not
// be written (a full disk, a Queue folder someone made read-only), and the
// worker that pops it then tries again (deliver); zero when it went to
// Badmail. Nothing waits for a restart: the file stays claimed, in Queue,
// and is retried until the disk has room again.
func (b *Bridge) intake(id string, m *message, r io.Reader) time.Time {
	in, source := m.intake, m.source
	retry := func(what string, err error) time.Time {
		if outOfFiles(err) {
			// Found from outside: under ulimit -n 128, an ERROR line per
			// file, 1,220 in a minute.
			return b.outOfFilesWait(id, err)
		}
		m.intakeTries++
		d := intakeRetry(m.intakeTries)
		lvl := slog.LevelDebug
		if m.intakeTries%10 == 1 {
			// Said at once, then every ten tries (ten minutes once the
			// retries are a minute apart), not at every one; "queued"
			// says when it worked.
			lvl = slog.LevelError
		}
		args := []any{"file", source, "path", in, "retry_in", d, "error", err}
		var size int64
		if fi, serr := os.Stat(in); serr == nil {
			size = fi.Size()
		}
		if hint := mailroot.SpaceAdvice(b.root.Layout().Queue, err, size); hint != "" {
			args = append(args, "hint", hint)
		}
		b.log.Log(context.Background(), lvl, what+"; the claimed file stays in Queue and is tried again", args...)
		return time.Now().Add(d)
	}
	pm, err := compat.ReadPickup(r, b.cfg.Pickup)
	if err != nil && !unreadable(err) {
		return retry("cannot read the claimed file", err)
	}
	if err != nil {
		info := mailroot.BadInfo{
			Name: id, Source: source, Time: time.Now(), Unread: true, Empty: errors.Is(err, compat.ErrEmpty),
			Problem:    fmt.Sprintf("the Pickup file %q is not a message that can be sent: %v", source, err),
			PickupPath: b.root.Layout().Pickup,
		}
		if pm != nil { // no recipients, but a sender
			info.Unread, info.From = false, pm.From
		}
		bad, merr := b.root.MoveToBadmail(info, in)
		if merr != nil {
			return retry("cannot move a Pickup file that cannot be sent to Badmail", merr)
		}
		args := []any{"file", source, "id", id, "reason", err, "badmail", bad}
		if errors.Is(err, compat.ErrNoRecipients) || errors.Is(err, compat.ErrNoSender) {
			// Found from outside: a script appending its lines one
			// command at a time had each part taken as a file of its
			// own, each refused for what the others held.
			args = append(args, "hint", "if the application writes the file in several steps, opening it anew for each (echo >> in a script), each part is taken as a file of its own: have it write the whole file elsewhere and move it into Pickup")
		}
		b.log.Warn("Pickup file moved to Badmail", args...)
		return time.Time{}
	}
	local, remote := b.split(pm.To)
	size, messageID, err := b.writeFiles(id, pm, local, remote, b.root.MadeInPickup(source, in))
	if err == nil && m.grown != nil {
		if b.afterRead != nil {
			b.afterRead(in)
		}
		grownErr := m.grown()
		m.grown = nil // read again, it is read whole
		if grownErr != nil {
			return b.putBack(id, in, source, grownErr)
		}
	}
	if err != nil {
		what := "cannot read the claimed file"
		var fe *fileError
		switch {
		case errors.As(err, &fe) && fe.drop:
			what = "cannot write the copy for Drop (local recipients) in " + filepath.Base(b.root.DropStage()) + "; the other recipients wait with it"
		case errors.As(err, &fe):
			what = "cannot write the Queue file"
		}
		return retry(what, err)
	}
	if err := b.root.SyncDir(b.root.Layout().Pickup); err != nil {
		b.log.Warn("cannot sync the Pickup folder", "error", err)
	}
	// Known once the body is read. IIS sent such a file cut and kept
	// nothing of the rest; here the whole file is kept in Badmail, so that
	// no text is lost for good.
	if pm.CutText && b.keepWhole(id, in, source, pm) {
		in = ""
	}
	finished := true
	if in != "" {
		if err := remove(in); err != nil {
			// Left behind, it would be queued again at the next start.
			b.log.Error("cannot remove a claimed file whose Queue file is written: remove it by hand", "path", in, "error", err)
			finished = false
		}
	}
	dropped := ""
	switch {
	case len(local) > 0 && !finished:
		// The copy goes into Drop once the claimed file is gone: a
		// worker tries to remove it again (retryDrop).
		b.enqueue(id+".todrop", &message{source: source, drop: true, dropTo: local, dropAfter: in}, time.Now().Add(intakeRetry(1)))
	case len(local) > 0:
		// The claim's end durable before the copy goes into Drop: after
		// that, nothing writes the copy again (recoverQueue).
		err := b.root.SyncDir(b.root.Layout().Queue)
		if err == nil {
			dropped, err = b.finishDrop(id)
		}
		if err != nil {
			b.dropLater(id, source, "", local, err)
		}
	}
	tries := func(args []any) []any {
		if source == "" {
			// A claim finished at start: its Pickup name is not kept
			// with its .in file (the id is). No file="" then.
			for i := 0; i+1 < len(args); i += 2 {
				if args[i] == "file" {
					args = append(args[:i], args[i+2:]...)
					break
				}
			}
		}
		if m.intakeTries > 0 {
			// Written after the file could not be written at first
			// (disk full): said, since the error was logged.
			args = append(args, "intake_tries", m.intakeTries+1)
		}
		return args
	}
	m.intake = ""
	if dropped != "" {
		b.log.Info("delivered to Drop (local domain)", tries([]any{"id", id, "file", source, "from", pm.From, "to", local, "size", size, "message_id", messageID, "drop_file", dropped})...)
	}
	if len(remote) == 0 {
		return time.Time{}
	}
	// The message's Message-ID: what its sender knows it by (found from
	// outside: no outbound line named it); its id is on every later line.
	b.log.Info("queued", tries([]any{"id", id, "file", source, "from", pm.From, "to", remote, "size", size, "message_id", messageID})...)
	if b.cfg.Sender.Host == "" && b.noServerSaid.CompareAndSwap(false, true) {
		// Said once mail waits (not at every start, see Run).
		b.log.Warn("Pickup mail is waiting in Queue: there is no Outbound Server to send it to; set [outbound] server", "id", id, "file", source)
	}
	return time.Now()
}

// putBack undoes the claim of a file that its writer went on writing
// after the quiet period (found from outside: the part written after the
// claim was lost, and the message sent cut short): its Queue files go,
// and it goes back to Pickup, where it is taken once quiet again. If it
// cannot go back, it is read again from Queue later, whole by then.
func (b *Bridge) putBack(id, in, source string, why error) time.Time {
	// Their removal durable before the file leaves Queue: otherwise a
	// power cut could leave the cut Queue file without its claimed file,
	// to be sent.
	for _, p := range []string{b.queuePath(id, ".eml"), b.stagePath(id)} {
		err := remove(p)
		if err == nil {
			err = b.root.SyncDir(filepath.Dir(p))
		}
		if err != nil {
			b.log.Error("cannot remove the Queue file of a Pickup file still being written; the claimed file stays in Queue and is read again", "file", source, "path", p, "error", err)
			return time.Now().Add(b.cfg.QuietPeriod + time.Second)
		}
	}
	if _, err := b.root.Move(in, b.root.Layout().Pickup, source); err != nil {
		b.log.Error("cannot put back a Pickup file still being written; the claimed file stays in Queue and is read again", "file", source, "path", in, "error", err)
		return time.Now().Add(b.cfg.QuietPeriod + time.Second)
	}
	b.log.Warn("Pickup file changed after it was taken: its writer paused longer than quiet_period; put back in Pickup, and taken once unchanged for quiet_period. Raise quiet_period, or have the application write the file elsewhere and move it into Pickup (on Linux, give mailbridge CAP_LEASE to wait for the writer to close it)",
		"file", source, "id", id, "quiet_period", b.cfg.QuietPeriod, "reason", why)
	return time.Time{}
}

// split divides a Pickup message's recipients into those of a local
// domain, whose copy goes to Drop as IIS delivered it (iis-reference
// section 1), and those for the Outbound Server. Only a configured list of
// local domains takes part: with none, every domain would be local, and
// Pickup mail is for the Outbound Server.
func (b *Bridge) split(to []string) (local, remote []string) {
	if !b.local.Listed() {
		return nil, to
	}
	for _, rcpt := range to {
		if b.local.Has(rcpt) {
			local = append(local, rcpt)
		} else {
			remote = append(remote, rcpt)
		}
	}
	return local, remote
}

// writeFiles writes pm, read once, into a Drop file for the local
// recipients and into a Queue file for the remote ones, each as IIS
// wrote a message it took from Pickup: the envelope of its recipients,
// the "from mail pickup service" Received header, the message with a
// Message-ID and X-OriginalArrivalTime when missing (compat.DropWriter),
// the Queue file dot-stuffed if Pickup files are, so that the file read
// back, or moved to Pickup, is the same message. The message is copied
// through buffers, never held whole. The Drop file is committed first, and
// then its marker (see dropWritten): a crash before the Queue file is
// written converts the claimed file again (recoverQueue), which does not
// write the Drop file twice. It returns the size of the message and the
// Drop file's path ("" when an earlier conversion wrote it); a failure to
// write a file is a *fileError, any other error the claimed file's. It
// also returns the message's Message-ID, as found or added, for the log.
// relayed says that this process's listener wrote the Pickup file.
func (b *Bridge) writeFiles(id string, pm *compat.PickupMessage, local, remote []string, relayed bool) (int64, string, error) {
	type out struct {
		f  *mailroot.File
		bw *bufio.Writer
		w  io.Writer
		dw *compat.DropWriter
	}
	var outs []*out
	defer func() {
		for _, o := range outs {
			o.f.Abort()
		}
	}()
	open := func(dir, name, head string) (*out, error) {
		f, err := b.root.Create(dir, name)
		if err != nil {
			return nil, err
		}
		// Buffered, a 10 KB message is one write to the file, not one per
		// line (the Pickup drain was 15 % slower).
		o := &out{f: f, bw: bufio.NewWriterSize(f, 64<<10)}
		o.w = o.bw
		_, _ = o.bw.WriteString(head)
		outs = append(outs, o)
		return o, nil
	}
	// Both copies are one message: the same trace header, Message-ID,
	// arrival time and, for a message without one, Date (a script's file
	// may have none, and RFC 5322 requires it: some servers refuse mail
	// without it).
	now := time.Now()
	received := compat.PickupReceived(b.cfg.Hostname, b.cfg.Product, now)
	hostname := b.cfg.Hostname
	msgID := func() string { return compat.MessageID(id, hostname) }
	oat := compat.OriginalArrivalTime(now)
	date := compat.DateHeader(now)
	if relayed && tracedHere(pm.Message, hostname) {
		// Received here over SMTP and relayed through Pickup by this
		// process's listener (intercept = false): its trace is there
		// already, and a relay adds no Date (RFC 5321 section 6.3 leaves
		// that to the server mail is submitted to). Any other file gets
		// the Pickup trace: found from outside, a file that began with a
		// Received field naming this host, written by any application,
		// went into Drop as if received over SMTP.
		received, date = "", ""
	}
	var drop *out
	if len(local) > 0 {
		// One left by an earlier try of this claim (a full disk) was
		// never in Drop: written again with the Queue file.
		if err := remove(b.stagePath(id)); err != nil {
			return 0, "", &fileError{drop: true, err: err}
		}
		o, err := open(b.root.DropStage(), id+".todrop", compat.Envelope(pm.From, local)+received)
		if err != nil {
			return 0, "", &fileError{drop: true, err: err}
		}
		o.dw = compat.NewDropWriter(o.bw, msgID, oat, false).AddDate(date)
		o.w = o.dw
		drop = o
	}
	if len(remote) > 0 {
		o, err := open(b.root.Layout().Queue, id+".eml", compat.Envelope(pm.From, remote)+received)
		if err != nil {
			return 0, "", &fileError{err: err}
		}
		o.dw = compat.NewDropWriter(o.bw, msgID, oat, b.cfg.Pickup.DotStuffed).AddDate(date)
		o.w = o.dw
	}
	size := &countWriter{}
	ws := []io.Writer{size}
	for _, o := range outs {
		ws = append(ws, fileWriter{w: o.w, drop: o == drop})
	}
	if _, err := io.Copy(io.MultiWriter(ws...), io.MultiReader(bytes.NewReader(pm.Message), pm.Body)); err != nil {
		return 0, "", err
	}
	// The Drop copy first: a Queue file without its .todrop would finish
	// the claim without the local recipients (recoverQueue).
	for _, o := range outs {
		err := o.dw.Close()
		if err == nil {
			err = o.bw.Flush()
		}
		if err == nil {
			_, err = o.f.Commit()
		}
		if err != nil {
			return 0, "", &fileError{drop: o == drop, err: err}
		}
	}
	msgIDSeen := ""
	if len(outs) > 0 {
		msgIDSeen = outs[0].dw.LogID()
	}
	return size.n, msgIDSeen, nil
}

// tracedHere reports whether msg starts with a Received field of this
// host's listener ("Received: from HELO ([IP]) by HOSTNAME ...").
func tracedHere(msg []byte, hostname string) bool {
	line, _, _ := bytes.Cut(msg, []byte("\r\n"))
	l := strings.ToLower(string(line))
	return strings.HasPrefix(l, "received: from ") && !strings.HasPrefix(l, "received: from mail pickup service ") &&
		strings.Contains(l, " by "+strings.ToLower(hostname)+" ")
}

// finishDrop renames the Drop copy of message id (ID.todrop: stagePath) into
// Drop as ID.eml, and makes the rename durable. It is called only once
// nothing can write the copy again: the claim is finished (its .in file
// removed, and that made durable), or the copy is a report's. So a crash
// at any point never gives the local recipients two copies, even when a
// program reading Drop takes the first at once; one already renamed is
// not an error.
func (b *Bridge) finishDrop(id string) (string, error) {
	dst, err := b.root.Move(b.stagePath(id), b.root.Layout().Drop, id+".eml")
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Lstat(b.stagePath(id)); errors.Is(serr, fs.ErrNotExist) {
			return filepath.Join(b.root.Layout().Drop, id+".eml"), nil
		}
		err = fmt.Errorf("the Drop folder is missing: %w", err)
	}
	if err != nil {
		return "", err
	}
	if err := b.root.SyncDir(b.root.Layout().Drop); err != nil {
		return dst, fmt.Errorf("syncing folder %s: %w", b.root.Layout().Drop, err)
	}
	return dst, nil
}

// dropLater retries finishDrop for message id every intake retry
// interval, in a worker (deliver): Drop cannot take the file now (not
// writable, missing, full). The copy waits (stagePath); the message's other
// recipients do not wait for it. report is message.report.
func (b *Bridge) dropLater(id, source, report string, to []string, err error) {
	m := &message{source: source, drop: true, dropTo: to, report: report, intakeTries: 1}
	b.logDropWait(slog.LevelError, id, m, err)
	b.enqueue(id+".todrop", m, time.Now().Add(intakeRetry(1)))
}

// logDropWait says that message id's copy for Drop (m.drop) could not go
// in, and waits.
func (b *Bridge) logDropWait(lvl slog.Level, id string, m *message, err error) {
	args := []any{"id", id, "file", m.source, "path", b.stagePath(id), "to", m.dropTo, "tries", m.intakeTries, "error", err}
	if hint := mailroot.StoreAdvice(b.root.Layout().Drop, err, 0); hint != "" {
		// As the listener says it (found from outside: an immutable
		// Drop, "operation not permitted" alone here).
		args = append(args, "hint", hint)
	}
	b.log.Log(context.Background(), lvl, "cannot move a message into Drop for its local recipients; it waits as ID.todrop and is tried again", args...)
}

// fileError is the failure to write a claimed file's Drop file (drop) or
// its Queue file.
type fileError struct {
	drop bool
	err  error
}

func (e *fileError) Error() string { return e.err.Error() }
func (e *fileError) Unwrap() error { return e.err }

// fileWriter tells a failed write to one of the files (a full disk) from
// a failed read of the claimed file, in one io.Copy.
type fileWriter struct {
	w    io.Writer
	drop bool
}

func (f fileWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err != nil {
		err = &fileError{drop: f.drop, err: err}
	}
	return n, err
}

// keepWhole moves the claimed file in, whose message is queued cut at a
// lone "." line (dot_stuffed = true, as IIS read Pickup files), into
// Badmail as ID-whole.BAD with the reason, and reports whether it did.
func (b *Bridge) keepWhole(id, in, source string, pm *compat.PickupMessage) bool {
	name := id + "-whole"
	info := mailroot.BadInfo{
		Name: name, Source: source, Time: time.Now(), From: pm.From, To: pm.To, SentCut: true,
		Problem: fmt.Sprintf("the Pickup file %q was taken only up to its line %d, which holds only \".\": with [pickup] dot_stuffed = true (IIS's default) such a line ends the message, "+
			"and the %d bytes after it were neither sent nor delivered to Drop; the whole file is kept here. If its writer does not dot-stuff (.NET Core, MailKit, Mono), set dot_stuffed = false",
			source, pm.CutLine, pm.Trailing),
		PickupPath: b.root.Layout().Pickup,
	}
	bad, err := b.root.MoveToBadmail(info, in)
	if err != nil {
		b.log.Error("Pickup file taken cut at a line holding only \".\", and it cannot be kept in Badmail: the rest of it is lost; set [pickup] dot_stuffed = false if its writer does not dot-stuff (.NET Core, MailKit, Mono)",
			"file", source, "id", id, "line", pm.CutLine, "bytes_not_sent", pm.Trailing, "error", err)
		return false
	}
	b.log.Warn("Pickup file taken cut at a line holding only \".\" (dot_stuffed = true, as IIS); the whole file is kept in Badmail: set [pickup] dot_stuffed = false if its writer does not dot-stuff (.NET Core, MailKit, Mono)",
		"file", source, "id", id, "line", pm.CutLine, "bytes_not_sent", pm.Trailing, "badmail", bad)
	return true
}

// intakeRetry is the wait before the next try to queue a claimed file:
// 1 s, doubling, at most a minute.
func intakeRetry(tries int) time.Duration {
	return min(time.Second<<min(max(tries-1, 0), 6), time.Minute)
}

// writeQueueFile writes the envelope block and the message read from
// msg, dot-stuffed if Pickup files are, so that the file read back (or
// moved to Pickup) is the same message. The message is copied through a
// buffer, never held whole.
func writeQueueFile(w io.Writer, from string, to []string, msg io.Reader, stuffed bool) error {
	// stuffer writes line by line: buffered, a 10 KB message is one write
	// to the file, not one per line (the Pickup drain was 15 % slower).
	bw := bufio.NewWriterSize(w, 64<<10)
	if _, err := bw.WriteString(compat.Envelope(from, to)); err != nil {
		return err
	}
	var dst io.Writer = bw
	if stuffed {
		dst = &stuffer{w: bw, start: true}
	}
	if _, err := io.Copy(dst, msg); err != nil {
		return err
	}
	return bw.Flush()
}

// stuffer doubles a leading dot on every line written through it (RFC
// 5321 section 4.5.2), across writes.
type stuffer struct {
	w     io.Writer
	start bool // the next byte starts a line
}

func (s *stuffer) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		if s.start && p[done] == '.' {
			if _, err := s.w.Write([]byte{'.'}); err != nil {
				return done, err
			}
		}
		end := len(p)
		if i := bytes.IndexByte(p[done:], '\n'); i >= 0 {
			end = done + i + 1
		}
		n, err := s.w.Write(p[done:end])
		done += n
		if err != nil {
			return done, err
		}
		s.start = p[end-1] == '\n'
	}
	return done, nil
}

// countWriter counts what is written to it.
type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// unreadable reports whether err says the file is not a message that can
// be sent (Badmail), rather than that it could not be read (retry).
func unreadable(err error) bool {
	for _, e := range []error{compat.ErrMalformed, compat.ErrNoRecipients, compat.ErrNoSender, compat.ErrEmpty} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// remove deletes a file, retrying for a moment: on Windows antivirus and
// indexers hold files briefly (iis-reference.md section 10). A file already
// gone is not an error.
func remove(path string) error {
	var err error
	for i, d := 0, 10*time.Millisecond; i < 6; i, d = i+1, d*2 {
		err = os.Remove(path)
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		time.Sleep(d)
	}
	return err
}

// explorerFile reports whether name is one of the files Explorer leaves in
// a folder (desktop.ini when it is customised, Thumbs.db for thumbnails):
// no mail and no unfinished one either, so when [pickup] ignore leaves
// them alone (its default does) nothing is said of them.
func explorerFile(name string) bool {
	return strings.EqualFold(name, "desktop.ini") || strings.EqualFold(name, "Thumbs.db")
}
