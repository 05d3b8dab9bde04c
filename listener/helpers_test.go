package listener

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/mailroot"

	"github.com/mailbridge/mailbridge/internal/testdir"

	"github.com/mailbridge/mailbridge/internal/testlog"
)

// fixedNow is the arrival time of every message in tests.
var fixedNow = time.Date(2026, 11, 3, 9, 7, 5, 123_400_000, time.FixedZone("", -5*3600))

type testServer struct {
	addr string
	srv  *Server
	root *mailroot.Root
	drop string
	logs *testlog.Buffer
	done chan error
}

func testConfig() Config {
	return Config{
		Hostname:          "mail.example.com",
		Product:           "Microsoft SMTPSVC",
		Version:           "10.0.17763.1697",
		MaxMessageSize:    1 << 20,
		MaxAttachmentSize: 512 << 10,
		MaxRecipients:     100,
		MaxConnections:    20,
		CommandTimeout:    10 * time.Second,
		DataTimeout:       10 * time.Second,
		Now:               func() time.Time { return fixedNow },
	}
}

// startServer runs a listener on 127.0.0.1:0 storing into a fresh mail root.
func startServer(t testing.TB, cfg Config) *testServer {
	t.Helper()
	return startServerIn(t, cfg, testdir.New(t))
}

// startServerIn is startServer with the mail root in dir.
func startServerIn(t testing.TB, cfg Config, dir string) *testServer {
	t.Helper()
	l := mailroot.Layout{}
	for _, f := range []struct {
		p    *string
		name string
	}{{&l.Pickup, "Pickup"}, {&l.Drop, "Drop"}, {&l.Queue, "Queue"}, {&l.Badmail, "Badmail"}, {&l.SortTemp, "SortTemp"}} {
		*f.p = filepath.Join(dir, f.name)
	}
	root, err := mailroot.Open(l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	// As cmd/mailbridge wires it: relayed mail goes to Pickup, stuffed as
	// the Pickup reader's default expects.
	cfg.RelayDir, cfg.RelayDotStuffed = l.Pickup, true
	logs := &testlog.Buffer{}
	srv := New(cfg, root, slog.New(slog.NewTextHandler(logs, nil)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{addr: ln.Addr().String(), srv: srv, root: root, drop: l.Drop, logs: logs, done: make(chan error, 1)}
	go func() { ts.done <- srv.Serve(ln) }()
	waitServing(t, srv, false)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-ts.done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return ts
}

// waitServing waits until srv serves a port of the kind (implicit TLS or
// not): then advice to a client on a port of the other kind names it
// (failed in CI: a client on the plain port came before ServeTLS ran).
func waitServing(t testing.TB, srv *Server, implicitTLS bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		srv.mu.Lock()
		n := len(srv.plainPorts)
		if implicitTLS {
			n = len(srv.tlsPorts)
		}
		srv.mu.Unlock()
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the server is not serving after 5 s")
		}
	}
}

// dropFiles returns the names in Drop, sorted.
func (ts *testServer) dropFiles(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir(ts.drop)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// onlyDrop returns the content of the single file in Drop.
func (ts *testServer) onlyDrop(t testing.TB) []byte {
	t.Helper()
	names := ts.dropFiles(t)
	if len(names) != 1 {
		t.Fatalf("Drop holds %d files (%v), want 1", len(names), names)
	}
	if !strings.HasSuffix(names[0], ".eml") {
		t.Fatalf("Drop file %q is not .eml", names[0])
	}
	b, err := os.ReadFile(filepath.Join(ts.drop, names[0]))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// client is a raw SMTP client: it sends exactly what a test says and
// returns replies exactly as the server wrote them.
type client struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return &client{t: t, c: c, br: bufio.NewReader(c)}
}

// dialFrom is dial from the local address from (127.0.0.2: another
// client on loopback), or an error where this machine cannot.
func dialFrom(t testing.TB, from, addr string) (*client, error) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return &client{t: t, c: c, br: bufio.NewReader(c)}, nil
}

// reply reads one (possibly multi-line) reply, lines joined by "\n",
// without CRLF.
func (c *client) reply() string {
	c.t.Helper()
	var lines []string
	for {
		line, err := c.br.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reading reply after %q: %v", lines, err)
		}
		line = strings.TrimSuffix(line, "\r\n")
		lines = append(lines, line)
		if len(line) < 4 || line[3] != '-' {
			return strings.Join(lines, "\n")
		}
	}
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.c, s); err != nil {
		c.t.Fatal(err)
	}
}

// cmd sends one command line and returns its reply.
func (c *client) cmd(line string) string {
	c.t.Helper()
	c.send(line + "\r\n")
	return c.reply()
}

// expect sends a command and checks that its reply starts with want.
func (c *client) expect(line, want string) string {
	c.t.Helper()
	got := c.cmd(line)
	if !strings.HasPrefix(got, want) {
		c.t.Fatalf("%q: got reply %q, want %q...", line, got, want)
	}
	return got
}

// replies reads one reply per want, in order (pipelined commands), and
// checks that each starts with its want.
func (c *client) replies(want ...string) {
	c.t.Helper()
	for _, w := range want {
		if r := c.reply(); !strings.HasPrefix(r, w) {
			c.t.Fatalf("got %q, want %q", r, w)
		}
	}
}

// hello reads the greeting and sends EHLO.
func (c *client) hello() {
	c.t.Helper()
	if g := c.reply(); !strings.HasPrefix(g, "220 ") {
		c.t.Fatalf("greeting %q", g)
	}
	c.expect("EHLO client.test", "250")
}

// beginData opens a transaction from a@x.test to b@y.test, up to the 354.
func (c *client) beginData() {
	c.t.Helper()
	c.expect("MAIL FROM:<a@x.test>", "250")
	c.expect("RCPT TO:<b@y.test>", "250")
	c.expect("DATA", "354")
}

// sendMessage runs one transaction with DATA; data is sent as is (the
// caller dot-stuffs) followed by CRLF.CRLF. It returns the final reply.
func (c *client) sendMessage(from string, to []string, data string) string {
	c.t.Helper()
	c.expect("MAIL FROM:<"+from+">", "250")
	for _, r := range to {
		c.expect("RCPT TO:<"+r+">", "250")
	}
	c.expect("DATA", "354")
	c.send(data + "\r\n.\r\n")
	return c.reply()
}

// waitClosed checks that the server closes the connection.
func (c *client) waitClosed() {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.br.ReadByte(); err == nil {
		c.t.Fatalf("connection still open")
	}
}

// sendExpect sends msg to a fresh server with cfg and checks that the reply
// to its data begins with want, and that Drop then holds the message if
// and only if it was accepted.
func sendExpect(t *testing.T, cfg Config, msg, want string) {
	t.Helper()
	ts := startServer(t, cfg)
	c := dial(t, ts.addr)
	c.hello()
	if r := c.sendMessage("a@x.test", []string{"b@y.test"}, msg); !strings.HasPrefix(r, want) {
		t.Fatalf("reply %q, want %q", r, want)
	}
	if n := len(ts.dropFiles(t)); (n == 1) != strings.HasPrefix(want, "250") {
		t.Fatalf("Drop holds %d files after %q", n, want)
	}
}
