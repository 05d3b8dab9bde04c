//go:build !windows

package e2e

import (
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startData opens a session on d and sends everything up to the DATA reply.
func startData(t *testing.T, d *daemon) *smtpConn {
	t.Helper()
	s := dialSMTP(t, d.addr)
	expect(t, s.last(), "220 ")
	s.send("EHLO slow.test\r\n")
	s.reply()
	expect(t, s.cmd("MAIL FROM:<slow@e2e.test>"), "250 ")
	expect(t, s.cmd("RCPT TO:<drop@e2e.test>"), "250 ")
	expect(t, s.cmd("DATA"), "354 ")
	return s
}

// TestSlowSteadyUpload: data_timeout bounds the silence between reads, not
// the whole upload. A message sent in pieces over 3 s with data_timeout 1s
// is stored.
func TestSlowSteadyUpload(t *testing.T) {
	d := startDaemon(t, options{inbound: `data_timeout = "1s"` + "\n" + `command_timeout = "1s"`})
	msg := burstMessage(1, 240<<10)
	s := startData(t, d)
	const pieces = 12 // 12 x 250 ms = 3 s, three times the timeout
	step := len(msg)/pieces + 1
	for i := 0; i < len(msg); i += step {
		s.send(string(msg[i:min(i+step, len(msg))]))
		time.Sleep(250 * time.Millisecond)
	}
	s.send(".\r\n")
	expect(t, s.last(), "250 2.6.0 <m-1@e2e.test>")
	if _, err := checkBurstFile(mustRead(t, d.waitDrop(1)[0])); err != nil {
		t.Error(err)
	}
}

// TestStalledUpload: a client that stalls in the middle of its message for
// longer than data_timeout is told 421 4.4.2 and disconnected, and nothing
// of its message is stored (not a permanent 554 with Go's error text, which
// the foundation's listener answered).
func TestStalledUpload(t *testing.T) {
	d := startDaemon(t, options{inbound: `data_timeout = "1s"` + "\n" + `command_timeout = "1s"`})
	stalled := startData(t, d)
	stalled.send(string(burstMessage(2, 50<<10)[:30<<10]))
	start := time.Now()
	got := stalled.last()
	if !strings.HasPrefix(got, "421 4.4.2 ") {
		t.Errorf("stalled upload told %q, want 421 4.4.2", got)
	}
	if waited := time.Since(start); waited > 10*time.Second {
		t.Errorf("stalled upload cut after %v", waited)
	}
	_ = stalled.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := stalled.br.ReadByte(); err != io.EOF {
		t.Errorf("connection not closed after 421: %v", err)
	}
	if n := len(d.dropNames()); n != 0 {
		t.Errorf("Drop holds %d files, want 0", n)
	}
	if left := waitEmpty(t, d.sortTemp); len(left) != 0 {
		t.Errorf("SortTemp holds %v after an aborted upload", left)
	}
}

// TestShutdownTimeoutAbortsUpload: a message still arriving when
// shutdown_timeout runs out is dropped, never half stored, and the process
// exits.
func TestShutdownTimeoutAbortsUpload(t *testing.T) {
	d := startDaemon(t, options{inbound: `shutdown_timeout = "1s"`})
	s := startData(t, d)
	s.send(string(burstMessage(3, 100<<10)[:60<<10]))
	d.signal(syscall.SIGTERM)
	code := d.wait(20 * time.Second)
	if code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	_ = s.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	rest, _ := io.ReadAll(s.br)
	if strings.Contains(string(rest), "250 ") {
		t.Errorf("client got %q for a message cut by the shutdown", rest)
	}
	if names := d.dropNames(); len(names) != 0 {
		t.Errorf("Drop holds %v", names)
	}
	// Whatever the stop left in SortTemp, the next start removes.
	d.start()
	if left := waitEmpty(t, d.sortTemp); len(left) != 0 {
		t.Errorf("SortTemp after restart holds %v", left)
	}
}

// TestSIGINTStops: Ctrl-C in a terminal stops mailbridge like SIGTERM.
func TestSIGINTStops(t *testing.T) {
	d := startDaemon(t, options{})
	d.signal(syscall.SIGINT)
	if code := d.wait(20 * time.Second); code != 0 {
		t.Errorf("exit status %d after SIGINT, want 0", code)
	}
}

// TestSIGHUPStops: SIGHUP (the terminal that started mailbridge closed)
// stops it gracefully, logged, rather than killing it with messages in
// flight.
func TestSIGHUPStops(t *testing.T) {
	d := startDaemon(t, options{})
	s := startData(t, d)
	s.send("Subject: hangup\r\n\r\nfirst half\r\n")
	d.signal(syscall.SIGHUP)
	d.waitLog("signal=hangup", 1)
	s.send("second half\r\n.\r\n")
	expect(t, s.last(), "250 2.6.0")
	if code := d.wait(20 * time.Second); code != 0 {
		t.Errorf("exit status %d after SIGHUP, want 0", code)
	}
	d.waitDrop(1)
}

// TestDropFileReadable: consumers of Drop (a document router's service
// account) often run as another user than the SMTP service; IIS's files
// inherited the folder's ACL. A Drop file must be readable as the umask
// allows, not only by mailbridge's user.
func TestDropFileReadable(t *testing.T) {
	d := startDaemon(t, options{})
	s := startData(t, d)
	s.send("Subject: mode\r\n\r\nx\r\n.\r\n")
	expect(t, s.last(), "250 ")
	fi, err := os.Stat(d.waitDrop(1)[0])
	if err != nil {
		t.Fatal(err)
	}
	old := syscall.Umask(0)
	syscall.Umask(old)
	if want := os.FileMode(0o666 &^ old); fi.Mode().Perm() != want {
		t.Errorf("Drop file mode %v, want %v (0666 less the umask %03o)", fi.Mode().Perm(), want, old)
	}
}
