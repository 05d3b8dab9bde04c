package mailroot

import (
	"os"
	"sync"
)

// commitGroup commits files without a name (O_TMPFILE) into one folder,
// many at a time ("group commit"). A file's content must be on disk before
// its name, and its name before Commit returns, so each file needs two
// syncs of its file system, with its link in between:
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
// The caller that finds no round running runs one, with its own file's
// descriptor for syncfs; the others wait. Rounds never overlap.
type commitGroup struct {
	syncFS    func(*os.File) error // syncFS; tests make rounds fail
	emptyPath bool                 // link through the descriptor (linkUnnamed)

	mu      sync.Mutex
	cond    *sync.Cond
	waiting []*pendingFile // for their first round
	started uint64         // rounds started
	done    uint64         // rounds finished
	running bool
	// The last round that failed, and why. A file whose second round
	// failed is not durable; a file fails when that round or a later one
	// failed, which errs on the safe side (the client retries).
	lastFail uint64
	lastErr  error
}

// pendingFile is a file waiting for its first round.
type pendingFile struct {
	f     *os.File
	dst   string
	round uint64 // the round that linked it, once linked
	err   error  // why it was not linked
}

func newCommitGroup(emptyPath bool) *commitGroup {
	g := &commitGroup{syncFS: syncFS, emptyPath: emptyPath}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// commit makes f durable, names it dst (never over an existing file) and
// makes the name durable. On error f has no name (or its name was taken
// back), and the error says which step failed.
func (g *commitGroup) commit(f *os.File, dst string) error {
	p := &pendingFile{f: f, dst: dst}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.waiting = append(g.waiting, p)
	// The first round: one that starts after now; the links come at its
	// end. Then the round after the one that linked p.
	g.wait(f, g.started+1)
	if p.err != nil {
		return p.err
	}
	need := p.round + 1
	g.wait(f, need)
	if g.lastFail >= need {
		// The name may not survive a power cut: take it back, so that the
		// sender retries rather than trusting it.
		os.Remove(dst)
		return g.lastErr
	}
	return nil
}

// wait returns once round need has finished, running rounds itself while
// none is running. It runs with g.mu held.
func (g *commitGroup) wait(f *os.File, need uint64) {
	for g.done < need {
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		g.started++
		round := g.started
		batch := g.waiting
		g.waiting = nil
		g.mu.Unlock()
		err := g.syncFS(f)
		for _, b := range batch {
			b.round = round
			switch {
			case err != nil:
				b.err = err
			default:
				// syncfs reports a writeback error once, maybe to another
				// folder's round: each file's own is checked too.
				if b.err = writebackError(b.f); b.err == nil {
					b.err = linkUnnamed(b.f, b.dst, g.emptyPath)
				}
			}
		}
		g.mu.Lock()
		g.running = false
		g.done = round
		if err != nil {
			g.lastFail, g.lastErr = round, err
		}
		g.cond.Broadcast()
	}
}
