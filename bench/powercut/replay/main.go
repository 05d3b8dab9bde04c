// Command replay is the host side of the power-cut test. It takes a guest
// run's pristine disk image (base.img) and the write log QEMU's
// blklogwrites driver kept of it (disk.log), builds the disks a power cut
// could have left at chosen crash points, repairs each with e2fsck -fy as a
// reboot would, reads it back with debugfs and checks Drop against the ack
// file found on the same disk (package msg states the rules).
//
// Crash-state model: every write logged before a FLUSH entry is on the
// disk; of the writes logged after the last FLUSH before the crash, any
// subset may be (a disk's volatile cache may write them in any order, or
// not at all). Crash points are:
//
//	flush          the state just before a FLUSH entry (all writes before it);
//	prefix         within an epoch (the writes between two FLUSHes), the
//	               first k writes, k random;
//	subset         a random subset of the epoch's writes;
//	prefix-subset  a random subset of a random prefix;
//	final          every write in the log (the clean shutdown).
//
// Requests are atomic (no torn sectors) and FLUSH is honoured; those are
// the model's limits. The points are FLUSH entries spread evenly over the
// log (-flushpoints) and three partial points in each of -epochs epochs,
// also spread evenly, so that a budget samples the whole run.
//
// Output in -out: results.tsv (one line per point), violations.txt (each
// violating point with the log entries its state holds, enough to rebuild
// it), notes.txt (e2fsck repairs, files left in SortTemp, Queue or
// lost+found), and summary.txt, whose one line is also printed last.
// The exit status is 0 whether or not a point violates (the caller judges
// the counts) and 1 when the replay itself failed.
package main

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mailbridge/mailbridge/bench/powercut/msg"
)

type config struct {
	dir         string
	out         string
	work        string
	flushPoints int
	epochs      int
	workers     int
	seed        uint64
}

func main() {
	var c config
	flag.StringVar(&c.dir, "dir", "", "guest run folder holding base.img and disk.log")
	flag.StringVar(&c.out, "out", "", "folder for the results (default: -dir)")
	flag.StringVar(&c.work, "work", os.TempDir(), "scratch folder for disk images (tmpfs is best)")
	flag.IntVar(&c.flushPoints, "flushpoints", 150, "FLUSH crash points, spread evenly (0: every FLUSH)")
	flag.IntVar(&c.epochs, "epochs", 50, "epochs that get three partial crash points each, spread evenly")
	flag.IntVar(&c.workers, "workers", 2, "crash states checked in parallel")
	flag.Uint64Var(&c.seed, "seed", 1, "seed of the random partial points")
	flag.Parse()
	if c.dir == "" {
		fmt.Fprintln(os.Stderr, "usage: replay -dir RUN [-out DIR] [-work DIR] [-flushpoints N] [-epochs N] [-workers N] [-seed S]")
		os.Exit(2)
	}
	if c.out == "" {
		c.out = c.dir
	}
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "replay:", err)
		os.Exit(1)
	}
}

// point is one crash state: the disk after every write before log entry
// flushAt (-1: none) plus the writes extra, logged after it.
type point struct {
	id      int
	kind    string
	flushAt int
	upto    int   // last log entry the state could hold
	extra   []int // log entries applied on top, in log order
	epochN  int   // writes in the (partial) epoch considered
}

func (p point) String() string {
	return fmt.Sprintf("point %d %s: last FLUSH entry %d, up to entry %d, extra writes %v of %d", p.id, p.kind, p.flushAt, p.upto, p.extra, p.epochN)
}

// pickEven returns n of xs spread evenly, all of them if n is 0 or more
// than there are, always including the last.
func pickEven(xs []int, n int) map[int]bool {
	m := map[int]bool{}
	if len(xs) == 0 {
		return m
	}
	if n <= 0 || n >= len(xs) {
		for _, x := range xs {
			m[x] = true
		}
		return m
	}
	for k := range n {
		m[xs[k*len(xs)/n]] = true
	}
	m[xs[len(xs)-1]] = true
	return m
}

// epoch is the log entries [start, end) between two FLUSHes; its writes
// are the write entries among them.
type epoch struct {
	start, end int
	writes     []int
}

func epochs(es []entry) []epoch {
	var eps []epoch
	ep := epoch{}
	for i, e := range es {
		if e.isFlush() {
			ep.end = i
			eps = append(eps, ep)
			ep = epoch{start: i + 1}
			continue
		}
		if e.isWrite() {
			ep.writes = append(ep.writes, i)
		}
	}
	ep.end = len(es)
	return append(eps, ep)
}

// partials returns the three partial points of an epoch with at least two
// writes (with one, its only partial state is the next FLUSH point's or
// the previous one's).
func partials(ep epoch, flushAt int, rng *rand.Rand) []point {
	ws := ep.writes
	if len(ws) < 2 {
		return nil
	}
	subset := func(from []int) []int {
		var s []int
		for _, j := range from {
			if rng.IntN(2) == 0 {
				s = append(s, j)
			}
		}
		return s
	}
	k := 1 + rng.IntN(len(ws)-1)
	pre := point{kind: "prefix", flushAt: flushAt, upto: ws[k-1], extra: ws[:k], epochN: len(ws)}
	sub := point{kind: "subset", flushAt: flushAt, upto: ws[len(ws)-1], extra: subset(ws), epochN: len(ws)}
	k = 1 + rng.IntN(len(ws))
	preSub := point{kind: "prefix-subset", flushAt: flushAt, upto: ws[k-1], extra: subset(ws[:k]), epochN: k}
	return []point{pre, sub, preSub}
}

type job struct {
	p   point
	img string
}

type result struct {
	p          point
	fsckRC     int
	acked      int
	dropFiles  int
	violations []string
	notes      []string
	err        error
}

func run(c config) error {
	l, logf, err := openLog(filepath.Join(c.dir, "disk.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	es := l.entries
	var flushes []int
	for _, e := range es {
		if e.isFlush() {
			flushes = append(flushes, e.index)
		}
	}
	eps := epochs(es)
	var withPartials []int
	for i, ep := range eps {
		if len(ep.writes) >= 2 {
			withPartials = append(withPartials, i)
		}
	}
	chosenFlush := pickEven(flushes, c.flushPoints)
	chosenEpoch := pickEven(withPartials, c.epochs)
	fmt.Printf("log: %d entries (superblock counts %d), %d FLUSH, sector %d; %d epochs with 2+ writes; checking %d FLUSH points and %d epochs\n",
		len(es), l.declared, len(flushes), l.sectorSize, len(withPartials), len(chosenFlush), len(chosenEpoch))

	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return fmt.Errorf("make output folder: %w", err)
	}
	scratch, err := os.MkdirTemp(c.work, "replay-")
	if err != nil {
		return fmt.Errorf("make scratch folder: %w", err)
	}
	defer os.RemoveAll(scratch)

	// W follows the log from FLUSH to FLUSH; each crash state starts as a
	// copy of it.
	wPath := filepath.Join(scratch, "W.img")
	if err := copyImage(filepath.Join(c.dir, "base.img"), wPath); err != nil {
		return err
	}
	w, err := os.OpenFile(wPath, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open working image: %w", err)
	}
	defer w.Close()

	jobs := make(chan job)
	results := make(chan result)
	var wg sync.WaitGroup
	for range max(c.workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				results <- check(j, scratch)
			}
		}()
	}
	sumc := make(chan summary, 1)
	go func() { sumc <- collect(c.out, results) }()

	// produce builds each point's image while W is at the right place in
	// the log, then hands it to a worker.
	rng := rand.New(rand.NewPCG(c.seed, 0))
	nid := 0
	var buf []byte
	produce := func(p point) error {
		p.id = nid
		nid++
		img := filepath.Join(scratch, fmt.Sprintf("p%d.img", p.id))
		if err := copyImage(wPath, img); err != nil {
			return err
		}
		if len(p.extra) > 0 {
			f, err := os.OpenFile(img, os.O_RDWR, 0)
			if err != nil {
				return fmt.Errorf("open crash image: %w", err)
			}
			for _, i := range p.extra {
				if buf, err = l.apply(f, logf, es[i], buf); err != nil {
					f.Close()
					return err
				}
			}
			if err := f.Close(); err != nil {
				return fmt.Errorf("close crash image: %w", err)
			}
		}
		jobs <- job{p: p, img: img}
		return nil
	}
	t0 := time.Now()
	err = func() error {
		flushAt := -1
		for i, ep := range eps {
			if chosenEpoch[i] {
				for _, p := range partials(ep, flushAt, rng) {
					if err := produce(p); err != nil {
						return err
					}
				}
			}
			for _, j := range ep.writes {
				if buf, err = l.apply(w, logf, es[j], buf); err != nil {
					return err
				}
			}
			if ep.end == len(es) {
				return produce(point{kind: "final", flushAt: flushAt, upto: len(es) - 1})
			}
			flushAt = ep.end
			if chosenFlush[flushAt] {
				if err := produce(point{kind: "flush", flushAt: flushAt, upto: flushAt}); err != nil {
					return err
				}
			}
		}
		return nil
	}()
	close(jobs)
	wg.Wait()
	close(results)
	s := <-sumc
	if err != nil {
		return err
	}
	if s.err != nil {
		return s.err
	}
	line := fmt.Sprintf("SUMMARY acked=%d points=%d violating=%d entries=%d flushes=%d kinds=%s fsck_rc=%s time=%v\n",
		s.maxAcked, s.points, s.bad, len(es), len(flushes), countStr(s.kinds), countStr(s.fsckRC), time.Since(t0).Round(time.Second))
	fmt.Print(line)
	if err := os.WriteFile(filepath.Join(c.out, "summary.txt"), []byte(line), 0o644); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}

type summary struct {
	points, bad, maxAcked int
	kinds                 map[string]int
	fsckRC                map[string]int
	err                   error
}

// collect writes each result as it arrives and counts them. It keeps
// reading after an error so that the workers never block.
func collect(out string, results <-chan result) summary {
	s := summary{kinds: map[string]int{}, fsckRC: map[string]int{}}
	files := map[string]*os.File{}
	for _, name := range []string{"results.tsv", "violations.txt", "notes.txt"} {
		f, err := os.Create(filepath.Join(out, name))
		if err != nil {
			s.err = fmt.Errorf("create result file: %w", err)
			for range results {
			}
			return s
		}
		defer f.Close()
		files[name] = f
	}
	fmt.Fprintf(files["results.tsv"], "id\tkind\tlast_flush_entry\tupto_entry\textra/epoch_writes\tfsck_rc\tacked\tdrop_files\tviolations\tnotes\n")
	// Acks at FLUSH points, to check after the fact that the ack file
	// never shrinks: a state that lost the ack file (or Drop's whole
	// parent) would otherwise pass with nothing promised.
	type flushAcks struct{ id, at, acked int }
	bad := map[int]bool{}
	var fa []flushAcks
	t0 := time.Now()
	for r := range results {
		if r.err != nil {
			s.err = errors.Join(s.err, fmt.Errorf("%v: %w", r.p, r.err))
			continue
		}
		p := r.p
		s.points++
		s.kinds[p.kind]++
		s.fsckRC[fmt.Sprint(r.fsckRC)]++
		s.maxAcked = max(s.maxAcked, r.acked)
		if p.kind == "flush" || p.kind == "final" {
			fa = append(fa, flushAcks{p.id, p.upto, r.acked})
		}
		fmt.Fprintf(files["results.tsv"], "%d\t%s\t%d\t%d\t%d/%d\t%d\t%d\t%d\t%d\t%d\n",
			p.id, p.kind, p.flushAt, p.upto, len(p.extra), p.epochN, r.fsckRC, r.acked, r.dropFiles, len(r.violations), len(r.notes))
		if len(r.notes) > 0 {
			fmt.Fprintf(files["notes.txt"], "%v:\n", p)
			for _, n := range r.notes {
				fmt.Fprintf(files["notes.txt"], "  %s\n", n)
			}
		}
		if len(r.violations) > 0 {
			bad[p.id] = true
			fmt.Fprintf(files["violations.txt"], "%v; e2fsck exit %d; %d acknowledged; %d files in Drop\n", p, r.fsckRC, r.acked, r.dropFiles)
			for _, v := range r.violations {
				fmt.Fprintf(files["violations.txt"], "  %s\n", v)
			}
		}
		if s.points%50 == 0 {
			fmt.Printf("  %d points checked, %d violating, up to %d acknowledged, %v\n", s.points, len(bad), s.maxAcked, time.Since(t0).Round(time.Second))
		}
	}
	sort.Slice(fa, func(i, j int) bool { return fa[i].at < fa[j].at })
	most := 0
	for _, f := range fa {
		if f.acked < most {
			bad[f.id] = true
			fmt.Fprintf(files["violations.txt"], "point %d (state at entry %d): (a) %d acknowledged, fewer than the %d at an earlier FLUSH point\n", f.id, f.at, f.acked, most)
		}
		most = max(most, f.acked)
	}
	s.bad = len(bad)
	return s
}

func countStr(m map[string]int) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var b strings.Builder
	for i, k := range ks {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s:%d", k, m[k])
	}
	return b.String()
}

// copyImage copies a sparse disk image; cp keeps the holes, which a 1 GiB
// image mostly is.
func copyImage(src, dst string) error {
	if out, err := exec.Command("cp", "--sparse=always", src, dst).CombinedOutput(); err != nil {
		return fmt.Errorf("cp %s: %w: %s", src, err, out)
	}
	return nil
}

// check repairs the image of j as a reboot would, reads it back and checks
// it. It removes the image.
func check(j job, scratch string) result {
	r := result{p: j.p}
	defer os.Remove(j.img)
	fsck := exec.Command("e2fsck", "-fy", j.img)
	fout, err := fsck.CombinedOutput()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		r.err = fmt.Errorf("e2fsck: %w", err)
		return r
	}
	r.fsckRC = fsck.ProcessState.ExitCode()
	// 1: errors corrected, which a crash state needs (journal replay,
	// orphans); 4 and up: left uncorrected, which no reader could use.
	if r.fsckRC >= 4 {
		r.violations = append(r.violations, fmt.Sprintf("e2fsck exit %d: %s", r.fsckRC, lastLines(fout, 5)))
	}
	if s := unusualRepairs(fout); s != "" {
		r.notes = append(r.notes, "e2fsck: "+s)
	}

	root := filepath.Join(scratch, fmt.Sprintf("p%d.d", j.p.id))
	defer os.RemoveAll(root)
	if err := os.Mkdir(root, 0o755); err != nil {
		r.err = fmt.Errorf("make extraction folder: %w", err)
		return r
	}
	if out, err := exec.Command("debugfs", "-R", "rdump / "+root, j.img).CombinedOutput(); err != nil {
		r.err = fmt.Errorf("debugfs rdump: %w: %s", err, lastLines(out, 3))
		return r
	}
	acks, err := os.ReadFile(filepath.Join(root, "acks"))
	if err != nil && !os.IsNotExist(err) {
		r.err = fmt.Errorf("read ack file: %w", err)
		return r
	}
	acked, notes := msg.ParseAcks(acks)
	r.acked = len(acked)
	r.notes = append(r.notes, notes...)
	rep, err := msg.CheckDrop(filepath.Join(root, "mailroot", "Drop"), acked)
	if err != nil {
		// Drop itself gone with messages promised is a loss, not a
		// failure of the harness.
		r.violations = append(r.violations, "(a) "+err.Error())
	}
	r.dropFiles = rep.Files
	r.violations = append(r.violations, rep.Violations...)
	for _, sub := range []string{"mailroot/SortTemp", "mailroot/Queue", "mailroot/Pickup", "mailroot/Badmail", "lost+found"} {
		ents, err := os.ReadDir(filepath.Join(root, sub))
		if err != nil {
			continue
		}
		var names []string
		for _, e := range ents {
			// mailbridge's own state, expected in a running mail root
			if n := e.Name(); n != "mailbridge.lock" && n != "mailbridge.sending" {
				names = append(names, n)
			}
		}
		if len(names) > 0 {
			r.notes = append(r.notes, fmt.Sprintf("%s holds %d entries: %s", sub, len(names), trunc(strings.Join(names, " "))))
		}
	}
	return r
}

func trunc(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

func lastLines(b []byte, n int) string {
	ls := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, " | ")
}

// unusualRepairs returns e2fsck's output without what every crash state
// needs (journal replay, orphan inodes, free counts, bitmaps), so that a
// note shows only repairs that say something about the crash.
func unusualRepairs(out []byte) string {
	routine := []string{"Pass ", "e2fsck ", "Clearing orphaned inode", "Truncating orphaned inode", "Block bitmap differences",
		"Inode bitmap differences", "Padding at end of"}
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || l == "Fix? yes" || strings.Contains(l, "files (") || strings.Contains(l, "*****") ||
			strings.HasSuffix(l, "recovering journal") || strings.Contains(l, "count wrong") {
			continue
		}
		skip := false
		for _, p := range routine {
			if strings.HasPrefix(l, p) {
				skip = true
				break
			}
		}
		if !skip {
			keep = append(keep, l)
		}
	}
	return trunc(strings.Join(keep, " | "))
}
