package mailroot

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Files committed together whose names are taken fail alone: the others
// of their round get their names.
func TestCommitGroupNameTaken(t *testing.T) {
	r := openTemp(t)
	if !r.main.unnamed {
		t.Skip("files without a name are not available here; commits go through SortTemp")
	}
	drop := r.Layout().Drop
	for i := 0; i < 20; i += 2 {
		if err := os.WriteFile(filepath.Join(drop, name(i, true)), []byte("first\r\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := r.Create(drop, name(i, i%2 == 0))
			if err != nil {
				errs[i] = err
				return
			}
			defer f.Abort()
			f.Write([]byte("second\r\n"))
			_, errs[i] = f.Commit()
		}()
	}
	wg.Wait()
	for i, err := range errs {
		taken := i%2 == 0
		if taken != errors.Is(err, fs.ErrExist) || (!taken && err != nil) {
			t.Errorf("file %d (name taken: %v): %v", i, taken, err)
		}
		b, _ := os.ReadFile(filepath.Join(drop, name(i, taken)))
		if want := map[bool]string{true: "first\r\n", false: "second\r\n"}[taken]; string(b) != want {
			t.Errorf("file %d: %q, want %q", i, b, want)
		}
	}
}

func name(i int, taken bool) string {
	if taken {
		return "taken-" + string(rune('a'+i/2)) + ".eml"
	}
	return "new-" + string(rune('a'+i)) + ".eml"
}

// When a round's syncfs fails, the files it was to make durable get no
// name, and the files whose names it was to make durable lose them: no
// Drop file whose client was told anything but success, and none that a
// power cut could take away after a 250.
func TestCommitGroupRoundFails(t *testing.T) {
	r := openTemp(t)
	if !r.main.unnamed {
		t.Skip("files without a name are not available here; commits go through SortTemp")
	}
	drop := r.Layout().Drop
	g := r.main.committer
	var calls atomic.Int64
	g.syncFS = func(f *os.File) error {
		if calls.Add(1)%8 == 0 {
			return errors.New("injected I/O error")
		}
		return syncFS(f)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := map[string]bool{}
	failed := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 25; k++ {
				f, err := r.Create(drop, r.NewName()+".eml")
				if err != nil {
					t.Error(err)
					return
				}
				f.Write([]byte("complete\r\n"))
				path, err := f.Commit()
				f.Abort()
				mu.Lock()
				if err != nil {
					failed++
				} else {
					ok[filepath.Base(path)] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if failed == 0 || len(ok) == 0 {
		t.Fatalf("%d commits failed, %d succeeded: the test should see both", failed, len(ok))
	}
	for _, n := range names(t, drop) {
		if !ok[n] {
			t.Errorf("%s is in Drop but its commit failed", n)
		}
		delete(ok, n)
	}
	for n := range ok {
		t.Errorf("%s was committed but is not in Drop", n)
	}
}

// When the cache flush that ends a round fails, the names that round was
// to make durable are taken back: a commit succeeds only when its name is
// on the disk, not in its write cache.
func TestCommitFlushFails(t *testing.T) {
	r := openTemp(t)
	if !r.main.unnamed {
		t.Skip("files without a name are not available here; commits go through SortTemp")
	}
	drop := r.Layout().Drop
	g := r.main.committer
	var syncs, flushes atomic.Int64
	g.syncFS = func(f *os.File) error {
		syncs.Add(1)
		return syncFS(f)
	}
	g.flush = func(*os.File) error {
		flushes.Add(1)
		return errors.New("injected flush error")
	}
	f, err := r.Create(drop, "flush.eml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	f.Write([]byte("complete\r\n"))
	if _, err := f.Commit(); err == nil || !strings.Contains(err.Error(), "injected flush error") {
		t.Errorf("commit: %v, want the flush's error", err)
	}
	if n := names(t, drop); len(n) != 0 {
		t.Errorf("Drop holds %v after a failed flush", n)
	}
	// An idle group: one round for the content, one for the name, and
	// only the name's round ends with a flush.
	if syncs.Load() != 2 || flushes.Load() != 1 {
		t.Errorf("%d syncs and %d flushes, want 2 and 1", syncs.Load(), flushes.Load())
	}
}

// Both ways of naming a file without a name work: through its descriptor
// (AT_EMPTY_PATH: root, or any user since Linux 6.10) and through
// /proc/self/fd (any user).
func TestCommitBothLinkWays(t *testing.T) {
	for _, emptyPath := range []bool{true, false} {
		r := openTemp(t)
		if !r.main.unnamed {
			t.Skip("files without a name are not available here; commits go through SortTemp")
		}
		if emptyPath && !r.main.emptyPath {
			t.Log("AT_EMPTY_PATH is refused here: only the /proc way is tested")
			continue
		}
		r.main.emptyPath, r.main.committer.emptyPath = emptyPath, emptyPath
		drop := r.Layout().Drop
		f, err := r.Create(drop, "linked.eml")
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte("whole\r\n"))
		if _, err := f.Commit(); err != nil {
			t.Fatalf("emptyPath %v: %v", emptyPath, err)
		}
		if b, err := os.ReadFile(filepath.Join(drop, "linked.eml")); err != nil || string(b) != "whole\r\n" {
			t.Fatalf("emptyPath %v: %q, %v", emptyPath, b, err)
		}
	}
}

// A round that fails while a file waits for its first round fails that
// file too, though the file's own rounds succeed: the failed write may
// have been the file's inode, and no later syncfs reports or repeats it.
// The same holds across folders, which share rounds: a failed round taken
// by a Drop file fails a Queue file in flight.
func TestCommitFailsAfterAnyFailedRound(t *testing.T) {
	for _, sameFolder := range []bool{true, false} {
		r := openTemp(t)
		if !r.main.unnamed {
			t.Skip("files without a name are not available here; commits go through SortTemp")
		}
		drop, queue := r.Layout().Drop, r.Layout().Queue
		// The first round waits for the test, then fails.
		started, release, _ := holdFirstRound(r, errors.New("injected I/O error"))
		first := commitAsync(r, drop, "first.eml")
		<-started
		// The second file waits for round 2, which succeeds, while round
		// 1 runs.
		dir := drop
		if !sameFolder {
			dir = queue
		}
		second := commitAsync(r, dir, "second.eml")
		waitJoined(t, r.main.committer, 1)
		close(release)
		if err := <-first; err == nil {
			t.Errorf("same folder %v: the first file was committed though its round failed", sameFolder)
		}
		if err := <-second; err == nil {
			t.Errorf("same folder %v: the second file was committed though a round failed while it waited", sameFolder)
		}
		if n := append(names(t, drop), names(t, queue)...); len(n) != 0 {
			t.Errorf("same folder %v: Drop and Queue hold %v after failed commits", sameFolder, n)
		}
	}
}

// Files for different folders share rounds: while a round runs, a Drop
// file and a Queue file arriving join the same next round, and three
// syncfs calls commit all three files. Separate rounds per folder ran
// overlapping syncfs calls on the same file system, each slower.
func TestCommitFoldersShareRounds(t *testing.T) {
	r := openTemp(t)
	if !r.main.unnamed {
		t.Skip("files without a name are not available here; commits go through SortTemp")
	}
	drop, queue := r.Layout().Drop, r.Layout().Queue
	started, release, calls := holdFirstRound(r, nil)
	first := commitAsync(r, drop, "first.eml")
	<-started
	second, queued := commitAsync(r, drop, "second.eml"), commitAsync(r, queue, "queued.eml")
	waitJoined(t, r.main.committer, 2)
	close(release)
	for _, c := range []<-chan error{first, second, queued} {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("%d syncfs calls for three files in two folders, want 3", n)
	}
	for _, p := range []string{filepath.Join(drop, "first.eml"), filepath.Join(drop, "second.eml"), filepath.Join(queue, "queued.eml")} {
		if b, err := os.ReadFile(p); err != nil || string(b) != "complete\r\n" {
			t.Errorf("%s: %q, %v", p, b, err)
		}
	}
}

// holdFirstRound makes r's first round close started, wait until release
// is closed, then fail with err (nil: sync as usual). calls counts the
// rounds' syncs.
func holdFirstRound(r *Root, err error) (started, release chan struct{}, calls *atomic.Int64) {
	started, release, calls = make(chan struct{}), make(chan struct{}), new(atomic.Int64)
	r.main.committer.syncFS = func(f *os.File) error {
		if calls.Add(1) == 1 {
			close(started)
			<-release
			if err != nil {
				return err
			}
		}
		return syncFS(f)
	}
	return started, release, calls
}

// commitAsync commits a small file as dir/name in the background.
func commitAsync(r *Root, dir, name string) <-chan error {
	done := make(chan error, 1)
	go func() {
		f, err := r.Create(dir, name)
		if err != nil {
			done <- err
			return
		}
		defer f.Abort()
		f.Write([]byte("complete\r\n"))
		_, err = f.Commit()
		done <- err
	}()
	return done
}

// waitJoined waits until n files wait for the group's next round.
func waitJoined(t *testing.T, g *commitGroup, n int) {
	t.Helper()
	joined := 0
	for i := 0; i < 5000; i++ {
		g.mu.Lock()
		if g.next != nil {
			joined = len(g.next.link)
		}
		g.mu.Unlock()
		if joined >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%d files joined the next round, want %d", joined, n)
}
