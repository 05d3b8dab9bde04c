package mailroot

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mailbridge/mailbridge/internal/testtool"
)

// A commit returns only when every write it caused is on the disk, not in
// its write cache: each write to the disk completed before a cache flush
// that was issued after it and completed before the commit returned. The
// file system is ext4 without a journal, where syncfs(2) alone does not
// give that (commitGroup), on a loop device of its own, and the block
// layer's own trace events are the witness. Checked: a file without a name
// linked into its folder, a file written in SortTemp and renamed, and a
// claim (a rename from Pickup into Queue).
func TestCommitFlushesAfterLastWrite(t *testing.T) {
	// No lazy inode table initialisation: its writes in the background
	// would mix with the commits'.
	mnt, dev := testtool.LoopFS(t, "mkfs.ext4", "e2fsprogs", "-q", "-F", "-O", "^has_journal", "-E", "lazy_itable_init=0")
	tr := blockTrace(t, dev)
	l := layoutUnder(mnt)
	r, err := Open(l)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// durable runs op between the trace's markers and checks its events.
	durable := func(t *testing.T, what string, op func() error) {
		t.Helper()
		tr.read(t) // only op's own events
		tr.mark(t, "commit")
		err := op()
		tr.mark(t, "committed")
		if err != nil {
			t.Fatal(err)
		}
		events := tr.read(t)
		if err := flushedBeforeReturn(events); err != nil {
			t.Errorf("%s: %v\nblock events on %s:\n%s", what, err, dev, strings.Join(events, "\n"))
		}
	}
	for _, unnamed := range []bool{true, false} {
		t.Run(map[bool]string{true: "unnamed", false: "SortTemp"}[unnamed], func(t *testing.T) {
			if unnamed && !r.main.unnamed {
				t.Skip("files without a name are not available on this ext4")
			}
			for i := 0; i < 10; i++ {
				f, err := r.create(l.Drop, r.NewName()+".eml", unnamed)
				if err != nil {
					t.Fatal(err)
				}
				f.Write([]byte(strings.Repeat("a message line\r\n", 700)))
				durable(t, fmt.Sprintf("commit %d", i), func() error {
					_, err := f.Commit()
					return err
				})
			}
		})
	}
	t.Run("Claim", func(t *testing.T) {
		for i := 0; i < 10; i++ {
			name := r.NewName()
			src := filepath.Join(l.Pickup, name+".eml")
			if err := os.WriteFile(src, []byte("a message\r\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := syncFS(mustOpen(t, l.Pickup)); err != nil {
				t.Fatal(err)
			}
			durable(t, fmt.Sprintf("claim %d", i), func() error {
				_, err := r.Claim(src, l.Queue, name+".in")
				return err
			})
		}
	})
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// blockEvent is one line of the trace: a block request issued or
// completed, or one of the test's markers.
type blockEvent struct {
	marker   string // "commit", "committed"; or empty
	complete bool
	flush    bool // a cache flush ("FF")
	write    bool // a write with data (the flush's own "WS" of no length is not)
	sector   string
}

func parseBlockEvent(line string) (blockEvent, bool) {
	if i := strings.Index(line, "tracing_mark_write: "); i >= 0 {
		return blockEvent{marker: strings.TrimSpace(line[i+len("tracing_mark_write: "):])}, true
	}
	var e blockEvent
	var rest string
	switch {
	case strings.Contains(line, "block_rq_issue: "):
		rest = line[strings.Index(line, "block_rq_issue: ")+len("block_rq_issue: "):]
	case strings.Contains(line, "block_rq_complete: "):
		rest = line[strings.Index(line, "block_rq_complete: ")+len("block_rq_complete: "):]
		e.complete = true
	default:
		return e, false
	}
	// "7,0 WM 4096 () 1234 + 8 ..." (issue) or "7,0 WM () 1234 + 8 ..."
	f := strings.Fields(rest)
	if len(f) < 2 {
		return e, false
	}
	rwbs := f[1]
	length := ""
	for i, w := range f {
		if w == "+" && i+1 < len(f) {
			length = f[i+1]
			if i > 0 {
				e.sector = f[i-1]
			}
		}
	}
	e.flush = strings.HasPrefix(rwbs, "F")
	e.write = !e.flush && strings.Contains(rwbs, "W") && length != "0"
	return e, true
}

// flushedBeforeReturn checks the events of one commit: every write that
// completed before the commit returned was followed by a flush issued
// after its completion and completed before the commit returned.
func flushedBeforeReturn(lines []string) error {
	var events []blockEvent
	for _, l := range lines {
		if e, ok := parseBlockEvent(l); ok {
			events = append(events, e)
		}
	}
	start, end := -1, -1
	for i, e := range events {
		switch e.marker {
		case "commit":
			start = i
		case "committed":
			end = i
		}
	}
	if start < 0 || end < start {
		return errors.New("the trace lacks the commit's markers")
	}
	writes := 0
	lastWrite := -1 // the last write completed before the return
	for i := start; i < end; i++ {
		if e := events[i]; e.write && e.complete {
			writes++
			lastWrite = i
		}
	}
	if writes == 0 {
		return errors.New("no write reached the disk during the commit")
	}
	// Flushes carry no number in the trace. Of the completions after the
	// last write, at most as many as were outstanding then can be of
	// flushes issued before it: one more means a later flush completed.
	outstanding := 0
	for i := 0; i <= lastWrite; i++ {
		if e := events[i]; e.flush {
			if e.complete {
				outstanding--
			} else {
				outstanding++
			}
		}
	}
	outstanding = max(outstanding, 0) // issued before the trace began
	issued, completed := 0, 0
	for i := lastWrite + 1; i < end; i++ {
		if e := events[i]; e.flush {
			if e.complete {
				completed++
			} else {
				issued++
			}
		}
	}
	if issued > 0 && completed > outstanding {
		return nil
	}
	return fmt.Errorf("%d writes completed, the last at sector %s; after it %d flushes were issued and %d completed (%d were outstanding) before the commit returned: none issued after it is known to have completed",
		writes, events[lastWrite].sector, issued, completed, outstanding)
}

// trace is a tracefs instance of the test's own that records the block
// requests of one device.
type trace struct {
	dir string
	dev string
}

func blockTrace(t *testing.T, dev string) *trace {
	t.Helper()
	root := "/sys/kernel/tracing"
	if _, err := os.Stat(filepath.Join(root, "instances")); err != nil {
		if out, err := exec.Command("mount", "-t", "tracefs", "nodev", root).CombinedOutput(); err != nil {
			t.Skipf("tracefs is not available (%v %s); skipping", err, out)
		}
		t.Cleanup(func() { exec.Command("umount", root).Run() })
	}
	dir := filepath.Join(root, "instances", "mailroot-test-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot create a tracing instance: %v; skipping", err)
	}
	t.Cleanup(func() {
		os.WriteFile(filepath.Join(dir, "tracing_on"), []byte("0"), 0)
		os.Remove(dir)
	})
	for name, value := range map[string]string{
		"set_event":      "block:block_rq_issue block:block_rq_complete",
		"buffer_size_kb": "4096",
		"tracing_on":     "1",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(value), 0); err != nil {
			t.Skipf("cannot set up block tracing (%s): %v; skipping", name, err)
		}
	}
	return &trace{dir: dir, dev: dev}
}

func (tr *trace) mark(t *testing.T, s string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(tr.dir, "trace_marker"), []byte(s), 0); err != nil {
		t.Fatal(err)
	}
}

// read returns the markers and this device's events recorded since the
// last read, and clears the trace.
func (tr *trace) read(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(tr.dir, "trace"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if strings.Contains(l, "tracing_mark_write: ") || strings.Contains(l, ": "+tr.dev+" ") {
			lines = append(lines, l)
		}
	}
	f.Close()
	if err := os.WriteFile(filepath.Join(tr.dir, "trace"), nil, 0); err != nil {
		t.Fatal(err)
	}
	return lines
}
