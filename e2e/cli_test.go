//go:build !windows

package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/testlog"
	"github.com/mailbridge/mailbridge/internal/testtool"
)

// mailbridge runs the binary to completion and returns its stdout, stderr
// and exit status.
func mailbridge(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stdout, stderr testlog.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("mailbridge %v did not finish in 30s:\n%s%s", args, stdout.String(), stderr.String())
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVersion(t *testing.T) {
	out, _, code := mailbridge(t, "version")
	if code != 0 || !strings.HasPrefix(out, "mailbridge ") {
		t.Errorf("version: exit %d, %q", code, out)
	}
}

// badConfig has five problems, one per line noted in badProblems.
const badConfig = `hostname = "e2e.example.com"
colour = "blue"

[inbound]
bind = "127.0.0.1"
port = 70000
max_recipients = "many"
max_attachment_size = "lots"
command_timeout = "10 minutes"

[log]
level = "loud"
`

// badProblems are what each problem's report must say: file:line: key = value.
var badProblems = []string{
	`:2: colour = "blue": unknown key`,
	`:6: inbound.port = 70000: must be from 1 to 65535`,
	`:7: inbound.max_recipients = "many": must be a whole number`,
	`:8: inbound.max_attachment_size = "lots": must be a size`,
	`:9: inbound.command_timeout = "10 minutes": not a duration`,
	`:12: log.level = "loud": must be one of debug, info, warn, error`,
}

// TestCheck runs `mailbridge check` on a good configuration, a bad one
// (every problem printed, exit 1), a busy port and a folder that cannot be
// created.
func TestCheck(t *testing.T) {
	t.Run("good", func(t *testing.T) {
		dir := t.TempDir()
		cfg := writeConfig(t, dir, filepath.Join(dir, "root"), testtool.FreePort(t), options{})
		out, errOut, code := mailbridge(t, "check", "--config", cfg)
		if code != 0 || !strings.Contains(out, "ok: no problems found") {
			t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		for _, f := range []string{"Pickup", "Drop", "Queue", "Badmail", "SortTemp"} {
			if _, err := os.Stat(filepath.Join(dir, "root", f)); err != nil {
				t.Errorf("check did not create %s: %v", f, err)
			}
		}
	})
	t.Run("every problem printed", func(t *testing.T) {
		cfg := writeFile(t, t.TempDir(), "bad.toml", badConfig)
		_, errOut, code := mailbridge(t, "check", "--config", cfg)
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		for _, p := range badProblems {
			if !strings.Contains(errOut, cfg+p) {
				t.Errorf("stderr lacks %q:\n%s", cfg+p, errOut)
			}
		}
		if !strings.Contains(errOut, "has 6 problem(s)") {
			t.Errorf("stderr does not count 6 problems:\n%s", errOut)
		}
	})
	t.Run("port in use", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		port := l.Addr().(*net.TCPAddr).Port
		dir := t.TempDir()
		cfg := writeConfig(t, dir, filepath.Join(dir, "root"), port, options{})
		_, errOut, code := mailbridge(t, "check", "--config", cfg)
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		// The test process holds the port: check names it.
		want := fmt.Sprintf("port %d is held by %s (PID %d)", port, filepath.Base(os.Args[0]), os.Getpid())
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr does not say %q:\n%s", want, errOut)
		}
	})
	t.Run("Drop not writable", func(t *testing.T) {
		chattr := testtool.Path(t, "chattr", "e2fsprogs")
		dir := t.TempDir()
		drop := filepath.Join(dir, "root", "Drop")
		if err := os.MkdirAll(drop, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(chattr, "+i", drop).CombinedOutput(); err != nil {
			msg := "chattr +i not possible here: " + err.Error() + " " + string(out)
			testtool.Missing(t, msg)
		}
		defer exec.Command(chattr, "-i", drop).Run()
		cfg := writeConfig(t, dir, filepath.Join(dir, "root"), testtool.FreePort(t), options{})
		_, errOut, code := mailbridge(t, "check", "--config", cfg)
		if code != 1 || !strings.Contains(errOut, "mailroot.root = \""+filepath.Join(dir, "root")+"\": the Drop folder "+drop+": not writable") {
			t.Errorf("exit %d, stderr:\n%s", code, errOut)
		}
	})
	t.Run("folder cannot be created, and port in use", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		dir := t.TempDir()
		file := writeFile(t, dir, "a-file", "not a folder")
		cfg := writeConfig(t, dir, filepath.Join(file, "root"), l.Addr().(*net.TCPAddr).Port, options{})
		_, errOut, code := mailbridge(t, "check", "--config", cfg)
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		// The mail root (once, not once per folder in it) and the port:
		// both reported in one run.
		if n := strings.Count(errOut, "problem: "); n != 2 || !strings.Contains(errOut, "2 problem(s) found") {
			t.Errorf("%d problems reported, want 2:\n%s", n, errOut)
		}
		if !strings.Contains(errOut, "mailroot.root = \""+filepath.Join(file, "root")+"\": the mail root: cannot be created: "+file+" is a file, not a folder") {
			t.Errorf("stderr does not name the mail root:\n%s", errOut)
		}
	})
}

// TestSortTempOnAnotherVolume: Drop and SortTemp on different file systems
// would make the rename into Drop a copy, visible half-written; check
// reports it and run refuses to start.
func TestSortTempOnAnotherVolume(t *testing.T) {
	mnt := testtool.Tmpfs(t, "1m")
	dir := t.TempDir()
	cfg := writeConfig(t, dir, filepath.Join(dir, "root"), testtool.FreePort(t), options{})
	text := strings.Replace(string(mustRead(t, cfg)), "[inbound]", "sorttemp = '"+filepath.Join(mnt, "SortTemp")+"'\n\n[inbound]", 1)
	cfg = writeFile(t, dir, "xv.toml", text)
	for _, cmd := range []string{"check", "run"} {
		_, errOut, code := mailbridge(t, cmd, "--config", cfg)
		if code != 1 || !strings.Contains(errOut, "are on different file systems") {
			t.Errorf("%s: exit %d, stderr:\n%s", cmd, code, errOut)
		}
	}
}

// TestDropOnItsOwnVolume: Drop, with SortTemp, on another volume than
// Pickup, Queue and Badmail, as for a program that reads Drop from its
// data drive (found from outside: every folder had to share one volume,
// and import-iis wrote such a configuration). check finds nothing wrong,
// and mail received over SMTP and Pickup mail for a local domain both
// arrive in Drop.
func TestDropOnItsOwnVolume(t *testing.T) {
	mnt := testtool.Tmpfs(t, "4m")
	dir := t.TempDir()
	port := testtool.FreePort(t)
	cfg := writeConfig(t, dir, filepath.Join(dir, "root"), port, options{inbound: `local_domains = ["fax.test"]`})
	text := strings.Replace(string(mustRead(t, cfg)), "[inbound]",
		"drop = '"+filepath.Join(mnt, "Drop")+"'\nsorttemp = '"+filepath.Join(mnt, "SortTemp")+"'\n\n[inbound]", 1)
	cfg = writeFile(t, dir, "split.toml", text)
	if out, errOut, code := mailbridge(t, "check", "--config", cfg); code != 0 {
		t.Fatalf("check: exit %d\n%s%s", code, out, errOut)
	}
	d := &daemon{t: t, root: filepath.Join(dir, "root"), drop: filepath.Join(mnt, "Drop"), sortTemp: filepath.Join(mnt, "SortTemp"),
		port: port, addr: fmt.Sprintf("127.0.0.1:%d", port), cfgPath: cfg}
	d.start()
	defer func() {
		d.signal(syscall.SIGTERM)
		d.wait(10 * time.Second)
	}()
	c := dialSMTP(t, d.addr)
	c.reply()
	expect(t, c.cmd("EHLO client.test"), "250 ")
	expect(t, c.cmd("MAIL FROM:<a@client.test>"), "250 ")
	expect(t, c.cmd("RCPT TO:<scan@fax.test>"), "250 ")
	expect(t, c.cmd("DATA"), "354 ")
	c.send("Subject: over SMTP\r\n\r\nbody\r\n.\r\n")
	expect(t, c.last(), "250 ")
	d.waitDrop(1)
	pickup := filepath.Join(dir, "root", "Pickup", "local.eml")
	if err := os.WriteFile(pickup, []byte("From: app@corp.test\r\nTo: scan@fax.test\r\nSubject: from Pickup\r\n\r\nbody\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	files := d.waitDrop(2)
	var subjects []string
	for _, f := range files {
		_, subject, _ := strings.Cut(string(mustRead(t, f)), "\r\nSubject: ")
		subject, _, _ = strings.Cut(subject, "\r\n")
		subjects = append(subjects, subject)
	}
	sort.Strings(subjects)
	if fmt.Sprint(subjects) != "[from Pickup over SMTP]" {
		t.Errorf("Drop holds %v", subjects)
	}
	if left := waitEmpty(t, filepath.Join(dir, "root", "Queue")); len(left) > 0 {
		t.Errorf("Queue holds %v", left)
	}
}

// TestCheckAgreesWithRun: Pickup and Queue together on another volume than
// Badmail. run refuses to start (mailroot.Open: a message that cannot be
// delivered moves from Queue to Badmail by one rename), so check must
// report it too.
func TestCheckAgreesWithRun(t *testing.T) {
	mnt := testtool.Tmpfs(t, "1m")
	dir := t.TempDir()
	cfg := writeConfig(t, dir, filepath.Join(dir, "root"), testtool.FreePort(t), options{})
	text := strings.Replace(string(mustRead(t, cfg)), "[inbound]",
		"pickup = '"+filepath.Join(mnt, "Pickup")+"'\nqueue = '"+filepath.Join(mnt, "Queue")+"'\n\n[inbound]", 1)
	cfg = writeFile(t, dir, "pq.toml", text)
	for _, cmd := range []string{"run", "check"} {
		_, errOut, code := mailbridge(t, cmd, "--config", cfg)
		if code != 1 || !strings.Contains(errOut, "Queue and Badmail") {
			t.Errorf("%s: exit %d, stderr:\n%s", cmd, code, errOut)
		}
	}
}

// TestRunConfigErrorExit2 checks that `mailbridge run` with a bad
// configuration exits with status 2 and names file, line, key and value,
// before it opens any port: the configured port is held by the test, and
// the error must be the configuration's, not the port's.
func TestRunConfigErrorExit2(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	dir := t.TempDir()
	cases := []struct {
		name, text string
		want       []string
	}{
		{"bad values", strings.Replace(badConfig, "port = 70000", "port = "+strconv.Itoa(port)+"\nmax_connections = 0", 1),
			[]string{`:7: inbound.max_connections = 0: must be from 1 to`, `:2: colour = "blue": unknown key`}},
		{"TOML syntax", "[inbound]\nport = " + strconv.Itoa(port) + "\nbind = 127.0.0.1\n", []string{":3: TOML syntax"}},
		{"unknown section", "[inbund]\nport = " + strconv.Itoa(port) + "\n", []string{":1: inbund: unknown section [inbund]"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := writeFile(t, dir, strings.ReplaceAll(c.name, " ", "-")+".toml", c.text)
			out, errOut, code := mailbridge(t, "run", "--config", cfg)
			if code != 2 {
				t.Errorf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
			for _, w := range c.want {
				if !strings.Contains(errOut, cfg+w) {
					t.Errorf("stderr lacks %q:\n%s", cfg+w, errOut)
				}
			}
			if strings.Contains(errOut, "address already in use") || strings.Contains(errOut, "listening") {
				t.Errorf("run got as far as the port:\n%s", errOut)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, errOut, code := mailbridge(t, "run", "--config", filepath.Join(dir, "nope.toml"))
		if code != 2 || !strings.Contains(errOut, "nope.toml") {
			t.Errorf("exit %d, stderr:\n%s", code, errOut)
		}
	})
}

// TestSIGTERMFinishesMessageInFlight sends SIGTERM while a client is in
// the middle of DATA: the message is finished and acknowledged, an idle
// session is told 421, new connections are refused, and the process exits
// with status 0.
func TestSIGTERMFinishesMessageInFlight(t *testing.T) {
	d := startDaemon(t, options{})
	busy := dialSMTP(t, d.addr)
	expect(t, busy.last(), "220 ")
	busy.send("EHLO busy.test\r\n")
	busy.reply()
	expect(t, busy.cmd("MAIL FROM:<a@e2e.test>"), "250 ")
	expect(t, busy.cmd("RCPT TO:<b@e2e.test>"), "250 ")
	expect(t, busy.cmd("DATA"), "354 ")
	msg := burstMessage(7, 200<<10)
	half := len(msg) / 2
	busy.send(string(msg[:half]))

	idle := dialSMTP(t, d.addr)
	expect(t, idle.last(), "220 ")
	idle.send("EHLO idle.test\r\n")
	idle.reply()

	d.signal(syscall.SIGTERM)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(d.log.String(), "stopping") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := idle.last(); !strings.HasPrefix(got, "421 4.3.2 ") {
		t.Errorf("idle session told %q, want 421 4.3.2", got)
	}
	// A second signal is said, and changes nothing (found from outside:
	// it went without a word).
	d.signal(syscall.SIGTERM)
	if l := d.waitLog("stop already under way", 1); !strings.Contains(l, "stop already under way") {
		t.Errorf("second SIGTERM not said:\n%s", l)
	}
	time.Sleep(200 * time.Millisecond) // slow client
	busy.send(string(msg[half:]) + ".\r\n")
	expect(t, busy.last(), "250 2.6.0 <m-7@e2e.test> Queued mail for delivery")

	if c, err := net.DialTimeout("tcp", d.addr, time.Second); err == nil {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 200)
		n, _ := c.Read(buf)
		if strings.HasPrefix(string(buf[:n]), "220 ") {
			t.Errorf("a new connection after SIGTERM was greeted: %q", buf[:n])
		}
		c.Close()
	}
	if code := d.wait(40 * time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
	if _, err := checkBurstFile(mustRead(t, d.waitDrop(1)[0])); err != nil {
		t.Error(err)
	}
	if !strings.Contains(d.log.String(), "mailbridge stopped") {
		t.Errorf("log does not say it stopped:\n%s", d.log.String())
	}
}

// A folder mailbridge may not write stops run at the start, named by its
// key and line as check names it (the account and how to give it access
// are mailroot's TestAccessAdvice). Found from outside: with Drop, Pickup and Badmail root's and
// mailbridge running as nobody, run started without a word, and the
// administrator learnt of it from stalled mail. Drop is checked without
// a probe file in it, which the program polling Drop would see.
func TestRunRefusesUnwritableFolder(t *testing.T) {
	chattr := testtool.Path(t, "chattr", "e2fsprogs")
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	cfg := writeConfig(t, dir, root, testtool.FreePort(t), options{})
	if _, errOut, code := mailbridge(t, "check", "--config", cfg); code != 0 {
		t.Fatalf("check before: exit %d\n%s", code, errOut)
	}
	for _, f := range []string{"Badmail", "Drop"} {
		t.Run(f, func(t *testing.T) {
			path := filepath.Join(root, f)
			if out, err := exec.Command(chattr, "+i", path).CombinedOutput(); err != nil {
				testtool.Missing(t, fmt.Sprintf("chattr +i not possible here: %v %s", err, out))
			}
			defer exec.Command(chattr, "-i", path).Run()
			for _, cmd := range []string{"run", "check"} {
				_, errOut, code := mailbridge(t, cmd, "--config", cfg)
				if code != 1 || !strings.Contains(errOut, "the "+f+" folder "+path+": not writable") {
					t.Errorf("%s with %s immutable: exit %d, want 1 and the folder named:\n%s", cmd, f, code, errOut)
				}
			}
			if es, _ := os.ReadDir(path); len(es) > 0 {
				t.Errorf("%s holds %d files", f, len(es))
			}
		})
	}
}
