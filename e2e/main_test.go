//go:build !windows

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/testlog"
	"github.com/mailbridge/mailbridge/internal/testtool"
)

// bin is the mailbridge binary built once for the whole package.
var bin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "mailbridge-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin = filepath.Join(dir, "mailbridge")
	// -race is not passed on: the binary is built plainly, as shipped.
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/mailbridge").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building mailbridge: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// daemon is one running `mailbridge run`.
type daemon struct {
	t        testing.TB
	cmd      *exec.Cmd
	cfgPath  string
	root     string // the mail root
	drop     string
	sortTemp string
	addr     string
	port     int
	log      *testlog.Buffer
	done     chan struct{}
	exitErr  error
}

const hostname = "e2e.example.com"

// options adjust the configuration a daemon starts with.
type options struct {
	root    string // mail root; default a fresh temp folder
	inbound string // extra lines for [inbound]
	extra   string // extra text at the end of the file
}

// writeConfig writes a configuration for root and port and returns its path.
func writeConfig(t testing.TB, dir, root string, port int, o options) string {
	t.Helper()
	cfg := fmt.Sprintf(`hostname = %q

[mailroot]
root = %q

[inbound]
bind = "127.0.0.1"
port = %d
%s
%s
`, hostname, root, port, o.inbound, o.extra)
	p := filepath.Join(dir, "mailbridge.toml")
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// startDaemon writes a configuration and runs mailbridge until the test
// ends (SIGKILL then, if still running). It returns once the listener
// accepts connections.
func startDaemon(t testing.TB, o options) *daemon {
	t.Helper()
	dir := t.TempDir()
	root := o.root
	if root == "" {
		root = filepath.Join(dir, "mailroot")
	}
	port := testtool.FreePort(t)
	d := &daemon{t: t, root: root, drop: filepath.Join(root, "Drop"), sortTemp: filepath.Join(root, "SortTemp"),
		port: port, addr: fmt.Sprintf("127.0.0.1:%d", port)}
	d.cfgPath = writeConfig(t, dir, root, port, o)
	d.start()
	t.Cleanup(func() {
		if d.running() {
			d.cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			t.Logf("mailbridge log:\n%s", d.log.String())
		}
	})
	return d
}

// start (re)starts the process with the daemon's configuration.
func (d *daemon) start() {
	t := d.t
	t.Helper()
	d.log = &testlog.Buffer{}
	d.cmd = exec.Command(bin, "run", "--config", d.cfgPath)
	d.cmd.Stdout = d.log
	d.cmd.Stderr = d.log
	d.done = make(chan struct{})
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		d.exitErr = d.cmd.Wait()
		close(d.done)
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if strings.Contains(d.log.String(), "msg=listening") {
			return
		}
		if !d.running() {
			t.Fatalf("mailbridge exited at start: %v\n%s", d.exitErr, d.log.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailbridge did not start listening within 15s:\n%s", d.log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (d *daemon) running() bool {
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// signal sends sig and, for SIGKILL, waits for the process to be gone.
func (d *daemon) signal(sig syscall.Signal) {
	d.t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatalf("signal %v: %v", sig, err)
	}
	if sig == syscall.SIGKILL {
		<-d.done
	}
}

// wait waits for the process to exit and returns its exit status.
func (d *daemon) wait(timeout time.Duration) int {
	d.t.Helper()
	select {
	case <-d.done:
	case <-time.After(timeout):
		d.t.Fatalf("mailbridge still running after %v:\n%s", timeout, d.log.String())
	}
	return d.cmd.ProcessState.ExitCode()
}

// dropNames lists the Drop folder.
func (d *daemon) dropNames() []string {
	d.t.Helper()
	return listDir(d.t, d.drop)
}

func listDir(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		// SortTemp and Queue hold the running instance's lock file, and
		// Queue its record of the messages being sent: not mail.
		if e.Name() != "mailbridge.lock" && e.Name() != "mailbridge.sending" {
			names = append(names, e.Name())
		}
	}
	return names
}

// waitDrop waits until Drop holds n files and returns their paths.
func (d *daemon) waitDrop(n int) []string {
	d.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		names := d.dropNames()
		if len(names) >= n || time.Now().After(deadline) {
			if len(names) != n {
				d.t.Fatalf("Drop holds %d files, want %d: %v", len(names), n, names)
			}
			paths := make([]string, len(names))
			for i, n := range names {
				paths[i] = filepath.Join(d.drop, n)
			}
			return paths
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dropFile is a Drop file split into its parts.
type dropFile struct {
	name     string
	raw      []byte
	sender   string
	rcpts    []string
	received string   // the Received header, with its fold and CRLFs
	headers  []string // the message's header fields, unfolded lines kept as written (without CRLF)
	body     []byte
}

// header returns the first value of the named field, trimmed.
func (f *dropFile) header(name string) string {
	for _, h := range f.headers {
		if i := strings.IndexByte(h, ':'); i > 0 && strings.EqualFold(h[:i], name) {
			return strings.TrimSpace(h[i+1:])
		}
	}
	return ""
}

// count returns how many fields are named name.
func (f *dropFile) count(name string) int {
	n := 0
	for _, h := range f.headers {
		if i := strings.IndexByte(h, ':'); i > 0 && strings.EqualFold(h[:i], name) {
			n++
		}
	}
	return n
}

var receivedRE = regexp.MustCompile(`^Received: from (\S*) \(\[([0-9.]+)\]\) by (\S+)( over TLS secured channel)? with Microsoft SMTPSVC\(10\.0\.17763\.1697\);\r\n\t (Mon|Tue|Wed|Thu|Fri|Sat|Sun), [1-9][0-9]? (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) 20[0-9]{2} [0-2][0-9]:[0-5][0-9]:[0-6][0-9] [+-][0-9]{4}\r\n$`)

// parseDrop reads a Drop file and checks what every Drop file must be:
// envelope lines first, then IIS's Received header, CRLF line ends only,
// a header block that ends in an empty line.
func parseDrop(t testing.TB, path string) *dropFile {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := splitDrop(raw)
	if err != nil {
		t.Fatalf("%s: %v\n%q", filepath.Base(path), err, truncate(raw, 2000))
	}
	f.name = filepath.Base(path)
	return f
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// splitDrop parses a Drop file, reporting the first way it is not one.
func splitDrop(raw []byte) (*dropFile, error) {
	f := &dropFile{raw: raw}
	if i := bytes.IndexByte(raw, '\n'); i >= 0 && (i == 0 || raw[i-1] != '\r') {
		return nil, fmt.Errorf("first line does not end in CRLF")
	}
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		return nil, fmt.Errorf("bare LF in file")
	}
	rest := raw
	line := func() (string, bool) {
		i := bytes.Index(rest, []byte("\r\n"))
		if i < 0 {
			return "", false
		}
		s := string(rest[:i])
		rest = rest[i+2:]
		return s, true
	}
	l, ok := line()
	if !ok || !strings.HasPrefix(l, "x-sender: ") {
		return nil, fmt.Errorf("first line %q is not x-sender", l)
	}
	f.sender = strings.TrimPrefix(l, "x-sender: ")
	for bytes.HasPrefix(rest, []byte("x-receiver: ")) {
		l, _ = line()
		f.rcpts = append(f.rcpts, strings.TrimPrefix(l, "x-receiver: "))
	}
	if len(f.rcpts) == 0 {
		return nil, fmt.Errorf("no x-receiver line")
	}
	start := len(raw) - len(rest)
	l1, ok1 := line()
	l2, ok2 := line()
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("file ends in the Received header")
	}
	f.received = l1 + "\r\n" + l2 + "\r\n"
	if !receivedRE.MatchString(f.received) {
		return nil, fmt.Errorf("Received header not in IIS's shape: %q", raw[start:len(raw)-len(rest)])
	}
	for {
		l, ok := line()
		if !ok {
			return nil, fmt.Errorf("header block does not end in an empty line")
		}
		if l == "" {
			break
		}
		if (l[0] == ' ' || l[0] == '\t') && len(f.headers) > 0 {
			f.headers[len(f.headers)-1] += "\r\n" + l
			continue
		}
		f.headers = append(f.headers, l)
	}
	f.body = rest
	return f, nil
}

// oatRE matches IIS's X-OriginalArrivalTime value.
var oatRE = regexp.MustCompile(`^([0-3][0-9] (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) 20[0-9]{2} [0-2][0-9]:[0-5][0-9]:[0-6][0-9])\.([0-9]{4}) \(UTC\) FILETIME=\[([0-9A-F]{8}):([0-9A-F]{8})\]$`)

// checkOAT checks an X-OriginalArrivalTime value: its form, that its
// FILETIME is the printed time, and that the time is near want.
func checkOAT(t testing.TB, v string, want time.Time) {
	t.Helper()
	m := oatRE.FindStringSubmatch(v)
	if m == nil {
		t.Fatalf("X-OriginalArrivalTime %q is not in IIS's form", v)
	}
	at, err := time.ParseInLocation("02 Jan 2006 15:04:05", m[1], time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	var ms int
	fmt.Sscanf(m[2], "%d", &ms)
	at = at.Add(time.Duration(ms) * time.Millisecond)
	var lo, hi uint64
	fmt.Sscanf(m[3], "%X", &lo)
	fmt.Sscanf(m[4], "%X", &hi)
	ft := hi<<32 | lo
	fromFT := time.Unix(0, 0).Add(time.Duration((ft - 116444736000000000) * 100)).UTC()
	if !fromFT.Equal(at) {
		t.Errorf("X-OriginalArrivalTime %q: FILETIME is %v, text says %v", v, fromFT, at)
	}
	if d := at.Sub(want); d < -time.Minute || d > time.Minute {
		t.Errorf("X-OriginalArrivalTime %v is far from the send time %v", at, want)
	}
}

// smtpConn is a raw SMTP conversation, for what clients cannot be made to
// send (BDAT, exact pipelines, half a message).
type smtpConn struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dialSMTP(t testing.TB, addr string) *smtpConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &smtpConn{t: t, c: c, br: bufio.NewReader(c)}
}

// reply reads one (possibly multi-line) reply and returns its lines.
func (s *smtpConn) reply() []string {
	s.t.Helper()
	_ = s.c.SetReadDeadline(time.Now().Add(60 * time.Second))
	var lines []string
	for {
		l, err := s.br.ReadString('\n')
		if err != nil {
			s.t.Fatalf("reading reply after %q: %v", lines, err)
		}
		l = strings.TrimRight(l, "\r\n")
		lines = append(lines, l)
		if len(l) < 4 || l[3] != '-' {
			return lines
		}
	}
}

// last returns the last line of the next reply.
func (s *smtpConn) last() string {
	s.t.Helper()
	r := s.reply()
	return r[len(r)-1]
}

func (s *smtpConn) send(text string) {
	s.t.Helper()
	_ = s.c.SetWriteDeadline(time.Now().Add(60 * time.Second))
	if _, err := s.c.Write([]byte(text)); err != nil {
		s.t.Fatalf("writing %q: %v", truncate([]byte(text), 80), err)
	}
}

// cmd sends one command line and returns the last line of its reply.
func (s *smtpConn) cmd(line string) string {
	s.t.Helper()
	s.send(line + "\r\n")
	return s.last()
}

// expect fails the test unless got starts with prefix.
func expect(t testing.TB, got, prefix string) {
	t.Helper()
	if !strings.HasPrefix(got, prefix) {
		t.Fatalf("reply %q, want %q...", got, prefix)
	}
}

// runCmd runs an outside command with a timeout and returns its combined
// output and exit code.
func runCmd(t testing.TB, timeout time.Duration, name string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s timed out after %v:\n%s", name, timeout, out)
	}
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s: %v", name, err)
		}
		code = ee.ExitCode()
	}
	return string(out), code
}

// waitEmpty waits up to 5 s for dir to be empty (a session that ends
// removes its temporary file just after its last reply) and returns what
// is left.
func waitEmpty(t testing.TB, dir string) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := listDir(t, dir)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runCmdInput runs an outside command with input on its stdin.
func runCmdInput(t testing.TB, input, name string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(input)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return string(out), code
}

// waitLog waits up to 10 s for the log to hold n occurrences of substr
// (the log reaches us through a pipe, after the client's reply), and
// returns the log.
func (d *daemon) waitLog(substr string, n int) string {
	d.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l := d.log.String()
		if strings.Count(l, substr) >= n || time.Now().After(deadline) {
			return l
		}
		time.Sleep(10 * time.Millisecond)
	}
}
