//go:build !windows

package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailbridge/mailbridge/internal/testtool"
)

// burstMessage is message n of a burst: its own Message-ID, a body of
// about size bytes, and a last line that marks the end, so that a reader
// can tell a whole message from a cut one.
func burstMessage(n, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: burst@e2e.test\r\nTo: drop@e2e.test\r\nSubject: burst %d\r\nMessage-ID: <m-%d@e2e.test>\r\n\r\n", n, n)
	line := strings.Repeat("0123456789abcdef", 4) + "\r\n"
	for b.Len() < size {
		b.WriteString(line)
	}
	fmt.Fprintf(&b, "END %d\r\n", n)
	return b.Bytes()
}

var burstIDRE = regexp.MustCompile(`^<m-([0-9]+)@e2e\.test>$`)

// checkBurstFile checks that raw is a whole Drop file of a burst message
// and returns its number.
func checkBurstFile(raw []byte) (int, error) {
	f, err := splitDrop(raw)
	if err != nil {
		return 0, err
	}
	m := burstIDRE.FindStringSubmatch(f.header("Message-ID"))
	if m == nil {
		return 0, fmt.Errorf("Message-ID %q is not a burst message's", f.header("Message-ID"))
	}
	var n int
	fmt.Sscan(m[1], &n)
	if !bytes.HasSuffix(f.body, []byte(fmt.Sprintf("END %d\r\n", n))) {
		return n, fmt.Errorf("message %d is cut: ends %q", n, f.body[max(0, len(f.body)-40):])
	}
	return n, nil
}

// sendBurstMessage sends message n in a session of its own with go-smtp's
// client and reports whether the server answered 250 to it.
func sendBurstMessage(addr string, n, size int) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("burst.test"); err != nil {
		return err
	}
	if err := c.Mail("burst@e2e.test", nil); err != nil {
		return err
	}
	if err := c.Rcpt(fmt.Sprintf("r%d@e2e.test", n), nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(burstMessage(n, size)); err != nil {
		return err
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return err
	}
	if want := fmt.Sprintf("2.6.0 <m-%d@e2e.test> Queued mail for delivery", n); resp.StatusText != want {
		return fmt.Errorf("reply text %q, want %q", resp.StatusText, want)
	}
	// The message is acknowledged: what happens to QUIT does not matter
	// (a server shutting down may close first).
	c.Quit()
	return nil
}

// TestPollingReaderSeesWholeFiles runs a consumer that polls Drop, reads
// and deletes every file (as SharePoint and AccuRoute do) while 8 clients
// send 320 messages of up to 300 KB: it must only ever see complete .eml
// files, each message once, and every acknowledged message.
func TestPollingReaderSeesWholeFiles(t *testing.T) {
	d := startDaemon(t, options{})
	const senders, perSender = 8, 40
	var (
		mu       sync.Mutex
		seen     = map[int]int{}
		problems []string
		polls    atomic.Int64
	)
	stop := make(chan struct{})
	readerDone := make(chan struct{})
	pass := func() {
		polls.Add(1)
		es, err := os.ReadDir(d.drop)
		if err != nil {
			mu.Lock()
			problems = append(problems, err.Error())
			mu.Unlock()
			return
		}
		for _, e := range es {
			p := filepath.Join(d.drop, e.Name())
			var problem string
			if !strings.HasSuffix(e.Name(), ".eml") || !e.Type().IsRegular() {
				problem = fmt.Sprintf("non-.eml entry %q in Drop", e.Name())
			} else if raw, err := os.ReadFile(p); err != nil {
				problem = fmt.Sprintf("reading %s: %v", e.Name(), err)
			} else if n, err := checkBurstFile(raw); err != nil {
				problem = fmt.Sprintf("%s: %v", e.Name(), err)
			} else {
				mu.Lock()
				seen[n]++
				if seen[n] > 1 {
					problem = fmt.Sprintf("message %d seen %d times", n, seen[n])
				}
				mu.Unlock()
			}
			if problem != "" {
				mu.Lock()
				problems = append(problems, problem)
				mu.Unlock()
				if strings.HasPrefix(problem, "non-.eml") {
					continue // leave it: it may be a temporary file about to move
				}
			}
			if err := os.Remove(p); err != nil {
				mu.Lock()
				problems = append(problems, fmt.Sprintf("removing %s: %v", e.Name(), err))
				mu.Unlock()
			}
		}
	}
	go func() {
		defer close(readerDone)
		for {
			select {
			case <-stop:
				pass()
				return
			default:
				pass()
			}
		}
	}()

	var acked sync.Map
	var wg sync.WaitGroup
	errs := make(chan error, senders*perSender)
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			for i := 0; i < perSender; i++ {
				n := s*perSender + i
				// Sizes from 1 KB to 300 KB: big files take several writes,
				// which a reader would catch half-done without the rename.
				size := 1024 + (n*7919)%(300<<10)
				if err := sendBurstMessage(d.addr, n, size); err != nil {
					errs <- fmt.Errorf("message %d: %w", n, err)
					continue
				}
				acked.Store(n, true)
			}
		}(s)
	}
	wg.Wait()
	close(stop)
	<-readerDone
	close(errs)
	for err := range errs {
		t.Errorf("send: %v", err)
	}
	for _, p := range problems {
		t.Error(p)
	}
	acked.Range(func(k, _ any) bool {
		if seen[k.(int)] != 1 {
			t.Errorf("acknowledged message %d seen %d times", k, seen[k.(int)])
		}
		return true
	})
	t.Logf("reader polled Drop %d times and read %d messages", polls.Load(), len(seen))
}

// TestSIGKILLDuringBurst kills mailbridge while 8 clients send, then
// finds every message that got its 250 whole in Drop; a restart removes
// the temporary files the kill left in SortTemp, and the server works.
func TestSIGKILLDuringBurst(t *testing.T) {
	d := startDaemon(t, options{})
	ackedNow := stopDuringBurst(t, d, syscall.SIGKILL)
	inDrop := checkAckedInDrop(t, d, ackedNow)
	leftovers := listDir(t, d.sortTemp)
	t.Logf("acknowledged %d, Drop holds %d (the rest were in flight), SortTemp holds %d leftovers", len(ackedNow), len(inDrop), len(leftovers))

	// A leftover of our own, in case the kill left none, and a file that
	// is not mailbridge's, which must be kept.
	if err := os.WriteFile(filepath.Join(d.sortTemp, "mbtmp-1234567"), []byte("half a mess"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.sortTemp, "someone-else.txt"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := len(d.dropNames())
	d.start()
	if after := len(d.dropNames()); after != before {
		t.Errorf("restart changed Drop: %d files before, %d after", before, after)
	}
	if left := listDir(t, d.sortTemp); strings.Join(left, ",") != "someone-else.txt" {
		t.Errorf("SortTemp after restart holds %v, want only someone-else.txt", left)
	}
	if err := sendBurstMessage(d.addr, 1_000_000, 1000); err != nil {
		t.Errorf("after restart: %v", err)
	}
}

// sendRaw sends one small message over a raw conversation and returns the
// reply to its end of data.
func sendRaw(t *testing.T, addr string, body []byte) string {
	t.Helper()
	s := dialSMTP(t, addr)
	expect(t, s.last(), "220 ")
	s.send("EHLO raw.test\r\n")
	s.reply()
	expect(t, s.cmd("MAIL FROM:<raw@e2e.test>"), "250 ")
	expect(t, s.cmd("RCPT TO:<drop@e2e.test>"), "250 ")
	expect(t, s.cmd("DATA"), "354 ")
	s.send(string(body) + ".\r\n")
	r := s.last()
	expect(t, s.cmd("QUIT"), "221 ")
	return r
}

const errStoreReply = "451 4.3.0 Requested action aborted: local error in processing, try again later"

// checkNothingStored checks that a failed store left nothing behind.
func checkNothingStored(t *testing.T, d *daemon) {
	t.Helper()
	if names, err := os.ReadDir(d.drop); err == nil && len(names) != 0 {
		t.Errorf("Drop holds %d files after a failed store", len(names))
	}
	if left := waitEmpty(t, d.sortTemp); len(left) != 0 {
		t.Errorf("SortTemp holds %v after a failed store", left)
	}
}

// TestDiskFull runs the mail root on a 2 MB tmpfs: a message that does not
// fit gets 451 4.3.0, nothing is left behind, the cause is in the log, and
// the next message that fits is stored.
func TestDiskFull(t *testing.T) {
	mnt := testtool.Tmpfs(t, "2m")
	d := startDaemon(t, options{root: filepath.Join(mnt, "mailroot")})
	big := burstMessage(1, 3<<20)
	if got := sendRaw(t, d.addr, big); got != errStoreReply {
		t.Fatalf("reply to a message larger than the disk: %q, want %q", got, errStoreReply)
	}
	checkNothingStored(t, d)
	if !strings.Contains(d.waitLog("no space left on device", 1), "no space left on device") {
		t.Errorf("log does not give the cause:\n%s", d.log.String())
	}
	// and what the volume has (found from outside: df showed room).
	if !strings.Contains(d.log.String(), "free (a quota may also limit") {
		t.Errorf("log does not say what the volume has free:\n%s", d.log.String())
	}
	if strings.Contains(d.log.String(), "panic") {
		t.Errorf("panic in log")
	}
	expect(t, sendRaw(t, d.addr, burstMessage(2, 10<<10)), "250 2.6.0 <m-2@e2e.test>")
	d.waitDrop(1)
}

// TestDropUnwritable makes the rename into Drop fail while mailbridge runs,
// two ways that stop root (chmod does not): the immutable attribute on Drop
// and Drop removed. Each gets 451 4.3.0, leaves nothing behind, and once
// Drop is usable again the same message is stored.
func TestDropUnwritable(t *testing.T) {
	t.Run("chattr +i", func(t *testing.T) {
		chattr := testtool.Path(t, "chattr", "e2fsprogs")
		d := startDaemon(t, options{})
		if out, err := exec.Command(chattr, "+i", d.drop).CombinedOutput(); err != nil {
			msg := fmt.Sprintf("chattr +i not possible here: %v %s", err, out)
			testtool.Missing(t, msg)
		}
		undo := func() { exec.Command(chattr, "-i", d.drop).Run() }
		t.Cleanup(undo)
		if got := sendRaw(t, d.addr, burstMessage(1, 50<<10)); got != errStoreReply {
			t.Fatalf("reply with an immutable Drop: %q, want %q", got, errStoreReply)
		}
		checkNothingStored(t, d)
		if !strings.Contains(d.waitLog("operation not permitted", 1), "operation not permitted") {
			t.Errorf("log does not give the cause:\n%s", d.log.String())
		}
		// And what it likely is (found from outside: root puzzled by
		// "operation not permitted" alone).
		if !strings.Contains(d.log.String(), "chattr -i clears") {
			t.Errorf("no hint for an immutable folder:\n%s", d.log.String())
		}
		undo()
		expect(t, sendRaw(t, d.addr, burstMessage(1, 50<<10)), "250 2.6.0 <m-1@e2e.test>")
		if _, err := checkBurstFile(mustRead(t, d.waitDrop(1)[0])); err != nil {
			t.Error(err)
		}
	})
	t.Run("Drop removed", func(t *testing.T) {
		d := startDaemon(t, options{})
		if err := os.Remove(d.drop); err != nil {
			t.Fatal(err)
		}
		if got := sendRaw(t, d.addr, burstMessage(1, 50<<10)); got != errStoreReply {
			t.Fatalf("reply with Drop removed: %q, want %q", got, errStoreReply)
		}
		checkNothingStored(t, d)
		if _, err := os.Stat(d.drop); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Drop reappeared: %v", err)
		}
		if !strings.Contains(d.waitLog("a folder of the mail root is missing", 1), "a folder of the mail root is missing") {
			t.Errorf("no hint for a missing folder:\n%s", d.log.String())
		}
		if err := os.Mkdir(d.drop, 0o755); err != nil {
			t.Fatal(err)
		}
		expect(t, sendRaw(t, d.addr, burstMessage(1, 50<<10)), "250 2.6.0 <m-1@e2e.test>")
		d.waitDrop(1)
	})
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stopDuringBurst sends sig to d while 8 clients send messages in sessions
// of their own, once 150 are acknowledged, and returns the numbers of the
// acknowledged messages.
func stopDuringBurst(t *testing.T, d *daemon, sig syscall.Signal) []int {
	t.Helper()
	var (
		mu    sync.Mutex
		acked []int
		next  atomic.Int64
	)
	var wg sync.WaitGroup
	for s := 0; s < 8; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := int(next.Add(1))
				size := 1024 + (n*7919)%(200<<10)
				if err := sendBurstMessage(d.addr, n, size); err != nil {
					if !d.running() {
						return
					}
					continue
				}
				mu.Lock()
				acked = append(acked, n)
				mu.Unlock()
			}
		}()
	}
	// Kill once a good number of messages are acknowledged, in the middle
	// of many more.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		k := len(acked)
		mu.Unlock()
		if k >= 150 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	d.signal(sig)
	wg.Wait()
	mu.Lock()
	ackedNow := append([]int(nil), acked...)
	mu.Unlock()
	if len(ackedNow) == 0 {
		t.Fatal("no message was acknowledged before the signal")
	}
	return ackedNow
}

// checkAckedInDrop checks that Drop holds only whole burst messages, each
// once, among them every acknowledged one, and returns what it holds.
func checkAckedInDrop(t *testing.T, d *daemon, acked []int) map[int]bool {
	t.Helper()
	inDrop := map[int]bool{}
	for _, name := range d.dropNames() {
		if !strings.HasSuffix(name, ".eml") {
			t.Errorf("non-.eml file %q in Drop after the kill", name)
			continue
		}
		raw, err := os.ReadFile(filepath.Join(d.drop, name))
		if err != nil {
			t.Fatal(err)
		}
		n, err := checkBurstFile(raw)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if inDrop[n] {
			t.Errorf("message %d twice in Drop", n)
		}
		inDrop[n] = true
	}
	for _, n := range acked {
		if !inDrop[n] {
			t.Errorf("message %d was acknowledged but is not in Drop", n)
		}
	}
	return inDrop
}

// TestSIGTERMDuringBurst stops mailbridge gracefully while 8 clients send:
// every acknowledged message is whole in Drop, nothing is left in
// SortTemp, and the exit status is 0.
func TestSIGTERMDuringBurst(t *testing.T) {
	d := startDaemon(t, options{})
	acked := stopDuringBurst(t, d, syscall.SIGTERM)
	if code := d.wait(40 * time.Second); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	inDrop := checkAckedInDrop(t, d, acked)
	if left := waitEmpty(t, d.sortTemp); len(left) != 0 {
		t.Errorf("SortTemp holds %v after a graceful stop", left)
	}
	// A graceful stop finishes what it started: a message is stored if and
	// only if its client got the 250 (else the client retries: a duplicate).
	if len(inDrop) != len(acked) {
		t.Errorf("acknowledged %d, Drop holds %d", len(acked), len(inDrop))
	}
}
