// Command client is the power-cut test's load, run inside the guest. It
// writes messages (package msg) into a Drop folder and, once each is
// promised durable, appends its token to an ack file on the same file
// system and fsyncs it. The host-side checker (bench/powercut/replay) then
// holds every token in a durable ack line to that promise.
//
// Modes:
//
//	smtp     sends to mailbridge over concurrent SMTP sessions; the promise
//	         is the 250 after DATA.
//	naive    writes each file in SortTemp and renames it into Drop without
//	         any fsync: deliberately not durable, so that a run that does
//	         not catch it shows the harness is blind.
//	careful  writes, fsyncs the file, renames, fsyncs Drop: the textbook
//	         durable writer, to tell the file system's limits from
//	         mailbridge's.
//
// A message that is not acknowledged is reported and never resent under
// the same token. The client exits 0 only if every message was
// acknowledged.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailbridge/mailbridge/bench/powercut/msg"
)

type config struct {
	mode     string
	addr     string
	sessions int
	total    int
	run      int
	ackPath  string
	root     string
	perConn  int
}

type counters struct {
	sent, failed atomic.Int64
}

func main() {
	var c config
	flag.StringVar(&c.mode, "mode", "smtp", "smtp | naive | careful")
	flag.StringVar(&c.addr, "addr", "127.0.0.1:33025", "mailbridge's address (smtp)")
	flag.IntVar(&c.sessions, "sessions", 8, "concurrent sessions (writers)")
	flag.IntVar(&c.total, "n", 1000, "messages in all (rounded down to a multiple of sessions)")
	flag.IntVar(&c.run, "run", 1, "run number, part of every token")
	flag.StringVar(&c.ackPath, "ack", "/mnt/acks", "ack file")
	flag.StringVar(&c.root, "root", "/mnt/mailroot", "mail root (naive, careful)")
	flag.IntVar(&c.perConn, "perconn", 25, "messages per SMTP connection (smtp)")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
}

func run(c config) error {
	if c.sessions < 1 || c.total < c.sessions {
		return fmt.Errorf("need 1 <= sessions <= n, have sessions %d, n %d", c.sessions, c.total)
	}
	a, err := newAcker(c.ackPath)
	if err != nil {
		return err
	}
	var cnt counters
	start := time.Now()
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Printf("client: %v sent=%d failed=%d acked=%d\n", time.Since(start).Round(time.Second), cnt.sent.Load(), cnt.failed.Load(), a.n.Load())
			}
		}
	}()
	per := c.total / c.sessions
	errs := make([]error, c.sessions)
	var wg sync.WaitGroup
	for s := range c.sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch c.mode {
			case "smtp":
				errs[s] = smtpSession(c, s, per, a, &cnt)
			case "naive", "careful":
				errs[s] = direct(c, s, per, c.mode == "careful", a, &cnt)
			default:
				errs[s] = fmt.Errorf("unknown mode %q", c.mode)
			}
		}()
	}
	wg.Wait()
	ackErr := a.close()
	close(done)
	fmt.Printf("client: DONE mode=%s sent=%d failed=%d acked=%d in %v\n", c.mode, cnt.sent.Load(), cnt.failed.Load(), a.n.Load(), time.Since(start).Round(time.Second))
	if err := errors.Join(append(errs, ackErr)...); err != nil {
		return err
	}
	if f := cnt.failed.Load(); f > 0 {
		return fmt.Errorf("%d messages not acknowledged", f)
	}
	return nil
}

// acker appends tokens to the ack file. It batches the tokens that arrive
// while an fsync runs, so that eight sessions do not queue behind eight
// fsyncs, and counts a token only once its batch is durable.
type acker struct {
	f    *os.File
	ch   chan string
	done chan error
	n    atomic.Int64
}

func newAcker(path string) (*acker, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open ack file: %w", err)
	}
	// The file's name must be durable before any ack: otherwise a power
	// cut could lose the whole file and, with it, every promise, which
	// would make any Drop pass.
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("fsync ack file: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	a := &acker{f: f, ch: make(chan string, 1024), done: make(chan error, 1)}
	go func() { a.done <- a.loop() }()
	return a, nil
}

func (a *acker) loop() error {
	var failed error
	for t := range a.ch {
		if failed != nil {
			continue // drain so that senders never block
		}
		var b strings.Builder
		b.WriteString(t + "\n")
		k := 1
	batch:
		for {
			select {
			case t2, ok := <-a.ch:
				if !ok {
					break batch
				}
				b.WriteString(t2 + "\n")
				k++
			default:
				break batch
			}
		}
		if _, err := a.f.WriteString(b.String()); err != nil {
			failed = fmt.Errorf("write ack file: %w", err)
			continue
		}
		if err := a.f.Sync(); err != nil {
			failed = fmt.Errorf("fsync ack file: %w", err)
			continue
		}
		a.n.Add(int64(k))
	}
	return errors.Join(failed, a.f.Close())
}

// close waits until every token sent to a.ch is durable.
func (a *acker) close() error {
	close(a.ch)
	return <-a.done
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open folder to fsync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

type conn struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

// reply reads one SMTP reply, multi-line or not, and returns its code and
// last line.
func (c *conn) reply() (int, string, error) {
	// Long: TCG emulation and a sync per message make a 250 slow.
	if err := c.c.SetReadDeadline(time.Now().Add(10 * time.Minute)); err != nil {
		return 0, "", fmt.Errorf("set deadline: %w", err)
	}
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			return 0, "", fmt.Errorf("read reply: %w", err)
		}
		l = strings.TrimRight(l, "\r\n")
		if len(l) < 4 {
			return 0, l, fmt.Errorf("short reply %q", l)
		}
		if l[3] == ' ' {
			code, err := strconv.Atoi(l[:3])
			if err != nil {
				return 0, l, fmt.Errorf("reply %q: %w", l, err)
			}
			return code, l, nil
		}
	}
}

func (c *conn) cmd(s string, want int) error {
	c.w.WriteString(s + "\r\n")
	if err := c.w.Flush(); err != nil {
		return fmt.Errorf("send %s: %w", s, err)
	}
	code, l, err := c.reply()
	if err != nil {
		return fmt.Errorf("%s: %w", s, err)
	}
	if code != want {
		return fmt.Errorf("%s: %s", s, l)
	}
	return nil
}

func (c *conn) quit() {
	_ = c.cmd("QUIT", 221) // the messages are already acknowledged or not
	c.c.Close()
}

func dial(addr string) (*conn, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	c := &conn{c: nc, r: bufio.NewReaderSize(nc, 4096), w: bufio.NewWriterSize(nc, 64<<10)}
	if code, l, err := c.reply(); err != nil || code != 220 {
		nc.Close()
		return nil, fmt.Errorf("greeting %q: %v", l, err)
	}
	if err := c.cmd("EHLO client.powercut.test", 250); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// dialRetry waits for mailbridge to listen: the guest starts it just
// before the client.
func dialRetry(addr string) (*conn, error) {
	var err error
	for range 150 {
		var c *conn
		if c, err = dial(addr); err == nil {
			return c, nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nil, err
}

func send(c *conn, tok string) error {
	if err := c.cmd("MAIL FROM:<qa@powercut.test>", 250); err != nil {
		return err
	}
	if err := c.cmd("RCPT TO:<drop@powercut.test>", 250); err != nil {
		return err
	}
	if err := c.cmd("DATA", 354); err != nil {
		return err
	}
	c.w.Write(msg.Message(tok))
	c.w.WriteString(".\r\n")
	if err := c.w.Flush(); err != nil {
		return fmt.Errorf("send DATA: %w", err)
	}
	code, l, err := c.reply()
	if err != nil {
		return fmt.Errorf("end of DATA: %w", err)
	}
	if code != 250 {
		return fmt.Errorf("end of DATA: %s", l)
	}
	return nil
}

func smtpSession(cfg config, s, count int, a *acker, cnt *counters) error {
	var c *conn
	used := 0
	for i := range count {
		tok := msg.Token(cfg.run, s, i)
		if c == nil || used >= cfg.perConn {
			if c != nil {
				c.quit()
			}
			var err error
			if c, err = dialRetry(cfg.addr); err != nil {
				return fmt.Errorf("session %d: %w", s, err)
			}
			used = 0
		}
		used++
		err := send(c, tok)
		cnt.sent.Add(1)
		if err != nil {
			cnt.failed.Add(1)
			fmt.Printf("client: %s not acknowledged: %v\n", tok, err)
			c.c.Close()
			c = nil
			continue
		}
		a.ch <- tok
	}
	if c != nil {
		c.quit()
	}
	return nil
}

func direct(cfg config, s, count int, careful bool, a *acker, cnt *counters) error {
	drop := filepath.Join(cfg.root, "Drop")
	tmpDir := filepath.Join(cfg.root, "SortTemp")
	for i := range count {
		tok := msg.Token(cfg.run, s, i)
		data := append([]byte("x-sender: qa@powercut.test\r\nx-receiver: drop@powercut.test\r\n"), msg.Message(tok)...)
		tmp := filepath.Join(tmpDir, tok+".tmp")
		if err := writeFile(tmp, data, careful); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(drop, tok+".eml")); err != nil {
			return fmt.Errorf("rename into Drop: %w", err)
		}
		if careful {
			if err := syncDir(drop); err != nil {
				return err
			}
		}
		cnt.sent.Add(1)
		a.ch <- tok
	}
	return nil
}

func writeFile(path string, data []byte, sync bool) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("fsync %s: %w", path, err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}
