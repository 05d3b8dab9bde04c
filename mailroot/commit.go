package mailroot

import (
	"os"
	"sync"
)

// commitGroup commits files without a name (O_TMPFILE) into the folders
// of one file system, many at a time ("group commit"). A file's content
// must be on disk before its name, and its name before Commit returns, so
// each file needs two syncs of its file system, with its link in between:
//
//	round N:   syncfs, then link every file that was waiting for round N
//	round N+1: syncfs: the names linked in round N are on disk
//
// One syncfs(2) writes everything the file system holds unwritten, so
// every round is at once the second sync of the files linked in the round
// before and the first sync of the files that arrived meanwhile. Because
// the links happen inside the round, before the next one can start, a file
// waits for the round running when it arrives, then exactly two more. When
// each caller linked its own file after its first round, the next round
// had often started already, and a file waited for one round more.
//
// A round that makes names durable ends with a cache flush of its own
// (flushDisk): on file systems that keep their metadata in the block
// device's buffers (ext2, ext4 without a journal, FAT), syncfs(2) flushes
// the disk's write cache before it writes those buffers, and does not wait
// for metadata writes it started earlier before the flush. Traced on ext4
// without a journal (TestCommitFlushesAfterLastWrite): the folder entry and
// the inode of a new name were still being written when syncfs's flush was
// issued, so the name was on its way to the disk, not on it, when the 250
// went out. The flush after syncfs, which has waited for all those writes,
// puts it there. Under load it costs no measurable rate (3009 against 3022
// msg/s, medians of six alternating runs).
//
// One goroutine runs the rounds, one after the other, while files wait for
// them; each file waits on the two rounds it needs and is woken by those
// alone. Rounds never overlap: overlapping syncfs calls made each one
// slower, and the whole slower (3033 against 3585 msg/s with two at a
// time, in a same-run A/B recorded in BENCHMARKS.md). For the same reason
// a Root has one group for all its folders, which share a file system,
// rather than one per folder, where Drop and Queue each ran their own
// rounds. With inbound mail arriving while Pickup drains (bench/mixed.sh),
// one group received 4 % more and drained 4 % faster in a same-run A/B of
// eight alternating rounds, 14 % in an earlier one of six, and the same
// in a third of five (BENCHMARKS.md).
type commitGroup struct {
	syncFS    func(*os.File) error // syncFS; tests make rounds fail
	flush     func(*os.File) error // flushDisk; likewise
	emptyPath bool                 // link through the descriptor (linkUnnamed)
	failures  syncFailures

	mu      sync.Mutex
	next    *round // the round to run next, gathering its files
	running bool   // the goroutine running rounds is at work
	started uint64 // rounds started
}

// syncFailures counts a commit group's failed rounds. A failure to write
// metadata (an inode, a folder's entries) is reported once, to whichever
// syncfs on the file system comes first, and afterwards the block is no
// longer dirty: a later round succeeds without writing it. So a file fails
// when any round failed between its arrival and the sync of its name,
// whatever folder the round's files were for: that errs on the safe side
// (the client retries) and never acknowledges a file that a power cut
// could take.
type syncFailures struct {
	mu   sync.Mutex
	n    uint64
	last error
}

func (s *syncFailures) add(err error) {
	s.mu.Lock()
	s.n++
	s.last = err
	s.mu.Unlock()
}

// count returns how many rounds have failed so far.
func (s *syncFailures) count() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// since returns the last failure if any round failed after count n.
func (s *syncFailures) since(n uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n != n {
		return s.last
	}
	return nil
}

// round is one syncfs and the links that follow it.
type round struct {
	f     *os.File       // a descriptor on the file system, for syncfs
	link  []*pendingFile // to link once the sync is done
	names bool           // files wait for it to make their names durable
	done  chan struct{}  // closed when synced and linked
}

// pendingFile is a file being committed.
type pendingFile struct {
	f     *os.File
	dst   string
	fails uint64 // the failure count when it arrived
	name  *round // the round that makes its name durable, once linked
	err   error  // why it was not linked
}

func newCommitGroup(emptyPath bool) *commitGroup {
	return &commitGroup{syncFS: syncFS, flush: flushDisk, emptyPath: emptyPath}
}

// commit makes f durable, names it dst (never over an existing file) and
// makes the name durable. On error f has no name (or its name was taken
// back), and the error says which step failed.
func (g *commitGroup) commit(f *os.File, dst string) error {
	p := &pendingFile{f: f, dst: dst, fails: g.failures.count()}
	g.mu.Lock()
	r := g.join(f)
	r.link = append(r.link, p)
	g.mu.Unlock()
	<-r.done
	if p.err != nil {
		return p.err
	}
	<-p.name.done
	if err := g.failures.since(p.fails); err != nil {
		// The name may not survive a power cut: take it back, so that the
		// sender retries rather than trusting it.
		os.Remove(dst)
		return err
	}
	// Once the name is durable, not before: a router that reads the file
	// at this event never sees one that is taken back.
	announceWritten(dst)
	return nil
}

// join returns the round to run next, with f's descriptor for its sync if
// the round is new, and sees that a goroutine runs it. It runs with g.mu
// held.
func (g *commitGroup) join(f *os.File) *round {
	if g.next == nil {
		g.next = &round{f: f, done: make(chan struct{})}
	}
	if !g.running {
		g.running = true
		go g.run()
	}
	return g.next
}

// run runs rounds while files wait for them. A round's descriptor belongs
// to a file whose commit waits for that round, so it is open throughout.
func (g *commitGroup) run() {
	g.mu.Lock()
	for g.next != nil {
		r := g.next
		g.next = nil
		g.started++
		names := r.names
		g.mu.Unlock()
		err := g.syncFS(r.f)
		if err == nil && names {
			err = g.flush(r.f)
		}
		if err != nil {
			g.failures.add(err)
		}
		var name *round
		for _, p := range r.link {
			if p.err = g.failures.since(p.fails); p.err != nil {
				continue
			}
			// syncfs reports a writeback error once, maybe to another
			// folder's round: each file's own is checked too.
			if p.err = writebackError(p.f); p.err != nil {
				continue
			}
			if p.err = linkUnnamed(p.f, p.dst, g.emptyPath); p.err != nil {
				continue
			}
			if name == nil {
				g.mu.Lock()
				name = g.join(p.f)
				name.names = true
				g.mu.Unlock()
			}
			p.name = name
		}
		close(r.done)
		g.mu.Lock()
	}
	g.running = false
	g.mu.Unlock()
}
